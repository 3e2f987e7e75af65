"""The validation memo (fhir_server.validation.memo) changes the cost of validation, never its verdict.

Each check compares the issues found with the memo warmed by valid resources that share
elements with the one validated (so that elements are really substituted) against the issues
of the plain path (``PASSERELLE_VALIDATION_MEMO=0``, the code as it was before the memo).
"""

from __future__ import annotations

import copy
import tarfile
from typing import Any

import orjson
import pytest

from fhir_server.validation import clean, memo, validate_resource
from tests.conftest import needs_shared, shared_path
from tests.fhir_server.test_validation import PATIENT

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": "Body height"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2024-01-02T10:00:00+01:00",
    "valueQuantity": {"value": 180, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"},
}


def _issues(resource: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *, on: bool) -> list[dict[str, Any]]:
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1" if on else "0")
    return [i.to_json() for i in validate_resource(copy.deepcopy(resource))]


def _warm(*resources: dict[str, Any]) -> None:
    memo.clear()
    for resource in resources:
        for _ in range(3):  # an element is memoised the second time it is met
            assert validate_resource(copy.deepcopy(resource)) == []


def test_repeated_elements_are_substituted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1")
    _warm(OBSERVATION)
    before = memo.stats()
    assert before["entries"] > 0
    assert validate_resource(copy.deepcopy(OBSERVATION)) == []
    assert memo.stats()["hits"] > before["hits"]


BROKEN_OBSERVATIONS: list[dict[str, Any]] = [
    {**OBSERVATION, "status": "done"},  # required binding, beside memoised elements
    {**OBSERVATION, "code": {"coding": [{"system": "http://loinc.org", "code": 8302}]}},  # wrong JSON type
    {**OBSERVATION, "category": [*OBSERVATION["category"], None]},  # null in a list of elements
    {**OBSERVATION, "category": [OBSERVATION["category"][0], {"text": 3}]},
    {**OBSERVATION, "valueString": "grand"},  # choice conflict with a memoised valueQuantity
    {k: v for k, v in OBSERVATION.items() if k != "code"},  # missing required element
    {**OBSERVATION, "code": OBSERVATION["subject"]},  # bytes memoised elsewhere, wrong here
    {**OBSERVATION, "subject": OBSERVATION["code"]},
    {**OBSERVATION, "contained": [{"resourceType": "Patient", "id": "x", "gender": "f"}]},
    {**OBSERVATION, "subject": {"reference": "Patient/p1", "colour": "blue"}},
    {**OBSERVATION, "valueQuantity": {**OBSERVATION["valueQuantity"], "value": "180"}},
]


@pytest.mark.parametrize("broken", BROKEN_OBSERVATIONS)
def test_same_issues_with_and_without_memo(broken: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1")
    _warm(OBSERVATION, PATIENT)
    with_memo = _issues(broken, monkeypatch, on=True)
    plain = _issues(broken, monkeypatch, on=False)
    assert with_memo == plain
    assert any(i["severity"] == "error" for i in plain)


@pytest.mark.parametrize(
    "changes",
    [
        {"birthDate": "not-a-date"},
        {"name": [{"given": ["Marie", 3]}]},
        {"telecom": [{"system": "phone", "rank": "1"}]},
        {"identifier": [*PATIENT["identifier"], {"use": "nickname"}]},
        {"extension": [*PATIENT["extension"], {"url": "http://x", "valueAddress": {"city": 1}}]},
        {"maritalStatus": {}},
    ],
)
def test_patient_errors_beside_memoised_elements(
    changes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1")
    _warm(PATIENT)
    broken = {**copy.deepcopy(PATIENT), **changes}
    assert _issues(broken, monkeypatch, on=True) == _issues(broken, monkeypatch, on=False) != []


def test_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1")
    memo.clear()
    for n in range(memo.MAX_ENTRIES // 2 + 50):
        resource = {**OBSERVATION, "code": {"text": f"code {n}"}, "subject": {"reference": f"Patient/p{n}"}}
        validate_resource(copy.deepcopy(resource))
        validate_resource(copy.deepcopy(resource))
    assert memo.stats()["entries"] <= memo.MAX_ENTRIES
    memo.clear()


@needs_shared("datasets", "synthea-r4", "bundles.tar.gz")
def test_synthea_same_verdicts_with_and_without_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Synthea resources, valid and each broken deep inside a repeated element, after a warm-up."""
    archive = shared_path("datasets", "synthea-r4", "bundles.tar.gz")
    resources: list[dict[str, Any]] = []
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".json")), key=lambda m: m.name)[:3]
        for member in members:
            handle = tar.extractfile(member)
            assert handle is not None
            resources += [e["resource"] for e in orjson.loads(handle.read())["entry"]]
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1")
    memo.clear()
    for resource in resources:
        assert validate_resource(copy.deepcopy(resource)) == []
    assert memo.stats()["hits"] > 0
    checked = 0
    for resource in resources[::7]:
        for key, value in resource.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                broken = copy.deepcopy(resource)
                broken[key][0] = {**broken[key][0], "unknownElement": True}
                with_memo = _issues(broken, monkeypatch, on=True)
                assert with_memo == _issues(broken, monkeypatch, on=False)
                assert any(f".{key}[0]" in "".join(i.get("expression", [])) for i in with_memo), with_memo
                checked += 1
                break
    assert checked > 50


def test_walker_skips_only_what_it_walked_clean_at_the_same_kind_of_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The walker's memo (fhir_server.validation.clean) is keyed by the element's definition and
    the conditional-reference rule too: the same bytes elsewhere, or in a plain write, are checked."""
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1")
    memo.clear()
    _warm(OBSERVATION)
    assert clean.entries() > 0
    # Observation.specimen may only reference a Specimen: the subject's bytes are wrong there
    wrong_place = {**OBSERVATION, "specimen": OBSERVATION["subject"]}
    assert _issues(wrong_place, monkeypatch, on=True) == _issues(wrong_place, monkeypatch, on=False) != []
    conditional = {**OBSERVATION, "subject": {"reference": "Patient?identifier=urn:oid:1.2|7"}}
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1")
    for _ in range(3):  # accepted in a transaction entry, memoised as clean there
        assert validate_resource(copy.deepcopy(conditional), allow_conditional_references=True) == []
    assert _issues(conditional, monkeypatch, on=True) == _issues(conditional, monkeypatch, on=False) != []
    local = {
        **OBSERVATION,
        "contained": [{"resourceType": "Patient", "id": "p"}],
        "subject": {"reference": "#p"},
    }
    monkeypatch.setenv("PASSERELLE_VALIDATION_MEMO", "1")
    for _ in range(3):
        assert validate_resource(copy.deepcopy(local)) == []
    # the same local reference without its contained resource: ref-1, and dom-3 the other way
    dangling = {k: v for k, v in local.items() if k != "contained"}
    orphan = {**local, "subject": OBSERVATION["subject"]}
    for broken in (dangling, orphan):
        assert _issues(broken, monkeypatch, on=True) == _issues(broken, monkeypatch, on=False) != []
