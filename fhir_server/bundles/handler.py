"""``POST [base]`` with a batch or transaction Bundle."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.bundles.processor import BundleProcessor, check_bundle
from fhir_server.rest.crud import OFF_LOOP_BYTES
from fhir_server.rest.formats import negotiate, parse_resource, read_body, request_is_xml
from fhir_server.rest.http import base_url, fhir_response, prefer_return
from fhir_server.storage.records import fhir_instant, now_ms


async def handle(request: Request) -> Response:
    """Every entry is checked against the caller's access policy (:mod:`fhir_server.bundles.access`)."""
    fmt = negotiate(request)
    settings = request.app.state.settings
    xml = request_is_xml(request)
    data = await read_body(request, settings.max_body_bytes)
    if len(data) > OFF_LOOP_BYTES:  # a large Bundle is parsed in a worker thread, off the event loop
        bundle = await asyncio.to_thread(parse_resource, data, xml)
    else:
        bundle = parse_resource(data, xml)
    kind, entries = check_bundle(bundle, settings)
    processor = BundleProcessor(
        request.app.state.repository,
        settings,
        base_url(request),
        prefer_return(request),
        access=getattr(request.state, "access", None),
    )
    if kind == "transaction":
        response_entries = await processor.transaction(entries)
    else:
        response_entries = await processor.batch(entries)
    answer: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": f"{kind}-response",
        "timestamp": fhir_instant(now_ms()),
        "entry": response_entries,
    }
    body = orjson.dumps(answer)  # stored resources are embedded as bytes (orjson.Fragment)
    if fmt.xml or fmt.pretty:
        return fhir_response(orjson.loads(body), fmt, 200)
    return fhir_response(body, fmt, 200)


handle.applies_access_policy = True  # type: ignore[attr-defined]
