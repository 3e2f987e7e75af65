"""Every shared eHDSI sample: a valid FHIR document Bundle for a Patient Summary, else a clear refusal."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from lxml import etree

from cda_transform import TransformError
from cda_transform.extensions import TRANSLATION_STATUS
from tests.cda_transform.bundle_checks import V3, cda_sections, dangling, entry_counts_match, narratives_kept
from tests.cda_transform.conftest import SAMPLES, convert, sample_index
from tests.conftest import shared_reason

INDEX = sample_index()
PS = [row for row in INDEX if row[1].startswith("PS-")]
NOT_PS = [row for row in INDEX if not row[1].startswith("PS-")]
DOC_NAMES = {"eP": "ePrescription", "eD": "eDispensation"}

pytestmark = pytest.mark.skipif(not INDEX, reason=shared_reason("ehdsi", "samples", "INDEX.tsv"))


def _codings(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        own = (
            [c for c in value.get("coding", []) if isinstance(c, dict)]
            if isinstance(value.get("coding"), list)
            else []
        )
        return own + [c for v in value.values() for c in _codings(v)]
    if isinstance(value, list):
        return [c for v in value for c in _codings(v)]
    return []


def _patient(bundle: dict[str, Any]) -> dict[str, Any]:
    ref = bundle["entry"][0]["resource"]["subject"]["reference"]
    return next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == ref)


def test_index_covers_both_levels_and_other_documents() -> None:
    kinds = {k for _, k, _ in INDEX}
    assert {"PS-L3", "PS-L1", "eP", "eD"} <= kinds
    assert len(PS) >= 80 and len(NOT_PS) >= 40


@pytest.mark.parametrize(("name", "kind", "lang"), PS, ids=[r[0][:90] for r in PS])
def test_patient_summary_becomes_a_valid_document_bundle(name: str, kind: str, lang: str) -> None:
    result = convert(name)
    assert not isinstance(result, TransformError), result
    bundle = result.bundle
    Bundle.model_validate(bundle)  # structural validation (R4B models, R4-compatible here)
    assert bundle["type"] == "document"
    assert bundle["identifier"]["value"] and bundle["timestamp"]
    comp = bundle["entry"][0]["resource"]
    assert comp["resourceType"] == "Composition"
    assert comp["language"] == "fr-FR"
    assert {"system": "http://loinc.org", "code": "60591-5"}.items() <= comp["type"]["coding"][0].items()
    assert dangling(bundle) == []
    ids = [e["fullUrl"] for e in bundle["entry"]]
    assert len(ids) == len(set(ids))
    assert not [i for i in result.outcome["issue"] if i["code"] == "exception"]
    OperationOutcome.model_validate(result.outcome)
    unmarked = [
        c
        for c in _codings(bundle)
        if not any(e.get("url") == TRANSLATION_STATUS for e in c.get("extension", []))
    ]
    assert unmarked == [], "every coding says whether it was translated"

    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Binary", "DocumentReference", "Provenance"} <= types
    root = etree.fromstring((SAMPLES / name).read_bytes())
    if root.find(f"{V3}component/{V3}structuredBody") is not None:
        assert entry_counts_match(cda_sections(root), comp.get("section", [])) == []
        assert narratives_kept(cda_sections(root), comp.get("section", [])) == []
    else:
        binaries = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary"]
        assert "application/pdf" in {b["contentType"] for b in binaries}, "L1 PDF kept as Binary"


@pytest.mark.parametrize(("name", "kind", "lang"), PS, ids=[r[0][:90] for r in PS])
def test_patient_demographics_match_the_cda(name: str, kind: str, lang: str) -> None:
    result = convert(name)
    assert not isinstance(result, TransformError)
    patient = _patient(result.bundle)
    root = etree.fromstring((SAMPLES / name).read_bytes())
    person = root.find(f"{V3}recordTarget/{V3}patientRole/{V3}patient")
    if person is None:  # e.g. a patient element in a foreign namespace: nothing invented, and said so
        assert not ({"name", "birthDate", "gender"} & patient.keys())
        assert any("patient" in i["diagnostics"] for i in result.outcome["issue"])
        return
    families = [
        " ".join(" ".join((f.text or "").split()) for f in n.findall(f"{V3}family") if (f.text or "").strip())
        for n in person.findall(f"{V3}name")
    ]
    assert [n["family"] for n in patient.get("name", []) if "family" in n] == [f for f in families if f]
    givens = [" ".join((g.text or "").split()) for g in person.findall(f"{V3}name/{V3}given")]
    assert [g for n in patient.get("name", []) for g in n.get("given", [])] == [g for g in givens if g]
    birth = person.find(f"{V3}birthTime")
    if birth is not None and birth.get("value"):
        value = birth.get("value")
        assert patient["birthDate"].replace("-", "") == value[: len(patient["birthDate"].replace("-", ""))]
    gender = person.find(f"{V3}administrativeGenderCode")
    expected = {"M": "male", "F": "female"}.get(gender.get("code") if gender is not None else "")
    if expected:
        assert patient["gender"] == expected
    ids = [i for i in root.findall(f"{V3}recordTarget/{V3}patientRole/{V3}id") if i.get("extension")]
    assert [i["value"] for i in patient.get("identifier", []) if i.get("system") != "urn:ietf:rfc:3986"] == [
        i.get("extension").strip() for i in ids
    ]


@pytest.mark.parametrize(("name", "kind", "lang"), NOT_PS, ids=[r[0][:90] for r in NOT_PS])
def test_other_documents_are_refused_with_a_clear_outcome(name: str, kind: str, lang: str) -> None:
    result = convert(name)
    assert isinstance(result, TransformError), f"{name} ({kind}) should not be converted"
    outcome = result.to_operation_outcome()
    issue = outcome["issue"][0]
    assert outcome["resourceType"] == "OperationOutcome"
    assert issue["severity"] == "error" and issue["code"] == "not-supported"
    assert "Patient Summary" in issue["diagnostics"] and "pas (encore) pris en charge" in issue["diagnostics"]
    code = kind.split(":", 1)[1] if ":" in kind else None
    if code:
        assert code in issue["diagnostics"]  # says what the document is
    else:
        assert DOC_NAMES[kind] in issue["diagnostics"]
