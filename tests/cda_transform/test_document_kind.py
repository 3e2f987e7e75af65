"""Document kind by code and body (never templateId), and XSD findings reported as warnings."""

from __future__ import annotations

import base64

import pytest

from cda_transform import TransformError, to_fhir
from tests.cda_transform import cda_builder as cb
from tests.cda_transform.conftest import RICH

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
L1_TEMPLATE = "1.3.6.1.4.1.12559.11.10.1.3.1.1.7"
L3_TEMPLATE = "1.3.6.1.4.1.12559.11.10.1.3.1.1.3"


class NoFrench:
    def display(self, system: str, code: str, lang: str) -> str | None:
        return None


def _with_pdf_body(xml: bytes) -> bytes:
    body = xml[xml.index(b"<component><structuredBody>") : xml.index(b"</ClinicalDocument>")]
    pdf_body = (
        b'<component><nonXMLBody><text mediaType="application/pdf" representation="B64">'
        + base64.b64encode(PDF)
        + b"</text></nonXMLBody></component>\n"
    )
    return xml.replace(body, pdf_body)


def test_level_is_taken_from_the_body_not_the_template_id() -> None:
    l1_under_l3_template = _with_pdf_body(cb.document())
    assert L3_TEMPLATE.encode() in l1_under_l3_template
    bundle = to_fhir(l1_under_l3_template, terminology=NoFrench()).bundle
    pdfs = [e["resource"] for e in bundle["entry"] if e["resource"].get("contentType") == "application/pdf"]
    assert [base64.b64decode(p["data"]) for p in pdfs] == [PDF]

    l3_under_l1_template = cb.document(
        cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT)
    ).replace(L3_TEMPLATE.encode(), L1_TEMPLATE.encode())
    bundle = to_fhir(l3_under_l1_template, terminology=NoFrench()).bundle
    assert [s["code"]["coding"][0]["code"] for s in bundle["entry"][0]["resource"]["section"]] == ["10160-0"]


def test_unreadable_pdf_is_reported_and_the_cda_still_kept() -> None:
    xml = _with_pdf_body(cb.document()).replace(base64.b64encode(PDF), b"***not base64***")
    result = to_fhir(xml, terminology=NoFrench())
    assert any("base64 invalide" in i["diagnostics"] for i in result.outcome["issue"])
    binaries = [e["resource"] for e in result.bundle["entry"] if e["resource"]["resourceType"] == "Binary"]
    assert [b["contentType"] for b in binaries] == ["text/xml"]


def test_schema_valid_sample_has_no_schema_warning(sample_bytes) -> None:
    result = to_fhir(sample_bytes(RICH), terminology=NoFrench())
    assert not [i for i in result.outcome["issue"] if i["code"] == "structure"]


def test_epsos_only_sample_is_accepted_by_the_fallback_schema(sample_bytes) -> None:
    result = to_fhir(
        sample_bytes("ehealth__cda-display-tool_xsltransformer_samples_1972121434125-L3.xml"),
        terminology=NoFrench(),
    )
    infos = [i["diagnostics"] for i in result.outcome["issue"] if i["severity"] == "information"]
    assert any("conforme à CDA_extended.xsd (epSOS)" in d for d in infos)


def test_schema_invalid_document_still_converts_with_located_warnings() -> None:
    xml = cb.document(cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT)).replace(
        b"<title>Patient Summary</title>", b"<title>Patient Summary</title><unexpected/>"
    )
    result = to_fhir(xml, terminology=NoFrench())
    warnings = [i for i in result.outcome["issue"] if i["code"] == "structure"]
    assert warnings and all(i["severity"] == "warning" for i in warnings)
    assert any("ligne" in i["diagnostics"] for i in warnings)
    assert result.bundle["type"] == "document"


@pytest.mark.parametrize("lang", ["", "fr FR", "<script>", "x" * 40])
def test_invalid_target_language_is_refused(lang: str) -> None:
    with pytest.raises(TransformError):
        to_fhir(cb.document(), lang=lang)


def test_national_document_without_ehdsi_template_is_converted_with_a_warning(sample_bytes) -> None:
    result = to_fhir(sample_bytes("cz__LU_1990010112385_CDA-L3-source.xml"), terminology=NoFrench())
    assert result.bundle["type"] == "document"
    assert any("Aucun templateId eHDSI" in i["diagnostics"] for i in result.outcome["issue"])
    rich = to_fhir(sample_bytes(RICH), terminology=NoFrench())
    assert not any("Aucun templateId eHDSI" in i["diagnostics"] for i in rich.outcome["issue"])


def test_concurrent_conversions_agree(sample_bytes) -> None:
    """Schemas and compiled XPaths are shared by the process: threads must not disturb each other."""
    from concurrent.futures import ThreadPoolExecutor

    docs = [
        sample_bytes(RICH),
        sample_bytes("ehealth__cda-display-tool_xsltransformer_samples_1972121434125-L3.xml"),
    ]

    def run(i: int) -> tuple[list[str], list[str]]:
        result = to_fhir(docs[i % 2], terminology=NoFrench())
        return [e["fullUrl"] for e in result.bundle["entry"]], [
            x["diagnostics"] for x in result.outcome["issue"]
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(8)))
    assert all(r == results[i % 2] for i, r in enumerate(results))
