"""Bad input: each case is a TerminologyError with a clear 4xx OperationOutcome."""

from __future__ import annotations

import pytest

from terminology import TerminologyError, expand, lookup
from terminology.service import TerminologyService

from .conftest import EHDSI, SNOMED


def _expand_error(valueset: dict) -> TerminologyError:
    with pytest.raises(TerminologyError) as err:
        expand(valueset=valueset)
    return err.value


def test_operation_outcome_shape() -> None:
    with pytest.raises(TerminologyError) as err:
        lookup("http://example.org/unknown", "x")
    outcome = err.value.to_operation_outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error" and issue["code"] == "not-found"
    assert "http://example.org/unknown" in issue["diagnostics"] and issue["expression"] == ["system"]
    assert err.value.status == 404


@pytest.mark.parametrize(
    ("compose", "expression"),
    [
        (None, "ValueSet.compose"),
        ({"include": []}, "ValueSet.compose.include"),
        ({"include": [{"concept": [{"code": "a"}]}]}, "ValueSet.compose.include[0]"),
        (
            {
                "include": [
                    {
                        "system": SNOMED,
                        "concept": [{"code": "1"}],
                        "filter": [{"property": "concept", "op": "is-a", "value": "1"}],
                    }
                ]
            },
            "ValueSet.compose.include[0]",
        ),
        (
            {
                "include": [
                    {"system": SNOMED, "filter": [{"property": "concept", "op": "near", "value": "1"}]}
                ]
            },
            "ValueSet.compose.include[0].filter[0].op",
        ),
        ({"include": [{"system": SNOMED, "filter": [{"op": "="}]}]}, "ValueSet.compose.include[0].filter[0]"),
        ({"include": [{"valueSet": "not-a-list"}]}, "ValueSet.compose.include[0].valueSet"),
        ({"include": [{"system": SNOMED}], "exclude": "x"}, "ValueSet.compose.exclude"),
    ],
)
def test_malformed_compose_is_400(compose: dict | None, expression: str) -> None:
    vs: dict = {"resourceType": "ValueSet", "url": "https://example.org/ValueSet/bad"}
    if compose is not None:
        vs["compose"] = compose
    error = _expand_error(vs)
    assert (error.code, error.status, error.expression) == ("invalid", 400, expression)


def test_cyclic_includes_are_422() -> None:
    service = TerminologyService()
    service.load_resources(
        [
            {
                "resourceType": "ValueSet",
                "url": "https://example.org/ValueSet/a",
                "compose": {"include": [{"valueSet": ["https://example.org/ValueSet/b"]}]},
            },
            {
                "resourceType": "ValueSet",
                "url": "https://example.org/ValueSet/b",
                "compose": {"include": [{"valueSet": ["https://example.org/ValueSet/c"]}]},
            },
            {
                "resourceType": "ValueSet",
                "url": "https://example.org/ValueSet/c",
                "compose": {"include": [{"valueSet": ["https://example.org/ValueSet/a"]}]},
            },
        ]
    )
    with pytest.raises(TerminologyError) as err:
        service.expand("https://example.org/ValueSet/a")
    assert (err.value.code, err.value.status) == ("processing", 422)
    assert "a -> https://example.org/ValueSet/b" in err.value.message
    with pytest.raises(TerminologyError) as err:
        service.validate_code("x", "https://example.org/cs", valueset="https://example.org/ValueSet/a")
    assert err.value.status == 422


def test_unknown_things_are_404() -> None:
    error = _expand_error(
        {"resourceType": "ValueSet", "compose": {"include": [{"system": "http://example.org/x"}]}}
    )
    assert (error.code, error.status) == ("not-found", 404)
    error = _expand_error(
        {
            "resourceType": "ValueSet",
            "compose": {"include": [{"valueSet": ["http://example.org/ValueSet/missing"]}]},
        }
    )
    assert error.status == 404
    with pytest.raises(TerminologyError) as err:
        expand("http://example.org/ValueSet/missing")
    assert err.value.status == 404


def test_bad_paging_parameters_and_partial_systems_are_400() -> None:
    with pytest.raises(TerminologyError) as err:
        expand(EHDSI + "eHDSIBloodGroup", count=-1)
    assert (err.value.status, err.value.expression) == (400, "count")
    with pytest.raises(TerminologyError) as err:
        expand(EHDSI + "eHDSIBloodGroup", offset=-2)
    assert err.value.expression == "offset"
    error = _expand_error({"resourceType": "ValueSet", "compose": {"include": [{"system": SNOMED}]}})
    assert (error.code, error.status) == ("not-supported", 400)
    error = _expand_error(
        {
            "resourceType": "ValueSet",
            "compose": {
                "include": [{"system": SNOMED, "filter": [{"property": "code", "op": "regex", "value": "("}]}]
            },
        }
    )
    assert error.status == 400
