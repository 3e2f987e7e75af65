"""Round trip FHIR -> CDA (to_cda) -> FHIR (the other direction, cda_transform.to_fhir).

The claim checked: every clinical statement of the input comes back as a statement of the same
kind, carrying every one of its codes (system + code). Codes are compared through the public
FHIR systems, so an OID that the way back cannot name would show up as a loss.
"""

from __future__ import annotations

from typing import Any

import pytest

from cda_transform.to_cda import to_cda

from . import test_to_cda_data as data

to_fhir = getattr(pytest.importorskip("cda_transform"), "to_fhir", None)
if to_fhir is None:  # the other direction is not there yet: report, do not fail
    pytest.skip("cda_transform.to_fhir is not available", allow_module_level=True)

#: statement kinds and what may come back for them (a MedicationRequest is a medication statement
#: once it is in a Patient Summary: the CDA keeps it as an INT substanceAdministration)
FAMILY = {
    "AllergyIntolerance": {"AllergyIntolerance"},
    "Condition": {"Condition"},
    "MedicationStatement": {"MedicationStatement", "MedicationRequest"},
    "MedicationRequest": {"MedicationStatement", "MedicationRequest"},
    "Procedure": {"Procedure"},
    "DeviceUseStatement": {"DeviceUseStatement"},
    "Immunization": {"Immunization"},
    "Observation": {"Observation"},
}
#: references whose target's codes belong to the statement (product, device)
LINKS = {"medicationReference", "device"}


def _codings(node: Any) -> set[tuple[str, str]]:
    if isinstance(node, dict):
        own = {(node["system"], node["code"])} if {"system", "code"} <= node.keys() else set()
        # meta (tags, security labels) is not clinical content and has no place in a CDA entry
        return own.union(*(_codings(v) for k, v in node.items() if k not in ("resourceType", "meta")))
    if isinstance(node, list):
        return set().union(*(_codings(v) for v in node)) if node else set()
    return set()


def _statements(bundle: dict[str, Any], *, input_side: bool) -> list[tuple[str, set[tuple[str, str]]]]:
    """(resourceType, codes) per clinical statement, the product/device codes merged in."""
    index: dict[str, dict[str, Any]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if entry.get("fullUrl"):
            index[entry["fullUrl"]] = resource
        if resource.get("id"):
            index[f"{resource['resourceType']}/{resource['id']}"] = resource
    out = []
    for entry in bundle["entry"]:
        resource = dict(entry["resource"])
        if resource["resourceType"] not in FAMILY:
            continue
        if input_side and resource["resourceType"] == "Observation":
            resource.pop("category", None)  # expressed by the eHDSI section, see test_to_cda
        codes = _codings(resource)
        for key in LINKS:
            target = index.get((resource.get(key) or {}).get("reference", ""))
            if target is not None:
                codes |= _codings(target)
        codes = {c for c in codes if c[0] != data.UCUM}
        out.append((resource["resourceType"], codes))
    return out


ROUND_TRIP_INPUTS = {
    "rich-collection": data.collection_bundle,
    "rich-document": data.document_bundle,
    "medication-request": data.with_medication_request,
    "odd-searchset": data.odd_bundle,
}


#: codings the CDA carries (checked in test_to_cda) that to_fhir does not read back yet, with
#: where they are; the xfail below reports XPASS (without failing the suite) once to_fhir reads them
KNOWN_GAPS = {
    ("http://snomed.info/sct", "311504000"): "PINSTRUCT act translation (Dosage.additionalInstruction)",
    ("http://snomed.info/sct", "113331007"): "problem observation targetSiteCode (Condition.bodySite)",
}


def _check_round_trip(
    source: dict[str, Any], ignore: frozenset[tuple[str, str]] = frozenset(KNOWN_GAPS)
) -> None:
    result = to_fhir(to_cda(source))
    back = _statements(result.bundle, input_side=False)
    used: set[int] = set()
    for kind, all_codes in _statements(source, input_side=True):
        codes = all_codes - ignore
        candidates = [i for i, (k, c) in enumerate(back) if k in FAMILY[kind] and codes <= c]
        assert candidates, f"{kind} with codes {sorted(codes)} did not come back"
        if kind == "Observation":
            continue  # panel members and nested observations may come back inside their parent
        free = [i for i in candidates if i not in used]
        assert free, f"{kind} {sorted(codes)} came back merged with another statement"
        used.add(free[0])


@pytest.mark.parametrize("name", ROUND_TRIP_INPUTS)
def test_round_trip_keeps_every_statement_and_code(name: str) -> None:
    _check_round_trip(ROUND_TRIP_INPUTS[name]())


@pytest.mark.parametrize(
    "gap",
    [
        pytest.param(
            gap, id=gap[1], marks=pytest.mark.xfail(strict=False, reason=f"to_fhir does not read the {where}")
        )
        for gap, where in KNOWN_GAPS.items()
    ],
)
def test_round_trip_known_gaps_of_to_fhir(gap: tuple[str, str]) -> None:
    """Each known gap on its own: the CDA has the code (see test_to_cda), to_fhir must bring it back."""
    back = to_fhir(to_cda(data.collection_bundle())).bundle
    assert gap in _codings([e["resource"] for e in back["entry"]])


def test_round_trip_of_absent_sections_keeps_the_absent_codes() -> None:
    result = to_fhir(to_cda(data.minimal_bundle()))
    codes = _codings([e["resource"] for e in result.bundle["entry"]])
    absent = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
    for code in (
        "no-allergy-info",
        "no-medication-info",
        "no-problem-info",
        "no-procedure-info",
        "no-device-info",
    ):
        assert (absent, code) in codes
