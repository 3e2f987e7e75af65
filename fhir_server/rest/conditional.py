"""Conditional create, update and delete: writes whose target is found by search criteria.

Why a lock document: two identical conditional creates running side by side would each
search, each find nothing and each create. Inside the write transaction we first upsert
one document of the ``_locks`` collection keyed by a hash of (type, canonical criteria),
then search. Two transactions touching the same lock document conflict at the database;
the loser is retried whole by :meth:`MongoRepository.run_transaction` and, on its second
run, its search sees the winner's resource. The same holds for conditional updates.

Access control: every search here (conditional create, update, delete and patch, the
conditional references and entries of Bundles, ``$everything``) runs with the access
policy of the request, which the auth guard puts in :data:`ACCESS` (None: the server's
own look-ups, or ``--no-auth``): the policy's ``search_filter`` is ANDed into the query
and every match must pass ``can_read``, so a condition can neither match nor reveal a
resource the caller may not see. An update-as-create on an id held by such a resource is
refused like an update of it (404). Chained criteria inside a condition are not
restricted further (the matches themselves are).
"""

from __future__ import annotations

import hashlib
import uuid
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pymongo.asynchronous.client_session import AsyncClientSession
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.rest.formats import Format, negotiate
from fhir_server.rest.http import check_type, fhir_response, parse_etag, prefer_return, write_response
from fhir_server.storage import MongoRepository, StoredVersion, VersionConflict

LOCKS = "_locks"
# Parameters that shape the answer, not the selection: never criteria.
_NOT_CRITERIA = frozenset({"_format", "_pretty", "_summary", "_elements"})
Criteria = list[tuple[str, str]]
# The access policy (fhir_server.auth.policy.AccessPolicy) of the request being served.
ACCESS: ContextVar[Any] = ContextVar("passerelle_conditional_access", default=None)


def parse_criteria(query: str, where: str) -> Criteria:
    """The search criteria of a conditional interaction; 400 when there are none."""
    params = [
        (k, v) for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=True) if k not in _NOT_CRITERIA
    ]
    if not params:
        raise FhirError(
            400,
            "required",
            "Interaction conditionnelle sans critère de recherche : au moins un paramètre est requis.",
            expression=[where],
        )
    return params


async def find(
    repository: MongoRepository,
    type_: str,
    criteria: Criteria,
    *,
    session: AsyncClientSession | None,
    limit: int | None,
) -> list[StoredVersion]:
    """Current matches of ``criteria`` through the search engine (the one place conditionals search)."""
    from fhir_server.search import find_matching  # imported here: search imports the REST layer's helpers

    policy = ACCESS.get()
    if policy is None or policy.is_unrestricted:
        return await find_matching(repository, type_, criteria, session=session, limit=limit)
    return await _find_restricted(policy, repository, type_, criteria, session, limit)


async def _find_restricted(
    policy: Any,
    repository: MongoRepository,
    type_: str,
    criteria: Criteria,
    session: AsyncClientSession | None,
    limit: int | None,
) -> list[StoredVersion]:
    import orjson

    from fhir_server.search import search_query
    from fhir_server.storage import version_from_doc

    restriction = policy.search_filter(type_)  # 403 without a scope on the type
    query = (await search_query(repository, type_, criteria, session=session)).filter
    if restriction is not None:
        query = {"$and": [query, restriction]}
    cursor = repository.db[type_].find(query, {"s": 0}, session=session).sort("_id", 1)
    if limit is not None:
        cursor = cursor.limit(limit)
    out = []
    async for doc in cursor:
        version = version_from_doc(doc, type_, doc["_id"])
        if version.body is not None and policy.can_read(type_, orjson.loads(version.body)):
            out.append(version)
    return out


async def check_free_id(
    repository: MongoRepository, type_: str, id_: str, session: AsyncClientSession
) -> None:
    """404 when an update-as-create would overwrite a resource the caller may not see."""
    policy = ACCESS.get()
    if policy is None or policy.is_unrestricted:
        return
    current = await repository.read(type_, id_, session=session)
    if current is None or current.deleted or current.body is None:
        return
    import orjson

    if not policy.can_read(type_, orjson.loads(current.body)):
        raise FhirError(404, "not-found", f"{type_}/{id_} introuvable.")


