"""The CapabilityStatement, generated from the routes and features actually wired in."""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.rest.formats import negotiate
from fhir_server.rest.http import base_url, fhir_response
from fhir_server.rest.registry import Interaction
from fhir_server.storage.records import fhir_instant, now_ms

SOFTWARE_VERSION = "0.1.0"

# Behaviour of the handlers in crud.py, stated where the CapabilityStatement needs it.
RESOURCE_FEATURES: dict[str, Any] = {
    "versioning": "versioned-update",
    "readHistory": True,
    "updateCreate": True,
    "conditionalCreate": True,  # If-None-Exist, race-safe (fhir_server.rest.conditional)
    "conditionalRead": "full-support",
    "conditionalUpdate": True,
    "conditionalDelete": "multiple",  # one match by default, several with X-Delete-Multiple: true
}
# PATCH bodies accepted by fhir_server.rest.patch.
PATCH_FORMATS = ["application/json-patch+json", "application/fhir+json", "application/fhir+xml"]


def _operations(type_: str | None) -> list[dict[str, Any]]:
    """Registered operations callable on ``type_`` (type or instance level), or system-wide for None."""
    from fhir_server.operations import load_all

    out = []
    for op in sorted(load_all().values(), key=lambda o: o.name):
        if type_ is None:
            applies = "system" in op.levels
        else:
            applies = bool(op.levels & {"type", "instance"}) and (
                op.resource_types is None or type_ in op.resource_types
            )
        if applies:
            entry = {"name": op.name, "definition": op.definition_for(type_)}
            if op.documentation:
                entry["documentation"] = op.documentation
            out.append(entry)
    return out


def _instantiates() -> dict[str, Any]:
    """Implementation guides whose CapabilityStatement this server conforms to (Bulk Data when $export is)."""
    from fhir_server.operations import load_all

    if "export" in load_all():
        from fhir_server.bulk import BULK_CAPABILITY

        return {"instantiates": [BULK_CAPABILITY]}
    return {}


def _websocket(base: str) -> dict[str, Any]:
    """The R4 extension giving the websocket channel's URL of Subscriptions (fhir_server.subscriptions)."""
    url = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/websocket"
    return {
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket", "valueUri": url}
        ]
    }


def build_capability_statement(
    interactions: Iterable[Interaction], resource_types: Iterable[str], base: str
) -> dict[str, Any]:
    interactions = list(interactions)
    type_codes = list(
        dict.fromkeys(i.code for i in interactions if i.level in ("type", "instance") and i.code)
    )
    system_codes = list(
        dict.fromkeys(
            i.code for i in interactions if i.level == "system" and i.code and i.code != "capabilities"
        )
    )
    resources = []
    for t in sorted(resource_types):
        resource: dict[str, Any] = {"type": t, "interaction": [{"code": c} for c in type_codes]}
        resource.update(RESOURCE_FEATURES)
        operations = _operations(t)
        if operations:
            resource["operation"] = operations
        resources.append(resource)
    if "search-type" in type_codes:
        from fhir_server.search.capability import search_capability

        for resource in resources:
            resource.update(search_capability(resource["type"]))
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": fhir_instant(now_ms()),
        "publisher": "Passerelle",
        "kind": "instance",
        "software": {"name": "Passerelle", "version": SOFTWARE_VERSION},
        "implementation": {"description": "Passerelle FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        **_instantiates(),
        "format": ["application/fhir+json", "application/fhir+xml", "json", "xml"],
        "patchFormat": PATCH_FORMATS,
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": c} for c in system_codes],
                **({"operation": ops} if (ops := _operations(None)) else {}),
                **_websocket(base),
            }
        ],
    }


MODES = ("full", "normative", "terminology")
# Below this, compressing costs more than it saves.
GZIP_MIN_BYTES = 4096


def _mode(request: Request) -> str:
    values = request.query_params.getlist("mode")
    if not values:
        return "full"
    if len(values) > 1 or values[0] not in MODES:
        raise FhirError(
            400, "invalid", f"mode : valeur {values[-1]!r} invalide (full, normative ou terminology).",
            expression=["mode"],
        )  # fmt: skip
    return values[0]


