"""$lookup, $validate-code, $subsumes and $translate against real R4 and MVC content."""

from __future__ import annotations

import pytest

from terminology import TerminologyError, lookup, subsumes, translate, validate_code

from .conftest import EHDSI, EMDN, ROLECODE, SNOMED, V3_GENDER

EDQM_OID = "0.4.0.127.0.16.1.1.2.1"


def test_lookup_with_display_language_and_designations() -> None:
    result = lookup(ROLECODE, "MTH")
    assert result.display == "mother" and result.name == "v3 Code System RoleCode"
    assert "PRN" in {v for p, v in result.properties if p == "parent"}
    french = lookup(ROLECODE, "MTH", display_language="fr")
    assert french.display == "Mère"
    assert any(d.language.startswith("fr") and d.value == "Mère" for d in french.designations)
    params = french.to_parameters()
    assert {"name": "display", "valueString": "Mère"} in params["parameter"]


def test_lookup_by_oid_and_mvc_alias() -> None:
    # EDQM is published by the MVC under an hl7europe.org URL; CDA uses the EDQM OID.
    tablet = lookup(EDQM_OID, "10219000")
    assert tablet.system == "http://standardterms.edqm.eu" and tablet.display == "Tablet"
    assert ("class", "PDF") in tablet.properties
    assert lookup("urn:oid:2.16.840.1.113883.5.1", "F").display == "Female"


def test_lookup_unknown_system_and_code_are_404() -> None:
    with pytest.raises(TerminologyError) as err:
        lookup("http://example.org/no-such-system", "x")
    assert err.value.status == 404 and err.value.code == "not-found"
    with pytest.raises(TerminologyError) as err:
        lookup(V3_GENDER, "NOPE")
    assert err.value.status == 404 and err.value.expression == "code"


def test_validate_code_in_value_set() -> None:
    ok = validate_code("278147001", SNOMED, valueset=EHDSI + "eHDSIBloodGroup")
    assert ok.result and ok.display == "Blood group O Rh(D) positive"
    by_oid = validate_code(
        "278147001", "2.16.840.1.113883.6.96", valueset="1.3.6.1.4.1.12559.11.10.1.3.1.42.20"
    )
    assert by_oid.result
    assert not validate_code("22298006", SNOMED, valueset=EHDSI + "eHDSIBloodGroup").result
    # a chapter XX ICD-10 code is excluded from eHDSIIllnessandDisorder (sample input_V01_Y98.xml)
    icd = "http://hl7.org/fhir/sid/icd-10"
    assert validate_code("J45", icd, valueset=EHDSI + "eHDSIIllnessandDisorder").result
    assert not validate_code("W45", icd, valueset=EHDSI + "eHDSIIllnessandDisorder").result


def test_validate_code_display_and_language() -> None:
    fr = validate_code(
        "high",
        "http://hl7.org/fhir/allergy-intolerance-criticality",
        valueset=EHDSI + "eHDSICriticality",
        display_language="fr",
    )
    assert fr.result and fr.display == "Risque élevé"
    wrong = validate_code("F", V3_GENDER, display="Male")
    assert not wrong.result and "Libellé incorrect" in (wrong.message or "")
    assert validate_code("F", V3_GENDER, display="Féminin").result  # a designation is a valid display


def test_validate_code_in_code_system() -> None:
    assert validate_code("MTH", ROLECODE).result
    unknown = validate_code("NOPE", ROLECODE)
    assert not unknown.result and "NOPE" in (unknown.message or "")
    # a SNOMED code outside the MVC is not known (the index only has what the MVC lists)
    assert not validate_code("160244002", SNOMED).result
    # an unknown code system is an answer, not an error (the code cannot be validated)
    unknown_system = validate_code("x", "http://example.org/unknown")
    assert not unknown_system.result and "Système de codes inconnu" in (unknown_system.message or "")
    with pytest.raises(TerminologyError) as err:
        validate_code("x", SNOMED, valueset="http://example.org/ValueSet/unknown")
    assert err.value.status == 404


def test_subsumes_on_v3_and_emdn_hierarchies() -> None:
    assert subsumes("FAMMEMB", "MTH", ROLECODE) == "subsumes"
    assert subsumes("MTH", "FAMMEMB", ROLECODE) == "subsumed-by"
    assert subsumes("MTH", "MTH", ROLECODE) == "equivalent"
    assert subsumes("MTH", "FTH", ROLECODE) == "not-subsumed"
    assert subsumes("A01", "A010101", EMDN) == "subsumes"
    with pytest.raises(TerminologyError) as err:
        subsumes("112144000", "278149003", SNOMED)
    assert err.value.code == "not-supported"
    with pytest.raises(TerminologyError) as err:
        subsumes("MTH", "NOPE", ROLECODE)
    assert err.value.status == 404 and err.value.expression == "codeB"


def test_translate_with_r4_concept_maps() -> None:
    result = translate("male", "http://hl7.org/fhir/administrative-gender", target_system=V3_GENDER)
    assert result.result
    assert [(m.code, m.equivalence) for m in result.matches] == [("M", "equal")]
    assert result.matches[0].source == "http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v3"
    reverse = translate("F", V3_GENDER, reverse=True)
    assert ("http://hl7.org/fhir/administrative-gender", "female") in {
        (m.system, m.code) for m in reverse.matches
    }
    nullflavor = translate(
        "asked-unknown",
        "http://terminology.hl7.org/CodeSystem/data-absent-reason",
        url="http://hl7.org/fhir/ConceptMap/cm-data-absent-reason-v3",
    )
    assert [m.code for m in nullflavor.matches] == ["ASKU"]
    v2_to_snomed = translate("ACNE", "http://terminology.hl7.org/CodeSystem/v2-0487", target_system=SNOMED)
    assert [(m.code, m.equivalence) for m in v2_to_snomed.matches] == [("309068002", "equivalent")]
    params = v2_to_snomed.to_parameters()
    assert params["parameter"][0] == {"name": "result", "valueBoolean": True}


def test_translate_without_match_and_unknown_map() -> None:
    none = translate("no-such-code", "http://hl7.org/fhir/administrative-gender")
    assert not none.result and none.matches == []
    with pytest.raises(TerminologyError) as err:
        translate("male", "http://hl7.org/fhir/administrative-gender", url="http://example.org/ConceptMap/x")
    assert err.value.status == 404
