"""The teleconsultation queue: a patient's question waits at most 15 minutes for a doctor.

A question is an Encounter (class VR, ``planned``) of the patient with its description
(QuestionnaireResponse, Observations, DocumentReferences) written by the patient through the
ordinary API; the queue entry is a Task (code :data:`QUESTION`, ``focus`` and ``encounter``
the Encounter, ``for`` the patient, ``restriction.period.end`` the deadline) that ONLY these
operations write (:func:`is_queue_task`: a direct create/update/delete is refused by
:mod:`fhir_server.auth.access`), so its deadline and owner are the server's word:

- ``POST Task/$tc-submit`` (patient: ``encounter``, ``channel``, ``specialty``, ``covid``):
  checks the description (symptoms of 100 characters at least), routes the question (a
  specialty outside its hours goes to a connected specialist, else to a GP) and creates the
  Task with deadline = now + 15 min;
- ``GET Task/$tc-queue`` (doctors): the waiting questions, oldest first, WITHOUT the patient:
  id, since, deadline, channel, specialty, COVID flag; calling it marks the doctor online;
- ``POST Task/[id]/$tc-take`` (doctors): in one transaction, a still-waiting, not-expired
  Task gets the doctor as ``owner`` and the doctor becomes ``Encounter.participant`` — which
  is the care relationship (:mod:`fhir_server.auth.relationships`) that opens the patient's
  record to them. N concurrent takes → one 200, the others 409;
- ``GET Task/[id]/$tc-status`` (the patient): the Task, expired first when its deadline has
  passed (``on-hold``, business status ``expire``; one e-mail), and the doctors online;
- ``POST Task/[id]/$tc-wait-again`` / ``$tc-cancel`` (the patient): a new 15-minute wait, or
  the question cancelled (the "forte affluence" e-mail);
- ``POST Task/[id]/$tc-close`` (the doctor who took it): Task completed, Encounter finished,
  the "compte rendu disponible" e-mail when a report (Composition) exists.

Expiry is computed by the server's clock plus ``PASSERELLE_TC_CLOCK_FILE`` (a file holding an
offset in seconds, read at each call: tests move time forward without waiting). Besides the
patient's page and the doctors' queue, a background sweep (:class:`ExpirySweep`) expires the
questions nobody is looking at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.operations.prescription_common import keys_file, policy_of, read_body, root_url
from fhir_server.operations.registry import Call, Operation, register
from fhir_server.rest.http import fhir_response

log = logging.getLogger("passerelle.teleconsultation")

TC_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/teleconsultation"
QUESTION = {"system": TC_SYSTEM, "code": "question", "display": "Question de téléconsultation"}
WAIT = timedelta(minutes=15)
CHANNELS = {"chat": "Chat", "audio": "Appel audio", "video": "Appel visio"}
SPECIALTIES = {
    "generaliste": "Médecine générale",
    "dermatologie": "Dermatologie",
    "dentaire": "Dentaire",
    "gynecologie": "Gynécologie",
    "ophtalmologie": "Ophtalmologie",
    "psychiatrie": "Psychiatrie",
}
# Specialists' hours (local time, Europe/Paris): day numbers 0 = Monday. PASSERELLE_TC_HOURS
# (JSON, same shape) replaces them.
DEFAULT_HOURS: dict[str, list[dict[str, Any]]] = {
    "dermatologie": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}],
    "dentaire": [{"days": [0, 1, 2, 3, 4, 5], "start": "08:00", "end": "20:00"}],
    "gynecologie": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "19:00"}],
    "ophtalmologie": [{"days": [0, 2, 4], "start": "10:00", "end": "17:00"}],
    "psychiatrie": [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "22:00"}],
}
MIN_SYMPTOMS = 100
ONLINE_FOR = 120  # seconds a doctor counts as online after opening the queue
SYMPTOMS_LINK = "symptomes"
PRESENCE: dict[str, tuple[float, frozenset[str]]] = {}  # practitioner -> (last seen, specialties)


def is_queue_task(resource: Any) -> bool:
    """Whether a resource is a teleconsultation queue entry (written by these operations only)."""
    if not isinstance(resource, dict) or resource.get("resourceType", "Task") != "Task":
        return False
    codings = (resource.get("code") or {}).get("coding") or []
    return any(
        isinstance(c, dict) and c.get("system") == TC_SYSTEM and c.get("code") == "question" for c in codings
    )


def hours() -> dict[str, list[dict[str, Any]]]:
    raw = os.environ.get("PASSERELLE_TC_HOURS", "")
    if raw:
        try:
            value = json.loads(raw)
            if isinstance(value, dict):
                return value
        except ValueError:
            log.warning("PASSERELLE_TC_HOURS is not JSON: default hours used")
    return DEFAULT_HOURS


def clock() -> datetime:
    """Now, moved by the offset in ``PASSERELLE_TC_CLOCK_FILE`` (tests)."""
    now = datetime.now(UTC)
    path = os.environ.get("PASSERELLE_TC_CLOCK_FILE")
    if path:
        with contextlib.suppress(OSError, ValueError):
            now += timedelta(seconds=float(Path(path).read_text().strip() or 0))
    return now


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def open_now(specialty: str, moment: datetime) -> bool:
    """Whether ``specialty``'s specialists answer at ``moment`` (the GP service always does)."""
    if specialty == "generaliste":
        return True
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo("Europe/Paris"))
    hhmm = local.strftime("%H:%M")
    return any(
        local.weekday() in slot.get("days", []) and slot.get("start", "") <= hhmm < slot.get("end", "")
        for slot in hours().get(specialty, [])
    )


