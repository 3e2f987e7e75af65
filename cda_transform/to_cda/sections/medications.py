"""Medication summary (10160-0): eHDSI Medication Item (3.4) with its PS Medication
Information (3.31) and Manufactured Material (3.32) in the ``urn:hl7-org:pharm`` extension.

A MedicationStatement becomes ``moodCode="EVN"`` (taken), a MedicationRequest
``moodCode="INT"`` (intended), the two moods the eHDSI template allows.

Several dosages (dose regimens): the eHDSI Medication Item (ART-DECOR 1.3.6.1.4.1.12559.11.10.1.3.1.3.4,
2020-04-15 onwards) accepts the IHE PCC Split Dosing template ``1.3.6.1.4.1.19376.1.5.3.1.4.9`` in
place of Normal Dosing ``...4.7.1``, and its effectiveTime, doseQuantity and routeCode are single: so
each regimen goes to a subordinate ``substanceAdministration`` in an ``entryRelationship
typeCode="COMP"`` with ``sequenceNumber`` (the epSOS/eHDSI substanceAdministration 3.2 description:
"subordinate substanceAdministration elements in a related component entry" for split dosing; the
IPS CDA Medication Statement 2.16.840.1.113883.10.22.4.4 carries its dosage the same way). The
parent keeps the period and a null frequency (the template requires two effectiveTime elements).
One dosage stays on the parent (Normal Dosing), as before.

"As needed": CDA R2 ``precondition`` (typeCode PRCN) with a ``criterion`` whose code is the ActCode
``ASSERTION`` and whose value is the condition, the structure of the C-CDA "Precondition for
Substance Administration" (2.16.840.1.113883.10.20.22.4.25); ``asNeededBoolean: true`` is a
criterion without value (no stated condition). ``asNeededBoolean: false`` is the default reading of
a substanceAdministration without precondition, so it needs no element.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from ..datatypes import (
    coded,
    coding_attrs,
    concept_display,
    fixed_code,
    is_absent_unknown,
    ivl_ts,
    period_bounds,
    pq,
    resource_id,
)
from ..inputs import Entry
from ..narrative import fr_period
from ..refusals import refuse
from ..xmlns import Element, el, pel, set_xsi_type, template_ids
from .base import ABSENT_TEXT_FR, Context, absent_code_element, text_reference, tpl

HEADERS = ["Médicament", "Substances actives", "Forme", "Posologie", "Voie", "Période", "Statut"]
ATC = "http://www.whocc.no/atc"
EDQM = "http://standardterms.edqm.eu"
ACTIVE_STATUSES = {"active", "intended", "on-hold", "draft"}
#: v3 TimingEvent codes (the EIVL_TS event code system is fixed by the schema)
TIMING_EVENTS = {
    "AC",
    "ACD",
    "ACM",
    "ACV",
    "C",
    "CD",
    "CM",
    "CV",
    "HS",
    "IC",
    "ICD",
    "ICM",
    "ICV",
    "PC",
    "PCD",
    "PCM",
    "PCV",
    "WAKE",
}
SMALLER_UNIT = {"d": ("h", 24), "h": ("min", 60), "wk": ("d", 7), "min": ("s", 60)}
NORMAL_DOSING = "1.3.6.1.4.1.19376.1.5.3.1.4.7.1"
SPLIT_DOSING = "1.3.6.1.4.1.19376.1.5.3.1.4.9"
#: ActCode ASSERTION, the criterion code of a precondition ("administer when ...")
ACT_CODE = "2.16.840.1.113883.5.4"


def build(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        _medication(ctx, entry)
    if not entries:
        code, display = ctx.absent_code("medications")
        row_id = ctx.narrative.paragraph(ABSENT_TEXT_FR[code])
        adm = _administration(ctx, "INT")
        el(
            adm,
            "id",
            {
                "root": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"absent-medications:{ctx.data.patient.full_url}")
                ).upper()
            },
        )
        absent_code_element(adm, "code", code, display)
        text_reference(adm, row_id)
        _absent_tail(adm)


def _administration(ctx: Context, mood: str, *, split: bool = False) -> Element:
    adm = el(ctx.entry(), "substanceAdministration", {"classCode": "SBADM", "moodCode": mood})
    template_ids(adm, tpl("4"), "2.16.840.1.113883.10.20.1.24", SPLIT_DOSING if split else NORMAL_DOSING)
    return adm


def _absent_tail(adm: Element) -> None:
    el(adm, "statusCode", {"code": "completed"})
    ivl_ts(adm, "effectiveTime", None, None, "")
    set_xsi_type(el(adm, "effectiveTime", {"nullFlavor": "NA"}), "PIVL_TS")
    product = el(el(adm, "consumable"), "manufacturedProduct")
    template_ids(product, tpl("31"))
    el(product, "manufacturedMaterial", {"nullFlavor": "NA"})


def _product(ctx: Context, entry: Entry) -> tuple[dict[str, Any] | None, Entry | None, str]:
    """(product code, Medication entry if referenced, FHIRPath of the product code)."""
    res, path = entry.resource, entry.path
    if "medicationReference" in res:
        med = ctx.reference(res["medicationReference"], f"{path}.medicationReference")
        if med is None or med.type != "Medication":
            refuse(
                "medicationReference doit désigner une ressource Medication du Bundle",
                f"{path}.medicationReference",
            )
        assert med is not None
        return med.resource.get("code"), med, f"{med.path}.code"
    return res.get("medicationCodeableConcept"), None, f"{path}.medicationCodeableConcept"


def _medication(ctx: Context, entry: Entry) -> None:
    res, path = entry.resource, entry.path
    is_request = entry.type == "MedicationRequest"
    product_code, medication, product_path = _product(ctx, entry)
    key = "dosageInstruction" if is_request else "dosage"
    dosages = res.get(key) or []
    dosage_paths = [f"{path}.{key}[{index}]" for index in range(len(dosages))]
    split = len(dosages) > 1 and not is_absent_unknown(product_code)
    dosage = dosages[0] if dosages else {}
    dosage_path = f"{path}.{key}[0]"
    for one, one_path in zip(dosages, dosage_paths, strict=True):
        _check_dosage(one, one_path)
    start, end, time_path = _period(res, dosage, is_request, path, dosage_path)
    med = medication.resource if medication else {}
    ingredients = med.get("ingredient") or []
    routes = dict.fromkeys(concept_display(d.get("route")) for d in dosages)
    row_id = ctx.narrative.row(
        [
            concept_display(product_code),
            ", ".join(_ingredient_label(ctx, i) for i in ingredients),
            concept_display(med.get("form")),
            " / ".join(filter(None, (d.get("text") or _dosage_label(d) for d in dosages))),
            ", ".join(filter(None, routes)),
            fr_period(start, end),
            str(res.get("status", "")),
        ]
    )
    mood = "INT" if is_request else "EVN"
    adm = _administration(ctx, mood, split=split)
    resource_id(adm, res, entry.full_url)
    if is_absent_unknown(product_code):
        if dosages:  # the absent/unknown item has no regimen to carry them: refuse, do not drop
            refuse(
                "Une déclaration d'absence ou d'ignorance de traitement ne peut pas porter de posologie",
                dosage_path,
                "not-supported",
            )
        coded(
            adm,
            "code",
            product_code,
            product_path,
            prefer=("http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",),
        )
        text_reference(adm, row_id)
        _absent_tail(adm)
        return
    text_reference(adm, row_id)
    el(adm, "statusCode", {"code": "active" if res.get("status") in ACTIVE_STATUSES else "completed"})
    ivl_ts(adm, "effectiveTime", start, end, time_path)
    if split:  # the frequency is per regimen, in the subordinate administrations
        set_xsi_type(el(adm, "effectiveTime", {"nullFlavor": "NA"}), "PIVL_TS")
    else:
        _regimen_attributes(adm, dosage, dosage_path, required_frequency=True)
    product = el(el(adm, "consumable", {"typeCode": "CSM"}), "manufacturedProduct")
    template_ids(product, tpl("31"))
    material = el(product, "manufacturedMaterial", {"classCode": "MMAT", "determinerCode": "KIND"})
    template_ids(material, tpl("32"))
    coded(material, "code", product_code, product_path, text_ref=f"{row_id}-label")
    label = concept_display(product_code)
    if label:
        el(material, "name", text=label)
    if med.get("form"):
        coded(
            material,
            "formCode",
            med["form"],
            f"{medication.path}.form" if medication else "",
            prefer=(EDQM,),
            ns="urn:hl7-org:pharm",
        )
    atc = [c for c in (product_code or {}).get("coding") or [] if c.get("system") == ATC]
    if atc:
        kind = pel(
            pel(material, "asSpecializedKind", {"classCode": "GRIC"}),
            "generalizedMaterialKind",
            {"classCode": "MMAT", "determinerCode": "KIND"},
        )
        coded(kind, "code", {"coding": atc[:1]}, product_path, ns="urn:hl7-org:pharm")
    for i_index, ingredient in enumerate(ingredients):
        assert medication is not None
        _ingredient(ctx, material, ingredient, f"{medication.path}.ingredient[{i_index}]")
    if split:
        for index, (one, one_path) in enumerate(zip(dosages, dosage_paths, strict=True)):
            _subordinate(adm, mood, index, one, one_path)
    else:
        _instructions(adm, dosage, dosage_path)
    for r_index, reason in enumerate(res.get("reasonCode") or []):
        rel = el(adm, "entryRelationship", {"typeCode": "RSON"})
        obs = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        template_ids(obs, tpl("41"), "1.3.6.1.4.1.19376.1.5.3.1.4.13")
        el(
            obs,
            "id",
            {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{entry.full_url}#reason{r_index}")).upper()},
        )
        fixed_code(obs, "code", "64572001", "2.16.840.1.113883.6.96", "Disease", "SNOMED CT")
        el(obs, "statusCode", {"code": "completed"})
        coded(
            obs,
            "value",
            reason,
            f"{path}.reasonCode[{r_index}]",
            xsi_type="CD",
            prefer=("http://hl7.org/fhir/sid/icd-10", "http://snomed.info/sct"),
        )
    if not split:  # precondition comes last in a CDA substanceAdministration
        _as_needed(adm, dosage, dosage_path)


def _check_dosage(dosage: dict[str, Any], path: str) -> None:
    """Refuse what a regimen cannot say in CDA: one EIVL_TS event, one doseQuantity per administration."""
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    for index, when in enumerate(repeat.get("when") or []):
        if when not in TIMING_EVENTS:
            refuse(
                f"L'événement {when!r} n'est pas un code v3 TimingEvent exprimable en EIVL_TS",
                f"{path}.timing.repeat.when[{index}]",
                "not-supported",
            )
        if index == 0 and repeat.get("period") is not None:
            refuse(
                "Une posologie ne peut avoir à la fois une période (PIVL_TS) et un événement (EIVL_TS) "
                "dans le CDA eHDSI ; exprimer chacun dans sa propre posologie (Dosage)",
                f"{path}.timing.repeat.when[0]",
                "not-supported",
            )
        if index > 0:
            refuse(
                "Un seul événement (EIVL_TS) par posologie dans le CDA eHDSI ; "
                "exprimer chaque prise dans sa propre posologie (Dosage)",
                f"{path}.timing.repeat.when[{index}]",
                "not-supported",
            )
    doses = [
        index
        for index, dose_rate in enumerate(dosage.get("doseAndRate") or [])
        if "doseQuantity" in dose_rate or "doseRange" in dose_rate
    ]
    if len(doses) > 1:
        refuse(
            "Une seule dose (doseQuantity) par posologie dans le CDA eHDSI ; "
            "exprimer chaque dose dans sa propre posologie (Dosage)",
            f"{path}.doseAndRate[{doses[1]}]",
            "not-supported",
        )


def _regimen_attributes(adm: Element, dosage: dict[str, Any], path: str, *, required_frequency: bool) -> None:
    """Frequency, route and dose, in the order CDA_Pharma.xsd wants them after the period."""
    _frequency(adm, dosage, f"{path}.timing.repeat", required=required_frequency)
    if dosage.get("route"):
        coded(adm, "routeCode", dosage["route"], f"{path}.route", prefer=(EDQM,))
    _dose(adm, dosage, path)


def _instructions(adm: Element, dosage: dict[str, Any], path: str) -> None:
    for index, instruction in enumerate(dosage.get("additionalInstruction") or []):
        _instruction(adm, instruction, f"{path}.additionalInstruction[{index}]")


def _subordinate(adm: Element, mood: str, index: int, dosage: dict[str, Any], path: str) -> None:
    """One regimen of a split dosing: its own text, bounds, frequency, route, dose, instructions and
    "as needed"; the product is the parent's (the subordinate consumable is a null material)."""
    rel = el(adm, "entryRelationship", {"typeCode": "COMP"})
    el(rel, "sequenceNumber", {"value": str(index + 1)})
    sub = el(rel, "substanceAdministration", {"classCode": "SBADM", "moodCode": mood})
    if dosage.get("text"):
        el(sub, "text", text=str(dosage["text"]))
    bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod")
    if bounds and (bounds.get("start") or bounds.get("end")):
        bounds_path = f"{path}.timing.repeat.boundsPeriod"
        ivl_ts(sub, "effectiveTime", bounds.get("start"), bounds.get("end"), bounds_path)
    _regimen_attributes(sub, dosage, path, required_frequency=False)
    el(el(el(sub, "consumable"), "manufacturedProduct"), "manufacturedMaterial", {"nullFlavor": "NA"})
    _instructions(sub, dosage, path)
    _as_needed(sub, dosage, path)


