"""Observation sections: vital signs (8716-3, blood pressure organizer 3.21/3.22), pregnancy
history (10162-6, 3.45/3.24/3.46/3.47), social history (29762-2, 3.23) and results
(30954-2: blood group 3.25, other results as organizer 3.42 / observation 3.43)."""

from __future__ import annotations

import uuid
from typing import Any

from .. import oids
from ..datatypes import (
    coded,
    coding_attrs,
    concept_display,
    fixed_code,
    ivl_ts,
    period_bounds,
    pq,
    quantity_unit,
    resource_id,
    ts,
)
from ..inputs import Entry
from ..narrative import fr_period
from ..refusals import refuse
from ..sections_spec import observation_kind
from ..xmlns import Element, el, set_xsi_type, template_ids
from .base import Context, text_reference, tpl

HEADERS = ["Observation", "Valeur", "Date"]
LOINC_FIRST = ("http://loinc.org", "http://snomed.info/sct")
SNOMED_FIRST = ("http://snomed.info/sct", "http://loinc.org")


def value_label(res: dict[str, Any]) -> str:
    if "valueQuantity" in res:
        q = res["valueQuantity"]
        return f"{q.get('value', '')} {q.get('unit') or q.get('code') or ''}".strip()
    if "valueCodeableConcept" in res:
        return concept_display(res["valueCodeableConcept"])
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDateTime", "valueTime"):
        if key in res:
            return str(res[key])
    parts = [f"{concept_display(c.get('code'))}: {value_label(c)}" for c in res.get("component") or []]
    return "; ".join(parts)


def observation_value(
    parent: Element,
    res: dict[str, Any],
    path: str,
    *,
    prefer: tuple[str, ...] = SNOMED_FIRST,
) -> Element | None:
    """The CDA ``value`` (ANY, typed with xsi:type) of an Observation or component ``value[x]``."""
    if "valueQuantity" in res:
        quantity = res["valueQuantity"]
        if quantity_unit(quantity) is None:
            node = set_xsi_type(el(parent, "value"), "ST")
            node.text = value_label(res)
            return node
        return pq(parent, "value", quantity, f"{path}.valueQuantity", xsi_type="PQ")
    if "valueCodeableConcept" in res:
        return coded(
            parent,
            "value",
            res["valueCodeableConcept"],
            f"{path}.valueCodeableConcept",
            prefer=prefer,
            xsi_type="CD",
        )
    if "valueString" in res:
        node = set_xsi_type(el(parent, "value"), "ST")
        node.text = res["valueString"]
        return node
    if "valueBoolean" in res:
        return set_xsi_type(el(parent, "value", {"value": "true" if res["valueBoolean"] else "false"}), "BL")
    if "valueInteger" in res:
        return set_xsi_type(el(parent, "value", {"value": str(res["valueInteger"])}), "INT")
    if "valueDateTime" in res:
        return set_xsi_type(
            el(parent, "value", {"value": ts(res["valueDateTime"], f"{path}.valueDateTime")}), "TS"
        )
    if "valuePeriod" in res:
        period = res["valuePeriod"]
        return ivl_ts(parent, "value", period.get("start"), period.get("end"), f"{path}.valuePeriod")
    if "valueRange" in res:
        node = set_xsi_type(el(parent, "value"), "IVL_PQ")
        for bound in ("low", "high"):
            if res["valueRange"].get(bound):
                pq(node, bound, res["valueRange"][bound], f"{path}.valueRange.{bound}")
        return node
    for key in ("valueRatio", "valueSampledData", "valueTime"):
        if key in res:
            refuse(
                f"Observation.{key} n'est pas pris en charge dans une synthèse patient eHDSI",
                f"{path}.{key}",
                "not-supported",
            )
    return None


def _effective(parent: Element, res: dict[str, Any], path: str, *, interval: bool = False) -> None:
    start, end, key = period_bounds(res, "effective")
    if "effectiveInstant" in res:
        start, key = res["effectiveInstant"], "effectiveInstant"
    if interval or end:
        ivl_ts(parent, "effectiveTime", start, end, f"{path}.{key}", typed=False)
    elif start:
        el(parent, "effectiveTime", {"value": ts(start, f"{path}.{key}")})
    else:
        el(parent, "effectiveTime", {"nullFlavor": "UNK"})