def route(specialty: str, covid: bool, moment: datetime, specialists_online: int) -> tuple[str, str]:
    """Who answers: the COVID-19 pathway goes to GPs (video); a specialty outside its hours goes to a
    connected specialist if there is one, else to a GP. Returns (specialty, note for the doctors)."""
    if covid:
        return "generaliste", "parcours COVID-19"
    if open_now(specialty, moment):
        return specialty, ""
    if specialists_online:
        return specialty, "hors horaires : spécialiste connecté"
    return "generaliste", "hors horaires : orientée vers un médecin généraliste"


def online(specialty: str | None = None) -> int:
    """Doctors who opened the queue in the last two minutes (of ``specialty`` when given)."""
    limit = time.monotonic() - ONLINE_FOR
    return sum(
        1 for seen, specs in PRESENCE.values() if seen >= limit and (specialty is None or specialty in specs)
    )


def _input(task: dict[str, Any], name: str) -> Any:
    for item in task.get("input") or []:
        if ((item.get("type") or {}).get("text")) == name:
            return next((v for k, v in item.items() if k.startswith("value")), None)
    return None


def _value(name: str, value: Any) -> dict[str, Any]:
    key = "valueBoolean" if isinstance(value, bool) else "valueCode"
    return {"type": {"text": name}, key: value}


def _deadline(task: dict[str, Any]) -> datetime | None:
    return parse(((task.get("restriction") or {}).get("period") or {}).get("end"))


def _ref(value: Any) -> str:
    return str((value or {}).get("reference") or "") if isinstance(value, dict) else ""


def _patient_caller(call: Call) -> Any:
    policy = policy_of(call)
    if policy is not None and policy.kind != "patient":
        raise FhirError(403, "forbidden", "Opération réservée au patient.")
    return policy


def _doctor(call: Call) -> str:
    """The calling doctor (a care practitioner); 403 otherwise."""
    policy = policy_of(call)
    user = (policy.fhir_user or "") if policy is not None else ""
    if policy is None or policy.kind != "practitioner" or not user.startswith("Practitioner/"):
        raise FhirError(403, "forbidden", "La file de téléconsultation est réservée aux médecins.")
    from fhir_server.auth import roles

    if policy.role and policy.role != roles.CARE:
        raise FhirError(403, "forbidden", "La file de téléconsultation est réservée aux médecins.")
    return user


