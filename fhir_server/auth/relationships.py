"""Per request: whom a professional may reach, computed from stored resources (:func:`resolve`).

Nothing is cached across requests: a relationship ended a second ago (an Encounter
entered in error, a Consent revoked, a PractitionerRole removed) no longer counts. The
queries are ``$in`` look-ups on indexed search values (field ``s``, normalised
``Type/id`` references) in three round trips: the caller's roles and structures, their
colleagues, then every relationship look-up side by side (about 20 ms on the embedded
server). Practitioners only: patients carry their compartment in the token.

Who designates the caller (``actors``): their Practitioner (``fhirUser``) and every
PractitionerRole of it. Their organisations: the ``organization`` references of those
roles, and the Organizations whose FINESS identifier is one of the practice situations of
the token (``exercices[].finess``). Their team (``care`` role): themselves plus every
PractitionerRole of those organisations (by reference, or by FINESS identifier as the
roles built from Pro Santé Connect carry it) and the practitioners of those roles.

A care relationship with a patient exists when a member of the team is:

- ``Encounter.participant.individual`` of an encounter of the patient (not cancelled /
  entered-in-error);
- ``Appointment.participant.actor`` of an appointment with the patient (same statuses);
- ``CareTeam.participant.member`` of a care team of the patient (not inactive /
  entered-in-error), or one of its organisations;
- the ``owner`` (or their organisation) of an accepted tele-expertise: a Task whose
  ``focus`` is the tele-expertise ServiceRequest, ``for`` the patient and ``status`` accepted,
  in-progress or completed (design.md: "tele-expertise request / answer: ServiceRequest
  (+ consent), Communication, Task"; the requérant already has their own relationship);
- granted explicitly: an active Consent of the patient whose ``provision.type`` is
  ``permit`` (the default) and ``provision.actor.reference`` a member of the team or one
  of its organisations, within ``provision.period`` when there is one (day precision for
  the end; nested provisions are not read);
- addressed a message about the patient: a ``Communication`` whose ``recipient`` is a
  member of the team or one of its organisations (a referral letter) — its sender could
  already write in that record; not the secure-messaging threads with the médecin conseil
  (category ``roles.THREAD``): the Assurance Maladie writes about any insured person of its
  funds, and its message must not open that person's record to the doctor it writes to;
- ``Patient.generalPractitioner``; and a patient whose ``managingOrganization`` is one of
  the organisations is a patient of the whole centre.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from fhir_server.auth import roles
from fhir_server.auth.echelons import ELSM_SYSTEM, FUND_SYSTEM, routing_table
from fhir_server.auth.policy import AccessPolicy, forbidden, hidden
from fhir_server.errors import FhirError
from fhir_server.identifiers import FINESS_SYSTEM

TELE_EXPERTISE_ACCEPTED = ("accepted", "in-progress", "completed")
_ENDED = {"cancelled", "entered-in-error"}
_ENDED_BY_TYPE = {
    "Encounter": _ENDED,
    "Appointment": _ENDED,
    "CareTeam": {"inactive", "entered-in-error"},
    "Communication": {"preparation", "entered-in-error"},
}
_indexed: set[str] = set()


def _patient_ids(values: Any) -> set[str]:
    items = values if isinstance(values, list) else [values]
    return {v.split("/", 1)[1] for v in items if isinstance(v, str) and v.startswith("Patient/")}


def _s(doc: dict[str, Any], param: str) -> Any:
    return (doc.get("s") or {}).get(param) or []


async def _find(db: Any, type_: str, query: dict[str, Any], fields: list[str]) -> list[dict[str, Any]]:
    """Current documents matching one indexed clause; deleted ones are dropped here, not in the query
    (an extra clause makes the embedded server slower than filtering the few documents found)."""
    projection = {f: 1 for f in fields} | {"d": 1}
    return [doc async for doc in db[type_].find(query, projection) if not doc.get("d")]


def _statuses(doc: dict[str, Any]) -> set[str]:
    return {str(v) for v in _s(doc, "status") if "|" not in str(v)}


async def _related(db: Any, type_: str, param: str, refs: list[str], read: str) -> set[str]:
    """Patients of the ``type_`` resources whose ``param`` is one of ``refs`` (still standing)."""
    fields = [f"s.{read}", "s.status"] + (["s.focus"] if type_ == "Task" else [])
    fields += ["s.category"] if type_ == "Communication" else []
    out: set[str] = set()
    for doc in await _find(db, type_, {f"s.{param}": {"$in": refs}}, fields):
        status = _statuses(doc)
        if type_ == "Communication" and roles.THREAD in {str(c) for c in _s(doc, "category")}:
            continue  # the médecin conseil's correspondence is no care relationship (roles.py)
        if type_ == "Task":
            if not status & set(TELE_EXPERTISE_ACCEPTED):
                continue
            if not any(str(f).startswith("ServiceRequest/") for f in _s(doc, "focus")):
                continue
        elif status & _ENDED_BY_TYPE.get(type_, set()):
            continue
        out |= {doc["_id"]} if read == "_id" else _patient_ids(_s(doc, read))
    return out


async def _consented(db: Any, grantees: list[str]) -> set[str]:
    """Patients with an active Consent permitting one of ``grantees`` (within its period)."""
    now = datetime.now(UTC).isoformat()
    out: set[str] = set()
    for doc in await _find(db, "Consent", {"s.actor": {"$in": grantees}}, ["j"]):
        consent = orjson.loads(bytes(doc["j"]))
        provision = consent.get("provision") or {}
        if consent.get("status") != "active" or provision.get("type", "permit") != "permit":
            continue
        period = provision.get("period") or {}
        if (period.get("start") and str(period["start"]) > now) or (
            period.get("end") and str(period["end"]) < now[:10]
        ):
            continue
        out |= _patient_ids([roles.ref_of(consent.get("patient"))])
    return out


async def _ensure_index(db: Any) -> None:
    """PractitionerRole.organization by identifier (how PSC roles name their structure): indexed once."""
    if db.name in _indexed:
        return
    await db["PractitionerRole"].create_index([("s.organization:i", 1)], name="s_organization_i")
    _indexed.add(db.name)


async def resolve(policy: AccessPolicy, db: Any) -> AccessPolicy:
    """The policy with the practitioner's role, actors and reachable patients filled in."""
    if policy.kind != "practitioner" or policy.resolved:
        return policy
    me = policy.fhir_user if (policy.fhir_user or "").startswith("Practitioner/") else None
    if me is None:
        return replace(policy, role=roles.CARE, resolved=True)
    finess = sorted({f"{FINESS_SYSTEM}|{e['finess']}" for e in policy.exercices if e.get("finess")})
    own_roles, structures = await asyncio.gather(
        _find(db, "PractitionerRole", {"s.practitioner": me}, ["j"]),
        _find(db, "Organization", {"s.identifier": {"$in": finess}}, ["_id"]) if finess else _nothing(),
    )
    role_bodies = [orjson.loads(bytes(d["j"])) | {"id": d["_id"]} for d in own_roles if d.get("j")]
    actors = frozenset({me, *(f"PractitionerRole/{r['id']}" for r in role_bodies)})
    professions = roles.professions(policy.exercices)
    conseil = [r for r in role_bodies if roles.has_conseil_code(r)]
    if conseil and roles.MEDECIN in professions:
        return await _conseil(policy, db, actors, conseil)
    if professions == {roles.PHARMACIEN}:
        if policy.break_glass:
            raise forbidden("Le bris de glace n'est pas ouvert à ce rôle.")
        return replace(policy, role=roles.PHARMACIST, actors=actors, resolved=True)
    orgs = {f"Organization/{d['_id']}" for d in structures}
    return await _care(policy, db, actors, role_bodies, orgs, finess)


