"""The instance and write checks of one interaction, shared by the guard and by Bundle entries.

The guard applies them to ``[type]/[id]`` requests; :mod:`fhir_server.bundles` applies the
same functions to each entry of a batch or transaction (inside its MongoDB session, so a
transaction checks what it is about to change), so that a Bundle can do nothing the
equivalent single interactions could not.

- :func:`check_instance`: read / vread / history-instance / update / patch / delete of an
  existing instance — 403 without a scope on the type, 404 when the current version (or,
  for vread and history, any version shown) is out of reach, as if it did not exist; a
  Binary is read (current version only) when the resource named by its ``securityContext`` is;
- :func:`check_write`: the new content of a create / update / patch — 403 unless it
  stays within the caller's reach (:meth:`AccessPolicy.check_write`, plus the role checks
  that need the database).
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.auth import roles
from fhir_server.auth.compartment import in_patient_compartment_type, patient_refs
from fhir_server.auth.policy import THROUGH_CONTEXT, AccessPolicy, Grant, forbidden, hidden
from fhir_server.auth.relationships import check_dispense, prescribed_to, structure_cares_for
from fhir_server.errors import FhirError
from fhir_server.identifiers import FINESS_SYSTEM
from fhir_server.storage import history_key

INSTANCE_READS = frozenset({"read", "vread", "history-instance"})
INSTANCE_CODES = INSTANCE_READS | {"update", "patch", "delete"}


async def current_body(
    repository: Any, type_: str, id_: str, session: Any = None
) -> dict[str, Any] | bool | None:
    """The current body of an instance; None if it never existed, False if deleted."""
    doc = await repository.db[type_].find_one({"_id": id_}, {"d": 1, "j": 1}, session=session)
    if doc is None:
        return None
    if doc.get("d") or doc.get("j") is None:
        return False
    return orjson.loads(bytes(doc["j"]))  # type: ignore[no-any-return]


async def check_instance(
    policy: AccessPolicy,
    repository: Any,
    code: str,
    type_: str,
    id_: str,
    *,
    vid: str | None = None,
    session: Any = None,
) -> tuple[Grant, dict[str, Any] | None]:
    """The grant and the current body (None when unrestricted or absent); 403/404 as above."""
    grant = policy.grant(type_, code)
    if grant.unrestricted:
        if code not in INSTANCE_READS:
            policy.check_glass_write(type_)
        if policy.kind == "practitioner" and type_ in roles.WITHDRAWABLE:
            # break-the-glass opens records, not the threads the doctor side withdrew (roles.py)
            current = await current_body(repository, type_, id_, session)
            if isinstance(current, dict) and not policy.within(grant, type_, current):
                raise hidden(type_, id_)
        return grant, None
    if policy.role == roles.PHARMACIST and type_ == "Patient":
        if code != "read":
            raise forbidden("Un pharmacien ne consulte que la version courante du patient.")
        if not await prescribed_to(repository.db, id_, session):
            raise hidden(type_, id_)
        current = await current_body(repository, type_, id_, session)
        if not isinstance(current, dict):
            raise hidden(type_, id_)
        return grant, current
    current = await current_body(repository, type_, id_, session)
    if current is False:
        raise hidden(type_, id_)
    if isinstance(current, dict) and type_ in THROUGH_CONTEXT:
        if code != "read" or not await _context_readable(policy, repository, current, session):
            raise hidden(type_, id_)
    elif isinstance(current, dict) and not policy.within(grant, type_, current):
        raise hidden(type_, id_)
    if code in ("vread", "history-instance") and (
        in_patient_compartment_type(type_) or policy.role in roles.ROLE_TYPES
    ):
        # Older versions may have belonged to another patient's record: each one shown must qualify.
        await _check_versions(policy, grant, repository, type_, id_, vid)
    return grant, current if isinstance(current, dict) else None


async def _context_readable(
    policy: AccessPolicy, repository: Any, binary: dict[str, Any], session: Any
) -> bool:
    """A Binary is readable when the resource of its ``securityContext`` is (without one: never)."""
    context = roles.ref_of(binary.get("securityContext"))
    if context is None:
        return False
    type_, _, id_ = context.partition("/")
    from fhir_server.validation import RESOURCE_TYPES

    if type_ not in RESOURCE_TYPES or type_ in THROUGH_CONTEXT:
        return False
    body = await current_body(repository, type_, id_, session)
    return isinstance(body, dict) and policy.can_read(type_, body)


async def _check_versions(
    policy: AccessPolicy, grant: Grant, repository: Any, type_: str, id_: str, vid: str | None
) -> None:
    query: dict[str, Any] = {"t": type_, "i": id_}
    if vid is not None:
        if not str(vid).isdigit():
            return  # the handler answers the malformed version
        query = {"_id": history_key(type_, id_, int(vid))}
    async for doc in repository.history.find(query, {"j": 1}):
        body = doc.get("j")
        if body is not None and not policy.within(grant, type_, orjson.loads(bytes(body))):
            raise hidden(type_, id_)


async def check_write(
    policy: AccessPolicy,
    repository: Any,
    code: str,
    type_: str,
    resource: dict[str, Any],
    *,
    current: dict[str, Any] | None = None,
    session: Any = None,
) -> None:
    """403 unless the token may write ``resource`` (``current``: the version it replaces, if any).

    Every door that writes calls this: REST create / update / PATCH result, conditional
    update and PATCH, and every Bundle entry (:mod:`fhir_server.bundles.access`). The rule
    itself is :meth:`AccessPolicy.check_named` (every patient named, before and after, within
    reach) plus the scope, compartment and role checks of :meth:`AccessPolicy.check_write`.
    A care practitioner's own agenda Slots and profile role are outside the patient
    compartment: the token's scopes still apply (``grant``), then their own rules.
    """
    if type_ == "Task" and not policy.is_unrestricted and policy.kind != "system":
        from fhir_server.operations.teleconsultation import is_queue_task

        if is_queue_task(resource) or is_queue_task(current):
            # the deadline and the owner are the server's word: only the $tc-* operations write them
            raise forbidden("La file de téléconsultation ne s'écrit que par ses opérations ($tc-…).")
    if type_ == "Binary" and code == "create" and policy.role in (roles.CARE, roles.CONSEIL):
        # A message's attachment: a professional files a Binary under a resource they already read
        # (``securityContext``, e.g. their Communication); who reads it is decided by that resource.
        grant = policy.grant(type_, code)
        if not grant.unrestricted:
            if not await _context_readable(policy, repository, resource, session):
                raise forbidden("Le Binary doit désigner une ressource que vous consultez (securityContext).")
            return
    if type_ in ("Slot", "PractitionerRole") and policy.kind == "practitioner" and policy.role == roles.CARE:
        policy.grant(type_, code)
        if type_ == "Slot":
            await _check_own_slot(policy, repository, resource, current, session)
        else:
            _check_profile_role(policy, resource, current)
        return
    policy.check_write(type_, resource, code, current)
    if policy.role == roles.CONSEIL and type_ == "Communication" and code != "delete":
        await check_conseil_addressee(policy, repository, resource, current, session)
    if policy.role == roles.CARE and type_ == "Communication" and code != "delete":
        why = roles.writer_claim(resource, current, policy.actors)
        if why:
            raise FhirError(403, "forbidden", why, expression=["Communication.extension"])
    if policy.role != roles.PHARMACIST:
        return
    if type_ == "MedicationRequest":
        if current is None:  # an update-as-create would be a new prescription
            raise forbidden("Un pharmacien ne crée pas de prescription.")
        why = roles.pharmacist_update(current, resource)
        if why:
            raise forbidden(why)
    if type_ == "MedicationDispense":
        await check_dispense(repository.db, resource, session)


async def check_delete(
    policy: AccessPolicy,
    repository: Any,
    type_: str,
    current: dict[str, Any] | None,
    session: Any = None,
) -> None:
    """A delete is a write of what it removes: the caller must be allowed to write the deleted
    version (every patient it names within reach, a type the token may write, the role's rules),
    so a care practitioner cannot delete a directory entry or a colleague's Slot."""
    if current is None:
        return
    if policy.role == roles.PHARMACIST:
        raise forbidden("Un pharmacien ne supprime aucune ressource.")
    await check_write(policy, repository, "delete", type_, current, current=current, session=session)


def concerned(type_: str, resource: Any, grant: Grant) -> list[str]:
    """The patient ids an interaction concerns, for the audit."""
    if not isinstance(resource, dict):
        return []
    ids = {r.split("/", 1)[1] for r in patient_refs(type_, resource)}
    return sorted(ids if grant.unrestricted else ids & grant.patients) if grant.patients else sorted(ids)


async def _check_own_slot(
    policy: AccessPolicy,
    repository: Any,
    resource: dict[str, Any],
    current: dict[str, Any] | None,
    session: Any,
) -> None:
    """A care practitioner writes the Slots of their own agenda: a Schedule whose ``actor`` is them.

    Slot is outside the Patient compartment (no patient to check); what makes it theirs is its
    Schedule, looked up here, for the new content and for the version it replaces.
    """
    for body in (resource, current):
        if body is None:
            continue
        ref = roles.ref_of(body.get("schedule"))
        schedule = None
        if ref is not None and ref.startswith("Schedule/"):
            schedule = await current_body(repository, "Schedule", ref.split("/", 1)[1], session)
        actors = roles.refs(schedule.get("actor")) if isinstance(schedule, dict) else set()
        if not set(actors) & set(policy.actors):
            raise forbidden("Un créneau ne peut être écrit que dans votre propre agenda (Schedule).")


PROFILE_ROLE = ("https://passerelle.fr/fhir/CodeSystem/portal-role", "profil")
# What a professional may say about themselves in their profile role: contact, hours, fees
# (extensions). Never an organisation, a location or a service: those would widen their reach.
PROFILE_ROLE_KEYS = frozenset(
    {"resourceType", "id", "meta", "text", "practitioner", "active", "code", "telecom", "availableTime",
     "notAvailable", "availabilityExceptions", "extension"}
)  # fmt: skip


def _check_profile_role(
    policy: AccessPolicy, resource: dict[str, Any], current: dict[str, Any] | None
) -> None:
    """A care practitioner writes only their own profile role (see :data:`PROFILE_ROLE_KEYS`)."""
    for body in (resource, current):
        if body is None:
            continue
        codes = [
            (c.get("system"), c.get("code")) for cc in body.get("code") or [] for c in cc.get("coding") or []
        ]
        if (
            roles.ref_of(body.get("practitioner")) != policy.fhir_user
            or codes != [PROFILE_ROLE]
            or not set(body) <= PROFILE_ROLE_KEYS
        ):
            raise forbidden(
                "Un professionnel n'écrit que son propre rôle de profil (coordonnées, horaires, tarifs)."
            )


# -- médecin conseil: whom a message of the échelon may be addressed to -------------------------------


async def check_conseil_addressee(
    policy: AccessPolicy,
    repository: Any,
    resource: dict[str, Any],
    current: dict[str, Any] | None,
    session: Any = None,
) -> None:
    """403 unless every recipient of a médecin conseil's Communication may receive it.

    A recipient is their échelon, a liberal doctor (a Practitioner none of whose practice
    situations is in a FINESS structure) or a structure (an Organization with a FINESS: health
    centre, establishment) — never a salaried doctor individually (issue 18: the structure is the
    addressee, its salaried doctors share its inbox). A new addressee (a thread the échelon opens,
    or a message to someone who is not yet a party of the thread) must already care for the
    patient the thread is about (:func:`structure_cares_for`), so that the message never opens a
    record to its reader. Recipients already in ``current`` are not checked again (read marks).
    """
    before = roles.refs((current or {}).get("recipient"))
    parties: set[str] = set()
    for part in sorted(roles.refs(resource.get("partOf"))):
        type_, _, id_ = part.partition("/")
        header = await current_body(repository, type_, id_, session) if type_ == "Communication" else None
        if isinstance(header, dict):
            parties |= roles.refs(header.get("sender")) | roles.refs(header.get("recipient"))
    subjects = sorted(
        r.split("/", 1)[1] for r in roles.refs(resource.get("subject")) if r.startswith("Patient/")
    )
    for index, item in enumerate(resource.get("recipient") or []):
        ref = roles.ref_of(item)
        path = f"Communication.recipient[{index}]"
        if ref is None or ref in policy.inbox or ref in before:
            continue
        type_, _, id_ = ref.partition("/")
        body = (
            await current_body(repository, type_, id_, session)
            if type_ in ("Practitioner", "Organization")
            else None
        )
        if not isinstance(body, dict):
            raise _addressee(
                "Destinataire inconnu : un médecin (Practitioner) ou une structure (Organization).", path
            )
        if type_ == "Organization" and not _finess(body):
            raise _addressee("Une structure destinataire doit être identifiée par son FINESS.", path)
        if type_ == "Practitioner" and await _salaried(repository.db, ref, session):
            raise _addressee(
                "Un médecin salarié d'une structure ne reçoit pas de message à titre individuel : "
                "écrivez à la structure (centre de santé ou établissement, par son FINESS).",
                path,
            )
        if ref in parties:
            continue
        for patient in subjects:
            if not await structure_cares_for(repository.db, ref, _finess(body), patient):
                raise _addressee(
                    "Ce destinataire ne suit pas ce patient (ni médecin traitant, ni prise en charge "
                    "connue) : le message n'est pas envoyé.",
                    path,
                )


def _addressee(text: str, path: str) -> FhirError:
    return FhirError(403, "forbidden", text, expression=[path])


def _finess(body: dict[str, Any]) -> str:
    return next(
        (
            str(i["value"])
            for i in body.get("identifier") or []
            if isinstance(i, dict) and i.get("system") == FINESS_SYSTEM and i.get("value")
        ),
        "",
    )


async def _salaried(db: Any, practitioner: str, session: Any) -> bool:
    """Whether a practice situation of ``practitioner`` is in a structure with a FINESS (a role naming
    it by identifier, as Pro Santé Connect's do, or referencing an Organization that has one): the
    same rule by which the doctor side writes as the structure."""
    orgs: set[str] = set()
    async for doc in db["PractitionerRole"].find(
        {"s.practitioner": practitioner}, {"j": 1, "d": 1}, session=session
    ):
        if doc.get("d") or doc.get("j") is None:
            continue
        role = orjson.loads(bytes(doc["j"]))
        if roles.has_conseil_code(role):
            continue
        org = role.get("organization") or {}
        ident = org.get("identifier") if isinstance(org, dict) else None
        if isinstance(ident, dict) and ident.get("system") == FINESS_SYSTEM and ident.get("value"):
            return True
        orgs |= {r.split("/", 1)[1] for r in roles.refs(org) if r.startswith("Organization/")}
    for id_ in sorted(orgs):
        body = await current_body_db(db, "Organization", id_, session)
        if isinstance(body, dict) and _finess(body):
            return True
    return False


async def current_body_db(db: Any, type_: str, id_: str, session: Any = None) -> dict[str, Any] | None:
    doc = await db[type_].find_one({"_id": id_}, {"d": 1, "j": 1}, session=session)
    if doc is None or doc.get("d") or doc.get("j") is None:
        return None
    return orjson.loads(bytes(doc["j"]))  # type: ignore[no-any-return]
