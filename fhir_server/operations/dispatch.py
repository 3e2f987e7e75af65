"""HTTP side of operations: turn ``[base]/($op|[type]/$op|[type]/[id]/$op)`` into a :class:`Call`.

Access control (the caller's policy, ``request.state.access``; see :func:`authorize`):

- ``$everything`` on ``Patient/[id]``: like a read of that Patient (403 without a scope,
  404 out of reach), then every search behind it is restricted by the policy and every
  referenced resource must be readable — a patient downloads their own record (GDPR
  art. 20), a practitioner the record of a patient they care for;
- ``$validate``: harmless (nothing stored); at instance level it reads the current
  resource, so it is checked like a read;
- ``$meta`` on an instance: like a read; at type or system level (the tags in use across
  every record): tokens that read everything only;
- ``$meta-add`` / ``$meta-delete``: like an update of the instance;
- read-only operations on terminology resources (``$expand``, ``$lookup``,
  ``$validate-code``, ``$subsumes``, ``$translate``): reference data, for any token with a
  read scope on the type (an instance like a read of it);
- operations that check their caller themselves (``authorizes_itself``: the prescription
  operations of ``prescription_*.py``): any authenticated caller reaches the handler;
- any other operation: tokens that may read and write everything.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.operations.registry import Call, Operation, lookup
from fhir_server.rest.formats import Format, negotiate, parse_resource, read_body, request_is_xml
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
    await authorize(request, operation, level, type_, id_)
    accept = request.headers.get("accept", "").lower()
    if any(media in accept for media in operation.produces) and "_format" not in request.query_params:
        fmt = Format()  # the handler answers its own media type (FHIR JSON for its errors)
    else:
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


_TERMINOLOGY = frozenset({"CodeSystem", "ValueSet", "ConceptMap"})
_INSTANCE_AS = {
    "everything": "read",
    "validate": "read",
    "meta": "read",
    "meta-add": "update",
    "meta-delete": "update",
}


async def authorize(
    request: Request, operation: Operation, level: str, type_: str | None, id_: str | None
) -> None:
    """403/404 unless the caller's policy allows this operation here (see the module docstring)."""
    policy = getattr(request.state, "access", None)
    if policy is None or policy.is_unrestricted:
        return
    from fhir_server.auth.access import check_instance
    from fhir_server.auth.policy import forbidden

    name = operation.name
    if operation.authorizes_itself:
        return
    if level == "instance" and name in _INSTANCE_AS and type_ is not None and id_ is not None:
        if name == "everything":
            policy.search_filter("Patient")  # a role that may not search patients may not take a record
        await check_instance(policy, request.app.state.repository, _INSTANCE_AS[name], type_, id_)
        return
    if name == "validate" and level == "type":
        return
    types = operation.resource_types
    if not operation.affects_state and types and types <= _TERMINOLOGY and type_ is not None:
        if level == "instance" and id_ is not None:
            await check_instance(policy, request.app.state.repository, "read", type_, id_)
        else:
            policy.grant(type_, "read")
        return
    if name == "meta" and policy.reads_everything():
        return
    if policy.reads_and_writes_everything():
        return
    raise forbidden(f"Opération ${name} réservée aux jetons sans restriction.")


async def system(request: Request) -> Response:
    return await _call(request, "system")


async def type_level(request: Request) -> Response:
    return await _call(request, "type")


async def instance(request: Request) -> Response:
    return await _call(request, "instance")


for _handler in (system, type_level, instance):
    _handler.applies_access_policy = True  # type: ignore[attr-defined]
