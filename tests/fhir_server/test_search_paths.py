"""Compiled search paths (fhir_server.search.paths): the same values as the official FHIRPath
engine, and a parameter skipped by a type's plan is one whose full walk finds nothing."""

from __future__ import annotations

import tarfile
from typing import Any

import orjson
import pytest

from fhir_server.search.extract import composite_values
from fhir_server.search.params import params_for
from fhir_server.search.paths import compile_expression, parse_simple, plan
from tests.conftest import needs_shared, shared_path

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2024-01-02T10:00:00+01:00",
    "valueCodeableConcept": {
        "coding": [{"system": "http://snomed.info/sct", "code": "266919005"}],
        "text": "Never smoker",
    },
}


def _fhirpath(resource: dict[str, Any], expression: str) -> list[Any]:
    import fhirpathpy
    from fhirpathpy.models import models

    return [v for v in fhirpathpy.evaluate(resource, expression, model=models["r4"]) if v is not None]


def test_parenthesised_path_continued_is_compiled_like_the_engine_reads_it() -> None:
    # Observation value-string: "(Observation.value.ofType(string)) | (Observation.value.ofType(
    # CodeableConcept)).text": its second branch used to go through the FHIRPath engine
    branch = "(Observation.value.ofType(CodeableConcept)).text"
    ops = parse_simple(branch, "Observation")
    assert ops == [("child", "value", "CodeableConcept"), ("child", "text", "")]
    walked = [v for v, _ in compile_expression(branch, "Observation")(OBSERVATION)]
    assert walked == _fhirpath(OBSERVATION, branch) == ["Never smoker"]
    other = {**OBSERVATION, "valueString": "x"}
    del other["valueCodeableConcept"]
    assert compile_expression(branch, "Observation")(other) == []


@pytest.mark.parametrize(
    "branch",
    [
        "(Observation.value.ofType(CodeableConcept) as CodeableConcept).text",  # a cast inside: engine
        "(Observation.value | Observation.code).text",  # a union inside: engine
        "(Observation.component).code.where(system='x')",
    ],
)
def test_only_plain_groups_are_flattened(branch: str) -> None:
    ops = parse_simple(branch, "Observation")
    if "|" in branch or " as " in branch:
        assert ops is None
    else:
        assert ops == [("child", "component", ""), ("child", "code", ""), ("eq", "system", "x")]


def test_plan_reads_choice_elements_under_every_typed_key() -> None:
    keys = {p.code: p.keys for p in plan("Observation")}
    quantity = keys["value-quantity"]
    assert quantity is not None and {"valueQuantity", "valueSampledData"} <= quantity
    assert keys["date"] is not None and {"effectiveDateTime", "effectivePeriod"} <= keys["date"]
    assert keys["status"] == frozenset({"status"})
    # code-value-quantity's root is the Observation itself: it needs the first component, code
    # (a choice name somewhere in R4, so its typed keys count too, as the walk reads them)
    assert keys["code-value-quantity"] == keys["code"]
    assert keys["code"] is not None and "code" in keys["code"] and "valueQuantity" not in keys["code"]
    assert "_id" not in keys  # the document key, not a stored value
    patient = {p.code: p.keys for p in plan("Patient")}
    assert patient["deceased"] is None  # "exists() and != false": the engine, on every Patient


def _skipped_params_yield_nothing(type_: str, resource: dict[str, Any]) -> int:
    present = set(resource)
    skipped = 0
    for planned in plan(type_):
        if planned.keys is None or not planned.keys.isdisjoint(present):
            continue
        skipped += 1
        param = planned.param
        if param.type == "composite":
            assert composite_values(param, resource) == [], (type_, planned.code)
        else:
            assert compile_expression(param.expression, type_)(resource) == [], (type_, planned.code)
    return skipped


@pytest.mark.parametrize(
    "deceased",
    [
        {},
        {"deceasedBoolean": True},
        {"deceasedBoolean": False},
        {"deceasedDateTime": "2020-01-01"},
        {"deceasedDateTime": "2020"},
        {"deceasedDateTime": "2020-01-01T10:00:00+01:00"},
    ],
)
def test_deceased_is_compiled_like_the_engine_computes_it(deceased: dict[str, Any]) -> None:
    expression = params_for("Patient")["deceased"].expression
    assert parse_simple(expression, "Patient") is None  # not a plain path: the boolean form
    resource = {"resourceType": "Patient", "id": "p1", **deceased}
    compiled = compile_expression(expression, "Patient")
    assert [v for v, _ in compiled(resource)] == _fhirpath(resource, expression)


def test_skipped_parameters_have_no_value() -> None:
    assert _skipped_params_yield_nothing("Observation", OBSERVATION) > 10
    planned = {p.code for p in plan("Observation")}
    assert planned == {c for c, p in params_for("Observation").items() if p.type != "special" and c != "_id"}


@needs_shared("datasets", "synthea-r4", "bundles.tar.gz")
def test_skipped_parameters_have_no_value_on_synthea() -> None:
    archive = shared_path("datasets", "synthea-r4", "bundles.tar.gz")
    resources: list[dict[str, Any]] = []
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".json")), key=lambda m: m.name)
        for member in members[:3]:
            handle = tar.extractfile(member)
            assert handle is not None
            resources.extend(e["resource"] for e in orjson.loads(handle.read())["entry"])
    assert len(resources) > 500
    skipped = sum(_skipped_params_yield_nothing(r["resourceType"], r) for r in resources)
    assert skipped > 5 * len(resources)  # the plan does skip most parameters of most resources