def _as_needed(adm: Element, dosage: dict[str, Any], path: str) -> None:
    """Dosage.asNeeded[x] as a precondition (see the module docstring)."""
    concept = dosage.get("asNeededCodeableConcept")
    if concept is None and dosage.get("asNeededBoolean") is not True:
        return
    criterion = el(el(adm, "precondition", {"typeCode": "PRCN"}), "criterion")
    fixed_code(criterion, "code", "ASSERTION", ACT_CODE, "Assertion", "ActCode")
    if concept is not None:
        coded(criterion, "value", concept, f"{path}.asNeededCodeableConcept", xsi_type="CD")


def _period(
    res: dict[str, Any], dosage: dict[str, Any], is_request: bool, path: str, dosage_path: str
) -> tuple[str | None, str | None, str]:
    if not is_request:
        start, end, key = period_bounds(res, "effective")
        return start, end, f"{path}.{key}"
    bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod")
    if bounds:
        return bounds.get("start"), bounds.get("end"), f"{dosage_path}.timing.repeat.boundsPeriod"
    validity = (res.get("dispenseRequest") or {}).get("validityPeriod")
    if validity:
        return validity.get("start"), validity.get("end"), f"{path}.dispenseRequest.validityPeriod"
    return res.get("authoredOn"), None, f"{path}.authoredOn"


