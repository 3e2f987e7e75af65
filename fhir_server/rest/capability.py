"""The CapabilityStatement, generated from the routes and features actually wired in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

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
        "format": ["application/fhir+json", "application/fhir+xml", "json", "xml"],
        "patchFormat": PATCH_FORMATS,
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": c} for c in system_codes],
                **({"operation": ops} if (ops := _operations(None)) else {}),
            }
        ],
    }


async def capabilities(request: Request) -> Response:
    from fhir_server.validation import RESOURCE_TYPES

    fmt = negotiate(request)
    statement = build_capability_statement(request.app.state.interactions, RESOURCE_TYPES, base_url(request))
    return fhir_response(statement, fmt, 200)
