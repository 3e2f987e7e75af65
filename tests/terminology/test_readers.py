"""Input formats of ``terminology load``: FHIR XML Bundles, NDJSON, display-tool exports, bad XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminology import TerminologyError
from terminology.readers import read_resources, terminology_files
from terminology.service import TerminologyService

from .conftest import FIXTURES


def test_fhir_xml_bundle_with_r4_concept_map(tmp_path: Path) -> None:
    path = tmp_path / "bundle.xml"
    path.write_text(
        '<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/><entry><resource><ConceptMap>'
        '<url value="https://example.org/cm"/><status value="active"/><group><source value="https://example.org/a"/>'
        '<target value="https://example.org/b"/><element><code value="x"/><target><code value="y"/>'
        '<equivalence value="wider"/></target></element></group></ConceptMap></resource></entry></Bundle>'
    )
    service = TerminologyService()
    service.load_resources(read_resources(path))
    result = service.translate("x", "https://example.org/a")
    assert result.result and [(m.code, m.equivalence) for m in result.matches] == [("y", "wider")]


def test_ndjson_keeps_terminology_resources_only(tmp_path: Path) -> None:
    path = tmp_path / "content.ndjson"
    path.write_text(
        '{"resourceType":"ValueSet","url":"https://example.org/vs","compose":{"include":[{"system":"s"}]}}\n'
        '{"resourceType":"Patient","id":"p"}\n'
    )
    assert [r["resourceType"] for r in read_resources(path)] == ["ValueSet"]


def test_display_tool_repository_format(tmp_path: Path) -> None:
    path = tmp_path / "1.3.6.1.4.1.12559.11.10.1.3.1.42.57.xml"
    path.write_text(
        '<ValueSet oid="1.3.6.1.4.1.12559.11.10.1.3.1.42.57" name="eHDSICriticality">'
        '<concept code="high" codeSystem="2.16.840.1.113883.4.642.4.130">'
        '<designation lang="en-GB">High Risk</designation>'
        '<designation lang="fr-LU">Risque élevé (LU)</designation>'
        "</concept></ValueSet>"
    )
    service = TerminologyService()
    service.load_resources(read_resources(path))
    assert (
        service.display("http://hl7.org/fhir/allergy-intolerance-criticality", "high", "fr")
        == "Risque élevé (LU)"
    )


def test_external_entities_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "xxe.xml"
    path.write_text(
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        '<CodeSystem xmlns="http://hl7.org/fhir"><url value="&e;"/></CodeSystem>'
    )
    with pytest.raises(TerminologyError) as err:
        list(read_resources(path))
    assert err.value.status == 400


def test_unknown_xml_and_directories(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_text("<html/>")
    with pytest.raises(TerminologyError) as err:
        list(read_resources(path))
    assert err.value.code == "not-supported"
    names = {p.name for p in terminology_files([FIXTURES])}
    assert {"cs-demo.xml", "bundle-demo.json", "mtc-artdecor.xml"} <= names
