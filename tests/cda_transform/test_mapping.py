"""What the clinical resources say, checked against what the CDA says (rich sample and small documents)."""

from __future__ import annotations

from typing import Any

import pytest

from cda_transform import to_fhir
from tests.cda_transform import cda_builder as cb
from tests.cda_transform.conftest import RICH
from tests.conftest import shared_reason

ABSENT = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
DK = "dk__national-connector_cda-generator_src_test_resources_patient-summary-examples_"
KNOWN_ABSENCE = DK + "RTD_W5_known_absence.xml"
NO_INFO = DK + "RTD_W3_no_information.xml"


class NoFrench:
    def display(self, system: str, code: str, lang: str) -> str | None:
        return None


@pytest.fixture(scope="module")
def rich() -> dict[str, Any]:
    from tests.cda_transform.conftest import SAMPLES

    path = SAMPLES / RICH
    if not path.exists():
        pytest.skip(shared_reason("ehdsi", "samples", RICH))
    return to_fhir(path.read_bytes(), terminology=NoFrench()).bundle


def resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def by_ref(bundle: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["fullUrl"] == ref["reference"])


def first_code(concept: dict[str, Any]) -> str:
    return concept["coding"][0]["code"]


def section(bundle: dict[str, Any], loinc: str) -> dict[str, Any]:
    comp = bundle["entry"][0]["resource"]
    return next(s for s in comp["section"] if s.get("code", {}).get("coding", [{}])[0].get("code") == loinc)


def test_composition_has_french_titles_and_section_codes(rich: dict[str, Any]) -> None:
    comp = rich["entry"][0]["resource"]
    titles = {s["code"]["coding"][0]["code"]: s["title"] for s in comp["section"]}
    assert titles["48765-2"] == "Allergies, effets indésirables, alertes"
    assert titles["10160-0"] == "Traitements médicamenteux"
    assert titles["11369-6"] == "Vaccinations"
    assert comp["language"] == "fr-FR" and comp["status"] == "final"
    assert comp["confidentiality"] == "N"
    assert comp["relatesTo"][0]["code"] == "transforms"


def test_patient_header(rich: dict[str, Any]) -> None:
    patient = resources(rich, "Patient")[0]
    assert patient["name"] == [{"family": "Ferreira", "given": ["Diana"]}]
    assert patient["birthDate"] == "1982-05-08" and patient["gender"] == "female"
    assert patient["identifier"][0]["value"] == "2-1234-W7"
    assert patient["identifier"][0]["system"] == "urn:oid:2.16.17.710.850.1000.990.1.1000"
    assert patient["address"][0]["city"] == "Lisbon"
    assert {"system": "phone", "value": "351211234567", "use": "home"} in patient["telecom"]
    contacts = {c["name"]["family"]: c for c in patient["contact"]}
    assert contacts["Baptista"]["relationship"][0]["text"] == "Tuteur légal"  # guardian
    assert first_code(contacts["Silva"]["relationship"][1]) == "CHILD"  # participant IND
    assert patient["communication"][0]["language"]["coding"][0]["code"] == "pt-PT"
    roles = resources(rich, "PractitionerRole")
    assert any(first_code(r["code"][0]) == "221" for r in roles if "code" in r)
    assert "Centro Hospitalar de Lisboa Central" in {o.get("name") for o in resources(rich, "Organization")}


def test_allergies_with_reactions_criticality_certainty_and_status(rich: dict[str, Any]) -> None:
    allergies = {first_code(a["code"]): a for a in resources(rich, "AllergyIntolerance")}
    aspirin = allergies["N02BA01"]
    assert aspirin["criticality"] == "high"
    assert first_code(aspirin["clinicalStatus"]) == "resolved"
    assert first_code(aspirin["verificationStatus"]) == "confirmed"
    assert aspirin["reaction"][0]["severity"] == "severe"
    assert first_code(aspirin["reaction"][0]["manifestation"][0]) == "195967001"
    assert aspirin["onsetDateTime"] == "1994"
    assert first_code(allergies["111088007"]["clinicalStatus"]) == "inactive"  # concern "suspended"
    kiwi = allergies["260176001"]
    assert kiwi["code"]["coding"][0]["display"] == "Kiwi fruit"  # no displayName: from the narrative