async def _nothing() -> list[dict[str, Any]]:
    return []


async def _conseil(
    policy: AccessPolicy, db: Any, actors: frozenset[str], conseil: list[dict[str, Any]]
) -> AccessPolicy:
    """A médecin conseil's reach: their échelon's threads (addressed to it, or opened by it) and the
    patients they are about, plus the insured of the funds attached to the échelon (the fund → ELSM
    table of :mod:`.echelons`: an ELSM serves the insured of its funds, whom it may write about)."""
    if policy.break_glass:
        raise forbidden("Le bris de glace n'est pas ouvert à ce rôle.")
    inbox = frozenset(r for role in conseil for r in roles.refs(role.get("organization")))
    clause = {"$in": sorted(inbox)}
    fields = ["s.subject", "s.patient", "s.part-of", "s.status", "s._tag"]
    found, insured = await asyncio.gather(
        _find(db, "Communication", {"$or": [{"s.recipient": clause}, {"s.sender": clause}]}, fields),
        _insured(db, inbox),
    )
    patients: set[str] = set(insured)
    withdrawn: set[str] = set()
    closed: set[str] = set()
    for doc in found:
        patients |= _patient_ids(_s(doc, "subject")) | _patient_ids(_s(doc, "patient"))
        if _s(doc, "part-of"):
            continue
        if roles.WITHDRAWN in {str(t) for t in _s(doc, "_tag")}:
            withdrawn.add(doc["_id"])
        if "completed" in _statuses(doc):
            closed.add(doc["_id"])
    return replace(
        policy,
        role=roles.CONSEIL,
        actors=actors,
        inbox=inbox,
        threads=frozenset(d["_id"] for d in found),
        patients=frozenset(patients),
        withdrawn=frozenset(withdrawn),
        closed=frozenset(closed),
        resolved=True,
    )