async def lock(
    repository: MongoRepository, type_: str, criteria: Criteria, session: AsyncClientSession
) -> None:
    """Serialize concurrent conditional writes with the same criteria (see the module docstring)."""
    canonical = type_ + "?" + urlencode(sorted(criteria))
    key = hashlib.sha256(canonical.encode()).hexdigest()
    await repository.db[LOCKS].update_one({"_id": key}, {"$inc": {"n": 1}}, upsert=True, session=session)


def _too_many(type_: str, criteria: Criteria, what: str) -> FhirError:
    return FhirError(
        412,
        "multiple-matches",
        f"{what} : les critères {type_}?{urlencode(criteria)} désignent plusieurs ressources ; précisez-les.",
    )


async def create_if_none_exist(
    repository: MongoRepository,
    type_: str,
    resource: dict[str, Any],
    criteria: Criteria,
    session: AsyncClientSession,
    *,
    id_: str | None = None,
) -> tuple[StoredVersion, bool]:
    """The existing match (``False``) or the newly created resource (``True``); 412 on several matches."""
    await lock(repository, type_, criteria, session)
    matches = await find(repository, type_, criteria, session=session, limit=2)
    if len(matches) > 1:
        raise _too_many(type_, criteria, "Création conditionnelle (If-None-Exist)")
    if matches:
        return matches[0], False
    return await create_with_id(repository, type_, id_ or str(uuid.uuid4()), resource, session), True


async def create_with_id(
    repository: MongoRepository, type_: str, id_: str, resource: dict[str, Any], session: AsyncClientSession
) -> StoredVersion:
    """A create (history method POST) under an id chosen beforehand, e.g. for a transaction's urn:uuid.

    ``MongoRepository.create`` draws its own id; a transaction must know the ids before
    writing so that references between its entries can be rewritten.
    """
    return await repository.create(type_, resource, id_=id_, session=session)


async def update_matching(
    repository: MongoRepository,
    type_: str,
    resource: dict[str, Any],
    criteria: Criteria,
    session: AsyncClientSession,
    *,
    if_match: int | None = None,
    new_id: str | None = None,
) -> tuple[StoredVersion, bool]:
    """Conditional update (R4 3.1.0.4.3): 0 match → create, 1 → update it, several → 412."""
    await lock(repository, type_, criteria, session)
    matches = await find(repository, type_, criteria, session=session, limit=2)
    if len(matches) > 1:
        raise _too_many(type_, criteria, "Mise à jour conditionnelle")
    body_id = resource.get("id")
    if matches:
        target = matches[0].id
        if body_id is not None and body_id != target:
            raise FhirError(
                400,
                "invalid",
                f"L'id du corps ({body_id!r}) diffère de celui de la ressource trouvée ({target!r}).",
                expression=[f"{type_}.id"],
            )
    else:
        # No match: create, under the id of the body when there is one (update as create).
        target = body_id or new_id or str(uuid.uuid4())
        if body_id:
            await check_free_id(repository, type_, target, session)
    resource = {**resource, "id": target}
    try:
        return await repository.update(type_, target, resource, if_match=if_match, session=session)
    except VersionConflict as exc:
        raise version_conflict(type_, target, if_match, exc) from exc


async def delete_matching(
    repository: MongoRepository,
    type_: str,
    criteria: Criteria,
    session: AsyncClientSession,
    *,
    multiple: bool,
    cap: int,
) -> list[StoredVersion]:
    """Conditional delete: the versions written (none when nothing matched, an ordinary no-op delete)."""
    matches = await find(repository, type_, criteria, session=session, limit=cap + 1)
    if len(matches) > 1 and not multiple:
        raise _too_many(type_, criteria, "Suppression conditionnelle (ajoutez X-Delete-Multiple: true)")
    if len(matches) > cap:
        raise FhirError(
            412,
            "too-costly",
            f"Suppression conditionnelle : plus de {cap} ressources correspondent (limite du serveur).",
        )
    policy = ACCESS.get()
    if policy is not None and not policy.is_unrestricted:
        import orjson

        from fhir_server.auth.access import check_delete

        for match in matches:  # the write rule: every patient each deleted version names, in reach
            if match.body is not None:
                await check_delete(policy, repository, type_, orjson.loads(match.body), session)
    deleted = []
    for match in matches:
        version = await repository.delete(type_, match.id, session=session)
        if version is not None:
            deleted.append(version)
    return deleted


async def resolve_single(
    repository: MongoRepository, type_: str, criteria: Criteria, session: AsyncClientSession | None, what: str
) -> StoredVersion:
    """The one resource the criteria designate; 404 for none, 412 for several."""
    matches = await find(repository, type_, criteria, session=session, limit=2)
    if len(matches) > 1:
        raise _too_many(type_, criteria, what)
    if not matches:
        raise FhirError(404, "not-found", f"{what} : aucune ressource {type_}?{urlencode(criteria)}.")
    return matches[0]