def test_medication_with_ingredients_strength_form_package_route_and_dosage(rich: dict[str, Any]) -> None:
    statements = resources(rich, "MedicationStatement")
    assert len(statements) == 5
    triapin_stmt = next(
        s for s in statements if by_ref(rich, s["medicationReference"])["code"]["text"] == "Triapin"
    )
    med = by_ref(rich, triapin_stmt["medicationReference"])
    assert first_code(med["code"]) == "C09BB05"
    assert [first_code(i["itemCodeableConcept"]) for i in med["ingredient"]] == ["C09AA05", "C08CA02"]
    assert med["ingredient"][0]["strength"]["numerator"] == {
        "value": 5,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert first_code(med["form"]) == "10226000"
    assert triapin_stmt["effectivePeriod"] == {"start": "2017-05-06"}
    assert triapin_stmt["dosage"][0]["timing"]["repeat"]["when"] == ["ACM"]
    eutirox = next(
        s for s in statements if by_ref(rich, s["medicationReference"])["code"]["text"] == "Eutirox"
    )
    dosage = eutirox["dosage"][0]
    assert first_code(dosage["route"]) == "20053000"
    assert dosage["doseAndRate"][0]["doseRange"]["high"]["value"] == 2
    package = by_ref(rich, eutirox["medicationReference"])["extension"][0]
    assert first_code(package["extension"][0]["valueCodeableConcept"]) == "30009000"
    augmentin = next(
        s for s in statements if by_ref(rich, s["medicationReference"])["code"]["text"] == "Augmentin"
    )
    assert augmentin["dosage"][0]["timing"]["repeat"] == {"frequency": 1, "period": 8, "periodUnit": "h"}
    assert augmentin["effectivePeriod"] == {"start": "2017-05-07", "end": "2017-05-21"}


def test_conditions_procedures_and_immunizations(rich: dict[str, Any]) -> None:
    conditions = {first_code(c["code"]): c for c in resources(rich, "Condition")}
    assert first_code(conditions["J45"]["clinicalStatus"]) == "active"
    assert conditions["J45"]["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10"
    assert conditions["D09"]["abatementDateTime"] == "1997-10-06"  # past illness
    assert first_code(conditions["D09"]["clinicalStatus"]) in ("inactive", "resolved")
    procedures = {first_code(p["code"]): p for p in resources(rich, "Procedure")}
    heart = procedures["64253000"]
    assert heart["performedDateTime"] == "2014-10-20" and heart["status"] == "completed"
    assert [first_code(b) for b in heart["bodySite"]] == ["76552005", "7771000"]  # site + laterality
    hep_b = next(i for i in resources(rich, "Immunization") if first_code(i["vaccineCode"]) == "836374004")
    assert hep_b["occurrenceDateTime"] == "1983-01-02" and hep_b["lotNumber"] == "1"
    assert by_ref(rich, hep_b["manufacturer"])["name"] == "SmithKline Beecham Biologicals S.A"
    assert first_code(hep_b["protocolApplied"][0]["targetDisease"][0]) == "B16"


def test_observations_blood_group_blood_pressure_pregnancy_social_history(rich: dict[str, Any]) -> None:
    obs = resources(rich, "Observation")
    blood = next(o for o in obs if first_code(o["code"]) == "34530-6")
    assert first_code(blood["valueCodeableConcept"]) == "278147001"
    bp = next(o for o in obs if first_code(o["code"]) == "85354-9")
    values = {first_code(c["code"]): c["valueQuantity"]["value"] for c in bp["component"]}
    assert values == {"8480-6": 160, "8462-4": 110}
    assert bp["category"][0]["coding"][0]["code"] == "vital-signs"
    pregnancy = next(o for o in obs if first_code(o["code"]) == "82810-3")
    assert first_code(pregnancy["valueCodeableConcept"]) == "77386006"
    edd = pregnancy["contained"][0]
    assert first_code(edd["code"]) == "11778-8" and edd["valueDateTime"] == "2023-02-14"
    assert pregnancy["hasMember"] == [{"reference": "#m1"}]
    smoking = next(o for o in obs if first_code(o["code"]) == "229819007")
    assert smoking["valueQuantity"]["code"] == "{pack}/d"
    assert smoking["effectivePeriod"]["start"] == "2017-04-15"


def test_original_cda_is_kept_with_provenance(rich: dict[str, Any], sample_bytes) -> None:
    import base64

    doc_ref = resources(rich, "DocumentReference")[0]
    binary = by_ref(rich, {"reference": doc_ref["content"][0]["attachment"]["url"]})
    assert base64.b64decode(binary["data"]) == sample_bytes(RICH)
    assert doc_ref["content"][0]["attachment"]["language"] == "en-GB"
    provenance = resources(rich, "Provenance")
    assert {p["activity"]["coding"][0]["code"] for p in provenance} == {"TRANSFORM", "translation"}
    comp_url = rich["entry"][0]["fullUrl"]
    assert all(p["target"] == [{"reference": comp_url}] for p in provenance)
    assert all(
        p["entity"][0]["what"]["reference"] in {e["fullUrl"] for e in rich["entry"]} for p in provenance
    )


@pytest.mark.parametrize("name", [KNOWN_ABSENCE, NO_INFO])
def test_known_absence_is_a_resource_coded_with_the_ips_absent_code(name: str, sample_bytes) -> None:
    bundle = to_fhir(sample_bytes(name), terminology=NoFrench()).bundle
    expected = {
        "48765-2": ("AllergyIntolerance", "code", "no-known-allergies"),
        "10160-0": ("MedicationStatement", "medicationCodeableConcept", "no-known-medications"),
        "11450-4": ("Condition", "code", "no-known-problems"),
        "47519-4": ("Procedure", "code", "no-known-procedures"),
    }
    for loinc, (rtype, field, code) in expected.items():
        sec = section(bundle, loinc)
        assert len(sec["entry"]) == 1 and "emptyReason" not in sec
        res = by_ref(bundle, sec["entry"][0])
        assert res["resourceType"] == rtype
        assert (res[field]["coding"][0]["system"], res[field]["coding"][0]["code"]) == (ABSENT, code)
    device_use = by_ref(bundle, section(bundle, "46264-8")["entry"][0])
    device = by_ref(bundle, device_use["device"])
    coding = device["type"]["coding"][0]
    assert (coding["system"], coding["code"]) == (ABSENT, "no-known-devices")


def test_section_without_entries_gets_an_empty_reason() -> None:
    xml = cb.document(cb.section("42348-3", text="<paragraph>Keine Verfügung</paragraph>"))
    comp = to_fhir(xml, terminology=NoFrench()).bundle["entry"][0]["resource"]
    sec = comp["section"][0]
    assert sec["emptyReason"]["coding"][0]["code"] == "unavailable" and "entry" not in sec
    assert "Keine Verfügung" in sec["text"]["div"] and sec["title"] == "Directives anticipées"


def test_null_flavored_entry_is_no_information_not_dropped() -> None:
    xml = cb.document(cb.section("48765-2", '<entry nullFlavor="NI"/>'))
    result = to_fhir(xml, terminology=NoFrench())
    sec = result.bundle["entry"][0]["resource"]["section"][0]
    allergy = by_ref(result.bundle, sec["entry"][0])
    assert allergy["code"]["coding"][0]["code"] == "no-allergy-info"
    assert any("pas d'information" in i["diagnostics"] for i in result.outcome["issue"])


def test_both_pharmacy_namespaces_give_the_same_medication() -> None:
    def medication(prefix: str, ns: str) -> dict[str, Any]:
        xml = cb.document(
            cb.section("10160-0", cb.medication_entry(prefix), text=cb.MED_TEXT),
            pharm_prefix=prefix,
            pharm_ns=ns,
        )
        bundle = to_fhir(xml, terminology=NoFrench()).bundle
        med = resources(bundle, "Medication")[0]
        med.pop("id")
        return med

    current = medication("pharm", "urn:hl7-org:pharm")
    old = medication("epsos", "urn:epsos-org:ep:medication")
    other_prefix = medication("x", "urn:hl7-org:pharm")
    assert current == old == other_prefix
    assert [first_code(i["itemCodeableConcept"]) for i in current["ingredient"]] == ["J01CA04", "J01CR02"]
    assert first_code(current["form"]) == "10221000"


def test_level_one_document_keeps_the_pdf(sample_bytes) -> None:
    import base64

    name = "django__LU_CELESTINA_DOE-CALLA_38430827_1.xml"
    bundle = to_fhir(sample_bytes(name), terminology=NoFrench()).bundle
    pdf = next(b for b in resources(bundle, "Binary") if b["contentType"] == "application/pdf")
    assert base64.b64decode(pdf["data"]).startswith(b"%PDF")
    comp = bundle["entry"][0]["resource"]
    doc_ref = by_ref(bundle, comp["section"][0]["entry"][0])
    assert doc_ref["resourceType"] == "DocumentReference"
    assert {c["attachment"]["contentType"] for c in doc_ref["content"]} == {"text/xml", "application/pdf"}


def test_same_document_gives_the_same_ids() -> None:
    xml = cb.document(cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT))
    first = [e["fullUrl"] for e in to_fhir(xml, terminology=NoFrench()).bundle["entry"]]
    second = [e["fullUrl"] for e in to_fhir(xml, terminology=NoFrench()).bundle["entry"]]
    other_doc = cb.document(cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT), doc_id="doc-2")
    other = [e["fullUrl"] for e in to_fhir(other_doc, terminology=NoFrench()).bundle["entry"]]
    assert first == second
    assert not set(first) & set(other)


