"""``$meta`` (system, type, instance), ``$meta-add``, ``$meta-delete`` (instance) (R4 Resource-meta*).

At type and system level ``$meta`` answers the union of the profiles, tags and security
labels in use on current resources; only resources whose search values say they carry
one are read, the others are never fetched.

Profiles, tags and security labels are sets: a tag or label is identified by
system + code, a profile by its URL. The final R4 text no longer says these operations
bypass versioning, and our search index and history must follow every change of
``meta``, so a change is written as a new version (no new version when nothing changes).
"""

from __future__ import annotations

from typing import Any

import orjson
from pymongo.asynchronous.client_session import AsyncClientSession
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.operations.registry import Call, Operation, register
from fhir_server.rest.http import fhir_response

_SETS = ("profile", "tag", "security")


def _key(kind: str, item: Any) -> Any:
    if kind == "profile":
        return item
    if isinstance(item, dict):
        return (item.get("system"), item.get("code"))
    return None


def _meta_param(call: Call) -> dict[str, Any]:
    meta = call.first("meta")
    if isinstance(meta, dict) and "name" in meta and "valueMeta" in meta:
        meta = meta["valueMeta"]
    if not isinstance(meta, dict):
        raise FhirError(
            400, "required", "Paramètre meta (type Meta) requis.", expression=["Parameters.parameter"]
        )
    for kind in _SETS:
        if kind in meta and not isinstance(meta[kind], list):
            raise FhirError(400, "invalid", f"meta.{kind} doit être une liste.", expression=[f"Meta.{kind}"])
    return meta


def _visible(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in _SETS if meta.get(k)}


def _parameters(meta: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": "return", "valueMeta": _visible(meta)}]}


async def _current(call: Call, session: AsyncClientSession | None) -> dict[str, Any]:
    from fhir_server.rest.patch import read_current

    assert call.type is not None and call.id is not None
    version = await read_current(call.request.app.state.repository, call.type, call.id, session)
    if version is None or version.body is None:
        status, code = (404, "not-found") if version is None else (410, "deleted")
        raise FhirError(status, code, f"{call.type}/{call.id} introuvable.")
    return orjson.loads(version.body)


async def _meta(call: Call) -> Response:
    if call.level == "instance":
        meta = (await _current(call, None)).get("meta") or {}
    else:
        from fhir_server.validation import RESOURCE_TYPES

        types = [call.type] if call.type is not None else sorted(RESOURCE_TYPES)
        meta = await _meta_in_use(call.request.app.state.repository, types)
    return fhir_response(_parameters(meta), call.fmt, 200)


async def _meta_in_use(repository: Any, types: list[str]) -> dict[str, Any]:
    """The union of meta profiles, tags and security labels of the current resources of ``types``."""
    union: dict[str, list[Any]] = {kind: [] for kind in _SETS}
    seen: dict[str, set[Any]] = {kind: set() for kind in _SETS}
    carries = {"$or": [{f"s._{kind}": {"$exists": True}} for kind in _SETS]}
    for type_ in types:
        async for doc in repository.db[type_].find({"d": False, **carries}, {"j": 1}):
            meta = orjson.loads(doc["j"]).get("meta") or {}
            for kind in _SETS:
                for item in meta.get(kind) or []:
                    key = _key(kind, item)
                    if key is not None and key not in seen[kind]:
                        seen[kind].add(key)
                        union[kind].append(item)
    return union


async def _change(call: Call, add: bool) -> Response:
    from fhir_server.rest.crud import prepare_resource

    change = _meta_param(call)
    repository = call.request.app.state.repository
    assert call.type is not None and call.id is not None
    type_, id_ = call.type, call.id

    async def body(session: AsyncClientSession) -> dict[str, Any]:
        resource = await _current(call, session)
        meta = dict(resource.get("meta") or {})
        changed = False
        for kind in _SETS:
            items = list(meta.get(kind) or [])
            keys = {_key(kind, i) for i in items}
            for item in change.get(kind) or []:
                key = _key(kind, item)
                if add and key not in keys:
                    items.append(item)
                    keys.add(key)
                    changed = True
                elif not add and key in keys:
                    items = [i for i in items if _key(kind, i) != key]
                    keys.discard(key)
                    changed = True
            if items:
                meta[kind] = items
            else:
                meta.pop(kind, None)
        if not changed:
            return meta
        resource["meta"] = meta
        prepared = prepare_resource(resource, type_, id_)
        version, _ = await repository.update(type_, id_, prepared, session=session)
        return orjson.loads(version.body or b"{}").get("meta", {})

    meta = await repository.run_transaction(body)
    return fhir_response(_parameters(meta), call.fmt, 200)


async def _meta_add(call: Call) -> Response:
    return await _change(call, True)


async def _meta_delete(call: Call) -> Response:
    return await _change(call, False)


register(
    Operation(
        name="meta",
        definition="http://hl7.org/fhir/OperationDefinition/Resource-meta",
        levels=frozenset({"system", "type", "instance"}),
        handler=_meta,
    )
)
register(
    Operation(
        name="meta-add",
        definition="http://hl7.org/fhir/OperationDefinition/Resource-meta-add",
        levels=frozenset({"instance"}),
        handler=_meta_add,
        affects_state=True,
    )
)
register(
    Operation(
        name="meta-delete",
        definition="http://hl7.org/fhir/OperationDefinition/Resource-meta-delete",
        levels=frozenset({"instance"}),
        handler=_meta_delete,
        affects_state=True,
    )
)
