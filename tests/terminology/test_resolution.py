"""Smarter resolution, invalid codes and the coverage categories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from terminology import designation, display, validate_code
from terminology.checkdigits import invalid_reason, loinc_valid, sctid_valid
from tests.conftest import SHARED, needs_shared

from .conftest import FIXTURES

PASSERELLE = Path(sys.executable).parent / "passerelle"
EDQM = "http://standardterms.edqm.eu"


def test_loinc_check_digit_and_sctid_verhoeff() -> None:
    # LOINC table entries (Glucose, Hemoglobin, Procedures section, Patient summary document)
    for code in ("2345-7", "718-7", "47519-4", "60591-5"):
        assert loinc_valid(code), code
    assert not loinc_valid("29544-3") and not loinc_valid("2345-8")
    assert "29544-4" in (invalid_reason("http://loinc.org", "29544-3") or "")
    assert sctid_valid("22298006") and sctid_valid("182849000")  # myocardial infarction, no drug therapy
    assert not sctid_valid("22298007") and not sctid_valid("12345")


def test_value_set_oid_national_icd10_and_v2_table_oid() -> None:
    # eHDSIHealthcareProfessionalRole's OID used as system: ISCO-08 221 "Medical doctors"
    found = designation("1.3.6.1.4.1.12559.11.10.1.3.1.42.1", "221", "fr")
    assert found is not None and found.value == "Médecins" and "OID de ValueSet" in (found.note or "")
    # PersonalRelationshipRoleType given with its misspelt OID
    assert display("2.16.840.1.113883.11.19563", "CHILD", "fr") == "Enfant"
    # v2 table 0443 by its code system OID
    assert display("2.16.840.1.113883.12.443", "PP", "fr") == "Prestataire de soins primaires"
    # Czech MKN-10 codes without the dot are ICD-10 codes
    result = validate_code("D093", "urn:oid:1.2.203.24341.11.2.1")
    assert result.result and result.code == "D09.3" and "MKN-10" in (result.message or "")


def test_national_dose_forms_and_routes_map_to_edqm() -> None:
    found = designation("urn:oid:2.16.620.1.101.20.9", "39", "fr")
    assert found is not None and (found.system, found.code) == (EDQM, "10221000")
    assert found.value == "Comprimé pelliculé"
    assert display("2.16.620.1.101.20.8", "48", "fr") == "Voie orale"
    assert display("2.16.17.710.802.1000.990.1.20.22", "TABFILM", "fr") == "Comprimé pelliculé"
    assert display("urn:oid:2.16.620.1.101.20.9", "9999", "fr") is None  # no published mapping


def test_czech_administrative_gender_maps_to_v3() -> None:
    """DASTA 1.2.203.24341.11.2.3 defines M 'muž' (Male), F 'žena' (Female), X 'nerozlišeno'
    (Undifferentiated); HL7 v3 AdministrativeGender has M, F and UN with those meanings."""
    v3 = "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender"
    found = designation("urn:oid:1.2.203.24341.11.2.3", "F", "fr")
    assert found is not None and (found.system, found.code) == (v3, "F")
    assert found.value == display(v3, "F", "fr") == "Féminin"
    assert "national-gender-to-v3" in (found.note or "")
    assert display("1.2.203.24341.11.2.3", "M", "fr") == "Masculin"
    assert designation("1.2.203.24341.11.2.3", "X", "fr").code == "UN"  # type: ignore[union-attr]
    assert display("1.2.203.24341.11.2.3", "Z", "fr") is None  # not in the code system
    result = validate_code("F", "urn:oid:1.2.203.24341.11.2.3")
    assert result.result and result.code == "F" and result.system == v3


def test_validate_code_reports_invalid_codes_and_unknown_systems() -> None:
    bad = validate_code("29544-3", "http://loinc.org")
    assert not bad.result and "chiffre de contrôle" in (bad.message or "")
    unknown = validate_code("57833-6", "XXXXXXXXXXX")
    assert not unknown.result and "Système de codes inconnu" in (unknown.message or "")
    assert not validate_code("male", "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender").result
    unit = validate_code("mg/2.5.ml", "http://unitsofmeasure.org")
    assert not unit.result and "facteur décimal" in (unit.message or "")


def test_source_of_project_labels_is_stated() -> None:
    found = designation("http://unitsofmeasure.org", "U/ml", "fr")
    assert found is not None and found.value == "unités par millilitre"
    assert found.source["publisher"] == "Passerelle project" and "CC0" in found.source["copyright"]
    emdn = designation("urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.44.6", "J0105", "fr")
    assert emdn is not None and emdn.value == "Défibrillateurs implantables"


def coverage(*args: str) -> dict:
    result = subprocess.run(
        [str(PASSERELLE), "terminology", "coverage", "--json", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_coverage_categories_on_the_fixture() -> None:
    report = coverage(str(FIXTURES / "mini_ps.xml"))
    assert report["sources"]["loaded"] == []
    assert {s["id"] for s in report["sources"]["optional"]} >= {"fr-atc-ans", "fr-cim10-atih", "fr-snomed-ct"}
    ingredient = report["value_sets"]["http://terminology.ehdsi.eu/ValueSet/eHDSIActiveIngredient"]
    (detail,) = ingredient["details"]
    assert detail["category"] == "licence" and detail["code"] == "N02BE01"
    assert detail["source"].startswith("ATC, libellés français")
    # the breakdown accounts for every code of each category, naming the source or the reason
    parts = report["breakdown"]
    for category in ("translated", "licence", "invalid", "unknown_system", "untranslated"):
        assert sum(parts[category].values()) == report["total"][category], category
    assert any(key.startswith("ATC, libellés français") and "CC BY-ND" in key for key in parts["licence"])


def test_coverage_text_report_prints_the_breakdown_and_the_ceiling() -> None:
    result = subprocess.run(
        [str(PASSERELLE), "terminology", "coverage", str(FIXTURES / "mini_ps.xml")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Détail par catégorie" in result.stdout
    assert "Avec toutes les sources sous licence chargées : au plus" in result.stdout
    assert "ATC, libellés français" in result.stdout


@needs_shared("ehdsi", "samples")
def test_coverage_of_the_samples_explains_every_untranslated_code() -> None:
    report = coverage(str(SHARED / "ehdsi" / "samples"))
    total = report["total"]
    assert total["found"] == 261
    assert total["untranslated"] == 0  # every valid code of an open code system is translated
    assert total["translated"] + total["licence"] + total["invalid"] + total["unknown_system"] == 261
    invalid = {(d["system"], d["code"]) for v in report["value_sets"].values() for d in v["details"]
               if d["category"] == "invalid"}  # fmt: skip
    assert ("http://loinc.org", "29544-3") in invalid
    assert ("http://hl7.org/fhir/sid/icd-10", "YNEZMYSEL49") in invalid
    untranslated = {(d["system"], d["code"]) for v in report["value_sets"].values() for d in v["details"]}
    for closed in (
        ("urn:oid:1.2.203.24341.11.2.3", "F"),  # Czech gender -> v3 F (national-gender-to-v3)
        ("http://hl7.org/fhir/sid/icd-10", "A06.6"),  # French LU sample: same-code national translation
        ("http://hl7.org/fhir/sid/icd-10", "B20"),
        ("http://snomed.info/sct", "111088007"),  # "Latex" in the French LU sample
        ("http://snomed.info/sct", "47703008"),  # "Lactose"
        ("http://snomed.info/sct", "118955007"),  # misspelling corrected
    ):
        assert closed not in untranslated, closed
    assert sum(report["breakdown"]["licence"].values()) == total["licence"]
    licensed = {
        d["source"] for v in report["value_sets"].values() for d in v["details"] if d["category"] == "licence"
    }
    assert licensed <= {
        "ATC, libellés français (ANSM, serveur multi-terminologies de l'ANS)",
        "CIM-10 FR à usage PMSI (ATIH), libellés",
        "SNOMED CT, descriptions françaises (RF2)",
        "Nomenclature Orphanet (français)",
    }
    if (SHARED / "terminology-sources").is_dir():
        loaded = coverage("--add", str(SHARED / "terminology-sources"), str(SHARED / "ehdsi" / "samples"))
        assert {s["id"] for s in loaded["sources"]["loaded"]} == {"fr-atc-ans", "fr-orphanet"}
        assert loaded["total"]["translated"] >= total["translated"] + 30  # 26 ATC + 4 Orphanet
        assert loaded["total"]["untranslated"] == 0