# The teleconsultation specialties of a professional's practice situations (Pro Santé Connect):
# TRE_R38 savoir-faire codes, and the chirurgien-dentiste profession (TRE_G15 "40").
R38_SPECIALTIES = {
    "SM15": "dermatologie",
    "SM19": "gynecologie",
    "SM20": "gynecologie",
    "SM38": "ophtalmologie",
    "SM42": "psychiatrie",
    "SM43": "psychiatrie",
}


def _specialties(call: Call) -> frozenset[str]:
    """What the calling doctor answers: general questions, plus their specialty's."""
    policy = policy_of(call)
    found = {"generaliste"}
    for exercice in getattr(policy, "exercices", ()) or ():
        if exercice.get("specialty") in R38_SPECIALTIES:
            found.add(R38_SPECIALTIES[exercice["specialty"]])
        if exercice.get("profession") == "40":
            found.add("dentaire")
    return frozenset(found)


async def _task(call: Call, session: Any = None) -> dict[str, Any]:
    repository = call.request.app.state.repository
    task = await read_body(repository, f"Task/{call.id}", session)
    if task is None or not is_queue_task(task):
        raise FhirError(404, "not-found", f"Task/{call.id} introuvable.")
    return task


def _own_question(call: Call, task: dict[str, Any]) -> None:
    """The patient's own question (or a dependent's): 404 otherwise, as if it did not exist."""
    policy = policy_of(call)
    if policy is None:
        return
    patient = _ref(task.get("for")).partition("/")[2]
    if policy.kind != "patient" or patient not in policy.patients:
        raise FhirError(404, "not-found", f"Task/{call.id} introuvable.")


async def _store(call: Call, body: Any) -> Any:
    return await call.request.app.state.repository.run_transaction(body)