def _observation(
    parent: Element,
    templates: tuple[str, ...],
    res: dict[str, Any],
    path: str,
    full_url: str,
    row_id: str,
    *,
    prefer: tuple[str, ...],
    value_prefer: tuple[str, ...] = SNOMED_FIRST,
    interval: bool = False,
) -> Element:
    obs = el(parent, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    template_ids(obs, *templates)
    resource_id(obs, res, full_url)
    coded(obs, "code", res.get("code"), f"{path}.code", prefer=prefer, text_ref=f"{row_id}-label")
    text_reference(obs, row_id)
    el(obs, "statusCode", {"code": "completed"})
    _effective(obs, res, path, interval=interval)
    observation_value(obs, res, path, prefer=value_prefer)
    # CDA R2 orders interpretationCode right after value (HL7 v3 ObservationInterpretation)
    for i, interpretation in enumerate(res.get("interpretation") or []):
        coded(obs, "interpretationCode", interpretation, f"{path}.interpretation[{i}]")
    return obs


def _row(ctx: Context, res: dict[str, Any]) -> str:
    start, end, _ = period_bounds(res, "effective")
    return ctx.narrative.row(
        [
            concept_display(res.get("code")),
            value_label(res),
            fr_period(start, end) if end else (start or "")[:10],
        ]
    )


def build_vital_signs(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        res, path = entry.resource, entry.path
        organizer = el(ctx.entry(), "organizer", {"classCode": "CLUSTER", "moodCode": "EVN"})
        template_ids(
            organizer,
            tpl("21"),
            "1.3.6.1.4.1.19376.1.5.3.1.4.13.1",
            "2.16.840.1.113883.10.20.1.32",
            "2.16.840.1.113883.10.20.1.35",
        )
        el(
            organizer,
            "id",
            {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, entry.full_url + "#organizer")).upper()},
        )
        parts = _parts(ctx, entry)
        panel = parts != [(res, path, entry.full_url)]
        translations = (
            [
                coding_attrs(c, f"{path}.code.coding[{i}]")
                for i, c in enumerate((res.get("code") or {}).get("coding") or [])
            ]
            if panel
            else []
        )
        fixed_code(
            organizer, "code", "46680005", oids.SNOMED, "Vital signs", "SNOMED CT", translations=translations
        )
        el(organizer, "statusCode", {"code": "completed"})
        _effective(organizer, res, path)
        for part, part_path, part_url in parts:
            merged = {"effectiveDateTime": res.get("effectiveDateTime"), **part} if part is not res else part
            row_id = _row(ctx, merged)
            _observation(
                el(organizer, "component"),
                (
                    tpl("20"),
                    tpl("22"),
                    "1.3.6.1.4.1.19376.1.5.3.1.4.13",
                    "1.3.6.1.4.1.19376.1.5.3.1.4.13.2",
                    "2.16.840.1.113883.10.20.1.31",
                ),
                merged,
                part_path,
                part_url,
                row_id,
                prefer=LOINC_FIRST,
            )


def _parts(ctx: Context, entry: Entry) -> list[tuple[dict[str, Any], str, str]]:
    """Member observations of a panel: ``component`` values, ``hasMember`` targets, or itself."""
    res, path = entry.resource, entry.path
    parts: list[tuple[dict[str, Any], str, str]] = []
    for c_index, component in enumerate(res.get("component") or []):
        parts.append((component, f"{path}.component[{c_index}]", f"{entry.full_url}#component{c_index}"))
    for m_index, reference in enumerate(res.get("hasMember") or []):
        member = ctx.reference(reference, f"{path}.hasMember[{m_index}]")
        if member is not None:
            parts.append((member.resource, member.path, member.full_url))
    return parts or [(res, path, entry.full_url)]


