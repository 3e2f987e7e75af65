"""to_cda: several dosages and "as needed", checked against CDA_Pharma.xsd and the templates.

Expected structures, written from their sources (not read back from the implementation):

- eHDSI Medication Item 1.3.6.1.4.1.12559.11.10.1.3.1.3.4 (ART-DECOR schematron, 2020-04-15): the
  item carries IHE PCC Normal Dosing ``1.3.6.1.4.1.19376.1.5.3.1.4.7.1`` or Split Dosing ``...4.9``,
  exactly two effectiveTime (one IVL_TS), at most one doseQuantity and one routeCode;
- IHE PCC / epSOS substanceAdministration 3.2: split dosing puts each regimen in a subordinate
  substanceAdministration of a component (``entryRelationship typeCode="COMP"``); Normal Dosing
  shall not contain subordinate substanceAdministration acts;
- CDA R2 ``precondition`` (typeCode PRCN) / ``criterion`` (code, value), with the criterion code
  ActCode ``ASSERTION`` and the condition as CD value as in the C-CDA Precondition for Substance
  Administration (2.16.840.1.113883.10.20.22.4.25).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from lxml import etree

from cda_transform import to_fhir
from cda_transform.errors import TransformError
from cda_transform.to_cda import to_cda

from . import cda_builder as cb
from . import test_to_cda_data as data
from .test_to_cda import REPO, T, convert, one, section, xp

NORMAL = "1.3.6.1.4.1.19376.1.5.3.1.4.7.1"
SPLIT = "1.3.6.1.4.1.19376.1.5.3.1.4.9"
ACT_CODE = "2.16.840.1.113883.5.4"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(REPO / "cda_transform/xsd/current/CDA_Pharma.xsd")))


def _items(root: etree._Element) -> list[etree._Element]:
    return xp(section(root, "10160-0"), f"v3:entry/v3:substanceAdministration[v3:templateId/@root='{T}.3.4']")


def _metformin(root: etree._Element) -> etree._Element:
    (item,) = [i for i in _items(root) if xp(i, ".//v3:manufacturedMaterial/v3:code[@code='3400930000001']")]
    return item


def _paracetamol(root: etree._Element) -> etree._Element:
    (item,) = [i for i in _items(root) if xp(i, ".//v3:manufacturedMaterial/v3:code[@code='N02BE01']")]
    return item


def _resource(bundle: dict[str, Any], rid: str) -> tuple[int, dict[str, Any]]:
    for index, entry in enumerate(bundle["entry"]):
        if entry["resource"].get("id") == rid:
            return index, entry["resource"]
    raise AssertionError(rid)


@pytest.mark.parametrize(("request_", "mood"), [(False, "EVN"), (True, "INT")])
def test_several_dosages_are_split_dosing_subordinates(
    request_: bool, mood: str, schema: etree.XMLSchema
) -> None:
    root = convert(data.with_split_dosing_and_prn(request=request_), schema)
    item = _metformin(root)
    roots = {t.get("root") for t in xp(item, "v3:templateId")}
    assert SPLIT in roots and NORMAL not in roots
    # the item keeps what the eHDSI Medication Item requires of it: two effectiveTime, one a period
    times = xp(item, "v3:effectiveTime")
    assert len(times) == 2
    assert times[0].get("{http://www.w3.org/2001/XMLSchema-instance}type") == "IVL_TS"
    assert times[1].get("nullFlavor") == "NA"
    assert not xp(item, "v3:doseQuantity") and not xp(item, "v3:routeCode")
    assert not xp(item, "v3:precondition")
    rels = xp(item, "v3:entryRelationship[@typeCode='COMP']")
    assert [one(r, "v3:sequenceNumber").get("value") for r in rels] == ["1", "2", "3", "4"]
    subs = [one(r, "v3:substanceAdministration") for r in rels]
    assert {s.get("moodCode") for s in subs} == {mood}
    for sub in subs:  # the product is the item's: a subordinate consumable is a null material
        assert (
            one(sub, "v3:consumable/v3:manufacturedProduct/v3:manufacturedMaterial").get("nullFlavor") == "NA"
        )
        assert not xp(sub, "v3:templateId")
    first, second, third, fourth = subs
    assert one(first, "v3:effectiveTime[@xsi:type='PIVL_TS']/v3:period").attrib == {
        "value": "12",
        "unit": "h",
    }
    assert one(first, "v3:routeCode").get("code") == "20053000"
    assert one(first, "v3:doseQuantity").attrib == {"value": "1", "unit": "{tablet}"}
    assert one(first, "v3:entryRelationship[@typeCode='SUBJ']/v3:act/v3:code").get("code") == "PINSTRUCT"
    assert one(second, "v3:text").text == "2 comprimés au coucher si douleur"
    assert one(second, "v3:effectiveTime[@xsi:type='IVL_TS']/v3:low").get("value") == "20130301"
    assert one(second, "v3:effectiveTime[@xsi:type='EIVL_TS']/v3:event").get("code") == "HS"
    assert one(second, "v3:doseQuantity").get("value") == "2"
    assert xp(third, "v3:precondition")
    assert one(fourth, "v3:text").text == "arrêt pendant les jeûnes"
    assert not xp(fourth, "v3:effectiveTime") and not xp(fourth, "v3:precondition")
    # the narrative row names every regimen
    row = one(
        section(root, "10160-0"), f".//v3:tr[@ID='{one(item, 'v3:text/v3:reference').get('value')[1:]}']"
    )
    posology = "".join(row.itertext())
    assert "2 comprimés au coucher si douleur" in posology and "arrêt pendant les jeûnes" in posology


def test_as_needed_is_a_precondition_with_an_assertion_criterion(schema: etree.XMLSchema) -> None:
    root = convert(data.with_split_dosing_and_prn(), schema)
    # asNeededBoolean on a single dosage: precondition on the (Normal Dosing) item, no value
    item = _paracetamol(root)
    assert NORMAL in {t.get("root") for t in xp(item, "v3:templateId")}
    assert not xp(item, "v3:entryRelationship[@typeCode='COMP']")
    precondition = one(item, "v3:precondition")
    assert precondition.get("typeCode") == "PRCN"
    code = one(precondition, "v3:criterion/v3:code")
    assert (code.get("code"), code.get("codeSystem")) == ("ASSERTION", ACT_CODE)
    assert not xp(precondition, "v3:criterion/v3:value")
    assert item[-1] is precondition  # last child, where the XSD wants it
    # asNeededCodeableConcept: the condition is the criterion's CD value
    sub = xp(_metformin(root), "v3:entryRelationship[@typeCode='COMP']/v3:substanceAdministration")[1]
    value = one(sub, "v3:precondition/v3:criterion/v3:value")
    assert value.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "CD"
    assert (value.get("code"), value.get("codeSystem")) == ("22253000", "2.16.840.1.113883.6.96")


def test_as_needed_false_and_text_only_condition(schema: etree.XMLSchema) -> None:
    bundle = data.collection_bundle()
    _, paracetamol = _resource(bundle, "ms2")
    paracetamol["dosage"][0]["asNeededBoolean"] = False
    _, metformin = _resource(bundle, "ms1")
    metformin["dosage"][0]["asNeededCodeableConcept"] = {"text": "si glycémie > 2 g/L"}
    root = convert(bundle, schema)
    assert not xp(_paracetamol(root), "v3:precondition")  # false is the default: nothing to say
    value = one(_metformin(root), "v3:precondition/v3:criterion/v3:value")
    assert value.get("nullFlavor") and one(value, "v3:originalText").text == "si glycémie > 2 g/L"


def test_one_dosage_stays_normal_dosing(schema: etree.XMLSchema) -> None:
    root = convert(data.collection_bundle(), schema)
    for item in _items(root):
        assert NORMAL in {t.get("root") for t in xp(item, "v3:templateId")}
        assert not xp(item, "v3:entryRelationship[@typeCode='COMP']")
        assert not xp(item, "v3:precondition")


def test_the_schema_rejects_a_misplaced_precondition(schema: etree.XMLSchema) -> None:
    """The order the builder follows is the XSD's: a precondition before entryRelationship is invalid."""
    root = etree.fromstring(to_cda(data.with_split_dosing_and_prn()))
    item = _metformin(root)
    sub = xp(item, "v3:entryRelationship[@typeCode='COMP']/v3:substanceAdministration")[2]
    precondition = one(sub, "v3:precondition")
    one(sub, "v3:consumable").addprevious(copy.deepcopy(precondition))
    assert not schema.validate(root)
    assert any("precondition" in e.message for e in schema.error_log)


