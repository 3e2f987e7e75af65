"""The create, read, vread, update and delete interactions."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.rest.formats import negotiate, parse_resource, read_body, request_is_xml
from fhir_server.rest.http import (
    check_id,
    check_type,
    fhir_response,
    parse_etag,
    parse_http_date,
    parse_version,
    prefer_return,
    version_headers,
    write_response,
)
from fhir_server.storage import MongoRepository, StoredVersion, VersionConflict

OFF_LOOP_BYTES = 256 * 1024  # request bodies above this are parsed and validated in a thread


def _repo(request: Request) -> MongoRepository:
    return request.app.state.repository


async def _incoming(request: Request, type_: str, id_: str | None) -> dict[str, Any]:
    """Read, parse and validate a request body for ``type_`` (and ``id_`` on update)."""
    xml = request_is_xml(request)
    data = await read_body(request, request.app.state.settings.max_body_bytes)
    if len(data) > OFF_LOOP_BYTES:
        # parsing and validating a large body takes long enough to hold other requests up:
        # done in a worker thread, the event loop goes on serving (issue 12, finding 9)
        return await asyncio.to_thread(lambda: prepare_resource(parse_resource(data, xml), type_, id_))
    return prepare_resource(parse_resource(data, xml), type_, id_)


def prepare_resource(
    resource: dict[str, Any],
    type_: str,
    id_: str | None,
    *,
    allow_conditional_references: bool | None = None,
) -> dict[str, Any]:
    """Check a parsed resource against the URL, drop server-kept meta, validate; raise FhirError.

    The one path every incoming resource takes (REST create/update, Bundle entries, PATCH
    results, $validate), so that no door accepts what another refuses.
    """
    from fhir_server.validation import validate_resource

    body_type = resource.get("resourceType")
    if body_type != type_:
        raise FhirError(
            400,
            "invalid",
            f"Le type de la ressource ({body_type!r}) ne correspond pas à l'URL ({type_}).",
            expression=["resourceType"],
        )
    if id_ is not None:
        if "id" not in resource:
            raise FhirError(
                400,
                "required",
                "Une mise à jour doit porter l'id de la ressource.",
                expression=[f"{type_}.id"],
            )
        if resource["id"] != id_:
            raise FhirError(
                400,
                "invalid",
                f"L'id du corps ({resource['id']!r}) diffère de celui de l'URL ({id_!r}).",
                expression=[f"{type_}.id"],
            )
    else:
        # create: the server assigns the id and ignores any id sent (FHIR R4 3.1.0.7).
        resource.pop("id", None)
    meta = resource.get("meta")
    if isinstance(meta, dict):
        # Server-maintained: whatever the client sent is replaced, so it is not validated.
        meta = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        if meta:
            resource["meta"] = meta
        else:
            resource.pop("meta")
    problems = validate_resource(
        resource,
        expected_type=type_,
        expected_id=id_,
        allow_conditional_references=allow_conditional_references,
    )
    errors = [p for p in problems if p.severity in ("error", "fatal")]
    if errors:
        # 400, not 422: structure and required bindings are "basic FHIR validation rules" (R4 3.1.0.1.1).
        raise FhirError(400, "invalid", "Ressource invalide", issues=[p.to_json() for p in problems])
    return resource


def _gone(version: StoredVersion) -> FhirError:
    return FhirError(
        410,
        "deleted",
        f"{version.type}/{version.id} a été supprimé (version {version.version}).",
        headers={"ETag": version.etag},
    )


async def read(request: Request) -> Response:
    type_ = check_type(request)
    id_ = check_id(request.path_params["id"])
    fmt = negotiate(request)
    version = await _repo(request).read(type_, id_)
    if version is None:
        raise FhirError(404, "not-found", f"{type_}/{id_} introuvable.")
    if version.deleted:
        raise _gone(version)
    headers = version_headers(version, request)
    if _not_modified(request, version):
        return Response(status_code=304, headers=headers)
    return fhir_response(version.body, fmt, 200, headers=headers)


def _not_modified(request: Request, version: StoredVersion) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        if "*" in tags:
            return True
        return any(parse_etag(t, "If-None-Match") == version.version for t in tags if t)
    ims = request.headers.get("if-modified-since")
    if ims is not None:
        since = parse_http_date(ims)
        if since is not None:
            return version.last_updated.replace(microsecond=0) <= since
    return False


async def vread(request: Request) -> Response:
    type_ = check_type(request)
    id_ = check_id(request.path_params["id"])
    vid = parse_version(request.path_params["vid"])
    fmt = negotiate(request)
    version = await _repo(request).vread(type_, id_, vid)
    if version is None:
        current = await _repo(request).read(type_, id_)
        what = f"{type_}/{id_}" if current is None else f"La version {vid} de {type_}/{id_}"
        raise FhirError(404, "not-found", f"{what} introuvable.")
    if version.deleted:
        raise _gone(version)
    return fhir_response(version.body, fmt, 200, headers=version_headers(version, request))


async def create(request: Request) -> Response:
    type_ = check_type(request)
    fmt = negotiate(request)
    resource = await _incoming(request, type_, None)
    criteria = request.headers.get("if-none-exist")
    if criteria is not None:
        from fhir_server.rest import conditional

        return await conditional.create_response(request, fmt, type_, resource, criteria)
    version = await _repo(request).create(type_, resource)
    return write_response(request, fmt, version, 201, f"{type_}/{version.id} créé (version 1).")


async def update(request: Request) -> Response:
    type_ = check_type(request)
    id_ = check_id(request.path_params["id"])
    fmt = negotiate(request)
    if_match = parse_etag(request.headers.get("if-match"), "If-Match")
    resource = await _incoming(request, type_, id_)
    try:
        version, created = await _repo(request).update(type_, id_, resource, if_match=if_match)
    except VersionConflict as exc:
        raise _conflict(type_, id_, if_match, exc) from exc
    status = 201 if created else 200
    verb = "créé" if created else "mis à jour"
    return write_response(request, fmt, version, status, f"{type_}/{id_} {verb} (version {version.version}).")


async def delete(request: Request) -> Response:
    type_ = check_type(request)
    id_ = check_id(request.path_params["id"])
    fmt = negotiate(request)
    if_match = parse_etag(request.headers.get("if-match"), "If-Match")
    try:
        version = await _repo(request).delete(type_, id_, if_match=if_match)
    except VersionConflict as exc:
        raise _conflict(type_, id_, if_match, exc) from exc
    headers = {} if version is None else {"ETag": version.etag}
    if prefer_return(request) == "OperationOutcome":
        text = (
            f"{type_}/{id_} supprimé (version {version.version})."
            if version is not None
            else f"{type_}/{id_} n'existe pas ou est déjà supprimé : rien à faire."
        )
        outcome = operation_outcome([issue("information", "informational", text)])
        return fhir_response(outcome, fmt, 200, headers=headers)
    return Response(status_code=204, headers=headers)


def _conflict(type_: str, id_: str, if_match: int | None, exc: VersionConflict) -> FhirError:
    if exc.current is None:
        text = f'If-Match W/"{if_match}" : {type_}/{id_} n\'existe pas.'
    else:
        text = f'If-Match W/"{if_match}" périmé : la version courante de {type_}/{id_} est {exc.current}.'
    return FhirError(412, "conflict", text)
