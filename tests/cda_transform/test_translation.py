"""Translation: French designations from the terminology, original codes and displays always kept."""

from __future__ import annotations

from typing import Any

import pytest

from cda_transform import coded_elements, to_fhir
from cda_transform.parse import parse_xml
from cda_transform.translate import ORIGINAL_DISPLAY, TRANSLATION_STATUS
from tests.cda_transform import cda_builder as cb
from tests.cda_transform.conftest import RICH
from tests.conftest import SHARED, needs_shared

FRENCH = {
    ("http://www.whocc.no/atc", "J01CA04"): "amoxicilline",
    ("http://standardterms.edqm.eu", "20053000"): "Voie orale",
    ("http://loinc.org", "10160-0"): "Historique des médicaments",
}


class FakeTerminology:
    def __init__(self, table: dict[tuple[str, str], str]) -> None:
        self.table = table
        self.calls: list[tuple[str, str, str]] = []

    def display(self, system: str, code: str, lang: str) -> str | None:
        self.calls.append((system, code, lang))
        return self.table.get((system, code))


class BrokenTerminology:
    def display(self, system: str, code: str, lang: str) -> str | None:
        raise RuntimeError("terminology down")


def codings(value: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "coding" and isinstance(v, list):
                out += [c for c in v if isinstance(c, dict)]
            out += codings(v)
    elif isinstance(value, list):
        for v in value:
            out += codings(v)
    return out


def status(coding: dict[str, Any]) -> str | None:
    return next((e["valueCode"] for e in coding.get("extension", []) if e["url"] == TRANSLATION_STATUS), None)


def med_doc() -> bytes:
    return cb.document(cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT, display="Medication"))


