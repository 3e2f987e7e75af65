"""The cross-border summary's view of a translated Bundle, without a browser: empty sections,
the original narrative kept harmless."""

from __future__ import annotations

import pytest
from lxml import etree

from apps.portal.crossborder.summary import sanitize, sections
from cda_transform import to_fhir
from tests.conftest import SHARED, shared_reason

NO_INFO = SHARED / "ehdsi/samples/django__PT_2-1234-W7.xml"
V3 = {"v": "urn:hl7-org:v3"}


@pytest.mark.skipif(not NO_INFO.exists(), reason=shared_reason("ehdsi", "samples"))
def test_sections_without_entries_are_empty() -> None:
    root = etree.parse(str(NO_INFO)).getroot()
    without_entries = {
        s.find("v:code", V3).get("code")
        for s in root.iterfind("v:component/v:structuredBody/v:component/v:section", V3)
        if s.find("v:entry", V3) is None and s.find("v:component/v:section", V3) is None
    }
    views = {s.loinc: s for s in sections(to_fhir(NO_INFO.read_bytes()).bundle)}
    assert without_entries, "the sample should have sections without entries"
    for loinc in without_entries:
        assert views[loinc].empty and not views[loinc].entries


def test_original_narrative_is_sanitised() -> None:
    dirty = (
        '<div><p onclick="alert(1)">Penicillin</p><script>alert(2)</script>'
        '<a href="javascript:alert(3)">lien</a><img src="x" onerror="alert(4)"/>'
        '<table style="x"><tr><td colspan="2">ok</td></tr></table></div>'
    )
    clean = sanitize(dirty)
    for bad in ("onclick", "<script", "javascript:", "onerror", "<img", "<a ", "style="):
        assert bad not in clean
    assert "Penicillin" in clean and 'colspan="2"' in clean and "lien" in clean