def test_condition_certainty_becomes_verification_status() -> None:
    problem = """<entry><act classCode="ACT" moodCode="EVN">
        <templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.3.15"/>
        <code code="CONC" codeSystem="2.16.840.1.113883.5.6"/><statusCode code="active"/>
        <entryRelationship typeCode="SUBJ"><observation classCode="OBS" moodCode="EVN">
          <templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.3.7"/>
          <code code="404684003" codeSystem="2.16.840.1.113883.6.96"/>
          <value xsi:type="CD" code="J45" codeSystem="1.3.6.1.4.1.12559.11.10.1.3.1.44.2"
                 displayName="Asthma"/>
          <entryRelationship typeCode="SUBJ" inversionInd="true"><observation classCode="OBS" moodCode="EVN">
            <templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.3.49"/>
            <code code="66455-7" codeSystem="2.16.840.1.113883.6.1"/>
            <value xsi:type="CE" code="provisional" codeSystem="2.16.840.1.113883.4.642.4.1075"/>
          </observation></entryRelationship>
        </observation></entryRelationship>
      </act></entry>"""
    bundle = to_fhir(cb.document(cb.section("11450-4", problem)), terminology=NoFrench()).bundle
    condition = resources(bundle, "Condition")[0]
    coding = condition["verificationStatus"]["coding"][0]
    assert (coding["system"], coding["code"]) == (
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        "provisional",
    )
    assert first_code(condition["clinicalStatus"]) == "active"