def find(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_translated_coding_gets_french_display_and_keeps_the_original() -> None:
    term = FakeTerminology(FRENCH)
    bundle = to_fhir(med_doc(), terminology=term).bundle
    med = find(bundle, "Medication")[0]
    amox = med["ingredient"][0]["itemCodeableConcept"]
    coding = amox["coding"][0]
    assert (coding["system"], coding["code"], coding["display"]) == (
        "http://www.whocc.no/atc",
        "J01CA04",
        "amoxicilline",
    )
    assert status(coding) == "translated"
    assert {"url": ORIGINAL_DISPLAY, "valueString": "amoxicillin"} in coding["extension"]
    assert amox["text"] == "amoxicillin"  # original text kept
    route = find(bundle, "MedicationStatement")[0]["dosage"][0]["route"]["coding"][0]
    assert route["display"] == "Voie orale" and route["code"] == "20053000"
    assert ("http://www.whocc.no/atc", "J01CA04", "fr-FR") in term.calls


def test_untranslated_coding_is_marked_and_keeps_original_display() -> None:
    bundle = to_fhir(med_doc(), terminology=FakeTerminology(FRENCH)).bundle
    form = find(bundle, "Medication")[0]["form"]["coding"][0]
    assert form["code"] == "10221000" and form["display"] == "Film-coated tablet"
    assert status(form) == "not-translated"
    assert not any(e["url"] == ORIGINAL_DISPLAY for e in form["extension"])


def test_missing_display_name_falls_back_to_the_narrative_reference() -> None:
    bundle = to_fhir(med_doc(), terminology=FakeTerminology({})).bundle
    clav = find(bundle, "Medication")[0]["ingredient"][1]["itemCodeableConcept"]
    assert clav["coding"][0]["code"] == "J01CR02"
    assert clav["coding"][0]["display"] == "Clavulansäure"
    assert clav["text"] == "Clavulansäure"


def test_without_terminology_every_cda_coding_is_marked_not_translated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("cda_transform.document.default_terminology", lambda: None)
    result = to_fhir(med_doc())
    marked = [c for c in codings(result.bundle) if status(c)]
    assert marked and all(status(c) == "not-translated" for c in marked)
    assert any("Aucun service de terminologie" in i["diagnostics"] for i in result.outcome["issue"])


def test_failing_terminology_does_not_lose_the_document() -> None:
    result = to_fhir(med_doc(), terminology=BrokenTerminology())
    assert find(result.bundle, "Medication")
    assert any(
        i["code"] == "transient" and "terminology down" in i["diagnostics"] for i in result.outcome["issue"]
    )
    assert all(status(c) != "translated" for c in codings(result.bundle))


def test_every_listed_coded_element_of_a_rich_sample_is_kept_with_its_code(sample_bytes) -> None:
    """Nothing the coded element list names is dropped: each CDA code reappears as a FHIR coding."""
    xml = sample_bytes(RICH)
    bundle = to_fhir(xml, terminology=FakeTerminology({})).bundle
    present = {(c.get("code"), c.get("system")) for c in codings(bundle)}
    listed = coded_elements.select(parse_xml(xml), 3)
    from cda_transform.datatypes import system_uri

    expected = {(el.get("code"), system_uri(el.get("codeSystem"))) for el in listed if el.get("code")}
    assert len(expected) > 40
    assert expected - present == set()
    for c in codings(bundle):
        if status(c) is not None:
            assert status(c) in ("translated", "not-translated")


def test_real_terminology_service_translates_when_available(sample_bytes) -> None:
    """With the in-process terminology package, some designations come back in French."""
    terminology = pytest.importorskip("terminology")
    if not callable(getattr(terminology, "display", None)):
        pytest.skip("terminology.display not available yet")
    bundle = to_fhir(sample_bytes(RICH)).bundle
    statuses = [status(c) for c in codings(bundle) if status(c)]
    assert "translated" in statuses
    for c in codings(bundle):
        if status(c) == "translated":
            assert c["display"] == terminology.display(c["system"], c["code"], "fr-FR")


def test_coded_element_xpaths_are_namespace_agnostic() -> None:
    expr = coded_elements.agnostic_xpath(
        "//entry/substanceAdministration[templateId/@root='x']/effectiveTime[@type='EIVL_TS']/event"
    )
    assert "local-name()='substanceAdministration'" in expr and "@*[local-name()='type']" in expr
    assert "'x'" in expr
    old = cb.document(
        cb.section("10160-0", cb.medication_entry("epsos"), text=cb.MED_TEXT),
        pharm_prefix="epsos",
        pharm_ns="urn:epsos-org:ep:medication",
    )
    listed = coded_elements.select(parse_xml(old), 3)
    assert {"J01CA04", "J01CR02", "10221000", "20053000"} <= {el.get("code") for el in listed}


class EverythingFrench:
    def display(self, system: str, code: str, lang: str) -> str | None:
        return f"FR {code}"


def test_every_listed_coded_element_gets_the_french_designation_when_one_exists(sample_bytes) -> None:
    from cda_transform.datatypes import system_uri

    xml = sample_bytes(RICH)
    bundle = to_fhir(xml, terminology=EverythingFrench()).bundle
    by_code = {(c["code"], c.get("system")): c for c in codings(bundle) if status(c)}
    listed = [el for el in coded_elements.select(parse_xml(xml), 3) if el.get("code")]
    for el in listed:
        coding = by_code[(el.get("code"), system_uri(el.get("codeSystem")))]
        assert status(coding) == "translated"
        assert coding["display"] == f"FR {el.get('code')}"
    # Only a coding without code system (nothing to look up) stays untranslated, and says so.
    assert all(status(c) == "translated" for c in by_code.values() if c.get("system"))
    assert all(status(c) == "not-translated" for c in by_code.values() if not c.get("system"))


def test_national_translations_are_kept_as_extra_codings_whatever_their_prefix() -> None:
    """CDA ``<translation>`` children (national codes) follow the pivot coding, nested ones included.

    The second one is declared under a misleading ``pharm`` prefix bound to the HL7 v3
    namespace, as OpenNCP's TM produced it (EHEALTH-9227): only the namespace URI counts.
    """
    problem = """<entry><act classCode="ACT" moodCode="EVN">
        <templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.3.15"/>
        <code code="CONC" codeSystem="2.16.840.1.113883.5.6"/><statusCode code="active"/>
        <entryRelationship typeCode="SUBJ"><observation classCode="OBS" moodCode="EVN">
          <templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.3.7"/>
          <code code="404684003" codeSystem="2.16.840.1.113883.6.96" displayName="Clinical finding"/>
          <value xsi:type="CD" code="A06.6" codeSystem="1.3.6.1.4.1.12559.11.10.1.3.1.44.2"
                 displayName="Amoebic brain abscess">
            <translation code="A06.6" codeSystem="2.16.840.1.113883.6.90" displayName="abcès amibien">
              <pharm:translation xmlns:pharm="urn:hl7-org:v3" code="X1" codeSystem="1.2.250.1.213.2.99"
                                 displayName="code national"/>
            </translation>
          </value>
        </observation></entryRelationship>
      </act></entry>"""
    bundle = to_fhir(cb.document(cb.section("11450-4", problem)), terminology=FakeTerminology({})).bundle
    condition = find(bundle, "Condition")[0]
    got = [(c.get("system"), c["code"], c.get("display")) for c in condition["code"]["coding"]]
    assert got == [
        ("http://hl7.org/fhir/sid/icd-10", "A06.6", "Amoebic brain abscess"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "A06.6", "abcès amibien"),  # a known OID: canonical URI
        ("urn:oid:1.2.250.1.213.2.99", "X1", "code national"),
    ]
    assert all(status(c) == "not-translated" for c in condition["code"]["coding"])


def test_code_without_any_designation_falls_back_to_the_english_mvc_display() -> None:
    class EnglishOnly:
        def display(self, system: str, code: str, lang: str) -> str | None:
            return {("en", "J01CR02"): "clavulanic acid, MVC"}.get((lang, code))

    entry = cb.medication_entry().replace('<originalText><reference value="#ing-2"/></originalText>', "")
    bundle = to_fhir(cb.document(cb.section("10160-0", entry)), terminology=EnglishOnly()).bundle
    coding = find(bundle, "Medication")[0]["ingredient"][1]["itemCodeableConcept"]["coding"][0]
    assert (coding["code"], coding["display"], status(coding)) == (
        "J01CR02",
        "clavulanic acid, MVC",
        "not-translated",
    )


# -- the source of each French designation ------------------------------------------------------


def _source(coding: dict[str, Any]) -> dict[str, Any]:
    from cda_transform.extensions import TRANSLATION_SOURCE

    ext = next((e for e in coding.get("extension", []) if e["url"] == TRANSLATION_SOURCE), None)
    assert ext is not None, coding
    return {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]}


