"""Medication summary (10160-0): substanceAdministration (3.4) -> MedicationStatement + Medication.

Both pharmacy namespaces are read through ``parse.kids`` (namespace URI, not prefix). The
product's brand name, product code and ATC class go to ``Medication.code``; each active
ingredient (ATC) with its strength (Ratio) to ``Medication.ingredient``; the dose form to
``Medication.form``; the package (R4 Medication has no packaging element) to the extension
``extensions.MEDICATION_PACKAGE``. Patient instructions (IHE PINSTRUCT acts) go to the
dosage: coded ones to ``additionalInstruction``, free text to ``patientInstruction``.

Dose regimens: a Split Dosing item (IHE PCC 1.3.6.1.4.1.19376.1.5.3.1.4.9, allowed by the eHDSI
Medication Item) carries one regimen per subordinate ``substanceAdministration`` in an
``entryRelationship typeCode="COMP"``, ordered by ``sequenceNumber``: each becomes a ``Dosage``
(its IVL_TS is the regimen's ``timing.repeat.boundsPeriod``). A ``precondition/criterion`` is the
"as needed" of its administration: its value is ``asNeededCodeableConcept``, without one it is
``asNeededBoolean: true``. Subordinates of a Combination Medication (``...4.11``) are components of
the product, not regimens, and are not read as dosages.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.extensions import MEDICATION_PACKAGE as PACKAGE
from cda_transform.mappers.common import (
    absent_concept,
    base,
    is_absent,
    kid,
    put,
    related,
    source_concept,
    status_code,
)
from cda_transform.parse import has_null, kids, path, template_ids, text_of, xsi_type

STATUS = {
    "active": "active",
    "completed": "completed",
    "aborted": "stopped",
    "suspended": "on-hold",
    "cancelled": "not-taken",
    "new": "intended",
    "held": "on-hold",
}
#: IHE Patient Medication Instructions and its CCD parent
INSTRUCTION_TEMPLATES = frozenset({"1.3.6.1.4.1.19376.1.5.3.1.4.3", "2.16.840.1.113883.10.20.1.49"})
COMBINATION = "1.3.6.1.4.1.19376.1.5.3.1.4.11"
PERIOD_UNITS = {"s": "s", "min": "min", "h": "h", "d": "d", "wk": "wk", "mo": "mo", "a": "a"}
EVENTS = {
    "MORN",
    "MORN.early",
    "MORN.late",
    "NOON",
    "AFT",
    "AFT.early",
    "AFT.late",
    "EVE",
    "EVE.early",
    "EVE.late",
    "NIGHT",
    "PHS",
    "HS",
    "WAKE",
    "C",
    "CM",
    "CD",
    "CV",
    "AC",
    "ACM",
    "ACD",
    "ACV",
    "PC",
    "PCM",
    "PCD",
    "PCV",
}


def map_medication(ctx: Context, stmt: etree._Element) -> dict[str, Any]:
    tr = ctx.translator
    res = base("MedicationStatement", ctx, stmt)
    code_el = kid(stmt, "code")
    material = path(stmt, "consumable/manufacturedProduct/manufacturedMaterial")
    if is_absent(code_el):
        res["status"] = "unknown" if (code_el.get("code") or "").endswith("-info") else "active"
        res["medicationCodeableConcept"] = tr.concept(code_el) or absent_concept(
            ctx, "no-medication-info", "No information about medications"
        )
    elif material is None or (has_null(material) and not len(kids(material))):
        res["status"] = "unknown"
        res["medicationCodeableConcept"] = tr.concept_or_absent(material, text=tr.reference_text(stmt))
    else:
        res["status"] = STATUS.get(status_code(stmt) or "", "active")
        res["medicationReference"] = ctx.add(_medication(ctx, material, stmt))
        # A non-IPS statement code (e.g. SNOMED "Drug treatment unknown") is kept as it was.
        res["extension"] = source_concept(tr.concept(code_el))

    for t in kids(stmt, "effectiveTime"):
        kind = xsi_type(t)
        if kind in (None, "IVL_TS", "TS"):
            p = dt.period(t)
            if p:
                res["effectivePeriod"] = p
                break
    regimens = [] if COMBINATION in template_ids(stmt) else _regimens(stmt)
    if regimens:
        dosages = [d for d in (_dosage(ctx, sub, regimen=True) for sub in regimens) if d]
        row_text = tr.reference_text(stmt)
        if dosages and row_text and not any("text" in d for d in dosages):
            dosages[0]["text"] = row_text  # the item's own text describes the whole posology
    else:
        dosages = [d for d in [_dosage(ctx, stmt)] if d]
    if dosages:
        res["dosage"] = dosages
    reasons = [
        c
        for c in (tr.concept(kid(r, "value"), text=tr.reference_text(r)) for r in related(stmt, "RSON"))
        if c
    ]
    put(res, "reasonCode", reasons)
    return res


def _medication(ctx: Context, material: etree._Element, stmt: etree._Element) -> dict[str, Any]:
    tr = ctx.translator
    med: dict[str, Any] = {"resourceType": "Medication"}
    brand = text_of(kid(material, "name"))
    code = tr.concept(kid(material, "code"))
    generic = tr.concept(path(material, "asSpecializedKind/generalizedMaterialKind/code"))
    concept: dict[str, Any] = {}
    codings = (code or {}).get("coding", []) + (generic or {}).get("coding", [])
    if codings:
        concept["coding"] = codings
    label = brand or (code or {}).get("text") or (generic or {}).get("text")
    if label:
        concept["text"] = label
    if not concept:
        concept = {"text": tr.reference_text(stmt) or "Médicament non précisé"}
    med["code"] = concept
    put(med, "form", tr.concept(kid(material, "formCode")))
    ingredients = []
    for ing in kids(material, "ingredient") + [
        i for part in kids(material, "part") for i in kids(kid(part, "partProduct"), "ingredient")
    ]:
        substance = kid(ing, "ingredientSubstance")
        if substance is None:  # old epSOS documents nest epsos:ingredient/epsos:ingredient
            substance = kid(ing, "ingredient")
        item = tr.concept(kid(substance, "code")) or (
            {"text": text_of(kid(substance, "name"))} if text_of(kid(substance, "name")) else None
        )
        if item is None:
            item = tr.concept_or_absent(kid(substance, "code"))
        entry: dict[str, Any] = {
            "itemCodeableConcept": item,
            "isActive": ing.get("classCode", "ACTI") == "ACTI",
        }
        strength = dt.ratio(kid(ing, "quantity"))
        if strength and strength.get("numerator"):
            entry["strength"] = strength
        ingredients.append(entry)
    put(med, "ingredient", ingredients)
    package = _package(ctx, material)
    if package:
        med["extension"] = [package]
    lot = text_of(kid(material, "lotNumberText"))
    if lot:
        med["batch"] = {"lotNumber": lot}
    return med


def _package(ctx: Context, material: etree._Element) -> dict[str, Any] | None:
    content = kid(material, "asContent")
    container = kid(content, "containerPackagedProduct")
    if container is None:
        return None
    parts: list[dict[str, Any]] = []
    form = ctx.translator.concept(kid(container, "formCode"))
    if form:
        parts.append({"url": "form", "valueCodeableConcept": form})
    name = text_of(kid(container, "name"))
    if name:
        parts.append({"url": "name", "valueString": name})
    for tag in ("capacityQuantity",):
        q = dt.quantity(kid(container, tag))
        if q:
            parts.append({"url": "capacity", "valueQuantity": q})
    q = dt.quantity(kid(content, "quantity"))
    if q:
        parts.append({"url": "quantity", "valueQuantity": q})
    return {"url": PACKAGE, "extension": parts} if parts else None


def _regimens(stmt: etree._Element) -> list[etree._Element]:
    """Subordinate substanceAdministrations (COMP), by sequenceNumber then document order."""
    found: list[tuple[int, int, etree._Element]] = []
    for position, rel in enumerate(kids(stmt, "entryRelationship")):
        sub = kid(rel, "substanceAdministration")
        if rel.get("typeCode") != "COMP" or sub is None:
            continue
        number = kid(rel, "sequenceNumber")
        value = (number.get("value") or "").strip() if number is not None else ""
        found.append((int(value) if value.isdigit() else 1 << 30, position, sub))
    return [sub for _, _, sub in sorted(found, key=lambda item: item[:2])]


def _as_needed(ctx: Context, adm: etree._Element, dosage: dict[str, Any]) -> None:
    """Preconditions: the first criterion value is the condition, a bare criterion says "as needed"."""
    criteria = [c for c in (kid(p, "criterion") for p in kids(adm, "precondition")) if c is not None]
    if not criteria:
        return
    for criterion in criteria:
        text = ctx.translator.reference_text(criterion)
        concept = ctx.translator.concept(kid(criterion, "value"), text=text)
        if concept is None and text:
            concept = {"text": text}
        if concept:
            dosage["asNeededCodeableConcept"] = concept
            return
    dosage["asNeededBoolean"] = True


def _dosage(ctx: Context, stmt: etree._Element, *, regimen: bool = False) -> dict[str, Any]:
    tr = ctx.translator
    dosage: dict[str, Any] = {}
    repeat: dict[str, Any] = {}
    for t in kids(stmt, "effectiveTime"):
        kind = xsi_type(t)
        if regimen and kind in (None, "IVL_TS") and "boundsPeriod" not in repeat:
            bounds = dt.period(t)
            if bounds:
                repeat["boundsPeriod"] = bounds
        elif kind == "PIVL_TS":
            per = kid(t, "period")
            value = dt.decimal(per.get("value")) if per is not None else None
            unit = PERIOD_UNITS.get((per.get("unit") or "").strip()) if per is not None else None
            if value is not None and value >= 0 and unit:
                repeat.update(frequency=1, period=value, periodUnit=unit)
        elif kind == "EIVL_TS":
            event = kid(t, "event")
            code = (event.get("code") or "") if event is not None else ""
            if code in EVENTS:
                repeat.setdefault("when", []).append(code)
            concept = tr.concept(event)
            if concept:
                dosage.setdefault("additionalInstruction", []).append(concept)
    if repeat:
        dosage["timing"] = {"repeat": repeat}
    dose = kid(stmt, "doseQuantity")
    if dose is not None:
        single = dt.quantity(dose)
        low, high = dt.quantity(kid(dose, "low")), dt.quantity(kid(dose, "high"))
        if single:
            dosage["doseAndRate"] = [{"doseQuantity": single}]
        elif low or high:
            rng = {k: v for k, v in (("low", low), ("high", high)) if v}
            dosage["doseAndRate"] = [{"doseRange": rng}]
    coded, texts = _patient_instructions(ctx, stmt)
    if coded:
        dosage.setdefault("additionalInstruction", []).extend(coded)
    put(dosage, "patientInstruction", "\n".join(texts))
    put(dosage, "route", tr.concept(kid(stmt, "routeCode")))
    _as_needed(ctx, stmt, dosage)
    text = tr.reference_text(stmt)
    put(dosage, "text", text)
    return dosage


def _patient_instructions(ctx: Context, stmt: etree._Element) -> tuple[list[dict[str, Any]], list[str]]:
    """Patient instructions (IHE template 1.3.6.1.4.1.19376.1.5.3.1.4.3, act code PINSTRUCT).

    The template has no coded slot for the instruction: PINSTRUCT only says "patient
    instruction". When the act carries codes as translations of PINSTRUCT (``to_cda`` writes
    ``Dosage.additionalInstruction`` that way) they are the instruction and come back as an
    ``additionalInstruction`` concept with the act's text; a text-only act (the eHDSI samples)
    is the free-text ``patientInstruction``.
    """
    tr = ctx.translator
    coded: list[dict[str, Any]] = []
    texts: list[str] = []
    for act in related(stmt, "SUBJ", "act"):
        code_el = kid(act, "code")
        is_instruction = code_el is not None and code_el.get("code") == "PINSTRUCT"
        if not (is_instruction or INSTRUCTION_TEMPLATES & template_ids(act)):
            continue
        text = tr.reference_text(act)
        codings = tr.translations(code_el)
        if codings:
            coded.append({"coding": codings, "text": text} if text else {"coding": codings})
        elif text:
            texts.append(text)
    return coded, texts