def _refusal(change: Any) -> TransformError:
    bundle = data.collection_bundle()
    _, metformin = _resource(bundle, "ms1")
    change(metformin["dosage"])
    with pytest.raises(TransformError) as caught:
        to_cda(bundle)
    return caught.value


@pytest.mark.parametrize(
    ("name", "change", "tail"),
    [
        (
            "two events",
            lambda d: d.append({"timing": {"repeat": {"when": ["ACM", "ACV"]}}}),
            "[1].timing.repeat.when[1]",
        ),
        (
            "event and period",
            lambda d: d[0]["timing"]["repeat"].update(when=["HS"]),
            "[0].timing.repeat.when[0]",
        ),
        (
            "non-v3 event",
            lambda d: d.append({"timing": {"repeat": {"when": ["MORN"]}}}),
            "[1].timing.repeat.when[0]",
        ),
        (
            "two doses",
            lambda d: d[0]["doseAndRate"].append({"doseQuantity": {"value": 2, "unit": "{tablet}"}}),
            "[0].doseAndRate[1]",
        ),
    ],
)
def test_what_one_regimen_cannot_say_is_refused_naming_the_dosage(name: str, change: Any, tail: str) -> None:
    bundle = data.collection_bundle()
    index, _ = _resource(bundle, "ms1")
    error = _refusal(change)
    assert error.expression == f"Bundle.entry[{index}].resource.dosage{tail}", name