def _parameters(task: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Parameters", "parameter": [{"name": "task", "resource": task}]}
    for name, value in extra.items():
        key = "valueInteger" if isinstance(value, int) and not isinstance(value, bool) else "valueString"
        out["parameter"].append({"name": name.replace("_", "-"), key: value})
    return out


# -- e-mails and SMS ------------------------------------------------------------------------


async def recipient(repository: Any, task: dict[str, Any]) -> str | None:
    """Where the question's e-mails go (:mod:`fhir_server.auth.contacts`): the patient's address, or
    for a dependent (a minor) the account holder's, preferably the one who asked (``requester``)."""
    from fhir_server.auth.contacts import notification_email

    subject, asker = _ref(task.get("for")), _ref(task.get("requester"))
    return await notification_email(repository, subject, acting=asker or None)


@dataclass(frozen=True)
class Notifier:
    """What an e-mail about a question needs, inside a request or in the background sweep."""

    repository: Any
    settings: Any  # fhir_server.auth.settings.AuthSettings
    root: str  # the public root URL the links start with

    @classmethod
    def of(cls, call: Call) -> Notifier:
        root = root_url(call.request)
        LAST_ROOT[0] = root
        return cls(call.request.app.state.repository, keys_file(call.request), root)


# The sweep has no request: its links use the configured root (PASSERELLE_PUBLIC_URL or _ISSUER),
# else the last one a request gave (fhir_server.auth.links: never a Host header).
LAST_ROOT: list[str] = [""]


async def mail(call: Call | Notifier, task: dict[str, Any], subject: str, text: str, path: str) -> None:
    """E-mail the patient (a link, never health data); a failure is logged, never raised."""
    from fhir_server.auth.notify import MailError, send_mail

    notifier = call if isinstance(call, Notifier) else Notifier.of(call)
    to = await recipient(notifier.repository, task)
    if to is None:
        return
    body = f"Bonjour,\n\n{text}\n\n{notifier.root}{path}\n\nL'équipe Passerelle\n"
    try:
        await send_mail(notifier.settings, to, subject, body)
    except MailError:
        log.warning("teleconsultation e-mail %r not sent", subject)


async def sms(call: Call, task: dict[str, Any], text: str) -> None:
    from fhir_server.auth.notify import sms_gateway

    repository = call.request.app.state.repository
    for ref in (_ref(task.get("requester")), _ref(task.get("for"))):
        body = await read_body(repository, ref) if ref.startswith("Patient/") else None
        for telecom in (body or {}).get("telecom") or []:
            if telecom.get("system") in ("phone", "sms") and telecom.get("use") == "mobile":
                await sms_gateway(keys_file(call.request)).send(str(telecom["value"]), text)
                return


def _page(task: dict[str, Any]) -> str:
    return f"/teleconsultation/{_ref(task.get('encounter')).partition('/')[2]}"


# -- expiry ---------------------------------------------------------------------------------


async def expire_if_due(call: Call | Notifier, task: dict[str, Any]) -> dict[str, Any]:
    """A waiting Task past its deadline becomes ``on-hold`` / ``expire`` (once: one e-mail)."""
    deadline = _deadline(task)
    if task.get("status") != "requested" or deadline is None or deadline > clock():
        return task
    notifier = call if isinstance(call, Notifier) else Notifier.of(call)
    repository = notifier.repository

    async def body(session: Any) -> dict[str, Any] | None:
        current = await read_body(repository, f"Task/{task['id']}", session)
        if current is None or current.get("status") != "requested":
            return None
        current["status"] = "on-hold"
        current["businessStatus"] = {"text": "expire"}
        current["lastModified"] = iso(clock())
        await repository.update("Task", task["id"], current, session=session)
        return current

    changed = await repository.run_transaction(body)
    if changed is None:
        return await read_body(repository, f"Task/{task['id']}") or task
    await mail(
        notifier,
        changed,
        "Votre question attend toujours un médecin",
        "Aucun médecin n'a encore pu prendre votre question dans les 15 minutes. "
        "Vous pouvez attendre à nouveau ou annuler votre demande :",
        _page(changed),
    )
    return changed


async def waiting_tasks(repository: Any) -> list[dict[str, Any]]:
    """The queue entries still waiting (expired or not)."""
    waiting = []
    from fhir_server.search import wide_lead  # here: search imports the REST layer's helpers

    query = wide_lead("Task", {"s.status": "requested", "d": False})  # indexed in every layout
    async for doc in repository.db["Task"].find(query, {"j": 1}):
        task = json.loads(bytes(doc["j"]))
        if is_queue_task(task):
            waiting.append(task)
    return waiting


class ExpirySweep:
    """Expires the questions nobody looks at: every ``PASSERELLE_TC_SWEEP`` seconds (30 by
    default, 0: off) the waiting Tasks past their deadline get the same treatment as when the
    patient's page or a doctor's queue sees them (``on-hold``, the "attend toujours" e-mail),
    so a patient who closed the page still hears back after 15 minutes."""

    def __init__(self, repository: Any, data_dir: Path) -> None:
        from fhir_server.auth.settings import auth_settings

        self.repository = repository
        self.settings = auth_settings(data_dir)
        self.every = float(os.environ.get("PASSERELLE_TC_SWEEP", "30") or 0)
        self._task: asyncio.Task[None] | None = None

    def notifier(self) -> Notifier:
        root = self.settings.links_root or LAST_ROOT[0]
        return Notifier(self.repository, self.settings, root)

    async def sweep(self) -> int:
        """One pass; the number of questions it expired."""
        expired = 0
        for task in await waiting_tasks(self.repository):
            deadline = _deadline(task)
            if deadline is not None and deadline <= clock():
                after = await expire_if_due(self.notifier(), task)
                expired += after.get("status") == "on-hold"
        return expired

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except Exception:  # a failed pass is retried at the next one, never fatal
                log.exception("teleconsultation expiry sweep failed")

    def start(self) -> None:
        if self.every > 0:
            self._task = asyncio.create_task(self._run(), name="tc-expiry-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# -- handlers -------------------------------------------------------------------------------


async def _submit(call: Call) -> Response:
    policy = _patient_caller(call)
    repository = call.request.app.state.repository
    encounter_ref = str(call.first("encounter") or "")
    encounter_id = encounter_ref.removeprefix("Encounter/")
    channel = str(call.first("channel") or "")
    specialty = str(call.first("specialty") or "generaliste")
    covid = str(call.first("covid") or "").lower() in ("true", "1", "oui")
    if channel not in CHANNELS:
        raise FhirError(400, "invalid", "Canal inconnu (chat, audio ou video).", expression=["channel"])
    if specialty not in SPECIALTIES:
        raise FhirError(400, "invalid", "Spécialité inconnue.", expression=["specialty"])
    encounter = await read_body(repository, f"Encounter/{encounter_id}") if encounter_id else None
    patient = _ref((encounter or {}).get("subject")).partition("/")[2]
    if encounter is None or (policy is not None and patient not in policy.patients):
        raise FhirError(404, "not-found", f"Encounter/{encounter_id} introuvable.", expression=["encounter"])
    if encounter.get("status") != "planned":
        raise FhirError(409, "conflict", "Cette question a déjà été envoyée.", expression=["encounter"])
    answers = [
        doc
        async for doc in repository.db["QuestionnaireResponse"].find(
            {"s.encounter": f"Encounter/{encounter_id}", "d": False}, {"j": 1}
        )
    ]
    symptoms = ""
    for doc in answers:
        body = json.loads(bytes(doc["j"]))
        for item in body.get("item") or []:
            if item.get("linkId") == SYMPTOMS_LINK:
                symptoms = str(((item.get("answer") or [{}])[0]).get("valueString") or "")
    if len(symptoms.strip()) < MIN_SYMPTOMS:
        raise FhirError(
            422,
            "invariant",
            f"Décrivez vos symptômes en {MIN_SYMPTOMS} caractères au moins.",
            expression=["QuestionnaireResponse.item.where(linkId='symptomes').answer.value"],
        )
    now = clock()
    routed, note = route(specialty, covid, now, online(specialty))
    if covid:
        channel = "video"
    asker = policy.fhir_user if policy is not None and policy.fhir_user else f"Patient/{patient}"
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "businessStatus": {"text": "en-attente"},
        "intent": "order",
        "priority": "asap",
        "code": {"coding": [QUESTION]},
        "focus": {"reference": f"Encounter/{encounter_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "for": {"reference": f"Patient/{patient}"},
        "requester": {"reference": asker},
        "authoredOn": iso(now),
        "lastModified": iso(now),
        "restriction": {"period": {"start": iso(now), "end": iso(now + WAIT)}},
        "input": [
            _value("channel", channel),
            _value("specialty", specialty),
            _value("routed", routed),
            _value("covid", covid),
        ],
    }
    if note:
        task["note"] = [{"text": note}]

    async def body(session: Any) -> dict[str, Any]:
        current = await read_body(repository, f"Encounter/{encounter_id}", session)
        if current is None or current.get("status") != "planned":
            raise FhirError(409, "conflict", "Cette question a déjà été envoyée.", expression=["encounter"])
        current["status"] = "arrived"
        await repository.update("Encounter", encounter_id, current, session=session)
        stored = await repository.create("Task", task, session=session)
        return json.loads(stored.body)

    created = await _store(call, body)
    await mail(
        call,
        created,
        "Votre question a bien été envoyée",
        "Votre question de téléconsultation a bien été envoyée. Un médecin la prendra en charge "
        "dans les 15 minutes ; suivez-la ici :",
        _page(created),
    )
    return fhir_response(_parameters(created, doctors_online=online()), call.fmt, 201)


def summary(task: dict[str, Any]) -> dict[str, Any]:
    """What the queue shows before a doctor takes a question: no patient, no symptoms."""
    keep = (
        "resourceType",
        "id",
        "meta",
        "status",
        "businessStatus",
        "code",
        "authoredOn",
        "restriction",
        "input",
        "priority",
        "note",
    )
    return {k: task[k] for k in keep if k in task}


async def _queue(call: Call) -> Response:
    me = _doctor(call)
    PRESENCE[me] = (time.monotonic(), _specialties(call))
    repository = call.request.app.state.repository
    entries = []
    for task in await waiting_tasks(repository):
        task = await expire_if_due(call, task)
        if task.get("status") == "requested":
            entries.append(summary(task))
    entries.sort(key=lambda t: str(t.get("authoredOn")))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": iso(clock()),
        "total": len(entries),
        "entry": [{"fullUrl": f"Task/{t['id']}", "resource": t} for t in entries],
    }
    return fhir_response(bundle, call.fmt, 200)


async def _take(call: Call) -> Response:
    me = _doctor(call)
    repository = call.request.app.state.repository
    task = await expire_if_due(call, await _task(call))

    async def body(session: Any) -> dict[str, Any]:
        current = await read_body(repository, f"Task/{call.id}", session)
        if current is None or current.get("status") != "requested":
            raise FhirError(409, "conflict", "Cette question a déjà été prise par un autre médecin.")
        deadline = _deadline(current)
        if deadline is not None and deadline <= clock():
            raise FhirError(409, "conflict", "Le délai de cette question est dépassé.")
        now = iso(clock())
        current.update(
            status="in-progress", businessStatus={"text": "prise-en-charge"}, owner={"reference": me}
        )
        current["lastModified"] = now
        current.setdefault("executionPeriod", {})["start"] = now
        encounter_id = _ref(current.get("encounter")).partition("/")[2]
        encounter = await read_body(repository, f"Encounter/{encounter_id}", session)
        if encounter is None:
            raise FhirError(409, "conflict", "La question n'existe plus.")
        encounter["status"] = "in-progress"
        encounter["period"] = {"start": now}
        encounter.setdefault("participant", []).append(
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "PPRF",
                            }
                        ]
                    }
                ],
                "individual": {"reference": me},
            }
        )
        if _input(current, "channel") in ("audio", "video"):
            appointment = {
                "resourceType": "Appointment",
                "status": "arrived",
                "serviceType": [{"text": "Téléconsultation"}],
                "description": "Téléconsultation " + CHANNELS[str(_input(current, "channel"))].lower(),
                "start": now,
                "end": iso(clock() + timedelta(minutes=30)),
                "participant": [
                    {"actor": current["for"], "status": "accepted"},
                    {"actor": {"reference": me}, "status": "accepted"},
                ],
            }
            asker = _ref(current.get("requester"))
            if asker.startswith("Patient/") and asker != _ref(current.get("for")):
                # a dependent's call: the account holder who asked joins it (a child's parent)
                appointment["participant"].append({"actor": {"reference": asker}, "status": "accepted"})
            stored = await repository.create("Appointment", appointment, session=session)
            encounter["appointment"] = [{"reference": f"Appointment/{stored.id}"}]
        await repository.update("Encounter", encounter_id, encounter, session=session)
        await repository.update("Task", call.id, current, session=session)
        return current

    _ = task
    taken = await _store(call, body)
    if _input(taken, "covid"):
        await sms(
            call,
            taken,
            "Passerelle : un médecin est disponible pour votre téléconsultation COVID-19. "
            "Rejoignez la visio depuis votre espace.",
        )
    return fhir_response(_parameters(taken), call.fmt, 200)


