"""The PATCH interaction: ``PATCH [type]/[id]`` and conditional ``PATCH [type]?criteria``.

A patch is a read-modify-write: the current version is read, patched and written back
inside one transaction, so a concurrent writer makes the transaction retry from a fresh
read instead of losing either change. The result goes through the same validation as
any update (:func:`fhir_server.rest.crud.prepare_resource`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from pymongo.asynchronous.client_session import AsyncClientSession
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.rest.formats import negotiate, parse_resource, read_body
from fhir_server.rest.http import check_id, check_type, parse_etag, write_response
from fhir_server.storage import MongoRepository, StoredVersion, VersionConflict

JSON_PATCH = "application/json-patch+json"
# ("json", RFC 6902 operations) or ("fhirpath", a Parameters resource)
PatchDocument = tuple[str, Any]


def decode_patch(data: bytes, content_type: str | None) -> PatchDocument:
    """The patch document of a request body, by Content-Type; 415 for anything else."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        try:
            return "json", orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise FhirError(400, "structure", f"JSON Patch mal formé : {exc}") from exc
    if media in ("application/fhir+json", "application/json", "application/fhir+xml", "application/xml"):
        parameters = parse_resource(data, xml=media.endswith("xml"))
        if parameters.get("resourceType") != "Parameters":
            raise FhirError(
                400,
                "invalid",
                "PATCH FHIR : le corps doit être un Parameters (FHIRPath Patch) ou un JSON Patch "
                f"({JSON_PATCH}).",
                expression=["resourceType"],
            )
        return "fhirpath", parameters
    raise FhirError(
        415,
        "not-supported",
        f"Content-Type {content_type!r} non pris en charge pour PATCH : {JSON_PATCH} (JSON Patch) "
        "ou application/fhir+json (FHIRPath Patch, Parameters).",
    )


def document_from_entry(resource: Any, where: str) -> PatchDocument:
    """The patch document of a Bundle entry: a Binary holding a JSON Patch, or a Parameters."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Parameters":
        return "fhirpath", resource
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        if resource.get("contentType", "").split(";", 1)[0].strip() != JSON_PATCH:
            raise FhirError(
                400, "invalid", f"Binary de PATCH : contentType {JSON_PATCH} attendu.", expression=[where]
            )
        try:
            return "json", orjson.loads(base64.b64decode(resource.get("data", ""), validate=True))
        except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
            raise FhirError(400, "invalid", f"Binary de PATCH illisible : {exc}", expression=[where]) from exc
    raise FhirError(
        400,
        "invalid",
        "Une entrée PATCH doit porter un Parameters (FHIRPath Patch) ou un Binary (JSON Patch).",
        expression=[where],
    )


def apply_document(current: dict[str, Any], document: PatchDocument) -> dict[str, Any]:
    from fhir_server.patch import apply_fhirpath_patch, apply_json_patch

    kind, payload = document
    if kind == "json":
        return apply_json_patch(current, payload)
    return apply_fhirpath_patch(current, payload)


async def read_current(
    repository: MongoRepository, type_: str, id_: str, session: AsyncClientSession | None
) -> StoredVersion | None:
    """The current version as seen inside ``session`` (a transaction sees its own writes)."""
    return await repository.read(type_, id_, session=session)


async def patch_resource(
    repository: MongoRepository,
    type_: str,
    id_: str,
    document: PatchDocument,
    session: AsyncClientSession,
    *,
    if_match: int | None = None,
) -> StoredVersion:
    """Patch the current version of ``type_/id_`` inside ``session`` and store the result."""
    from fhir_server.rest.conditional import version_conflict
    from fhir_server.rest.crud import prepare_resource

    current = await read_current(repository, type_, id_, session)
    if current is None or current.deleted or current.body is None:
        if if_match is not None:
            raise version_conflict(
                type_, id_, if_match, VersionConflict(None if current is None else current.version)
            )
        status, code = (410, "deleted") if current is not None else (404, "not-found")
        raise FhirError(status, code, f"{type_}/{id_} introuvable : rien à modifier.")
    if if_match is not None and current.version != if_match:
        raise version_conflict(type_, id_, if_match, VersionConflict(current.version))
    patched = apply_document(orjson.loads(current.body), document)
    if patched.get("resourceType") != type_ or patched.get("id") != id_:
        raise FhirError(
            400,
            "invalid",
            "PATCH : le type et l'id de la ressource ne peuvent pas changer.",
            expression=[f"{type_}.id"],
        )
    resource = prepare_resource(patched, type_, id_)
    try:
        version, _ = await repository.update(type_, id_, resource, if_match=current.version, session=session)
    except VersionConflict as exc:
        raise version_conflict(type_, id_, current.version, exc) from exc
    return version


async def _document(request: Request) -> PatchDocument:
    data = await read_body(request, request.app.state.settings.max_body_bytes)
    if not data.strip():
        raise FhirError(400, "structure", "Corps de PATCH vide.")
    return decode_patch(data, request.headers.get("content-type"))


async def patch(request: Request) -> Response:
    """``PATCH [type]/[id]`` (JSON Patch or FHIRPath Patch), honouring ``If-Match``."""
    type_ = check_type(request)
    id_ = check_id(request.path_params["id"])
    fmt = negotiate(request)
    if_match = parse_etag(request.headers.get("if-match"), "If-Match")
    document = await _document(request)
    repository: MongoRepository = request.app.state.repository

    async def body(session: AsyncClientSession) -> StoredVersion:
        return await patch_resource(repository, type_, id_, document, session, if_match=if_match)

    version = await repository.run_transaction(body)
    return write_response(request, fmt, version, 200, f"{type_}/{id_} modifié (version {version.version}).")


async def conditional_patch(request: Request) -> Response:
    """``PATCH [type]?criteria``: the one matching resource is patched (404 none, 412 several)."""
    from fhir_server.rest.conditional import parse_criteria, resolve_single

    type_ = check_type(request)
    fmt = negotiate(request)
    criteria = parse_criteria(request.url.query, "url")
    if_match = parse_etag(request.headers.get("if-match"), "If-Match")
    document = await _document(request)
    repository: MongoRepository = request.app.state.repository

    async def body(session: AsyncClientSession) -> StoredVersion:
        target = await resolve_single(repository, type_, criteria, session, "PATCH conditionnel")
        return await patch_resource(repository, type_, target.id, document, session, if_match=if_match)

    version = await repository.run_transaction(body)
    return write_response(
        request, fmt, version, 200, f"{type_}/{version.id} modifié (version {version.version})."
    )