def test_a_dosage_on_an_absent_or_unknown_medication_is_refused() -> None:
    bundle = data.collection_bundle()
    index, paracetamol = _resource(bundle, "ms2")
    paracetamol["medicationCodeableConcept"] = data.cc(
        (
            "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",
            "no-medication-info",
            "No information",
        )
    )
    with pytest.raises(TransformError) as caught:
        to_cda(bundle)
    assert caught.value.expression == f"Bundle.entry[{index}].resource.dosage[0]"


# --- the way back (to_fhir) on a hand-written eHDSI item, as another producer would write it ----

_REGIMEN = """<entryRelationship typeCode="COMP"><sequenceNumber value="{seq}"/>
          <substanceAdministration classCode="SBADM" moodCode="INT">
            <text>{text}</text>
            <effectiveTime xsi:type="PIVL_TS" operator="A"><period value="{hours}" unit="h"/></effectiveTime>
            <doseQuantity value="{dose}" unit="1"/>
            <consumable><manufacturedProduct><manufacturedMaterial nullFlavor="NA"/></manufacturedProduct>
            </consumable>{extra}
          </substanceAdministration></entryRelationship>"""
_PAIN = """<precondition typeCode="PRCN"><criterion>
              <code code="ASSERTION" codeSystem="2.16.840.1.113883.5.4"/>
              <value xsi:type="CD" code="22253000" codeSystem="2.16.840.1.113883.6.96" displayName="Pain"/>
            </criterion></precondition>"""


def _cda_item(template: str, regimens: str, parent_extra: str = "") -> bytes:
    entry = cb.medication_entry().replace(
        '<templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.3.4"/>',
        f'<templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.3.4"/><templateId root="{template}"/>',
    )
    entry = entry.replace("</consumable>", "</consumable>" + regimens, 1)
    entry = entry.replace(
        "</substanceAdministration></entry>", parent_extra + "</substanceAdministration></entry>"
    )
    return cb.document(cb.section("10160-0", entry, text=cb.MED_TEXT))


def _dosages(xml: bytes) -> list[dict[str, Any]]:
    bundle = to_fhir(xml).bundle
    (statement,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationStatement"
    ]
    return statement.get("dosage") or []


def test_to_fhir_reads_split_dosing_in_sequence_order_with_as_needed() -> None:
    regimens = _REGIMEN.format(seq=2, text="2 si douleur", hours=12, dose=2, extra=_PAIN) + _REGIMEN.format(
        seq=1, text="1 le matin", hours=24, dose=1, extra=""
    )
    dosages = _dosages(_cda_item(SPLIT, regimens))
    assert [d["text"] for d in dosages] == ["1 le matin", "2 si douleur"]
    assert [d["timing"]["repeat"]["period"] for d in dosages] == [24, 12]
    assert [d["doseAndRate"][0]["doseQuantity"]["value"] for d in dosages] == [1, 2]
    assert "asNeededCodeableConcept" not in dosages[0]
    codings = dosages[1]["asNeededCodeableConcept"]["coding"]
    assert [(c["system"], c["code"]) for c in codings] == [("http://snomed.info/sct", "22253000")]


def test_to_fhir_reads_a_bare_criterion_as_as_needed_true() -> None:
    bare = (
        '<precondition><criterion><code code="ASSERTION" codeSystem="2.16.840.1.113883.5.4"/>'
        "</criterion></precondition>"
    )
    (dosage,) = _dosages(_cda_item(NORMAL, "", parent_extra=bare))
    assert dosage["asNeededBoolean"] is True
    assert dosage["timing"]["repeat"]["period"] == 8  # the item's own regimen is still read


def test_to_fhir_does_not_read_combination_components_as_regimens() -> None:
    regimens = _REGIMEN.format(seq=1, text="composant", hours=12, dose=2, extra="")
    (dosage,) = _dosages(_cda_item("1.3.6.1.4.1.19376.1.5.3.1.4.11", regimens))
    assert (
        dosage["timing"]["repeat"]["period"] == 8 and dosage["doseAndRate"][0]["doseQuantity"]["value"] == 1
    )