async def _status(call: Call) -> Response:
    _patient_caller(call)
    task = await _task(call)
    _own_question(call, task)
    task = await expire_if_due(call, task)
    return fhir_response(_parameters(task, doctors_online=online()), call.fmt, 200)


async def _patient_change(call: Call, action: str) -> dict[str, Any]:
    _patient_caller(call)
    repository = call.request.app.state.repository
    _own_question(call, await _task(call))

    async def body(session: Any) -> dict[str, Any]:
        current = await _task(call, session)
        if current.get("status") not in ("requested", "on-hold"):
            raise FhirError(409, "conflict", "Un médecin a déjà pris cette question en charge.")
        now = clock()
        current["lastModified"] = iso(now)
        if action == "wait":
            current["status"] = "requested"
            current["businessStatus"] = {"text": "en-attente"}
            current["restriction"] = {"period": {"start": iso(now), "end": iso(now + WAIT)}}
        else:
            current["status"] = "cancelled"
            current["businessStatus"] = {"text": "annulee"}
            encounter_id = _ref(current.get("encounter")).partition("/")[2]
            encounter = await read_body(repository, f"Encounter/{encounter_id}", session)
            if encounter is not None:
                encounter["status"] = "cancelled"
                await repository.update("Encounter", encounter_id, encounter, session=session)
        await repository.update("Task", call.id, current, session=session)
        return current

    return await _store(call, body)  # type: ignore[no-any-return]


