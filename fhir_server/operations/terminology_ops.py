"""Terminology operations over HTTP: $lookup, $validate-code, $expand, $subsumes, $translate.

Thin wrappers around the ``terminology`` engine (the same functions the CDA translator and the
validator call in-process), at type level (the code system, value set or map named by URL or
passed in the body) and instance level (``[type]/[id]/$op`` uses that stored resource).
Answers follow the R4 OperationDefinitions: ``Parameters``, or the expanded ``ValueSet``
itself for ``$expand`` (its only out parameter is ``return``). Engine errors keep their
OperationOutcome (French diagnostics, issue type, parameter as ``expression``) and status.

R4 defines ``CodeSystem/$lookup`` at type level only; the instance form is accepted as R5
does. ``$validate-code`` is one name for two definitions (ValueSet and CodeSystem): the
handler follows the resource type of the URL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.operations.registry import Call, Operation, register
from fhir_server.operations.terminology_params import Params
from fhir_server.rest.http import fhir_response
from terminology import TerminologyError, TerminologyService, ValidationResult, get_service
from terminology.checks import check_resource

OPDEF = "http://hl7.org/fhir/OperationDefinition/"


def _terminology_errors(
    handler: Callable[[Call], Awaitable[Response]],
) -> Callable[[Call], Awaitable[Response]]:
    async def run(call: Call) -> Response:
        try:
            return await handler(call)
        except TerminologyError as exc:
            raise FhirError(
                exc.status, exc.code, exc.message, expression=[exc.expression] if exc.expression else None
            ) from exc

    return run


async def _stored(call: Call) -> dict[str, Any]:
    """The resource ``[type]/[id]`` of an instance-level call (404 unknown, 410 deleted)."""
    from fhir_server.rest.patch import read_current

    assert call.type is not None and call.id is not None
    current = await read_current(call.request.app.state.repository, call.type, call.id, None)
    if current is None:
        raise FhirError(404, "not-found", f"{call.type}/{call.id} introuvable.")
    if current.deleted or current.body is None:
        raise FhirError(410, "deleted", f"{call.type}/{call.id} a été supprimé.")
    resource: dict[str, Any] = orjson.loads(current.body)
    return resource


def _instance_url(resource: dict[str, Any]) -> str:
    url = resource.get("url")
    if not isinstance(url, str) or not url:
        rtype = resource.get("resourceType")
        raise TerminologyError(
            f"{rtype}/{resource['id'] if resource.get('id') else '(paramètre)'} n'a pas d'url : "
            "aucun code ne peut s'y référer",
            "invalid",
            f"{rtype}.url",
        )
    return url


def _same_system(service: TerminologyService, given: str | None, expected: str, name: str) -> None:
    if given and service.canonical_system(given) != service.canonical_system(expected):
        raise TerminologyError(
            f"« {name} » ({given}) ne correspond pas au système de la ressource ({expected})", "invalid", name
        )


def _scratch(resource: dict[str, Any]) -> TerminologyService:
    """A service holding only ``resource`` (a CodeSystem or ConceptMap passed in the body)."""
    check_resource(resource)
    service = TerminologyService()
    service.add_resource(resource)
    return service


def _valueset(service: TerminologyService, url: str) -> dict[str, Any]:
    """The value set a ``url`` parameter names; unknown: 404 on the parameter."""
    try:
        return service.resolve_valueset(url)
    except TerminologyError as exc:
        raise TerminologyError(exc.message, exc.code, "url") from exc


def _answer(call: Call, body: dict[str, Any]) -> Response:
    return fhir_response(body, call.fmt, 200)


# -- $lookup -------------------------------------------------------------------------------------


@_terminology_errors
async def _lookup(call: Call) -> Response:
    p = Params(call)
    service = get_service()
    code, system, version = p.text("code"), p.text("system"), p.text("version")
    coding = p.coding("coding")
    if coding is not None:
        if code is not None and code != coding["code"]:
            raise TerminologyError(
                "« code » et « coding » désignent deux codes différents", "invalid", "coding"
            )
        _same_system(service, system, coding.get("system") or system or "", "system")
        code, system = coding["code"], system or coding.get("system")
        version = version or coding.get("version")
    if call.level == "instance":
        url = _instance_url(await _stored(call))
        _same_system(service, system, url, "system")
        system = url
    if code is None:
        raise TerminologyError("Paramètre « code » (ou « coding ») manquant", "required", "code")
    if system is None:
        raise TerminologyError(
            "Paramètre « system » manquant : un code se cherche dans un système", "required", "system"
        )
    result = service.lookup(
        system,
        code,
        version=version,
        display_language=p.display_language(),
        properties=p.texts("property") or None,
    )
    return _answer(call, result.to_parameters())


# -- $validate-code ------------------------------------------------------------------------------


def _codings(p: Params) -> list[dict[str, Any]]:
    """What to validate: code (+ system, display), a coding, or the codings of a CodeableConcept."""
    code = p.text("code")
    coding = p.coding("coding")
    concept = p.codings("codeableConcept")
    given = [
        n for n, v in (("code", code), ("coding", coding), ("codeableConcept", concept)) if v is not None
    ]
    if len(given) > 1:
        raise TerminologyError(
            f"Un seul de « code », « coding », « codeableConcept » : reçu {', '.join(given)}",
            "invalid",
            given[1],
        )
    if code is not None:
        return [{"code": code, "system": p.text("system"), "display": p.text("display")}]
    if coding is not None:
        return [{**coding, "display": p.text("display") or coding.get("display")}]
    if concept is not None:
        return concept
    raise TerminologyError(
        "Paramètre « code », « coding » ou « codeableConcept » manquant", "required", "code"
    )


def _first_valid(results: list[ValidationResult]) -> ValidationResult:
    """A CodeableConcept is valid when one of its codings is (R4 $validate-code)."""
    return next((r for r in results if r.result), results[0])


@_terminology_errors
async def _validate_code(call: Call) -> Response:
    p = Params(call)
    service = get_service()
    language = p.display_language()
    if call.type == "ValueSet":
        valueset: str | dict[str, Any] | None
        if call.level == "instance":
            valueset = await _stored(call)
        else:
            valueset = p.resource("valueSet", "ValueSet")
            url = p.text("url")
            if valueset is None and url is not None:
                valueset = _valueset(service, url)
        if valueset is None:
            raise TerminologyError("Indiquez la ValueSet : « url » ou « valueSet »", "required", "url")
        codings = _codings(p)
        results = [
            service.validate_code(
                c["code"],
                c.get("system"),
                valueset=valueset,
                display=c.get("display"),
                display_language=language,
            )
            for c in codings
        ]
        return _answer(call, _first_valid(results).to_parameters())

    # CodeSystem/$validate-code: the system is the url parameter, the instance, or the body's CodeSystem.
    url = p.text("url")
    inline = p.resource("codeSystem", "CodeSystem")
    if call.level == "instance":
        url = _instance_url(await _stored(call))
    elif inline is not None:
        url = _instance_url(inline)
        service = _scratch(inline)
    codings = _codings(p)
    results = []
    for coding in codings:
        system = url or coding.get("system") or p.text("system")
        if system is None:
            raise TerminologyError(
                "Indiquez le système : « url », « codeSystem » ou coding.system", "required", "url"
            )
        _same_system(service, coding.get("system"), system, "coding")
        results.append(
            service.validate_code(
                coding["code"], system, display=coding.get("display"), display_language=language
            )
        )
    return _answer(call, _first_valid(results).to_parameters())


# -- $expand -------------------------------------------------------------------------------------


@_terminology_errors
async def _expand(call: Call) -> Response:
    p = Params(call)
    service = get_service()
    url = p.text("url")
    valueset = p.resource("valueSet", "ValueSet")
    if call.level == "instance":
        valueset = await _stored(call)
    elif valueset is None:
        if url is None:
            raise TerminologyError("Indiquez la ValueSet : « url » ou « valueSet »", "required", "url")
        valueset = _valueset(service, url)
    expansion = service.expand(
        valueset=valueset,
        filter=p.text("filter"),
        count=p.integer("count"),
        offset=p.integer("offset") or 0,
        display_language=p.display_language(),
        include_designations=bool(p.boolean("includeDesignations")),
        active_only=bool(p.boolean("activeOnly")),
    )
    return _answer(call, expansion)


# -- $subsumes -----------------------------------------------------------------------------------


@_terminology_errors
async def _subsumes(call: Call) -> Response:
    p = Params(call)
    service = get_service()
    system = p.text("system")
    codes: dict[str, str | None] = {}
    for letter in ("A", "B"):
        code, coding = p.text(f"code{letter}"), p.coding(f"coding{letter}")
        if code is not None and coding is not None:
            raise TerminologyError(
                f"« code{letter} » et « coding{letter} » ne se donnent pas ensemble",
                "invalid",
                f"coding{letter}",
            )
        if coding is not None:
            if coding.get("system"):
                _same_system(service, system, coding["system"], f"coding{letter}")
                system = system or coding["system"]
            code = coding["code"]
        codes[letter] = code
    if call.level == "instance":
        url = _instance_url(await _stored(call))
        _same_system(service, system, url, "system")
        system = url
    for letter in ("A", "B"):
        if codes[letter] is None:
            raise TerminologyError(f"Paramètre « code{letter} » manquant", "required", f"code{letter}")
    if system is None:
        raise TerminologyError("Paramètre « system » manquant", "required", "system")
    outcome = service.subsumes(codes["A"] or "", codes["B"] or "", system)
    return _answer(
        call, {"resourceType": "Parameters", "parameter": [{"name": "outcome", "valueCode": outcome}]}
    )


# -- $translate ----------------------------------------------------------------------------------


@_terminology_errors
async def _translate(call: Call) -> Response:
    p = Params(call)
    service = get_service()
    url = p.text("url")
    inline = p.resource("conceptMap", "ConceptMap")
    if call.level == "instance":
        stored = await _stored(call)
        url = stored.get("url") or f"ConceptMap/{stored.get('id')}"
    elif inline is not None:
        service = _scratch(inline)
        url = inline.get("url") or f"ConceptMap/{inline.get('id')}"
    codings = _codings(p)  # the coding to translate, or each coding of a CodeableConcept
    reverse = bool(p.boolean("reverse"))
    source, target, target_system = p.text("source"), p.text("target"), p.text("targetsystem")
    results = []
    for item in codings:
        if not item.get("system"):
            raise TerminologyError(
                "Paramètre « system » manquant : un code se traduit depuis un système", "required", "system"
            )
        results.append(
            service.translate(
                item["code"],
                item["system"],
                url=url,
                source=source,
                target=target,
                target_system=target_system,
                reverse=reverse,
            )
        )
    answer = results[0]
    if len(results) > 1:  # a CodeableConcept: every coding's matches, true when one maps
        answer.matches = [m for r in results for m in r.matches]
        answer.result = any(r.result for r in results)
        answer.message = None if answer.result else results[0].message
    return _answer(call, answer.to_parameters())


def _operation(name: str, handler: Callable[[Call], Awaitable[Response]], *types: str) -> None:
    """Register ``$name`` on ``types``, each with its R4 OperationDefinition ``[Type]-[name]``."""
    register(
        Operation(
            name=name,
            definition=f"{OPDEF}{types[0]}-{name}",
            levels=frozenset({"type", "instance"}),
            handler=handler,
            resource_types=frozenset(types),
            definitions=tuple((t, f"{OPDEF}{t}-{name}") for t in types[1:]),
        )
    )


_operation("lookup", _lookup, "CodeSystem")
_operation("subsumes", _subsumes, "CodeSystem")
_operation("expand", _expand, "ValueSet")
# One name, two R4 definitions (ValueSet-validate-code, CodeSystem-validate-code).
_operation("validate-code", _validate_code, "ValueSet", "CodeSystem")
_operation("translate", _translate, "ConceptMap")
