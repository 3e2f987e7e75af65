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
    "conditionalCreate": False,
    "conditionalRead": "full-support",
    "conditionalUpdate": False,
    "conditionalDelete": "not-supported",
}


def build_capability_statement(
    interactions: Iterable[Interaction], resource_types: Iterable[str], base: str
) -> dict[str, Any]:
    interactions = list(interactions)
    type_codes = [i.code for i in interactions if i.level in ("type", "instance") and i.code]
    system_codes = [
        i.code for i in interactions if i.level == "system" and i.code and i.code != "capabilities"
    ]
    resources = [
        {"type": t, "interaction": [{"code": c} for c in type_codes], **RESOURCE_FEATURES}
        for t in sorted(resource_types)
    ]
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
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": c} for c in system_codes],
            }
        ],
    }


async def capabilities(request: Request) -> Response:
    from fhir_server.validation import RESOURCE_TYPES

    fmt = negotiate(request)
    statement = build_capability_statement(request.app.state.interactions, RESOURCE_TYPES, base_url(request))
    return fhir_response(statement, fmt, 200)
