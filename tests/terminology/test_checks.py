"""``check_resource``: what the server refuses on write, with the FHIRPath of the fault."""

from __future__ import annotations

from typing import Any

import pytest

from terminology import TerminologyError
from terminology.checks import check_resource


def fault(resource: dict[str, Any]) -> tuple[str, str | None]:
    with pytest.raises(TerminologyError) as err:
        check_resource(resource)
    return err.value.code, err.value.expression


def test_duplicate_codes_anywhere_in_the_hierarchy() -> None:
    cs = {
        "resourceType": "CodeSystem",
        "content": "complete",
        "concept": [{"code": "a", "concept": [{"code": "b"}, {"code": "a"}]}],
    }
    assert fault(cs) == ("invalid", "CodeSystem.concept[0].concept[1].code")
    cs["concept"][0]["concept"][1]["code"] = "c"
    check_resource(cs)


def test_supplement_needs_its_target() -> None:
    assert fault({"resourceType": "CodeSystem", "content": "supplement"}) == (
        "required",
        "CodeSystem.supplements",
    )


def test_value_set_compose_and_self_inclusion() -> None:
    assert fault({"resourceType": "ValueSet", "compose": {"include": []}}) == (
        "invalid",
        "ValueSet.compose.include",
    )
    op = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [{"system": "s", "filter": [{"property": "concept", "op": "near", "value": "x"}]}]
        },
    }
    assert fault(op) == ("invalid", "ValueSet.compose.include[0].filter[0].op")
    url = "https://example.org/vs"
    itself = {
        "resourceType": "ValueSet",
        "url": url,
        "compose": {"include": [{"system": "s"}], "exclude": [{"valueSet": [url + "|2"]}]},
    }
    assert fault(itself) == ("processing", "ValueSet.compose.exclude[0].valueSet[0]")
    check_resource({"resourceType": "ValueSet", "url": url})  # no compose: metadata only, fine
    check_resource({"resourceType": "Patient"})  # not terminology: not checked here