def _frequency(adm: Element, dosage: dict[str, Any], path: str, *, required: bool = True) -> None:
    """The second effectiveTime the eHDSI template requires: PIVL_TS, EIVL_TS or (``required``) a
    null PIVL_TS; a subordinate regimen without frequency has none."""
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    events = [w for w in repeat.get("when") or [] if w in TIMING_EVENTS]
    if events:
        node = set_xsi_type(el(adm, "effectiveTime", {"operator": "A"}), "EIVL_TS")
        el(node, "event", {"code": events[0], "codeSystem": "2.16.840.1.113883.5.139"})
        return
    if repeat.get("period") is not None and repeat.get("periodUnit"):
        period = Decimal(str(repeat["period"]))
        unit = str(repeat["periodUnit"])
        unit = "a" if unit == "a" else unit
        frequency = int(repeat.get("frequency") or 1)
        if frequency > 1 and unit in SMALLER_UNIT:
            unit, factor = SMALLER_UNIT[unit]
            period = period * factor
        value = period / frequency
        node = set_xsi_type(
            el(adm, "effectiveTime", {"institutionSpecified": "false", "operator": "A"}), "PIVL_TS"
        )
        text = format(value.normalize(), "f") if value == value.to_integral() else f"{value:.4f}".rstrip("0")
        el(node, "period", {"value": text, "unit": unit})
        return
    if required:
        set_xsi_type(el(adm, "effectiveTime", {"nullFlavor": "UNK"}), "PIVL_TS")