async def _insured(db: Any, echelons: frozenset[str]) -> set[str]:
    """The patients whose active Coverage is paid by a fund attached to one of ``echelons``."""
    ids = sorted(r.split("/", 1)[1] for r in echelons if r.startswith("Organization/"))
    if not ids:
        return set()
    table = routing_table()
    codes: set[str] = set()
    for doc in await _find(db, "Organization", {"_id": {"$in": ids}}, ["j"]):
        body = orjson.loads(bytes(doc["j"])) if doc.get("j") else {}
        for ident in body.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") == ELSM_SYSTEM and ident.get("value"):
                codes.update(table.funds_of(str(ident["value"])))
    if not codes:
        return set()
    tokens = sorted(f"{FUND_SYSTEM}|{code}" for code in codes)
    funds = [
        f"Organization/{d['_id']}"
        for d in await _find(db, "Organization", {"s.identifier": {"$in": tokens}}, [])
    ]
    if not funds:
        return set()
    out: set[str] = set()
    for doc in await _find(db, "Coverage", {"s.payor": {"$in": funds}}, ["s.beneficiary", "s.status"]):
        if "active" in _statuses(doc):
            out |= _patient_ids(_s(doc, "beneficiary"))
    return out


def _organisations(
    role_bodies: list[dict[str, Any]], orgs: set[str], finess: list[str]
) -> tuple[set[str], list[str]]:
    """The caller's Organization references and FINESS tokens (theirs, and their roles')."""
    orgs = orgs | {r for role in role_bodies for r in roles.refs(role.get("organization"))}
    finess = list(finess)
    for role in role_bodies:
        ident = (role.get("organization") or {}).get("identifier")
        if isinstance(ident, dict) and ident.get("system") == FINESS_SYSTEM and ident.get("value"):
            token = f"{FINESS_SYSTEM}|{ident['value']}"
            if token not in finess:
                finess.append(token)
    return orgs, finess


async def _care(
    policy: AccessPolicy,
    db: Any,
    actors: frozenset[str],
    role_bodies: list[dict[str, Any]],
    structures: set[str],
    finess: list[str],
) -> AccessPolicy:
    orgs, finess = _organisations(role_bodies, structures, finess)
    team = set(actors)
    if orgs or finess:
        await _ensure_index(db)
        clauses: list[dict[str, Any]] = []
        if orgs:
            clauses.append({"s.organization": {"$in": sorted(orgs)}})
        if finess:
            clauses.append({"s.organization:i": {"$in": finess}})
        for doc in await _find(db, "PractitionerRole", {"$or": clauses}, ["s.practitioner"]):
            team.add(f"PractitionerRole/{doc['_id']}")
            team |= {p for p in _s(doc, "practitioner") if isinstance(p, str)}
    members = sorted(team)
    grantees = sorted(team | orgs)
    lookups = [
        _related(db, "Encounter", "participant", members, "subject"),
        _related(db, "Appointment", "actor", members, "actor"),
        _related(db, "CareTeam", "participant", grantees, "subject"),
        _related(db, "Task", "owner", grantees, "patient"),
        _related(db, "Patient", "general-practitioner", members, "_id"),
        _related(db, "Communication", "recipient", grantees, "subject"),
        _consented(db, grantees),
    ]
    if orgs:
        lookups.append(_related(db, "Patient", "organization", sorted(orgs), "_id"))
    patients: set[str] = set()
    for found in await asyncio.gather(*lookups):  # independent look-ups, side by side
        patients |= found
    return replace(
        policy,
        role=roles.CARE,
        actors=actors,
        inbox=frozenset(orgs),
        patients=frozenset(patients),
        resolved=True,
    )


