"""Round trip FHIR -> CDA (to_cda) -> FHIR (the other direction, cda_transform.to_fhir).

The claim checked: every clinical statement of the input comes back as a statement of the same
kind, carrying every one of its codes (system + code). Codes are compared under their canonical
FHIR systems (``cda_transform.systems``, the table both directions share): the input side is
normalised (``urn:oid:2.16.840.1.113883.6.96`` is SNOMED CT), the output side must already be
canonical, so an OID that the way back cannot name (``urn:oid:...`` for a known system) fails.

What may change kind: a MedicationRequest comes back as a MedicationStatement. The eHDSI Patient
Summary has one medication entry (3.4, a ``substanceAdministration``) whose INT mood says
"intended"; ``to_fhir`` reads every such entry as a MedicationStatement, which is what the IPS
medication summary holds (``MedicationStatement`` or ``MedicationRequest``, both allowed). The
codes and every dosage, in order (dose, rate, timing events, route, instructions, "as needed"),
must survive all the same: several dosages travel as split-dosing subordinates, asNeeded as a
precondition (see ``cda_transform.to_cda.sections.medications``).

What is deliberately not compared (not carried by ``to_cda``, see its module docstring):
``Observation.category`` (the section says it), ``Dosage.doseAndRate.type`` (no CDA element),
and ``meta``.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from cda_transform.errors import TransformError
from cda_transform.systems import canonical_uri
from cda_transform.to_cda import to_cda
from tests.conftest import needs_shared, shared_reason

from . import test_to_cda_data as data
from .test_to_cda import _synthea_patients

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
TIMING_EVENT = "http://terminology.hl7.org/CodeSystem/v3-TimingEvent"
#: hours per UCUM period unit of Timing.repeat (mo and a have no fixed length: compared as written)
HOURS = {
    "s": Decimal(1) / 3600,
    "min": Decimal(1) / 60,
    "h": Decimal(1),
    "d": Decimal(24),
    "wk": Decimal(168),
}


def _codings(node: Any) -> set[tuple[str, str]]:
    if isinstance(node, dict):
        own = {(node["system"], node["code"])} if {"system", "code"} <= node.keys() else set()
        # meta (tags, security labels) is not clinical content and has no place in a CDA entry
        return own.union(*(_codings(v) for k, v in node.items() if k not in ("resourceType", "meta")))
    if isinstance(node, list):
        return set().union(*(_codings(v) for v in node)) if node else set()
    return set()


def _number(value: Any) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _dosage(resource: dict[str, Any]) -> tuple[Any, ...] | None:
    """What the dosages say, in order. One dosage: what it says, or None when it says nothing (its
    text comes back as the narrative row). Several dosages: one entry per dosage, its free text
    included (each regimen keeps its own text), so that a dropped uncoded dosage is noticed."""
    dosages = resource.get("dosageInstruction") or resource.get("dosage") or []
    if len(dosages) > 1:
        return tuple((_one_dosage(d), d.get("text")) for d in dosages)
    return _one_dosage(dosages[0]) if dosages else None


def _one_dosage(dosage: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a dosage says, independent of how it is spelled: dose values, rate per hour (2 a day
    and 1 every 12 h are the same), timing events, route and instruction codes, free-text
    instruction, "as needed" (True, or the codes of its condition). None when it says nothing."""
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    rate: str | None = None
    if repeat.get("period") is not None and repeat.get("periodUnit"):
        frequency, period, unit = (
            Decimal(str(repeat.get("frequency") or 1)),
            repeat["period"],
            repeat["periodUnit"],
        )
        if unit in HOURS:
            rate = _number(frequency / (Decimal(str(period)) * HOURS[unit]))
        else:
            rate = f"{_number(frequency)}/{_number(period)} {unit}"
    doses = tuple(
        sorted(
            _number(q["value"])
            for q in (rate_dose.get("doseQuantity") or {} for rate_dose in dosage.get("doseAndRate") or [])
            if q.get("value") is not None
        )
    )
    # to_fhir also keeps the CDA's coded EIVL event (with its translation) as an instruction: the
    # same event as timing.repeat.when, not an instruction of its own
    events = {(TIMING_EVENT, w) for w in repeat.get("when") or []}
    said = (
        doses,
        rate,
        tuple(sorted(repeat.get("when") or [])),
        frozenset(_canonical(_codings(dosage.get("route")))),
        frozenset(_canonical(_codings(dosage.get("additionalInstruction"))) - events),
        dosage.get("patientInstruction"),
        _as_needed(dosage),
    )
    return said if any(said) else None