def _dose(adm: Element, dosage: dict[str, Any], path: str) -> None:
    for index, dose_rate in enumerate(dosage.get("doseAndRate") or []):
        if "doseQuantity" in dose_rate:
            pq(adm, "doseQuantity", dose_rate["doseQuantity"], f"{path}.doseAndRate[{index}].doseQuantity")
            return
        if "doseRange" in dose_rate:
            node = el(adm, "doseQuantity")
            dose_range = dose_rate["doseRange"]
            base = f"{path}.doseAndRate[{index}].doseRange"
            pq(node, "low", dose_range.get("low"), f"{base}.low")
            pq(node, "high", dose_range.get("high"), f"{base}.high")
            return


def _ingredient_concept(
    ctx: Context, ingredient: dict[str, Any], path: str
) -> tuple[dict[str, Any] | None, str]:
    if "itemCodeableConcept" in ingredient:
        return ingredient["itemCodeableConcept"], f"{path}.itemCodeableConcept"
    target = ctx.reference(ingredient.get("itemReference"), f"{path}.itemReference")
    if target is None:
        return None, path
    return target.resource.get("code"), f"{target.path}.code"


def _ingredient_label(ctx: Context, ingredient: dict[str, Any]) -> str:
    if "itemCodeableConcept" in ingredient:
        label = concept_display(ingredient["itemCodeableConcept"])
    else:
        label = (ingredient.get("itemReference") or {}).get("display", "")
    strength = ingredient.get("strength") or {}
    num, den = strength.get("numerator") or {}, strength.get("denominator") or {}
    if num.get("value") is not None:
        label += f" {num['value']} {num.get('unit') or num.get('code') or ''}".rstrip()
        if den.get("value") is not None:
            label += f" / {den['value']} {den.get('unit') or den.get('code') or ''}".rstrip()
    return label


