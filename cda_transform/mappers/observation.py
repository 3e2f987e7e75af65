"""Observations: blood group (30954-2), vital signs (8716-3), pregnancy (10162-6), social
history (29762-2), functional status (47420-5), and the fallback for any other statement.

One CDA entry gives one Observation. What hangs below it (organizer components, the
expected delivery date of a pregnancy status, other related observations) is kept inside
it: blood-pressure values as ``component``, everything else as ``contained`` Observations
listed in ``hasMember``.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.mappers.common import base, fhir_concept, kid, note, put, status_code
from cda_transform.parse import has_null, kids, local, text_of, xsi_type

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
SECTION_CATEGORY = {
    "30954-2": ("laboratory", "Laboratory"),
    "8716-3": ("vital-signs", "Vital Signs"),
    "29762-2": ("social-history", "Social History"),
    "47420-5": ("survey", "Survey"),
    "10162-6": ("exam", "Exam"),
}
STATUS = {
    "completed": "final",
    "active": "preliminary",
    "aborted": "cancelled",
    "cancelled": "cancelled",
    "held": "registered",
    "new": "registered",
    "suspended": "registered",
}
BP_CODES = {"8480-6", "8462-4"}


def _category(ctx: Context, section_code: str | None) -> list[dict[str, Any]]:
    if section_code in SECTION_CATEGORY:
        code, display = SECTION_CATEGORY[section_code]
        return [fhir_concept(ctx, CATEGORY_SYSTEM, code, display)]
    return []


def set_value(ctx: Context, res: dict[str, Any], value: etree._Element | None) -> None:
    """CDA ``value`` (ANY, by xsi:type) to ``value[x]``, or ``dataAbsentReason``."""
    if value is None:
        return
    tr = ctx.translator
    kind = xsi_type(value) or ("CD" if value.get("code") else None)
    if has_null(value) and not value.get("code") and kid(value, "originalText") is None:
        res["dataAbsentReason"] = tr.absent_reason(value.get("nullFlavor"))
        return
    if kind in ("CD", "CE", "CV", "CO", "CS"):
        put(res, "valueCodeableConcept", tr.concept(value))
    elif kind == "PQ":
        put(res, "valueQuantity", dt.quantity(value))
    elif kind == "IVL_PQ":
        rng = {
            k: q
            for k, q in (("low", dt.quantity(kid(value, "low"))), ("high", dt.quantity(kid(value, "high"))))
            if q
        }
        put(res, "valueRange", rng)
    elif kind == "INT":
        number = dt.decimal(value.get("value"))
        if isinstance(number, int) and abs(number) < 2**31:
            res["valueInteger"] = number
    elif kind == "BL":
        if value.get("value") in ("true", "false"):
            res["valueBoolean"] = value.get("value") == "true"
    elif kind == "TS":
        put(res, "valueDateTime", dt.ts_of(value))
    elif kind == "IVL_TS":
        put(res, "valuePeriod", dt.period(value))
    elif kind in ("RTO", "RTO_PQ_PQ"):
        put(res, "valueRatio", dt.ratio(value))
    else:
        put(res, "valueString", text_of(value) or tr.original_text(value))
    if not any(k.startswith("value") for k in res):
        text = text_of(value) or tr.original_text(value) or value.get("value")
        if text:
            res["valueString"] = text


def _effective(res: dict[str, Any], stmt: etree._Element) -> None:
    p = dt.period(kid(stmt, "effectiveTime"))
    if not p:
        return
    if set(p) == {"start"} or p.get("start") == p.get("end"):
        res["effectiveDateTime"] = p["start"]
    else:
        res["effectivePeriod"] = p


def _observation(
    ctx: Context, stmt: etree._Element, section_code: str | None, *, subject: bool = True
) -> dict[str, Any]:
    tr = ctx.translator
    res = base("Observation", ctx, stmt, "subject" if subject else None)
    res["status"] = STATUS.get(status_code(stmt) or "", "final")
    put(res, "category", _category(ctx, section_code))
    res["code"] = tr.concept_or_absent(kid(stmt, "code"))
    _effective(res, stmt)
    set_value(ctx, res, kid(stmt, "value"))
    put(res, "interpretation", [c for c in (tr.concept(i) for i in kids(stmt, "interpretationCode")) if c])
    put(res, "note", note(ctx, stmt))
    return res


def _members(
    ctx: Context, res: dict[str, Any], children: list[etree._Element], section_code: str | None
) -> None:
    """Keep ``children`` inside ``res`` as contained Observations listed in ``hasMember``."""
    for child in children:
        member = (
            _observation(ctx, child, section_code, subject=True)
            if local(child) == "observation"
            else _generic(ctx, child, section_code)
        )
        member.pop("id", None)
        contained = res.setdefault("contained", [])
        member["id"] = f"m{len(contained) + 1}"
        nested = member.pop("contained", [])
        member.pop("hasMember", None)
        contained.append(member)
        res.setdefault("hasMember", []).append({"reference": f"#{member['id']}"})
        for extra in nested:  # contained resources cannot nest: flatten them into the container
            extra["id"] = f"m{len(contained) + 1}"
            contained.append(extra)
            res["hasMember"].append({"reference": f"#{extra['id']}"})


def _related_observations(stmt: etree._Element) -> list[etree._Element]:
    out = []
    for rel in kids(stmt, "entryRelationship"):
        out += [c for c in kids(rel) if local(c) in ("observation", "organizer")]
    return out


def _generic(ctx: Context, stmt: etree._Element, section_code: str | None) -> dict[str, Any]:
    if local(stmt) == "organizer":
        return map_organizer(ctx, stmt, section_code)
    res = _observation(ctx, stmt, section_code)
    _members(ctx, res, _related_observations(stmt), section_code)
    return res


def map_observation(
    ctx: Context, stmt: etree._Element, section_code: str | None, extra: list[etree._Element] | None = None
) -> dict[str, Any]:
    """Observation for an entry; ``extra`` are further statements of the same entry."""
    res = _generic(ctx, stmt, section_code)
    if extra:
        _members(ctx, res, extra, section_code)
    return res


def _code(stmt: etree._Element) -> str | None:
    code = kid(stmt, "code")
    return code.get("code") if code is not None else None


def map_organizer(ctx: Context, org: etree._Element, section_code: str | None) -> dict[str, Any]:
    tr = ctx.translator
    comps = [
        c for comp in kids(org, "component") for c in kids(comp) if local(c) in ("observation", "organizer")
    ]
    codes = {_code(c) for c in comps}
    res = base("Observation", ctx, org)
    res["status"] = STATUS.get(status_code(org) or "", "final")
    put(res, "category", _category(ctx, section_code))
    original = tr.concept(kid(org, "code"))
    if codes & BP_CODES:
        res["code"] = fhir_concept(
            ctx, "http://loinc.org", "85354-9", "Blood pressure panel with all children optional", original
        )
        res["category"] = _category(ctx, "8716-3")
        _effective(res, org)
        components, others = [], []
        for c in comps:
            if local(c) == "observation" and _code(c) in BP_CODES:
                comp: dict[str, Any] = {"code": tr.concept_or_absent(kid(c, "code"))}
                set_value(ctx, comp, kid(c, "value"))
                components.append(comp)
                if "effectiveDateTime" not in res and "effectivePeriod" not in res:
                    _effective(res, c)
            else:
                others.append(c)
        res["component"] = components
        _members(ctx, res, others, section_code)
    else:
        res["code"] = original or tr.concept_or_absent(kid(org, "code"), text="Groupe d'observations")
        _effective(res, org)
        _members(ctx, res, comps, section_code)
    put(res, "note", note(ctx, org))
    return res