# -- pharmacist checks that need the database -------------------------------------------------------


async def prescribed_to(db: Any, patient_id: str, session: Any = None) -> bool:
    """Whether the patient is the subject of a dispensable (active / on-hold) prescription."""
    doc = await db["MedicationRequest"].find_one(
        {"d": False, "s.subject": f"Patient/{patient_id}", "s.status": {"$in": sorted(roles.DISPENSABLE)}},
        {"_id": 1},
        session=session,
    )
    return doc is not None


async def check_dispense(db: Any, resource: dict[str, Any], session: Any = None) -> None:
    """Each ``authorizingPrescription`` of a MedicationDispense: dispensable, and of the same subject."""
    from fhir_server.auth.compartment import named_patients

    subject = roles.refs(resource.get("subject"))
    subjects: set[str] = set()
    for ref in sorted(roles.refs(resource.get("authorizingPrescription"))):
        type_, _, id_ = ref.partition("/")
        doc = None
        if type_ == "MedicationRequest":
            doc = await db["MedicationRequest"].find_one({"_id": id_, "d": False}, {"j": 1}, session=session)
        prescription = orjson.loads(bytes(doc["j"])) if doc and doc.get("j") else None
        if prescription is None or prescription.get("status") not in roles.DISPENSABLE:
            raise hidden(type_ or "MedicationRequest", id_)
        if subject and roles.refs(prescription.get("subject")) != subject:
            raise forbidden("La dispensation et la prescription doivent concerner le même patient.")
        subjects |= roles.refs(prescription.get("subject"))
    for ref, path in named_patients("MedicationDispense", resource).items():
        if ref not in subjects:  # the write rule, for a pharmacist: only the prescription's patient
            raise FhirError(
                403,
                "forbidden",
                f"La dispensation ne peut citer que le patient de la prescription (pas {ref}).",
                expression=[path],
            )


async def structure_cares_for(db: Any, addressee: str, finess: str, patient_id: str) -> bool:
    """Whether a doctor (``Practitioner/x``) or a structure (``Organization/y`` with its FINESS) already
    reaches ``patient_id`` as a care practitioner would: the structure through any of its members."""
    from fhir_server.auth.scopes import ScopeSet

    policy = AccessPolicy(kind="practitioner", scopes=ScopeSet.parse(""), fhir_user=addressee)
    if addressee.startswith("Practitioner/"):
        reach = await resolve(policy, db)
        return reach.role == roles.CARE and patient_id in reach.patients
    if not addressee.startswith("Organization/"):
        return False
    tokens = [f"{FINESS_SYSTEM}|{finess}"] if finess else []
    reach = await _care(policy, db, frozenset(), [], {addressee}, tokens)
    return patient_id in reach.patients


async def cares_for(db: Any, fhir_user: str | None, exercices: Any, patient_id: str) -> bool:
    """Whether a professional may take ``patient_id`` as launch context (EHR launch, patient picker)."""
    from fhir_server.auth.scopes import ScopeSet

    policy = AccessPolicy(
        kind="practitioner",
        scopes=ScopeSet.parse(""),
        fhir_user=fhir_user,
        exercices=tuple(e for e in exercices or () if isinstance(e, dict)),
    )
    reach = await resolve(policy, db)
    return reach.role == roles.CARE and patient_id in reach.patients