async def _wait_again(call: Call) -> Response:
    task = await _patient_change(call, "wait")
    return fhir_response(_parameters(task, doctors_online=online()), call.fmt, 200)


async def _cancel(call: Call) -> Response:
    task = await _patient_change(call, "cancel")
    await mail(
        call,
        task,
        "Téléconsultation : forte affluence",
        "Nous faisons face à une forte affluence et votre question a été annulée à votre demande. "
        "Nous vous prions de nous en excuser. Vous pouvez poser une nouvelle question à tout moment :",
        "/teleconsultation",
    )
    return fhir_response(_parameters(task), call.fmt, 200)


async def _close(call: Call) -> Response:
    me = _doctor(call)
    repository = call.request.app.state.repository
    task = await _task(call)
    if _ref(task.get("owner")) != me:
        raise FhirError(404, "not-found", f"Task/{call.id} introuvable.")
    encounter_ref = _ref(task.get("encounter"))
    report = await repository.db["Composition"].find_one(
        {"s.encounter": encounter_ref, "d": False, "s.status": {"$in": ["final", "amended"]}}, {"_id": 1}
    )

    async def body(session: Any) -> dict[str, Any]:
        current = await _task(call, session)
        if current.get("status") not in ("in-progress", "completed"):
            raise FhirError(409, "conflict", "Cette question n'est pas en cours.")
        current["status"] = "completed"
        current["businessStatus"] = {"text": "terminee"}
        current["lastModified"] = now = iso(clock())
        current.setdefault("executionPeriod", {})["end"] = now
        encounter = await read_body(repository, encounter_ref, session)
        if encounter is not None and encounter.get("status") != "finished":
            encounter["status"] = "finished"
            encounter.setdefault("period", {})["end"] = now
            await repository.update("Encounter", encounter_ref.partition("/")[2], encounter, session=session)
        await repository.update("Task", call.id, current, session=session)
        return current

    closed = await _store(call, body)
    if report is not None:
        await mail(
            call,
            closed,
            "Compte rendu disponible",
            "Le compte rendu de votre téléconsultation est disponible dans votre espace :",
            "/teleconsultation/mes-questions",
        )
    return fhir_response(_parameters(closed), call.fmt, 200)


def _op(name: str, handler: Any, levels: set[str], doc: str, affects: bool = True) -> None:
    register(
        Operation(
            name=name,
            documentation=doc,
            definition=f"urn:passerelle:OperationDefinition:{name}",
            levels=frozenset(levels),
            handler=handler,
            affects_state=affects,
            resource_types=frozenset({"Task"}),
            authorizes_itself=True,
        )
    )


_op(
    "tc-submit",
    _submit,
    {"type"},
    "Téléconsultation : envoie la question (encounter, channel, specialty, covid).",
)
_op(
    "tc-queue",
    _queue,
    {"type"},
    "Téléconsultation : file d'attente des médecins (sans données patient).",
    False,
)
_op("tc-take", _take, {"instance"}, "Téléconsultation : un médecin prend la question (un seul gagne).")
_op("tc-status", _status, {"instance"}, "Téléconsultation : état de la question (patient).", False)
_op("tc-wait-again", _wait_again, {"instance"}, "Téléconsultation : attendre à nouveau 15 minutes.")
_op("tc-cancel", _cancel, {"instance"}, "Téléconsultation : annuler la question.")
_op("tc-close", _close, {"instance"}, "Téléconsultation : le médecin clôt la consultation.")