def build_pregnancy(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        res, path = entry.resource, entry.path
        kind = observation_kind(res)
        row_id = _row(ctx, res)
        holder = ctx.entry("COMP")
        if kind == "pregnancy-status":
            status = _observation(holder, (tpl("45"),), res, path, entry.full_url, row_id, prefer=LOINC_FIRST)
            for m_index, reference in enumerate(res.get("hasMember") or []):
                member = ctx.reference(reference, f"{path}.hasMember[{m_index}]")
                if member is not None:
                    _edd(ctx, status, member)
        elif kind == "pregnancy-edd":
            status = el(holder, "observation", {"classCode": "OBS", "moodCode": "EVN"})
            template_ids(status, tpl("45"))
            el(
                status,
                "id",
                {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, entry.full_url + "#status")).upper()},
            )
            fixed_code(status, "code", "82810-3", oids.LOINC, "Pregnancy status", "LOINC")
            text_reference(status, row_id)
            el(status, "statusCode", {"code": "completed"})
            el(status, "effectiveTime", {"nullFlavor": "UNK"})
            set_xsi_type(el(status, "value", {"nullFlavor": "UNK"}), "CD")
            _edd(ctx, status, entry, row_id)
        elif kind == "pregnancy-outcome-date":
            _observation(holder, (tpl("47"),), res, path, entry.full_url, row_id, prefer=LOINC_FIRST)
        else:
            _observation(holder, (tpl("46"),), res, path, entry.full_url, row_id, prefer=SNOMED_FIRST)


def _edd(ctx: Context, status: Element, member: Entry, row_id: str | None = None) -> None:
    rel = el(status, "entryRelationship", {"typeCode": "COMP"})
    _observation(
        rel,
        (tpl("24"), tpl("20"), "1.3.6.1.4.1.19376.1.5.3.1.4.13", "1.3.6.1.4.1.19376.1.5.3.1.4.13.5"),
        member.resource,
        member.path,
        member.full_url,
        row_id or _row(ctx, member.resource),
        prefer=LOINC_FIRST,
    )


def build_social_history(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        row_id = _row(ctx, entry.resource)
        _observation(
            ctx.entry(),
            (
                tpl("23"),
                tpl("20"),
                "1.3.6.1.4.1.19376.1.5.3.1.4.13",
                "1.3.6.1.4.1.19376.1.5.3.1.4.13.4",
                "2.16.840.1.113883.10.20.1.33",
            ),
            entry.resource,
            entry.path,
            entry.full_url,
            row_id,
            prefer=SNOMED_FIRST,
            interval=True,
        )


def build_results(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        res, path = entry.resource, entry.path
        if observation_kind(res) == "blood-group":
            row_id = _row(ctx, res)
            _observation(
                ctx.entry(),
                (tpl("25"), tpl("20"), "1.3.6.1.4.1.19376.1.5.3.1.4.13"),
                res,
                path,
                entry.full_url,
                row_id,
                prefer=LOINC_FIRST,
            )
            continue
        organizer = el(ctx.entry(), "organizer", {"classCode": "BATTERY", "moodCode": "EVN"})
        template_ids(organizer, tpl("42"))
        el(
            organizer,
            "id",
            {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, entry.full_url + "#organizer")).upper()},
        )
        categories = res.get("category") or []
        if categories:
            coded(organizer, "code", categories[0], f"{path}.category[0]")
        else:
            el(organizer, "code", {"nullFlavor": "UNK"})
        el(organizer, "statusCode", {"code": "completed"})
        _effective(organizer, res, path)
        parts = _parts(ctx, entry)
        if parts != [(res, path, entry.full_url)] and (res.get("code") or {}).get("coding"):
            # a panel: the panel itself is a statement of its own, kept as the first component
            row_id = _row(ctx, {**res, "component": []})
            _observation(
                el(organizer, "component"),
                (tpl("43"), "1.3.6.1.4.1.19376.1.5.3.1.4.13"),
                {k: v for k, v in res.items() if not k.startswith("value")},
                path,
                entry.full_url,
                row_id,
                prefer=LOINC_FIRST,
            )
        for part, part_path, part_url in parts:
            merged = {"effectiveDateTime": res.get("effectiveDateTime"), **part} if part is not res else part
            row_id = _row(ctx, merged)
            _observation(
                el(organizer, "component"),
                (tpl("43"), "1.3.6.1.4.1.19376.1.5.3.1.4.13"),
                merged,
                part_path,
                part_url,
                row_id,
                prefer=LOINC_FIRST,
            )
