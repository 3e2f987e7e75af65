"""Section narratives: the original text kept as safe FHIR XHTML, plus a French narrative from the data."""

from __future__ import annotations

from lxml import etree

from cda_transform import to_fhir
from tests.cda_transform import cda_builder as cb

XHTML = "{http://www.w3.org/1999/xhtml}"
ALLOWED = {
    "div",
    "p",
    "span",
    "b",
    "ul",
    "ol",
    "li",
    "table",
    "caption",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "col",
    "colgroup",
    "br",
    "sub",
    "sup",
    "a",
    "h3",
    "h4",
}

HOSTILE = (
    '<paragraph onclick="steal()" styleCode="Bold">Allergie <content ID="a1">Penicillin</content>'
    "<script>alert(1)</script></paragraph>"
    '<linkHtml href="javascript:alert(1)">click</linkHtml>'
    '<linkHtml href="https://ec.europa.eu/health">EU</linkHtml>'
    '<renderMultiMedia referencedObject="img1"/>'
    '<foo:iframe xmlns:foo="urn:evil" src="http://evil">foreign words</foo:iframe>'
    '<table border="1" onmouseover="x()"><tbody><tr><td colspan="2">cell</td></tr></tbody></table>'
    '<list listType="ordered"><item>one</item></list>'
)


class NoFrench:
    def display(self, system: str, code: str, lang: str) -> str | None:
        return None


def _div(bundle: dict) -> etree._Element:
    return etree.fromstring(bundle["entry"][0]["resource"]["section"][0]["text"]["div"])


def test_original_narrative_is_kept_as_safe_xhtml() -> None:
    bundle = to_fhir(cb.document(cb.section("48765-2", text=HOSTILE)), terminology=NoFrench()).bundle
    div = _div(bundle)
    assert div.tag == f"{XHTML}div"
    for el in div.iter():
        assert el.tag.startswith(XHTML), el.tag
        assert el.tag[len(XHTML) :] in ALLOWED, el.tag
        assert not [a for a in el.attrib if a.lower().startswith("on") or a in ("src", "style")]
    hrefs = [a.get("href") for a in div.iter(f"{XHTML}a") if a.get("href")]
    assert hrefs == ["https://ec.europa.eu/health"]
    words = " ".join(div.itertext())
    for kept in ("Allergie", "Penicillin", "click", "foreign words", "cell", "one"):
        assert kept in words  # no words lost, even from dropped elements
    assert div.find(f".//{XHTML}ol/{XHTML}li") is not None
    assert div.find(f".//{XHTML}td").get("colspan") == "2"
    original = div.find(f".//{XHTML}div[@class='cda-original-narrative']")
    assert original is not None and original.get("lang") == "de-AT"


def test_french_narrative_is_generated_from_the_structured_data() -> None:
    xml = cb.document(cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT))
    bundle = to_fhir(xml, terminology=NoFrench()).bundle
    section = bundle["entry"][0]["resource"]["section"][0]
    assert section["text"]["status"] == "additional"
    div = _div(bundle)
    french = div.find(f"{XHTML}div[@class='passerelle-fr']")
    assert french.get("lang") == "fr-FR"
    text = " ".join(french.itertext())
    assert "Traitements médicamenteux" in text
    assert "Augmentin" in text and "amoxicillin (non traduit) 500 mg" in text
    assert "toutes les 8 h" in text and "voie : Oral use (non traduit)" in text


def test_french_narrative_uses_french_designations_when_translated() -> None:
    class French:
        def display(self, system: str, code: str, lang: str) -> str | None:
            return {"J01CA04": "amoxicilline", "20053000": "voie orale"}.get(code)

    xml = cb.document(cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT))
    text = " ".join(_div(to_fhir(xml, terminology=French()).bundle).itertext())
    assert "amoxicilline 500 mg" in text and "voie : voie orale" in text
    assert "amoxicilline (non traduit)" not in text