def test_patient_instruction_act_text_only_and_coded() -> None:
    """PINSTRUCT acts (IHE 1.3.6.1.4.1.19376.1.5.3.1.4.3): the eHDSI samples give text only, which is
    Dosage.patientInstruction; codes carried as translations of PINSTRUCT are additionalInstruction."""
    text_only = """<entryRelationship typeCode="SUBJ" inversionInd="true"><act classCode="ACT" moodCode="INT">
          <templateId root="2.16.840.1.113883.10.20.1.49"/>
          <code code="PINSTRUCT" codeSystem="1.3.6.1.4.1.19376.1.5.3.2" codeSystemName="IHEActCode"/>
          <text>1 Diariamente pela manhã</text><statusCode code="completed"/></act></entryRelationship>"""
    coded = """<entryRelationship typeCode="SUBJ" inversionInd="true"><act classCode="ACT" moodCode="INT">
          <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.3"/>
          <code code="PINSTRUCT" codeSystem="1.3.6.1.4.1.19376.1.5.3.2">
            <translation code="311504000" codeSystem="2.16.840.1.113883.6.96"
                         displayName="With or after food"/>
          </code>
          <text>Pendant ou après le repas</text><statusCode code="completed"/></act></entryRelationship>"""
    entry = cb.medication_entry().replace("</consumable>", "</consumable>" + text_only + coded)
    xml = cb.document(cb.section("10160-0", entry, text=cb.MED_TEXT))
    (statement,) = resources(to_fhir(xml, terminology=NoFrench()).bundle, "MedicationStatement")
    dosage = statement["dosage"][0]
    assert dosage["patientInstruction"] == "1 Diariamente pela manhã"
    (instruction,) = dosage["additionalInstruction"]
    assert [(c["system"], c["code"]) for c in instruction["coding"]] == [
        ("http://snomed.info/sct", "311504000")
    ]
    assert instruction["text"] == "Pendant ou après le repas"