def test_each_french_designation_names_its_source(tmp_path: Any) -> None:
    """An imported publisher file is used by the next conversion, and every translated coding
    says which resource (publisher, licence) its French text comes from."""
    from pathlib import Path

    from terminology.content import load_default_content
    from terminology.importers import import_file
    from terminology.service import TerminologyService

    service = TerminologyService()
    load_default_content(service)
    doc = (Path(__file__).parents[1] / "terminology" / "fixtures" / "mini_ps.xml").read_bytes()
    before = [c for c in codings(to_fhir(doc, terminology=service).bundle) if c.get("code") == "J00"]
    assert before and all(status(c) == "not-translated" for c in before)

    kit = tmp_path / "LIBCIM10MULTI.TXT"
    kit.write_bytes(
        "J00   |0|NNN|0|RHINOPHARYNGITE|Rhinopharyngite aiguë [rhume banal]\r\n".encode("latin-1")
    )
    service.load_resources(import_file([kit], "atih", release="2024").resources)
    bundle = to_fhir(doc, terminology=service).bundle
    (j00,) = {c["code"]: c for c in codings(bundle) if c.get("code") == "J00"}.values()
    assert status(j00) == "translated" and j00["display"] == "Rhinopharyngite aiguë [rhume banal]"
    source = _source(j00)
    assert source["source"] == "https://passerelle.fr/fhir/CodeSystem/fr-cim10-atih|2024"
    assert "ATIH" in source["publisher"] and "CC BY-NC-ND" in source["copyright"]
    translated = [c for c in codings(bundle) if status(c) == "translated"]
    assert translated and all(_source(c)["source"] for c in translated)  # every one, not only imports


def test_resolved_codes_say_how_they_were_resolved() -> None:
    """A national dose-form code translated through the published map to EDQM says so."""
    from cda_transform.translate import Translator
    from terminology import get_service

    service = get_service()
    translator = Translator(service.display, "fr-FR", {}, {}, service.designation)
    concept = translator.synthetic("urn:oid:2.16.620.1.101.20.9", "39", "Comprimido revestido por película")
    coding = concept["coding"][0]
    assert coding["code"] == "39" and coding["display"] == "Comprimé pelliculé"  # the code is never changed
    source = _source(coding)
    assert source["resolution"].startswith("correspondance publiée")
    assert source["resolvedCoding"] == {"system": "http://standardterms.edqm.eu", "code": "10221000"}
    assert source["publisher"] == "Passerelle project"


@needs_shared("ehdsi", "samples")
def test_a_national_gender_code_is_shown_in_french_with_its_mapping() -> None:
    """The Czech DASTA gender F (žena) of a public Czech patient summary is shown with the
    French label of HL7 v3 F, and its source names the mapping that resolved it."""
    from terminology import get_service

    (path,) = [p for p in (SHARED / "ehdsi" / "samples").glob("cz__W8_MRA*_VZOR_L3.xml")]
    bundle = to_fhir(path.read_bytes(), terminology=get_service()).bundle
    (patient,) = find(bundle, "Patient")
    assert patient["gender"] == "female"
    (coding,) = codings(patient["_gender"])
    assert (coding["system"], coding["code"]) == ("urn:oid:1.2.203.24341.11.2.3", "F")
    assert status(coding) == "translated" and coding["display"] == "Féminin"
    source = _source(coding)
    assert "national-gender-to-v3" in source["resolution"]
    assert source["resolvedCoding"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender",
        "code": "F",
    }
