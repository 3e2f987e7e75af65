"""Secure messaging between doctors and the médecin conseil, as a client of the FHIR API only.

:class:`MessagingService` is given an ``httpx.AsyncClient`` pointed at the FHIR base and
carrying the user's token, and the user's ``fhirUser``. Everything it shows is what the FHIR
layer returned for that token: the médecin conseil's échelon, the doctor's patients and
health centre are enforced there (:mod:`fhir_server.auth.roles`), never re-filtered here. The
search boxes narrow what the FHIR layer returned (criteria, not access).

The FHIR shapes are described in :mod:`apps.portal.messaging.model`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from apps.portal.messaging.attachments import Attachment, check_attachments
from apps.portal.messaging.fhir import Fhir, MessagingError, NotFound
from apps.portal.messaging.model import (
    BIN_STATUSES,
    BINS,
    CATEGORY_TOKEN,
    NAM_SYSTEM,
    WITHDRAWN_CODING,
    AttachmentInfo,
    Message,
    Party,
    PatientCard,
    Thread,
    ThreadPage,
    labelled,
    ref,
    ref_of,
)
from apps.portal.messaging.notify import Mailer
from apps.portal.messaging.routing import ELSM_SYSTEM, FUND_SYSTEM, RoutingTable, routing_table
from apps.portal.messaging.search import CRITERIA, criteria_params, patient_params
from fhir_server.auth.roles import CONSEIL_CODE, ROLE_SYSTEM, WRITER_URL, is_conseil_role, writer_of
from fhir_server.identifiers import FINESS_SYSTEM, NIR_SYSTEM, is_finess, is_nir, normalise

log = logging.getLogger("passerelle.portal.messaging")
MAX_TOPIC = 200
MAX_TEXT = 20_000


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_nir(value: str) -> str:
    """The NIR without separators, or a French error naming what is wrong."""
    nir = normalise(value or "")
    if not nir:
        raise MessagingError("Saisissez le NIR du patient.", "nir")
    if len(nir) != 15:
        raise MessagingError("Le NIR compte 15 caractères (13 chiffres et la clé).", "nir")
    if not is_nir(nir):
        raise MessagingError("NIR invalide : la clé ne correspond pas au numéro saisi.", "nir")
    return nir


def _name(resource: dict[str, Any]) -> tuple[str, str]:
    names = resource.get("name") or []
    if isinstance(names, str):
        return names, ""
    first = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    return str(first.get("family") or ""), " ".join(first.get("given") or [])


def _email(resource: dict[str, Any]) -> str:
    return next((t["value"] for t in resource.get("telecom") or [] if t.get("system") == "email"), "")


def _identifier(resource: dict[str, Any], system: str) -> str:
    return next((i["value"] for i in resource.get("identifier") or [] if i.get("system") == system), "")


def _address(resource: dict[str, Any]) -> tuple[str, str]:
    for a in resource.get("address") or []:
        if a.get("postalCode") or a.get("city"):
            return str(a.get("postalCode") or ""), str(a.get("city") or "")
    return "", ""


def _text(message: dict[str, Any]) -> str:
    return "\n".join(p["contentString"] for p in message.get("payload") or [] if "contentString" in p)


def _attachments(message: dict[str, Any]) -> list[AttachmentInfo]:
    out = []
    for p in message.get("payload") or []:
        a = p.get("contentAttachment")
        if a and a.get("url"):
            out.append(
                AttachmentInfo(
                    str(a.get("title") or "pièce jointe"),
                    str(a.get("contentType") or ""),
                    int(a.get("size") or 0),
                    str(a["url"]),
                )
            )
    return out


class MessagingService:
    """One user's view of the secure messaging (doctor side or échelon side, from their roles)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        fhir_user: str,
        *,
        table: RoutingTable | None = None,
        mailer: Mailer | None = None,
        portal_url: str = "",
        base: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.fhir = Fhir(http, base, headers)
        self.fhir_user = fhir_user
        self.table = table or routing_table()
        self.mailer = mailer
        self.portal_url = portal_url.rstrip("/")
        self._parties: dict[str, Party] = {}
        self._lists: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[str, str]] | None] = {}
        self._me: tuple[Party, Party | None, Party | None, frozenset[str]] | None = None

    # -- who is speaking -------------------------------------------------------------------------

    async def whoami(self) -> tuple[Party, Party | None, Party | None, frozenset[str]]:
        """(the user, their structure if salaried in one, their échelon if médecin conseil, side refs)."""
        if self._me is not None:
            return self._me
        me = await self.party(self.fhir_user)
        found = await self.fhir.search(
            "PractitionerRole", {"practitioner": self.fhir_user, "_include": "PractitionerRole:organization"}
        )
        roles = [r for r in found if r["resourceType"] == "PractitionerRole"]
        echelon: Party | None = None
        refs = {self.fhir_user, *(ref(r) for r in roles)}
        for role in roles:
            org = role.get("organization") or {}
            if is_conseil_role(role) and ref_of(org):
                echelon = await self.party(str(ref_of(org)))
        structure = await self._structure(roles)
        if structure:
            refs.add(structure.ref)
        self._me = (me, structure, echelon, frozenset(refs))
        return self._me

    async def _structure(self, roles: list[dict[str, Any]]) -> Party | None:
        """The structure (with a FINESS: health centre, establishment) of one of these practice
        situations, if any: a doctor salaried there writes — and is written to — as the structure."""
        for role in roles:
            if is_conseil_role(role):
                continue
            org = role.get("organization") or {}
            org_ref = ref_of(org)
            ident = org.get("identifier") or {}
            if org_ref is None and ident.get("system") == FINESS_SYSTEM and ident.get("value"):
                orgs = await self.fhir.search(
                    "Organization", {"identifier": f"{FINESS_SYSTEM}|{ident['value']}"}
                )
                org_ref = ref(orgs[0]) if orgs else None
            if org_ref:
                candidate = await self.party(org_ref)
                if candidate.kind == "structure" and candidate.finess:
                    return candidate
        return None

    async def structure_of(self, practitioner: str) -> Party | None:
        found = await self.fhir.search("PractitionerRole", {"practitioner": practitioner})
        return await self._structure([r for r in found if r["resourceType"] == "PractitionerRole"])

    async def is_echelon(self) -> bool:
        return (await self.whoami())[2] is not None

    async def correspondent(self) -> Party:
        """Who the doctor side writes as: their health centre when salaried in one, else themselves."""
        me, structure, _, _ = await self.whoami()
        return structure or me

    async def party(self, reference: str) -> Party:
        if reference in self._parties:
            return self._parties[reference]
        type_ = reference.split("/", 1)[0]
        try:
            resource = await self.fhir.read(reference)
        except MessagingError:
            party = Party(reference, "medecin", "(inconnu)")
            self._parties[reference] = party
            return party
        family, given = _name(resource)
        postal, town = _address(resource)
        if type_ == "Organization":
            elsm = _identifier(resource, ELSM_SYSTEM)
            if elsm:
                echelon = self.table.echelons.get(elsm)
                party = Party(
                    reference,
                    "echelon",
                    str(resource.get("name") or elsm),
                    _email(resource),
                    department=echelon.department if echelon else "",
                )
            else:
                party = Party(
                    reference,
                    "structure",
                    str(resource.get("name") or ""),
                    _email(resource),
                    finess=_identifier(resource, FINESS_SYSTEM),
                    postal_code=postal,
                    town=town,
                )
        else:
            nam = _identifier(resource, NAM_SYSTEM)
            if type_ == "Practitioner" and not (nam and town):
                nam, postal, town = await self._practice(reference, nam, postal, town)
            initials = (given[:1] + family[:1]).upper()
            display = f"Dr {given} {family}".strip() if family else reference
            party = Party(
                reference,
                "medecin",
                display,
                _email(resource),
                nam=nam,
                postal_code=postal,
                town=town,
                initials=initials,
            )
        self._parties[reference] = party
        return party

    async def _practice(self, practitioner: str, nam: str, postal: str, town: str) -> tuple[str, str, str]:
        """N° AM and town from the doctor's practice: their roles and the structures of those roles."""
        try:
            found = await self.fhir.search(
                "PractitionerRole",
                {"practitioner": practitioner, "_include": "PractitionerRole:organization"},
            )
        except MessagingError:
            return nam, postal, town
        for r in found:
            nam = nam or _identifier(r, NAM_SYSTEM)
            if r["resourceType"] == "Organization" and not town:
                postal, town = _address(r)
        return nam, postal, town

    # -- patients --------------------------------------------------------------------------------

    async def find_patient(self, nir_input: str) -> PatientCard:
        """The doctor's patient with this NIR (key checked first), with the routing of their fund."""
        nir = check_nir(nir_input)
        found = await self.fhir.search("Patient", {"identifier": f"{NIR_SYSTEM}|{nir}"})
        patients = [p for p in found if p["resourceType"] == "Patient"]
        if not patients:
            raise MessagingError("Aucun de vos patients n'a ce NIR.", "nir")
        return await self.patient_card(patients[0]["id"])

    async def find_insured(self, nir_input: str) -> PatientCard:
        """An insured person of the médecin conseil's échelon by NIR: the FHIR layer answers only for
        the insured of the funds attached to the échelon (and the patients of its threads)."""
        nir = check_nir(nir_input)
        found = await self.fhir.search("Patient", {"identifier": f"{NIR_SYSTEM}|{nir}"})
        patients = [p for p in found if p["resourceType"] == "Patient"]
        if not patients:
            raise MessagingError("Aucun assuré des caisses de votre échelon n'a ce NIR.", "nir")
        try:
            return await self.patient_card(patients[0]["id"])
        except MessagingError:
            return await self.patient_card(patients[0]["id"], route=False)

    async def treating_doctor(self, patient_id: str) -> Party | None:
        """The patient's médecin traitant (``Patient.generalPractitioner``: the déclaration de médecin
        traitant), as a doctor (Practitioner) or, when it names one, a structure."""
        patient = await self.fhir.read(f"Patient/{patient_id}")
        for gp in patient.get("generalPractitioner") or []:
            target = ref_of(gp) or ""
            if target.startswith("PractitionerRole/"):
                try:
                    role = await self.fhir.read(target)
                except MessagingError:
                    continue
                target = ref_of(role.get("practitioner")) or ""
            if target.startswith(("Practitioner/", "Organization/")):
                return await self.party(target)
        return None

    async def addressee(self, target: str, by: str, values: dict[str, str]) -> tuple[PatientCard, Party]:
        """(the patient, whom to write to) for the médecin conseil's "new conversation" form.

        ``target``: ``medecin`` (a liberal doctor) or ``structure`` (health centre, establishment);
        ``by``: ``nir`` (the patient's treating doctor, or the structure they work in), ``nam`` (the
        doctor's N° AM) or ``finess`` (the structure's). The patient's NIR is always required: every
        exchange is about an insured person. A salaried doctor is never an addressee: their structure is.
        """
        if target not in ("medecin", "structure") or by not in ("nir", "nam", "finess"):
            raise MessagingError("Choisissez le destinataire : un médecin ou une structure.", "cible")
        card = await self.find_insured(values.get("nir", ""))
        if by == "nir":
            gp = await self.treating_doctor(card.id)
            if gp is None:
                raise MessagingError(
                    "Aucun médecin traitant n'est déclaré pour ce patient : écrivez au médecin par son "
                    "N° AM ou à la structure par son FINESS.",
                    "nir",
                )
            structure = gp if gp.kind == "structure" else await self.structure_of(gp.ref)
            if target == "structure":
                if structure is None:
                    raise MessagingError(
                        f"Le médecin traitant de ce patient ({gp.name}) n'exerce pas dans un centre de santé "
                        "ou un établissement : utilisez « Écrire à un médecin ».",
                        "nir",
                    )
                return card, structure
            if structure is not None:
                raise MessagingError(
                    f"Le médecin traitant de ce patient ({gp.name}) exerce comme salarié de {structure.name} "
                    f"(FINESS {structure.finess}) : un médecin salarié ne reçoit pas de message à titre "
                    "individuel, utilisez « Écrire à un centre de santé / établissement ».",
                    "nir",
                )
            return card, gp
        if by == "nam" and target == "medecin":
            nam = normalise(values.get("nam", ""))
            if not (len(nam) == 9 and nam.isdigit()):
                raise MessagingError("Le N° AM compte 9 chiffres.", "nam")
            found = await self.fhir.search("PractitionerRole", {"identifier": f"{NAM_SYSTEM}|{nam}"})
            doctor = next(
                (ref_of(r.get("practitioner")) for r in found if ref_of(r.get("practitioner"))), None
            )
            if doctor is None:
                raise MessagingError("Aucun médecin n'a ce N° AM dans l'annuaire.", "nam")
            party = await self.party(doctor)
            structure = await self.structure_of(doctor)
            if structure is not None:
                raise MessagingError(
                    f"{party.name} exerce comme salarié de {structure.name} (FINESS {structure.finess}) : "
                    "écrivez à la structure.",
                    "nam",
                )
            return card, party
        if by == "finess" and target == "structure":
            finess = normalise(values.get("finess", "")).upper()
            if not is_finess(finess):
                raise MessagingError(
                    "FINESS invalide : 9 caractères dont la clé (contrôle de Luhn).", "finess"
                )
            found = await self.fhir.search("Organization", {"identifier": f"{FINESS_SYSTEM}|{finess}"})
            if not found:
                raise MessagingError("Aucune structure n'a ce FINESS dans l'annuaire.", "finess")
            return card, await self.party(ref(found[0]))
        raise MessagingError(
            "Un médecin se trouve par le NIR du patient ou son N° AM, "
            "une structure par le NIR ou son FINESS.",
            "cible",
        )

    async def patient_card(self, patient_id: str, *, route: bool = True) -> PatientCard:
        patient = await self.fhir.read(f"Patient/{patient_id}")
        family, given = _name(patient)
        card = PatientCard(
            id=patient_id,
            name=f"{family.upper()} {given}".strip(),
            family=family,
            given=given,
            nir=_identifier(patient, NIR_SYSTEM),
            birth_date=str(patient.get("birthDate") or ""),
        )
        if not route:
            return card
        found = await self.fhir.search(
            "Coverage",
            {"beneficiary": f"Patient/{patient_id}", "status": "active", "_include": "Coverage:payor"},
        )
        coverage = next((c for c in found if c["resourceType"] == "Coverage"), None)
        if coverage is None:
            raise MessagingError(
                "Aucune couverture active n'est connue pour ce patient : caisse introuvable.", "nir"
            )
        payors = {ref(o): o for o in found if o["resourceType"] == "Organization"}
        fund = next((payors[r] for r in map(ref_of, coverage.get("payor") or []) if r in payors), None)
        card.rank = str(coverage.get("dependent") or "")
        card.regime = next(
            (
                str(c.get("display") or c.get("code"))
                for c in (coverage.get("type") or {}).get("coding") or []
            ),
            "",
        )
        if fund is not None:
            card.fund = str(fund.get("name") or "")
            card.fund_code = _identifier(fund, FUND_SYSTEM)
        echelon = self.table.echelon_of(card.fund_code)
        if echelon is None:
            raise MessagingError(
                "Aucun échelon du service médical n'est configuré pour la caisse "
                f"« {card.fund or card.fund_code} ».",
                "nir",
            )
        card.echelon_code, card.echelon_name = echelon.code, echelon.name
        return card

    async def _echelon_ref(self, card: PatientCard) -> str:
        found = await self.fhir.search("Organization", {"identifier": f"{ELSM_SYSTEM}|{card.echelon_code}"})
        if not found:
            raise MessagingError(f"L'échelon {card.echelon_name} n'est pas référencé dans l'annuaire.")
        return ref(found[0])

    # -- reading ---------------------------------------------------------------------------------

    async def threads(
        self,
        query: str = "",
        *,
        bin: str | None = None,
        cursor: str | None = None,
        count: int = 20,
        **criteria: str,
    ) -> ThreadPage:
        """One page of the user's threads, newest activity first: a FHIR search the server filters,
        sorts (``-_lastUpdated``: every message sent updates its header) and pages (``cursor``).

        What the user may see is the FHIR layer's decision (a doctor's and their centre's threads,
        or the échelon's). ``query`` (doctor side): patient name or NIR. ``criteria`` (échelon
        side): see :mod:`apps.portal.messaging.search`. ``bin``: one of :data:`BINS` (échelon).
        """
        params = await self._list_params(query, criteria)
        if params is None:
            return ThreadPage([])
        if bin is not None:
            params.append(("_has:Task:focus:status", ",".join(BIN_STATUSES[bin])))
        params += [
            ("_include", "Communication:subject"),
            ("_revinclude", "Communication:part-of"),
            ("_revinclude", "Task:focus"),
            ("_sort", "-_lastUpdated"),
            ("_count", str(count)),
        ]
        if cursor:
            params.append(("_cursor", cursor))
        found, nxt, previous = await self.fhir.page("Communication", params)
        threads = await self._assemble(found, await self.is_echelon())
        return ThreadPage(threads, nxt, previous)

    async def bin_counts(self, **criteria: str) -> dict[str, int]:
        """How many of the échelon's threads (matching ``criteria``) each bin holds: counted by the server."""
        params = await self._list_params("", criteria)
        if params is None:
            return dict.fromkeys(BINS, 0)
        return {
            b: await self.fhir.count(
                "Communication", [*params, ("_has:Task:focus:status", ",".join(BIN_STATUSES[b]))]
            )
            for b in BINS
        }

    async def _list_params(self, query: str, criteria: dict[str, str]) -> list[tuple[str, str]] | None:
        """The search parameters of a list (the directory look-ups of the criteria made once per page)."""
        key = (query, tuple(sorted(criteria.items())))
        if key not in self._lists:
            self._lists[key] = await self._criteria(query, criteria)
        found = self._lists[key]
        return None if found is None else list(found)

    async def _criteria(self, query: str, criteria: dict[str, str]) -> list[tuple[str, str]] | None:
        base = [("category", CATEGORY_TOKEN), ("part-of:missing", "true")]
        if query.strip():
            return base + patient_params(query)
        chosen = {k: v for k, v in criteria.items() if v and v.strip()}
        if not chosen:
            return base
        unknown = set(chosen) - set(CRITERIA)
        if unknown:
            raise MessagingError(f"Critère de recherche inconnu : {', '.join(sorted(unknown))}.")
        extra = await criteria_params(self.fhir.search, chosen)
        return None if extra is None else base + extra

    async def _assemble(self, found: list[dict[str, Any]], echelon_side: bool) -> list[Thread]:
        headers = [r for r in found if r["resourceType"] == "Communication" and not r.get("partOf")]
        patients = {ref(r): r for r in found if r["resourceType"] == "Patient"}
        by_header: dict[str, list[dict[str, Any]]] = {}
        tasks: dict[str, dict[str, Any]] = {}
        for r in found:
            if r["resourceType"] == "Communication" and r.get("partOf"):
                for p in r["partOf"]:
                    by_header.setdefault(str(ref_of(p)), []).append(r)
            elif r["resourceType"] == "Task":
                for f in [r.get("focus")]:
                    if ref_of(f):
                        tasks[str(ref_of(f))] = r
        out = []
        for h in headers:
            out.append(await self._thread(h, by_header.get(ref(h), []), tasks.get(ref(h)), patients))
        return out

    async def _thread(
        self,
        header: dict[str, Any],
        messages: list[dict[str, Any]],
        task: dict[str, Any] | None,
        patients: dict[str, dict[str, Any]],
    ) -> Thread:
        subject = ref_of(header.get("subject"))
        card = None
        if subject in patients:
            p = patients[subject]
            family, given = _name(p)
            card = PatientCard(
                p["id"],
                f"{family.upper()} {given}".strip(),
                family,
                given,
                _identifier(p, NIR_SYSTEM),
                str(p.get("birthDate") or ""),
            )
        sender = ref_of(header.get("sender"))
        recipients = [r for r in map(ref_of, header.get("recipient") or []) if r]
        started = await self.party(sender) if sender else None
        echelon = None
        correspondent = started
        for r in recipients:
            p = await self.party(r)
            if p.kind == "echelon":
                echelon = p
            else:
                correspondent = p
        if started is not None and started.kind == "echelon":
            echelon = started
        parsed = []
        for m in sorted(
            messages, key=lambda m: str(m.get("sent") or (m.get("meta") or {}).get("lastUpdated"))
        ):
            who = ref_of(m.get("sender")) or ""
            party = await self.party(who) if who else None
            from_echelon = party is not None and (
                party.kind in ("echelon", "agent") or await self._is_agent(who)
            )
            writer = writer_of(m)
            writer_name = (await self.party(writer)).name if writer and writer != who else ""
            parsed.append(
                Message(
                    id=m["id"],
                    sender=who,
                    sender_name=party.name if party else "",
                    writer=writer_name,
                    from_echelon=from_echelon,
                    sent=str(m.get("sent") or ""),
                    text=_text(m),
                    draft=m.get("status") == "preparation",
                    received=str(m.get("received") or ""),
                    attachments=_attachments(m),
                    version=str((m.get("meta") or {}).get("versionId") or ""),
                )
            )
        writer = next((m.sender_name for m in reversed(parsed) if m.from_echelon and not m.draft), "")
        doctor_writer = next((m.writer for m in reversed(parsed) if not m.from_echelon and not m.draft), "")
        return Thread(
            id=header["id"],
            topic=str((header.get("topic") or {}).get("text") or ""),
            status=str(header.get("status")),
            patient=card,
            started_by=started,
            correspondent=correspondent,
            echelon=echelon,
            messages=parsed,
            task=task,
            header=header,
            writer=writer,
            doctor_writer=doctor_writer,
        )

    async def _is_agent(self, reference: str) -> bool:
        """Whether a message's sender is an agent of an échelon (a médecin conseil's Practitioner)."""
        party = self._parties.get(reference)
        if party is not None and party.kind == "agent":
            return True
        if not reference.startswith("Practitioner/"):
            return False
        roles = await self.fhir.search(
            "PractitionerRole", {"practitioner": reference, "role": f"{ROLE_SYSTEM}|{CONSEIL_CODE}"}
        )
        agent = any(
            c.get("code") == CONSEIL_CODE
            for r in roles
            for cc in r.get("code") or []
            for c in cc.get("coding") or []
        )
        if agent and party is not None:
            party.kind = "agent"
        return agent

    async def thread(self, thread_id: str, *, mark_read: bool = True) -> Thread:
        """One thread with its messages; opening it marks the other side's messages as read."""
        found = await self.fhir.search(
            "Communication",
            [
                ("_id", thread_id),
                ("_include", "Communication:subject"),
                ("_revinclude", "Communication:part-of"),
                ("_revinclude", "Task:focus"),
            ],
        )
        echelon_side = await self.is_echelon()
        threads = await self._assemble(found, echelon_side)
        if not threads:
            raise NotFound("Conversation introuvable.")
        thread = threads[0]
        if mark_read:
            await self._mark_read(thread, found, echelon_side)
        return thread

    async def _mark_read(self, thread: Thread, found: list[dict[str, Any]], echelon_side: bool) -> None:
        stamp = now()
        bodies = {r["id"]: r for r in found if r["resourceType"] == "Communication"}
        updates = []
        for m in thread.messages:
            if m.draft or m.received or m.from_echelon == echelon_side:
                continue
            m.received = stamp
            updates.append({"resource": {**bodies[m.id], "received": stamp}, "version": m.version})
        if updates:
            try:
                await self.fhir.transaction(updates)
            except MessagingError:
                log.info("read marks of thread %s not recorded (changed meanwhile)", thread.id)

    async def attachment(self, binary_ref: str) -> tuple[str, bytes]:
        binary = await self.fhir.read(binary_ref)
        return str(binary.get("contentType") or "application/octet-stream"), base64.b64decode(
            binary.get("data") or ""
        )

    # -- writing ---------------------------------------------------------------------------------

    async def start(
        self,
        patient_id: str,
        topic: str,
        text: str,
        files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
        *,
        send: bool = True,
    ) -> str:
        """A new conversation from the doctor side (sent, or kept as a draft); returns its id."""
        if await self.is_echelon():
            raise MessagingError(
                "Un médecin conseil ouvre une conversation depuis le back-office (« Écrire à un médecin »)."
            )
        topic, text = _checked(topic, text, send)
        attachments = check_attachments(list(files))
        card = await self.patient_card(patient_id)
        sender = await self.correspondent()
        header: dict[str, Any] = labelled(
            {
                "resourceType": "Communication",
                "status": "preparation",
                "subject": {"reference": f"Patient/{patient_id}"},
                "sender": {"reference": sender.ref},
            }
        )
        if topic:
            header["topic"] = {"text": topic}
        header = await self.fhir.create(header)
        message = await self._new_message(header, sender.ref, text, attachments, None)
        if send:
            await self._send_first(header, message, card)
        return str(header["id"])

    async def open_thread(
        self,
        patient_id: str,
        addressee: str,
        topic: str,
        text: str,
        files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
        *,
        send: bool = True,
    ) -> str:
        """A new conversation opened by the médecin conseil, in their échelon's name, with a doctor or
        a structure (``addressee``, from :meth:`addressee`); returns its id.

        The header names the échelon as sender and the addressee as recipient from the start (the
        FHIR layer checks the addressee then: liberal doctor or structure, already caring for the
        patient); the back-office Task is created with it (``draft`` while it is a draft).
        """
        _, _, echelon, _ = await self.whoami()
        if echelon is None:
            raise MessagingError("Seul un médecin conseil ouvre une conversation depuis le back-office.")
        topic, text = _checked(topic, text, send)
        attachments = check_attachments(list(files))
        header: dict[str, Any] = labelled(
            {
                "resourceType": "Communication",
                "status": "preparation",
                "subject": {"reference": f"Patient/{patient_id}"},
                "sender": {"reference": echelon.ref},
                "recipient": [{"reference": addressee}],
            }
        )
        if topic:
            header["topic"] = {"text": topic}
        header = await self.fhir.create(header)
        message = await self._new_message(header, self.fhir_user, text, attachments, None)
        stamp = now()
        task = labelled(
            {
                "resourceType": "Task",
                "status": "draft",
                "intent": "order",
                "focus": {"reference": ref(header)},
                "for": header["subject"],
                "owner": {"reference": echelon.ref},
                "requester": {"reference": self.fhir_user},
                "authoredOn": stamp,
                "lastModified": stamp,
                "description": "Échange avec le médecin conseil (ouvert par l'échelon)",
            }
        )
        task = await self.fhir.create(task)
        if send:
            await self._send_opened(header, message, task)
        return str(header["id"])

    async def save_draft(
        self,
        thread_id: str,
        message_id: str,
        topic: str,
        text: str,
        files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
        *,
        remove: list[str] = (),  # type: ignore[assignment]
        send: bool = False,
    ) -> None:
        """Edit a draft (topic only while the conversation itself is a draft); ``send`` sends it."""
        thread = await self.thread(thread_id, mark_read=False)
        draft = next((m for m in thread.messages if m.id == message_id and m.draft), None)
        if draft is None:
            raise NotFound("Brouillon introuvable.")
        new_thread = thread.status == "preparation"
        topic, text = _checked(topic if new_thread else thread.topic or "-", text, send)
        keep = [a for a in draft.attachments if a.binary not in set(remove)]
        attachments = check_attachments(list(files), already=len(keep))
        body = await self.fhir.read(f"Communication/{message_id}")
        header = thread.header
        if new_thread:
            header = {k: v for k, v in header.items() if k != "topic"}
            if topic:
                header["topic"] = {"text": topic}
        payload = [{"contentString": text}] if text else []
        payload += [
            p
            for p in body.get("payload") or []
            if (p.get("contentAttachment") or {}).get("url") in {a.binary for a in keep}
        ]
        payload += await self._binaries(message_id, attachments)
        body = {**body, "payload": payload} if payload else {k: v for k, v in body.items() if k != "payload"}
        body = await self._authored(body)
        if not send:
            entries = [{"resource": body, "version": draft.version}]
            if new_thread:
                entries.append({"resource": header, "version": _version(thread.header)})
            await self.fhir.transaction(entries)
            return
        if new_thread and thread.opened_by_echelon:
            if thread.task is None:
                raise MessagingError("Cette conversation n'a pas de suivi dans le back-office.")
            await self._send_opened(header, body, thread.task)
        elif new_thread:
            card = await self.patient_card(str(thread.patient.id if thread.patient else ""))
            await self._send_first(header, body, card)
        else:
            await self._send_reply(thread, body)

    async def reply(
        self,
        thread_id: str,
        text: str,
        files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
        *,
        send: bool = True,
    ) -> str:
        """A message in an existing conversation (either side); returns the message id."""
        thread = await self.thread(thread_id, mark_read=False)
        echelon_side = await self.is_echelon()
        if thread.status == "preparation":
            raise MessagingError("Cette conversation est un brouillon : complétez-la et envoyez-la.")
        if echelon_side and thread.status == "completed":
            raise MessagingError(
                "Conversation close : l'échelon ne peut plus y écrire (elle reste consultable)."
            )
        if echelon_side and thread.withdrawn:
            raise MessagingError(
                "Le médecin a supprimé cette conversation : ouvrez-en une nouvelle si nécessaire."
            )
        _, text = _checked("-", text, send)
        attachments = check_attachments(list(files))
        me, _, _, _ = await self.whoami()
        sender = me.ref if echelon_side else (await self.correspondent()).ref
        last = next((m for m in reversed(thread.messages) if not m.draft), None)
        message = await self._new_message(thread.header, sender, text, attachments, last.id if last else None)
        if send:
            await self._send_reply(thread, message)
        return str(message["id"])

    async def close(self, thread_id: str) -> None:
        """The échelon closes a conversation: Clos; the doctor writing again reopens it (À traiter)."""
        if not await self.is_echelon():
            raise MessagingError("Seul l'échelon clôt une conversation.")
        thread = await self.thread(thread_id, mark_read=False)
        if thread.task is None:
            raise MessagingError("Cette conversation n'a pas de suivi dans le back-office.")
        await self.fhir.transaction(
            [
                {
                    "resource": {**thread.task, "status": "completed", "lastModified": now()},
                    "version": _version(thread.task),
                },
                {"resource": {**thread.header, "status": "completed"}, "version": _version(thread.header)},
            ]
        )

    async def delete(self, thread_id: str) -> None:
        """The doctor side deletes a conversation: gone for the doctor and their centre, kept by the échelon.

        Nothing is erased (retention): every resource of the thread gets the WITHDRAWN tag, which the
        FHIR layer hides from every care practitioner (:mod:`fhir_server.auth.roles`).
        """
        if await self.is_echelon():
            raise MessagingError("Une conversation ne se supprime que côté médecin.")
        found = await self.fhir.search(
            "Communication",
            [("_id", thread_id), ("_revinclude", "Communication:part-of"), ("_revinclude", "Task:focus")],
        )
        if not any(r["resourceType"] == "Communication" and r["id"] == thread_id for r in found):
            raise NotFound("Conversation introuvable.")
        entries = []
        for r in found:
            tags = [
                t for t in (r.get("meta") or {}).get("tag") or [] if t.get("code") != WITHDRAWN_CODING["code"]
            ]
            meta = {k: v for k, v in (r.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
            entries.append(
                {
                    "resource": {**r, "meta": {**meta, "tag": [*tags, WITHDRAWN_CODING]}},
                    "version": _version(r),
                }
            )
        await self.fhir.transaction(entries)

    # -- internals -------------------------------------------------------------------------------

    async def _new_message(
        self,
        header: dict[str, Any],
        sender: str,
        text: str,
        attachments: list[Attachment],
        in_response_to: str | None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = labelled(
            {
                "resourceType": "Communication",
                "status": "preparation",
                "partOf": [{"reference": ref(header)}],
                "subject": header["subject"],
                "sender": {"reference": sender},
            }
        )
        if in_response_to:
            message["inResponseTo"] = [{"reference": f"Communication/{in_response_to}"}]
        if text:
            message["payload"] = [{"contentString": text}]
        message = await self.fhir.create(await self._authored(message))
        files = await self._binaries(message["id"], attachments)
        if files:
            message = {**message, "payload": [*(message.get("payload") or []), *files]}
            await self.fhir.transaction([{"resource": message, "version": _version(message)}])
            message = await self.fhir.read(ref(message))
        return message

    async def _authored(self, message: dict[str, Any]) -> dict[str, Any]:
        """A structure's message names the doctor who wrote it (the sender stays the structure)."""
        others = [e for e in message.get("extension") or [] if e.get("url") != WRITER_URL]
        if ref_of(message.get("sender")) == self.fhir_user:
            return (
                {**message, "extension": others}
                if others
                else {k: v for k, v in message.items() if k != "extension"}
            )
        me = await self.party(self.fhir_user)
        writer = {"url": WRITER_URL, "valueReference": {"reference": self.fhir_user, "display": me.name}}
        return {**message, "extension": [*others, writer]}

    async def _binaries(self, message_id: str, attachments: list[Attachment]) -> list[dict[str, Any]]:
        """Each attachment as a Binary filed under the message: who reads the message reads it."""
        out = []
        for a in attachments:
            binary = await self.fhir.create(
                {
                    "resourceType": "Binary",
                    "contentType": a.content_type,
                    "securityContext": {"reference": f"Communication/{message_id}"},
                    "data": base64.b64encode(a.data).decode("ascii"),
                }
            )
            digest = base64.b64encode(hashlib.sha1(a.data).digest()).decode("ascii")
            out.append(
                {
                    "contentAttachment": {
                        "contentType": a.content_type,
                        "url": f"Binary/{binary['id']}",
                        "title": a.filename,
                        "size": a.size,
                        "hash": digest,
                        "creation": now(),
                    }
                }
            )
        return out

    async def _send_first(self, header: dict[str, Any], message: dict[str, Any], card: PatientCard) -> None:
        elsm = await self._echelon_ref(card)
        stamp = now()
        recipient = [{"reference": elsm}]
        task = labelled(
            {
                "resourceType": "Task",
                "status": "requested",
                "intent": "order",
                "focus": {"reference": ref(header)},
                "for": header["subject"],
                "owner": {"reference": elsm},
                "requester": header["sender"],
                "authoredOn": stamp,
                "lastModified": stamp,
                "description": "Échange avec le médecin conseil",
            }
        )
        await self.fhir.transaction(
            [
                {
                    "resource": {**message, "status": "completed", "sent": stamp, "recipient": recipient},
                    "version": _version(message),
                },
                {
                    "resource": {**header, "status": "in-progress", "sent": stamp, "recipient": recipient},
                    "version": _version(header),
                },
                {"resource": task, "method": "POST"},
            ]
        )

    async def _send_opened(
        self, header: dict[str, Any], message: dict[str, Any], task: dict[str, Any]
    ) -> None:
        """Send a conversation the échelon opened: it waits for the doctor's answer (En cours)."""
        stamp = now()
        recipient = header.get("recipient") or []
        await self.fhir.transaction(
            [
                {
                    "resource": {**message, "status": "completed", "sent": stamp, "recipient": recipient},
                    "version": _version(message),
                },
                {"resource": {**header, "status": "in-progress", "sent": stamp}, "version": _version(header)},
                {  # from now on the addressee is the party the back office waits for (as in the
                    # threads doctors open, whose requester they are): they see and move the Task
                    "resource": {
                        **task,
                        "status": "in-progress",
                        "lastModified": stamp,
                        "requester": recipient[0],
                    },
                    "version": _version(task),
                },
            ]
        )
        await self._notify(await self.thread(str(header["id"]), mark_read=False))

    async def _send_reply(self, thread: Thread, message: dict[str, Any]) -> None:
        echelon_side = await self.is_echelon()
        stamp = now()
        other = thread.correspondent if echelon_side else thread.echelon
        recipient = {"reference": other.ref} if other is not None else None
        task_status = "in-progress" if echelon_side else "requested"
        sent = {**message, "status": "completed", "sent": stamp}
        if recipient:
            sent["recipient"] = [recipient]
        entries: list[dict[str, Any]] = [{"resource": sent, "version": _version(message)}]
        if thread.task is not None and thread.task.get("status") != task_status:
            task = {**thread.task, "status": task_status, "lastModified": stamp}
            entries.append({"resource": task, "version": _version(thread.task)})
        # the header is written with every message: its _lastUpdated is the thread's last activity
        # (lists sort on it); the doctor writing in a closed conversation reopens it
        reopened = "in-progress" if not echelon_side and thread.status == "completed" else thread.status
        entries.append(
            {"resource": {**thread.header, "status": reopened}, "version": _version(thread.header)}
        )
        await self.fhir.transaction(entries)
        if echelon_side:
            await self._notify(thread)

    async def _notify(self, thread: Thread) -> None:
        """E-mail the doctor (or their centre) that the échelon wrote: a link, never health data."""
        party = thread.correspondent
        if self.mailer is None or party is None:
            return
        if not party.email:
            log.warning("no e-mail for %s (%s): the échelon's message is not notified", party.name, party.ref)
            return
        echelon = thread.echelon.name if thread.echelon else "l'échelon du service médical"
        link = (
            f"{self.portal_url}/messagerie/{thread.id}" if self.portal_url else "votre espace professionnel"
        )
        body = (
            f"Bonjour,\n\n{echelon} vous a adressé un nouveau message dans la messagerie sécurisée "
            f"« Échanges avec le médecin conseil ».\n\nPour le lire, connectez-vous avec Pro Santé Connect : "
            f"{link}\n\nCe message ne contient aucune donnée de santé. Merci de ne pas y répondre."
        )
        await self.mailer.send(party.email, "Nouveau message du service médical de l'Assurance Maladie", body)


def _version(resource: dict[str, Any]) -> str:
    return str((resource.get("meta") or {}).get("versionId") or "")


def _checked(topic: str, text: str, send: bool) -> tuple[str, str]:
    topic, text = (topic or "").strip(), (text or "").strip()
    if len(topic) > MAX_TOPIC:
        raise MessagingError(f"L'objet ne doit pas dépasser {MAX_TOPIC} caractères.", "objet")
    if len(text) > MAX_TEXT:
        raise MessagingError(f"Le message ne doit pas dépasser {MAX_TEXT} caractères.", "message")
    if send and not topic:
        raise MessagingError("L'objet est obligatoire.", "objet")
    if send and not text:
        raise MessagingError("Le message est obligatoire.", "message")
    return topic, text
