"""Regulation of a patient's requests, enforced by the repository where the request is written.

A doctor who accepts a patient may put them under **regulation**: the patient's active
``CareTeam`` then carries the category ``portal-careteam|regulation`` and names the regulating
doctor as the participant with role ``portal-careteam|regulateur`` (the accepting doctor).
From then on, every request of that patient (a ``Task`` coded ``portal-task|demande-avis``, the
patient's opinion or consultation request) goes to the regulating doctor first, whoever writes it
and through whichever door (REST, Bundles, operations):

- on create, a Task owned by another doctor is routed: ``owner`` becomes the regulating doctor,
  the doctor the patient chose is kept in ``restriction.recipient``, and ``businessStatus`` says
  ``en-regulation``;
- the regulating doctor may order exams (``ServiceRequest`` of the patient, same Encounter) and
  then passes the request on by changing ``owner`` (``businessStatus`` becomes ``transmise``);
  nobody else may move a request away from the regulating doctor while it is with them (403).

The caller is the FHIR layer's policy of the request (:data:`fhir_server.rest.conditional.ACCESS`);
writes of the server itself (no policy) and of unrestricted backend clients are trusted.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.errors import FhirError

TASK_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/portal-task"
CARETEAM_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/portal-careteam"
STATUS_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/regulation-status"
REQUEST_CODE = "demande-avis"
ROUTED = {"coding": [{"system": STATUS_SYSTEM, "code": "en-regulation", "display": "En régulation"}]}
FORWARDED = {
    "coding": [{"system": STATUS_SYSTEM, "code": "transmise", "display": "Transmise par la régulation"}]
}
TYPES = frozenset({"Task"})


def _has(concepts: Any, system: str, code: str) -> bool:
    items = concepts if isinstance(concepts, list) else [concepts]
    return any(
        c.get("system") == system and c.get("code") == code
        for cc in items
        if isinstance(cc, dict)
        for c in cc.get("coding") or []
        if isinstance(c, dict)
    )


def _ref(value: Any) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    return ref if isinstance(ref, str) and ref else None


def regulator_in(team: dict[str, Any]) -> str | None:
    """The regulating doctor of an active regulation CareTeam (None for any other team)."""
    if team.get("status") != "active" or not _has(team.get("category"), CARETEAM_SYSTEM, "regulation"):
        return None
    members = [p for p in team.get("participant") or [] if isinstance(p, dict)]
    for p in members:
        if _has(p.get("role"), CARETEAM_SYSTEM, "regulateur") and (_ref(p.get("member")) or "").startswith(
            "Practitioner/"
        ):
            return _ref(p.get("member"))
    return next((r for p in members if (r := _ref(p.get("member"))) and r.startswith("Practitioner/")), None)


async def regulator_of(db: Any, session: Any, patient_ref: str) -> str | None:
    """The regulating doctor of the patient, from their care teams (indexed on ``subject``)."""
    async for doc in db["CareTeam"].find({"s.subject": patient_ref}, {"j": 1, "d": 1}, session=session):
        if doc.get("d") or not doc.get("j"):
            continue
        found = regulator_in(orjson.loads(bytes(doc["j"])))
        if found:
            return found
    return None


def is_request(task: dict[str, Any] | None) -> bool:
    return bool(task) and _has((task or {}).get("code"), TASK_SYSTEM, REQUEST_CODE)


def _caller_is(regulator: str) -> bool:
    from fhir_server.rest.conditional import ACCESS

    policy = ACCESS.get()
    if policy is None or policy.is_unrestricted or policy.kind == "system":
        return True
    return bool(policy.fhir_user == regulator)


async def rule(
    db: Any, session: Any, type_: str, id_: str, new: dict[str, Any] | None, current: dict[str, Any] | None
) -> None:
    if new is None or not is_request(new):
        return
    patient = _ref(new.get("for"))
    if not patient or not patient.startswith("Patient/"):
        return
    regulator = await regulator_of(db, session, patient)
    if regulator is None:
        return
    owner = _ref(new.get("owner"))
    if current is None:
        if owner == regulator:
            return
        if owner:
            restriction = dict(new.get("restriction") or {})
            recipients = [r for r in restriction.get("recipient") or [] if _ref(r) != owner]
            restriction["recipient"] = [{"reference": owner}, *recipients]
            new["restriction"] = restriction
        new["owner"] = {"reference": regulator}
        new["businessStatus"] = ROUTED
        return
    if _ref(current.get("owner")) == regulator and owner != regulator:
        if not _caller_is(regulator):
            raise FhirError(
                403,
                "forbidden",
                "Patient régulé : seul le médecin régulateur transmet cette demande à un autre médecin.",
                expression=["Task.owner"],
            )
        new["businessStatus"] = FORWARDED


def install(repository: Any) -> None:
    """Register the rule on ``repository`` (at application start)."""
    repository.add_db_rule(TYPES, rule)