def _as_needed(dosage: dict[str, Any]) -> bool | frozenset[tuple[str, str]] | str | None:
    """asNeededBoolean true -> True; asNeededCodeableConcept -> its codes (or its text); false and
    absent are the same (a substanceAdministration without precondition)."""
    concept = dosage.get("asNeededCodeableConcept")
    if concept is not None:
        return frozenset(_canonical(_codings(concept))) or concept.get("text")
    return True if dosage.get("asNeededBoolean") is True else None


def _canonical(codes: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(canonical_uri(system), code) for system, code in codes}


Statement = tuple[str, set[tuple[str, str]], tuple[Any, ...] | None]


def _statements(bundle: dict[str, Any], *, input_side: bool) -> list[Statement]:
    """(resourceType, codes, dosage) per clinical statement, the product/device codes merged in.

    Input codes are put under their canonical system; output codes are taken as they are (the
    caller checks that they are canonical).
    """
    index: dict[str, dict[str, Any]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if entry.get("fullUrl"):
            index[entry["fullUrl"]] = resource
        if resource.get("id"):
            index[f"{resource['resourceType']}/{resource['id']}"] = resource
    out: list[Statement] = []
    for entry in bundle["entry"]:
        resource = copy.deepcopy(entry["resource"])
        if resource["resourceType"] not in FAMILY:
            continue
        if input_side:
            if resource["resourceType"] == "Observation":
                resource.pop("category", None)  # expressed by the eHDSI section, see test_to_cda
            for dosage in resource.get("dosageInstruction") or resource.get("dosage") or []:
                for rate_dose in dosage.get("doseAndRate") or []:
                    rate_dose.pop("type", None)  # calculated vs ordered: no CDA element
        codes = _codings(resource)
        for key in LINKS:
            target = index.get((resource.get(key) or {}).get("reference", ""))
            if target is not None:
                codes |= _codings(target)
        if input_side:
            codes = _canonical(codes)
        codes = {c for c in codes if c[0] != data.UCUM}
        out.append((resource["resourceType"], codes, _dosage(resource)))
    return out


def _check_round_trip(source: dict[str, Any]) -> int:
    """Every input statement comes back (own statement, all codes, same dosage); returns their count."""
    return _compare(source, to_fhir(to_cda(source)).bundle)


def _compare(source: dict[str, Any], result: dict[str, Any]) -> int:
    back = _statements(result, input_side=False)
    not_canonical = {system for _, codes, _ in back for system, _ in codes if canonical_uri(system) != system}
    assert not not_canonical, f"known code systems came back under another name: {sorted(not_canonical)}"
    used: set[int] = set()
    statements = _statements(source, input_side=True)
    for kind, codes, dosage in statements:
        candidates = [i for i, (k, c, _) in enumerate(back) if k in FAMILY[kind] and codes <= c]
        assert candidates, f"{kind} with codes {sorted(codes)} did not come back"
        if kind == "Observation":
            continue  # panel members and nested observations may come back inside their parent
        if kind in ("MedicationStatement", "MedicationRequest"):
            same = [i for i in candidates if back[i][2] == dosage]
            assert same, (
                f"{kind} {sorted(codes)}: dosage {dosage} came back as {[back[i][2] for i in candidates]}"
            )
            candidates = same
        free = [i for i in candidates if i not in used]
        assert free, f"{kind} {sorted(codes)} came back merged with another statement"
        used.add(free[0])
    return len(statements)


ROUND_TRIP_INPUTS = {
    "rich-collection": data.collection_bundle,
    "rich-document": data.document_bundle,
    "medication-request": data.with_medication_request,
    "odd-searchset": data.odd_bundle,
    "split-dosing-and-prn": data.with_split_dosing_and_prn,
    "split-dosing-and-prn-request": lambda: data.with_split_dosing_and_prn(request=True),
}


@pytest.mark.parametrize("name", ROUND_TRIP_INPUTS)
def test_round_trip_keeps_every_statement_and_code(name: str) -> None:
    _check_round_trip(ROUND_TRIP_INPUTS[name]())


def _medication_dosages(bundle: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [
        e["resource"].get("dosage") or e["resource"].get("dosageInstruction") or []
        for e in bundle["entry"]
        if e["resource"]["resourceType"] in ("MedicationStatement", "MedicationRequest")
    ]


def test_round_trip_brings_back_every_dosage_in_order_with_as_needed() -> None:
    source = data.with_split_dosing_and_prn()
    back = to_fhir(to_cda(source)).bundle
    metformin, paracetamol = _medication_dosages(back)
    assert [d.get("text") for d in metformin] == [
        "1 comprimé matin et soir",
        "2 comprimés au coucher si douleur",
        "1 comprimé de plus si besoin",
        "arrêt pendant les jeûnes",
    ]
    assert ("http://snomed.info/sct", "22253000") in _codings(metformin[1]["asNeededCodeableConcept"])
    assert metformin[1]["timing"]["repeat"]["boundsPeriod"] == {"start": "2013-03-01"}
    assert metformin[2]["asNeededBoolean"] is True
    assert "asNeededBoolean" not in metformin[0] and "asNeededCodeableConcept" not in metformin[0]
    (single,) = paracetamol
    assert single["asNeededBoolean"] is True


@pytest.mark.parametrize("loss", ["as-needed-boolean", "as-needed-concept", "uncoded-dosage", "order"])
def test_round_trip_check_fails_when_a_dosage_or_as_needed_is_lost(loss: str) -> None:
    """The comparison itself: a result missing asNeeded or a dosage (or reordering them) is caught."""
    source = data.with_split_dosing_and_prn()
    back = to_fhir(to_cda(source)).bundle
    _compare(source, back)  # the untouched result passes
    metformin, paracetamol = _medication_dosages(back)
    if loss == "as-needed-boolean":
        del paracetamol[0]["asNeededBoolean"]
    elif loss == "as-needed-concept":
        del metformin[1]["asNeededCodeableConcept"]
    elif loss == "uncoded-dosage":
        del metformin[3]
    else:
        metformin[1], metformin[2] = metformin[2], metformin[1]
    with pytest.raises(AssertionError, match=r"dosage|did not come back"):  # codes are checked first
        _compare(source, back)


def test_round_trip_reads_back_patient_instructions_and_problem_body_site() -> None:
    """The two places to_cda puts codes that have no eHDSI element of their own: the PINSTRUCT act
    (Dosage.additionalInstruction, codes as translations) and targetSiteCode (Condition.bodySite)."""
    back = to_fhir(to_cda(data.collection_bundle())).bundle
    resources = [e["resource"] for e in back["entry"]]
    metformin = next(
        r for r in resources if r["resourceType"] == "MedicationStatement" and r.get("medicationReference")
    )
    (instruction,) = metformin["dosage"][0]["additionalInstruction"]
    assert ("http://snomed.info/sct", "311504000") in _codings(instruction)
    assert ("urn:oid:1.3.5.1.4.1.19376.1.5.3.2", "PINSTRUCT") not in _codings(instruction)  # structural
    assert instruction["text"] == "Pendant ou après le repas"
    diabetes = next(
        r for r in resources if ("http://hl7.org/fhir/sid/icd-10", "E11") in _codings(r.get("code"))
    )
    assert ("http://snomed.info/sct", "113331007") in _codings(diabetes["bodySite"])
    gestational = next(
        r for r in resources if ("http://hl7.org/fhir/sid/icd-10", "O24.4") in _codings(r.get("code"))
    )
    assert "bodySite" not in gestational


def test_input_under_urn_oid_systems_comes_back_under_canonical_uris() -> None:
    """A sender may write a known system as urn:oid; the way back names it canonically (CVX here)."""
    source = data.collection_bundle()
    immunization = next(
        e["resource"] for e in source["entry"] if e["resource"]["resourceType"] == "Immunization"
    )
    immunization["vaccineCode"]["coding"].append(
        {
            "system": "urn:oid:2.16.840.1.113883.12.292",
            "code": "45",
            "display": "Hep B, unspecified formulation",
        }
    )
    _check_round_trip(source)
    back = to_fhir(to_cda(source)).bundle
    vaccine = next(e["resource"] for e in back["entry"] if e["resource"]["resourceType"] == "Immunization")
    assert ("http://hl7.org/fhir/sid/cvx", "45") in _codings(vaccine["vaccineCode"])


SYNTHEA_PATIENTS = 10


def test_synthea_round_trip_keeps_every_statement_and_code() -> None:
    """The first Synthea patients (US-coded: RxNorm, CVX, SNOMED CT, LOINC) that to_cda accepts come
    back with every statement, code and dosage; the others are refused for want of an OID patient
    identifier (an eHDSI requirement), never for a clinical reason."""
    checked = statements = 0
    for name, bundle in _synthea_patients(SYNTHEA_PATIENTS):
        try:
            to_cda(bundle)
        except TransformError as error:
            assert error.expression.endswith(".identifier"), (name, error.message)
            continue
        statements += _check_round_trip(bundle)
        checked += 1
    assert checked >= SYNTHEA_PATIENTS // 2
    assert statements > 1000


def _cda_samples_without_code_systems() -> list[Any]:
    from tests.conftest import SHARED

    folder = SHARED / "ehdsi/samples"
    if not folder.exists():
        return []
    names = [
        "cz__W8_MRAČENA_VZOR_L3_bezchyb.xml",
        "cz__8555189999_L3_corr.xml",
        "django__MT_Mario_Borg_9999002M_3.xml",
    ]
    return [folder / n for n in names if (folder / n).exists()]


@pytest.mark.skipif(not _cda_samples_without_code_systems(), reason=shared_reason("ehdsi", "samples"))
@pytest.mark.parametrize("path", _cda_samples_without_code_systems(), ids=lambda p: p.name)
def test_cda_codes_without_code_system_survive_cda_to_fhir_to_cda(path: Any) -> None:
    """Issue 14's known defect: a CDA code without codeSystem becomes a Coding without system in
    ``to-fhir``; ``to-cda`` must still give a CDA_Pharma.xsd document keeping the statement."""
    from lxml import etree

    from tests.conftest import REPO

    root = etree.fromstring(path.read_bytes())
    stripped = 0
    for node in root.iter("{urn:hl7-org:v3}value", "{urn:hl7-org:v3}code"):
        entry = next((a for a in node.iterancestors("{urn:hl7-org:v3}entry")), None)
        if entry is not None and node.get("codeSystem") and node.get("code"):
            del node.attrib["codeSystem"]  # what the Czech documents did, on every coded entry element
            stripped += 1
    assert stripped
    bundle = to_fhir(etree.tostring(root)).bundle
    no_system = [
        c
        for e in bundle["entry"]
        if e["resource"]["resourceType"] in FAMILY  # the statements (author roles are not carried)
        for c in _codings_of(e["resource"])
        if not c.get("system") and c.get("code")
    ]
    assert no_system, "to_fhir was expected to write codings without system"
    cda = etree.fromstring(to_cda(bundle))
    schema = etree.XMLSchema(etree.parse(str(REPO / "cda_transform/xsd/current/CDA_Pharma.xsd")))
    assert schema.validate(cda), schema.error_log
    kept = " ".join(t.xpath("string()") for t in cda.iter("{urn:hl7-org:v3}originalText"))
    for coding in no_system:
        assert str(coding["code"]) in kept


def _codings_of(node: Any) -> list[dict[str, Any]]:
    """Every Coding (an item of a ``coding`` list) anywhere in a resource."""
    if isinstance(node, dict):
        found = [c for c in node.get("coding") or [] if isinstance(c, dict)]
        for key, value in node.items():
            if key not in ("extension", "meta") and not key.startswith("_"):  # to_cda carries neither
                found += _codings_of(value)
        return found
    if isinstance(node, list):
        return [c for item in node for c in _codings_of(item)]
    return []


@needs_shared("ehdsi", "samples", "cz__input.xml")
def test_czech_result_panel_with_an_interpretation_survives_cda_to_fhir_to_cda() -> None:
    """The Czech PS ``cz__input.xml``: a results panel whose contained member carries an
    interpretation (v3 ObservationInterpretation N) and its own category; ``to_cda`` used to
    refuse it. It must give a CDA_Pharma.xsd document with the interpretation kept."""
    from lxml import etree

    from tests.conftest import REPO, SHARED

    source = etree.parse(str(SHARED / "ehdsi/samples/cz__input.xml"))
    expected = {
        (n.get("codeSystem"), n.get("code")) for n in source.iter("{urn:hl7-org:v3}interpretationCode")
    }
    assert expected
    cda = etree.fromstring(to_cda(to_fhir(etree.tostring(source)).bundle))
    schema = etree.XMLSchema(etree.parse(str(REPO / "cda_transform/xsd/current/CDA_Pharma.xsd")))
    assert schema.validate(cda), schema.error_log
    written = {(n.get("codeSystem"), n.get("code")) for n in cda.iter("{urn:hl7-org:v3}interpretationCode")}
    assert expected <= written
