"""``Patient/[id]/$everything`` (R4 Patient-everything): the patient's record, for "download my data".

The record is the patient, every resource of the Patient compartment (R4
CompartmentDefinition, each type through its listed search parameters, run by the search
engine) and the resources those reference (practitioners, organizations, medications...),
one level deep. ``_since`` keeps what changed since an instant, ``_type`` restricts the
types, ``_count`` sizes the pages, which ``next`` links walk with ``_offset``.

Access: the caller must be able to read the Patient (checked by the dispatcher), the
compartment searches run restricted by the caller's policy (``conditional.find``), and a
referenced resource is added only when the policy lets the caller read it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.operations.registry import Call, Operation, register
from fhir_server.rest.http import base_url, fhir_response
from fhir_server.storage import StoredVersion

_REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_DEFAULT_COUNT = 100
_MAX_COUNT = 1000


@cache
def compartment() -> dict[str, tuple[str, ...]]:
    """Resource type → the search parameters that put a resource in a Patient's compartment."""
    from profiles import r4_bundle

    definition = r4_bundle("compartmentdefinition-patient")
    return {r["code"]: tuple(r["param"]) for r in definition.get("resource", []) if r.get("param")}


def _int(call: Call, name: str, default: int, maximum: int | None = None) -> int:
    raw = call.first(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise FhirError(400, "invalid", f"{name} doit être un entier positif.", expression=[name]) from exc
    if value < 0 or (maximum is not None and value > maximum):
        raise FhirError(400, "invalid", f"{name} doit être entre 0 et {maximum}.", expression=[name])
    return value


def _since(call: Call) -> datetime | None:
    raw = call.first("_since")
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise FhirError(
            400, "invalid", f"_since {raw!r} n'est pas un instant FHIR.", expression=["_since"]
        ) from exc
    if value.tzinfo is None:
        raise FhirError(400, "invalid", "_since doit porter un fuseau horaire.", expression=["_since"])
    return value.astimezone(UTC)


def _types(call: Call) -> set[str] | None:
    from fhir_server.validation import RESOURCE_TYPES

    raw = call.all("_type")
    if not raw:
        return None
    types = {t.strip() for value in raw for t in str(value).split(",") if t.strip()}
    unknown = sorted(t for t in types if t not in RESOURCE_TYPES)
    if unknown:
        raise FhirError(400, "invalid", f"_type : types inconnus {', '.join(unknown)}.", expression=["_type"])
    return types


def _references(value: Any, found: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                m = _REFERENCE.match(item)
                if m:
                    found.append((m.group(1), m.group(2)))
            elif isinstance(item, dict | list):
                _references(item, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)


async def _everything(call: Call) -> Response:
    from fhir_server.rest.conditional import find
    from fhir_server.rest.patch import read_current

    repository = call.request.app.state.repository
    assert call.id is not None
    since, types = _since(call), _types(call)
    count = _int(call, "_count", _DEFAULT_COUNT, _MAX_COUNT)
    offset = _int(call, "_offset", 0)
    patient = await read_current(repository, "Patient", call.id, None)
    if patient is None:
        raise FhirError(404, "not-found", f"Patient/{call.id} introuvable.")
    if patient.deleted:
        raise FhirError(410, "deleted", f"Patient/{call.id} a été supprimé.")

    found: dict[tuple[str, str], StoredVersion] = {("Patient", patient.id): patient}
    reference = f"Patient/{patient.id}"
    for type_, params in compartment().items():
        if type_ == "Patient" or (types is not None and type_ not in types):
            continue
        for param in params:
            try:
                matches = await find(repository, type_, [(param, reference)], session=None, limit=None)
            except FhirError:
                continue  # a parameter the search engine does not support: the others still apply
            for match in matches:
                found.setdefault((match.type, match.id), match)
    referenced: list[tuple[str, str]] = []
    for version in list(found.values()):
        if version.body is not None:
            _references(orjson.loads(version.body), referenced)
    policy = getattr(call.request.state, "access", None)
    for key in dict.fromkeys(referenced):
        if key in found or (types is not None and key[0] not in types):
            continue
        target = await read_current(repository, key[0], key[1], None)
        if target is None or target.deleted or target.body is None:
            continue
        if policy is not None and not policy.can_read(key[0], orjson.loads(target.body)):
            continue
        found[key] = target

    selected = [
        v
        for v in found.values()
        if (since is None or v.last_updated >= since) and (types is None or v.type in types or v is patient)
    ]
    if types is not None and "Patient" not in types:
        selected = [v for v in selected if v is not patient]
    rest = sorted((v for v in selected if v is not patient), key=lambda v: (v.type, v.id))
    ordered = ([patient] if patient in selected else []) + rest
    page = ordered[offset : offset + count]
    return fhir_response(_bundle(call, ordered, page, offset, count), call.fmt, 200)


def _bundle(
    call: Call, ordered: list[StoredVersion], page: list[StoredVersion], offset: int, count: int
) -> bytes | dict[str, Any]:
    base = base_url(call.request)
    self_url = f"{base}/Patient/{call.id}/$everything"
    kept = [(k, v) for k, v in call.params if k not in ("_offset",) and isinstance(v, str)]
    links = [{"relation": "self", "url": f"{self_url}?{urlencode([*kept, ('_offset', str(offset))])}"}]
    if offset + count < len(ordered):
        links.append(
            {"relation": "next", "url": f"{self_url}?{urlencode([*kept, ('_offset', str(offset + count))])}"}
        )
    if offset > 0:
        previous = max(0, offset - count)
        links.append(
            {"relation": "previous", "url": f"{self_url}?{urlencode([*kept, ('_offset', str(previous))])}"}
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(ordered),
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{v.type}/{v.id}",
                "resource": orjson.Fragment(v.body or b"{}"),
                "search": {"mode": "match"},
            }
            for v in page
        ],
    }
    data = orjson.dumps(bundle)
    return orjson.loads(data) if (call.fmt.xml or call.fmt.pretty) else data


register(
    Operation(
        name="everything",
        definition="http://hl7.org/fhir/OperationDefinition/Patient-everything",
        levels=frozenset({"instance"}),
        handler=_everything,
        resource_types=frozenset({"Patient"}),
    )
)
