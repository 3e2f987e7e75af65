"""Each entry of a batch or transaction checked like the equivalent single interaction.

The caller's policy (``request.state.access``) is applied to every entry with the same
functions the guard uses for ``[type]/[id]`` requests (:mod:`fhir_server.auth.access`),
inside the entry's MongoDB session, once conditional targets are resolved (their searches
are themselves restricted: :func:`fhir_server.rest.conditional.find`):

- GET ``[type]/[id]`` (and ``_history/[vid]``): 403 without a read scope, 404 out of reach;
  GET ``[type]?criteria``: 403 without a search scope, matches restricted;
- POST: the new resource must be within reach (403);
- PUT: the resource replaced, if any, must be within reach (404), and the new content too (403);
- PATCH: the same, the patched content checked after it is computed (:func:`check_patched`),
  before the transaction commits;
- DELETE: the resource must be within reach (404); conditional: matches restricted.

A batch reports the refusal in the entry's response (other entries go on); a transaction
is refused whole, the OperationOutcome naming the entry. In a transaction, a care
practitioner may fill the record of a Patient the same transaction creates (a new record
reveals nothing, and its Encounter or CareTeam is what makes it theirs).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from fhir_server.auth import roles
from fhir_server.auth.access import check_delete, check_instance, check_write
from fhir_server.auth.policy import AccessPolicy, forbidden

if TYPE_CHECKING:
    from fhir_server.bundles.processor import Entry
    from fhir_server.storage import StoredVersion


def restricted(policy: AccessPolicy | None) -> bool:
    return policy is not None and not policy.is_unrestricted


def transaction_policy(policy: AccessPolicy, entries: list[Entry]) -> AccessPolicy:
    """The policy for a transaction's entries: a care practitioner reaches the Patients it creates."""
    if policy.role != roles.CARE:
        return policy
    created = {
        e.new_id
        for e in entries
        if e.method == "POST" and e.type == "Patient" and e.existing is None and e.new_id
    }
    return replace(policy, patients=policy.patients | created) if created else policy


async def check_entry(
    policy: AccessPolicy,
    repository: Any,
    entry: Entry,
    resource: dict[str, Any] | None,
    session: Any,
) -> dict[str, Any] | None:
    """Refuse (403/404) what the caller may not do; the current body the entry changes, if any."""
    type_ = entry.type or ""
    role = policy.role in roles.ROLE_TYPES
    conditional = (entry.id is None and entry.method != "POST") or bool(entry.if_none_exist)
    if role and conditional and entry.method != "GET":
        raise forbidden("Interactions conditionnelles non ouvertes à ce rôle.")
    if entry.method in ("GET", "HEAD"):
        if entry.id is None:
            policy.search_filter(type_)  # 403 without a search scope; the search itself is restricted
            if (
                policy.role == roles.PHARMACIST
                and type_ == "MedicationRequest"
                and not roles.exact_prescription_number(list(entry.criteria or []))
            ):
                raise forbidden("Un pharmacien recherche une prescription par son numéro (group-identifier).")
            return None
        if policy.role == roles.PHARMACIST and type_ == "Patient":
            raise forbidden("Un pharmacien lit le patient par GET Patient/[id], hors Bundle.")
        code = "vread" if entry.vid is not None else "read"
        vid = str(entry.vid) if entry.vid is not None else None
        await check_instance(policy, repository, code, type_, entry.id, vid=vid, session=session)
        return None
    if entry.method == "POST":
        assert resource is not None
        await check_write(policy, repository, "create", type_, resource, session=session)
        return None
    if entry.method == "PUT":
        assert resource is not None
        target = entry.id or entry.target_id or ""
        _, current = await check_instance(policy, repository, "update", type_, target, session=session)
        body = {**resource, "id": target}
        await check_write(policy, repository, "update", type_, body, current=current, session=session)
        return current
    code = "delete" if entry.method == "DELETE" else "patch"
    if entry.id is None:
        policy.grant(type_, code)  # the matches are restricted by the search
        return None
    _, current = await check_instance(policy, repository, code, type_, entry.id, session=session)
    if code == "delete":
        await check_delete(policy, repository, type_, current, session)
    return current


async def check_patched(
    policy: AccessPolicy,
    repository: Any,
    entry: Entry,
    version: StoredVersion | None,
    current: dict[str, Any] | None,
    session: Any,
) -> None:
    """The content a PATCH entry produced must stay within reach (checked before the commit)."""
    if version is None or version.body is None:
        return
    patched = orjson.loads(version.body)
    await check_write(
        policy, repository, "patch", entry.type or "", patched, current=current, session=session
    )