@cache
def _element_flags(type_: str) -> dict[str, tuple[bool, bool, str]]:
    """path -> (isSummary, mandatory, path its children are defined under) from the R4 definition."""
    from profiles import r4_bundle

    out: dict[str, tuple[bool, bool, str]] = {}
    for entry in r4_bundle("profiles-resources")["entry"]:
        res = entry["resource"]
        if res.get("resourceType") == "StructureDefinition" and res.get("id") == type_:
            for element in res["snapshot"]["element"]:
                path = element["path"].removesuffix("[x]")
                children = element.get("contentReference", "").lstrip("#") or path
                out[path] = (bool(element.get("isSummary")), element.get("min", 0) >= 1, children)
    return out


def _flag(flags: dict[str, tuple[bool, bool, str]], path: str, key: str) -> tuple[bool, bool, str] | None:
    name = key[1:] if key.startswith("_") else key  # a primitive's extension travels with it
    found = flags.get(f"{path}.{name}")
    if found is None:  # a choice element: valueQuantity is value[x]
        stem = next((i for i, c in enumerate(name) if c.isupper()), 0)
        found = flags.get(f"{path}.{name[:stem]}") if stem else None
    return found


def _summary_of(value: Any, path: str, flags: dict[str, tuple[bool, bool, str]]) -> Any:
    """The summary elements of ``value`` at every depth (and the mandatory ones, to stay valid)."""
    if isinstance(value, list):
        return [_summary_of(v, path, flags) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        flag = _flag(flags, path, key)
        if flag is not None and (flag[0] or flag[1]):
            out[key] = _summary_of(item, flag[2], flags)
    return out


def _summarized(resource: dict[str, Any]) -> dict[str, Any]:
    """``_summary=true`` (R4 3.1.1.5.8): summary elements at every level, tagged SUBSETTED."""
    from fhir_server.search.summary import SUBSETTED

    type_ = resource["resourceType"]
    out = _summary_of(resource, type_, _element_flags(type_))
    out = {"resourceType": type_, **out}
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    out["meta"] = meta
    return out


def _subset(statement: dict[str, Any], request: Request) -> dict[str, Any]:
    """``_summary`` / ``_elements`` on the statement (R4 3.1.1.5.8: summary elements, SUBSETTED tag)."""
    import orjson

    from fhir_server.search.summary import parse_elements, parse_summary, subset

    summary = parse_summary(request.query_params.getlist("_summary"))
    if summary == "true" and not request.query_params.getlist("_elements"):
        return _summarized(statement)
    if summary == "count":
        raise FhirError(
            400, "invalid", "_summary=count ne s'applique qu'à une recherche.", expression=["_summary"]
        )
    elements = parse_elements(request.query_params.getlist("_elements"))
    if summary in (None, "false") and not elements:
        return statement
    body = subset(orjson.dumps(statement), statement["resourceType"], summary, elements)
    return dict(orjson.loads(body))


def _security(request: Request) -> dict[str, Any] | None:
    """``rest.security`` when authorization is on: SMART service and the OAuth endpoints (SMART v1)."""
    if request.app.state.settings.no_auth:
        return None
    from fhir_server.auth.guard import issuer_of
    from fhir_server.auth.smart import capability_security

    return capability_security(issuer_of(request))


async def _gzipped(request: Request, response: Response) -> Response:
    """Compress a large statement for a client that accepts it (1 MB of JSON becomes a few dozen kB)."""
    accepted = request.headers.get("accept-encoding", "")
    codings = {
        part.split(";")[0].strip().lower()
        for part in accepted.split(",")
        if not re.search(r";\s*q=0(\.0*)?\s*$", part)  # q=0: "not acceptable"
    }
    if "gzip" not in codings or len(response.body) < GZIP_MIN_BYTES:
        return response
    body = await asyncio.to_thread(gzip.compress, response.body, 6)  # ~20 ms for 1 MB: off the loop
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    out = Response(body, status_code=response.status_code, headers=headers)
    out.headers["Content-Encoding"] = "gzip"
    out.headers["Vary"] = "Accept-Encoding"
    return out


async def capabilities(request: Request) -> Response:
    from fhir_server.validation import RESOURCE_TYPES

    fmt = negotiate(request)
    mode = _mode(request)
    if mode == "terminology":
        from fhir_server.rest.terminology_capabilities import terminology_capabilities

        # the terminology service loads its content on first use: never on the event loop
        statement = await asyncio.to_thread(terminology_capabilities, base_url(request), SOFTWARE_VERSION)
    else:
        statement = build_capability_statement(
            request.app.state.interactions, RESOURCE_TYPES, base_url(request)
        )
        security = _security(request)
        if security is not None:
            statement["rest"][0]["security"] = security
    return await _gzipped(request, fhir_response(_subset(statement, request), fmt, 200))
