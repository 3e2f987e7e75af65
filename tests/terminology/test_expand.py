"""ValueSet/$expand over real R4 and MVC content: compose rules, filters, paging, languages."""

from __future__ import annotations

import pytest

from terminology import TerminologyError, expand
from terminology.service import TerminologyService

from .conftest import EHDSI, EMDN, ROLECODE, SNOMED


def codes(valueset: dict) -> list[str]:
    return [c["code"] for c in valueset["expansion"]["contains"]]


def test_administrative_gender_expands_to_exactly_four_codes() -> None:
    result = expand("http://hl7.org/fhir/ValueSet/administrative-gender")
    assert sorted(codes(result)) == ["female", "male", "other", "unknown"]
    assert result["expansion"]["total"] == 4
    assert {c["system"] for c in result["expansion"]["contains"]} == {
        "http://hl7.org/fhir/administrative-gender"
    }


def test_mvc_value_set_by_url_and_by_oid() -> None:
    by_url = expand(EHDSI + "eHDSIBloodGroup")
    by_oid = expand("urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.42.20")
    assert by_url["expansion"]["total"] == by_oid["expansion"]["total"] == 12
    assert "278147001" in codes(by_url)


def test_paging_and_text_filter() -> None:
    page = expand(EHDSI + "eHDSIBloodGroup", count=5, offset=10)
    assert page["expansion"]["total"] == 12 and page["expansion"]["offset"] == 10
    assert len(page["expansion"]["contains"]) == 2
    ab = expand(EHDSI + "eHDSIBloodGroup", filter="group AB")
    assert sorted(codes(ab)) == ["165743006", "278151004", "278154007"]
    # the text filter also searches French designations, accent-insensitively
    negative = expand(EHDSI + "eHDSIBloodGroup", filter="negatif", display_language="fr")
    assert negative["expansion"]["total"] == 4
    assert all("négatif" in c["display"] for c in negative["expansion"]["contains"])


def test_display_language_and_designations() -> None:
    fr = expand(EHDSI + "eHDSICriticality", display_language="fr-FR")
    assert {c["code"]: c["display"] for c in fr["expansion"]["contains"]}["high"] == "Risque élevé"
    with_designations = expand(
        "http://terminology.hl7.org/ValueSet/v3-AdministrativeGender", include_designations=True
    )
    female = next(c for c in with_designations["expansion"]["contains"] if c["code"] == "F")
    assert any(d["language"] == "nl" and d["value"] == "Vrouw" for d in female["designation"])


def test_is_a_and_descendent_of_over_emdn_hierarchy(service: TerminologyService) -> None:
    entry = service.system_entry(EMDN)
    assert entry is not None and entry.hierarchical
    expected = {code for code in entry.concepts if code.startswith("A01")}  # EMDN codes nest by prefix
    is_a = service.expand(
        valueset={
            "resourceType": "ValueSet",
            "compose": {
                "include": [
                    {"system": EMDN, "filter": [{"property": "concept", "op": "is-a", "value": "A01"}]}
                ]
            },
        }
    )
    assert set(codes(is_a)) == expected and "A01" in expected and len(expected) > 10
    below = service.expand(
        valueset={
            "resourceType": "ValueSet",
            "compose": {
                "include": [
                    {
                        "system": EMDN,
                        "filter": [{"property": "concept", "op": "descendent-of", "value": "A01"}],
                    }
                ]
            },
        }
    )
    assert set(codes(below)) == expected - {"A01"}


def test_is_a_over_v3_rolecode_and_exclude() -> None:
    vs = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [
                {"system": ROLECODE, "filter": [{"property": "concept", "op": "is-a", "value": "PRN"}]}
            ],
            "exclude": [{"system": ROLECODE, "concept": [{"code": "FTH"}]}],
        },
    }
    result = set(codes(expand(valueset=vs)))
    assert {"PRN", "MTH", "NMTH", "ADOPTM"} <= result
    assert "FTH" not in result and "SIS" not in result


def test_snomed_is_a_over_mvc_is_refused_not_guessed() -> None:
    """The MVC lists SNOMED CT codes without their hierarchy: an is-a filter cannot be answered."""
    vs = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [
                {"system": SNOMED, "filter": [{"property": "concept", "op": "is-a", "value": "112144000"}]}
            ]
        },
    }
    with pytest.raises(TerminologyError) as err:
        expand(valueset=vs)
    assert err.value.code == "not-supported" and err.value.status == 400


def test_nested_value_sets_intersect_and_union() -> None:
    union = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [
                {"valueSet": [EHDSI + "eHDSICriticality"]},
                {"valueSet": [EHDSI + "eHDSIAllergyCertainty"]},
            ]
        },
    }
    assert sorted(codes(expand(valueset=union))) == sorted(
        ["low", "high", "unable-to-assess", "unconfirmed", "confirmed", "refuted"]
    )
    intersection = {
        "resourceType": "ValueSet",
        "compose": {
            "include": [
                {
                    "valueSet": [EHDSI + "eHDSIBloodGroup", EHDSI + "eHDSIBloodGroup"],
                    "system": SNOMED,
                    "concept": [{"code": "58460004"}, {"code": "22298006"}],
                }
            ]
        },
    }
    assert codes(expand(valueset=intersection)) == ["58460004"]


def test_expansion_limit_is_too_costly_unless_paged() -> None:
    with pytest.raises(TerminologyError) as err:
        expand(EHDSI + "eHDSIIllnessandDisorder")
    assert err.value.code == "too-costly" and err.value.status == 422
    paged = expand(EHDSI + "eHDSIIllnessandDisorder", count=3)
    assert paged["expansion"]["total"] == 14158 and len(paged["expansion"]["contains"]) == 3


def test_expansion_limit_is_configurable(service: TerminologyService) -> None:
    small = TerminologyService(max_expansion_size=5)
    small.load_resources([service.valuesets[EHDSI + "eHDSIBloodGroup"]])
    with pytest.raises(TerminologyError) as err:
        small.expand(EHDSI + "eHDSIBloodGroup")
    assert err.value.code == "too-costly"
    assert len(small.expand(EHDSI + "eHDSIBloodGroup", count=5)["expansion"]["contains"]) == 5
