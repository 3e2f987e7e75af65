"""The HL7 PATCH test cases (``shared/fhir-test-cases/patch/``), run against the patch engines.

FHIRPath Patch: every case of ``fhir-patch-tests.xml`` (mode ``both`` or ``forwards``)
applies its ``diff`` to its ``input`` and must give its ``output``, or fail when the case
has an ``error``. JSON Patch: the RFC 6902 appendix cases of ``json-patch-tests.json``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from lxml import etree

from fhir_server.errors import FhirError
from fhir_server.patch import apply_fhirpath_patch, apply_json_patch
from fhir_server.rest.formats import parse_resource
from tests.conftest import SHARED, needs_shared

CASES = SHARED / "fhir-test-cases" / "patch"


def _xml_cases() -> list[Any]:
    if not (CASES / "fhir-patch-tests.xml").exists():
        missing = needs_shared("fhir-test-cases", "patch", "fhir-patch-tests.xml")
        return [pytest.param(None, id="missing", marks=missing)]
    root = etree.parse(str(CASES / "fhir-patch-tests.xml")).getroot()
    out = []
    for case in root.iter("case"):
        out.append(pytest.param(case, id=case.get("name")))
    return out


def _child_resource(case: Any, tag: str) -> dict[str, Any] | None:
    holder = case.find(tag)
    if holder is None:
        return None
    element = next(iter(holder.iterchildren(tag=etree.Element)), None)
    if element is None:
        return None
    return parse_resource(etree.tostring(element), xml=True)


@pytest.mark.parametrize("case", _xml_cases())
def test_fhirpath_patch_case(case: Any) -> None:
    source = _child_resource(case, "input")
    diff = _child_resource(case, "diff")
    assert source is not None and diff is not None
    error = case.find("error")
    if error is not None:
        with pytest.raises(FhirError) as info:
            apply_fhirpath_patch(source, diff)
        assert 400 <= info.value.status < 500
        assert info.value.outcome["issue"][0].get("expression")
        return
    expected = _child_resource(case, "output")
    before = json.dumps(source, sort_keys=True)
    assert _normalized(apply_fhirpath_patch(source, diff)) == _normalized(expected)
    assert json.dumps(source, sort_keys=True) == before  # the input is never modified


def _normalized(resource: Any) -> Any:
    """XHTML whitespace is not significant: the XML case file indents the narrative differently."""
    text = resource.get("text") if isinstance(resource, dict) else None
    if isinstance(text, dict) and isinstance(text.get("div"), str):
        resource = {**resource, "text": {**text, "div": " ".join(text["div"].split())}}
    return resource


def _json_cases() -> list[Any]:
    if not (CASES / "json-patch-tests.json").exists():
        missing = needs_shared("fhir-test-cases", "patch", "json-patch-tests.json")
        return [pytest.param(None, id="missing", marks=missing)]
    data = json.loads((CASES / "json-patch-tests.json").read_text())
    return [pytest.param(c, id=c.get("comment", str(i))) for i, c in enumerate(data)]


@pytest.mark.parametrize("case", _json_cases())
def test_json_patch_case(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(FhirError) as info:
            apply_json_patch(case["doc"], case["patch"])
        assert info.value.status in (400, 422)
        return
    assert apply_json_patch(case["doc"], case["patch"]) == case["expected"]
