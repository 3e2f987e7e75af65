"""HTTP side of operations: turn ``[base]/($op|[type]/$op|[type]/[id]/$op)`` into a :class:`Call`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.operations.registry import Call, lookup
from fhir_server.rest.formats import negotiate, parse_resource, read_body, request_is_xml
from fhir_server.rest.http import check_id, check_type

_NOT_PARAMS = frozenset({"_format", "_pretty"})


def parameters_to_list(parameters: dict[str, Any]) -> list[tuple[str, Any]]:
    """``Parameters.parameter`` as (name, value): value[x], resource, or the parameter itself (parts)."""
    out: list[tuple[str, Any]] = []
    raw = parameters.get("parameter", [])
    if not isinstance(raw, list):
        raise FhirError(
            400, "invalid", "Parameters.parameter doit être une liste.", expression=["Parameters.parameter"]
        )
    for i, param in enumerate(raw):
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            raise FhirError(400, "invalid", "Paramètre sans nom.", expression=[f"Parameters.parameter[{i}]"])
        value: Any = param
        if "resource" in param:
            value = param["resource"]
        else:
            for key, item in param.items():
                if key.startswith("value") and len(key) > 5:
                    value = item
                    break
        out.append((param["name"], value))
    return out


async def _call(request: Request, level: str) -> Response:
    name = request.path_params["op"]
    type_ = check_type(request) if level != "system" else None
    id_ = check_id(request.path_params["id"]) if level == "instance" else None
    operation = lookup(name)
    operation.check(level, type_, request.method)
    fmt = negotiate(request)
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in _NOT_PARAMS]
    resource = None
    if request.method == "POST":
        data = await read_body(request, request.app.state.settings.max_body_bytes)
        if data.strip():
            body = parse_resource(data, request_is_xml(request))
            if body.get("resourceType") == "Parameters":
                params += parameters_to_list(body)
            else:
                resource = body
    return await operation.handler(Call(request, fmt, level, type_, id_, params, resource))


async def system(request: Request) -> Response:
    return await _call(request, "system")


async def type_level(request: Request) -> Response:
    return await _call(request, "type")


async def instance(request: Request) -> Response:
    return await _call(request, "instance")