def _ingredient(ctx: Context, material: Element, ingredient: dict[str, Any], path: str) -> None:
    concept, concept_path = _ingredient_concept(ctx, ingredient, path)
    active = ingredient.get("isActive", True)
    node = pel(material, "ingredient", {"classCode": "ACTI" if active else "IACT"})
    quantity = pel(node, "quantity")
    strength = ingredient.get("strength") or {}
    for part in ("numerator", "denominator"):
        value = strength.get(part)
        if value:
            pq(quantity, part, value, f"{path}.strength.{part}", xsi_type="PQ")
        else:
            set_xsi_type(el(quantity, part, {"nullFlavor": "NI"}), "PQ")
    substance = pel(node, "ingredientSubstance", {"classCode": "MMAT", "determinerCode": "KIND"})
    coded(substance, "code", concept, concept_path, prefer=(ATC,), ns="urn:hl7-org:pharm")
    label = concept_display(concept)
    if label:
        pel(substance, "name", text=label)


def _dosage_label(dosage: dict[str, Any]) -> str:
    parts = []
    for dose_rate in dosage.get("doseAndRate") or []:
        quantity = dose_rate.get("doseQuantity")
        if quantity:
            parts.append(
                f"{quantity.get('value', '')} {quantity.get('unit') or quantity.get('code') or ''}".strip()
            )
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    if repeat.get("frequency") and repeat.get("period"):
        parts.append(
            f"{repeat['frequency']} fois par {repeat['period']} {repeat.get('periodUnit', '')}".strip()
        )
    if repeat.get("when"):
        parts.append(", ".join(repeat["when"]))
    return " ; ".join(parts)


def _instruction(adm: Element, instruction: dict[str, Any], path: str) -> None:
    """Patient instruction (IHE 1.3.6.1.4.1.19376.1.5.3.1.4.3, code PINSTRUCT, as in eHDSI samples).

    The template has no coded slot for the instruction itself: its text goes to ``text`` and
    its codings ride as translations of PINSTRUCT, so that the codes are not lost.
    """
    rel = el(adm, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "true"})
    act = el(rel, "act", {"classCode": "ACT", "moodCode": "INT"})
    template_ids(act, "1.3.6.1.4.1.19376.1.5.3.1.4.3", "2.16.840.1.113883.10.20.1.49")
    fixed_code(
        act,
        "code",
        "PINSTRUCT",
        "1.3.6.1.4.1.19376.1.5.3.2",
        system_name="IHEActCode",
        translations=[
            coding_attrs(coding, f"{path}.coding[{c_index}]")
            for c_index, coding in enumerate(instruction.get("coding") or [])
        ],
    )
    el(act, "text", text=concept_display(instruction))
    el(act, "statusCode", {"code": "completed"})