def version_conflict(type_: str, id_: str, if_match: int | None, exc: VersionConflict) -> FhirError:
    if exc.current is None:
        text = f'If-Match W/"{if_match}" : {type_}/{id_} n\'existe pas.'
    else:
        text = f'If-Match W/"{if_match}" périmé : la version courante de {type_}/{id_} est {exc.current}.'
    return FhirError(412, "conflict", text)


# -- REST handlers ------------------------------------------------------------------------


def _repo(request: Request) -> MongoRepository:
    return request.app.state.repository


async def create_response(
    request: Request, fmt: Format, type_: str, resource: dict[str, Any], header: str
) -> Response:
    """``POST [type]`` with ``If-None-Exist``: 201 when created, 200 with the match when one exists."""
    criteria = parse_criteria(header, "If-None-Exist")
    repository = _repo(request)

    async def body(session: AsyncClientSession) -> tuple[StoredVersion, bool]:
        return await create_if_none_exist(repository, type_, resource, criteria, session)

    version, created = await repository.run_transaction(body)
    if created:
        return write_response(request, fmt, version, 201, f"{type_}/{version.id} créé (version 1).")
    return write_response(
        request, fmt, version, 200, f"{type_}/{version.id} existe déjà (If-None-Exist) : rien créé."
    )


async def update(request: Request) -> Response:
    """``PUT [type]?criteria`` (applies the access policy: see the module docstring)."""
    type_ = check_type(request)
    fmt = negotiate(request)
    criteria = parse_criteria(request.url.query, "url")
    if_match = parse_etag(request.headers.get("if-match"), "If-Match")
    resource = await _incoming_keep_id(request, type_)
    repository = _repo(request)

    async def body(session: AsyncClientSession) -> tuple[StoredVersion, bool]:
        return await update_matching(repository, type_, resource, criteria, session, if_match=if_match)

    version, created = await repository.run_transaction(body)
    verb = "créé" if created else "mis à jour"
    return write_response(
        request,
        fmt,
        version,
        201 if created else 200,
        f"{type_}/{version.id} {verb} (version {version.version}).",
    )


async def _incoming_keep_id(request: Request, type_: str) -> dict[str, Any]:
    """A conditional update body: validated like any update, its id (optional) kept."""
    from fhir_server.rest.crud import prepare_resource
    from fhir_server.rest.formats import parse_resource, read_body, request_is_xml

    xml = request_is_xml(request)
    data = await read_body(request, request.app.state.settings.max_body_bytes)
    resource = parse_resource(data, xml)
    id_ = resource.get("id")
    if id_ is not None and not isinstance(id_, str):
        raise FhirError(400, "invalid", "id doit être une chaîne.", expression=[f"{type_}.id"])
    return prepare_resource(resource, type_, id_)


def delete_multiple_requested(request_headers: Any) -> bool:
    return str(request_headers.get("x-delete-multiple", "")).strip().lower() == "true"


async def delete(request: Request) -> Response:
    """``DELETE [type]?criteria``: one match by default, several with ``X-Delete-Multiple: true``."""
    type_ = check_type(request)
    fmt = negotiate(request)
    criteria = parse_criteria(request.url.query, "url")
    repository = _repo(request)
    multiple = delete_multiple_requested(request.headers)
    cap = request.app.state.settings.conditional_delete_max

    async def body(session: AsyncClientSession) -> list[StoredVersion]:
        return await delete_matching(repository, type_, criteria, session, multiple=multiple, cap=cap)

    deleted = await repository.run_transaction(body)
    headers = {"ETag": deleted[0].etag} if len(deleted) == 1 else {}
    if prefer_return(request) == "OperationOutcome":
        if deleted:
            text = f"{len(deleted)} ressource(s) supprimée(s) : " + ", ".join(
                f"{v.type}/{v.id}" for v in deleted
            )
        else:
            text = "Aucune ressource ne correspond : rien à supprimer."
        outcome = operation_outcome([issue("information", "informational", text)])
        return fhir_response(outcome, fmt, 200, headers=headers)
    return Response(status_code=204, headers=headers)


update.applies_access_policy = True  # type: ignore[attr-defined]
delete.applies_access_policy = True  # type: ignore[attr-defined]
