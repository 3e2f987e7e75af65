"""History of procedures (47519-4): eHDSI Procedure (3.26), SNOMED CT code first."""

from __future__ import annotations

import uuid

from ..datatypes import coded, concept_display, is_absent_unknown, ivl_ts, period_bounds, resource_id, ts
from ..inputs import Entry
from ..narrative import fr_period
from ..xmlns import el, template_ids
from .base import ABSENT_TEXT_FR, Context, absent_code_element, text_reference, tpl

HEADERS = ["Acte", "Date", "Site anatomique", "Statut"]
SNOMED = ("http://snomed.info/sct",)
ABSENT = ("http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",)
#: Procedure.status -> ActStatus
STATUS = {
    "completed": "completed",
    "in-progress": "active",
    "preparation": "new",
    "on-hold": "suspended",
    "stopped": "aborted",
    "not-done": "cancelled",
    "entered-in-error": "nullified",
}


def build(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        _procedure(ctx, entry)
    if not entries:
        code, display = ctx.absent_code("procedures")
        row_id = ctx.narrative.paragraph(ABSENT_TEXT_FR[code])
        proc = el(ctx.entry(), "procedure", {"classCode": "PROC", "moodCode": "EVN"})
        template_ids(proc, tpl("26"), "1.3.6.1.4.1.19376.1.5.3.1.4.19")
        el(
            proc,
            "id",
            {
                "root": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"absent-procedures:{ctx.data.patient.full_url}")
                ).upper()
            },
        )
        absent_code_element(proc, "code", code, display)
        text_reference(proc, row_id)
        el(proc, "statusCode", {"code": "completed"})
        ivl_ts(proc, "effectiveTime", None, None, "").set("nullFlavor", "NA")


def _procedure(ctx: Context, entry: Entry) -> None:
    res, path = entry.resource, entry.path
    start, end, key = period_bounds(res, "performed")
    row_id = ctx.narrative.row(
        [
            concept_display(res.get("code")),
            fr_period(start, end) if end else (start or "")[:10],
            ", ".join(concept_display(b) for b in res.get("bodySite") or []),
            str(res.get("status", "")),
        ]
    )
    proc = el(ctx.entry(), "procedure", {"classCode": "PROC", "moodCode": "EVN"})
    template_ids(proc, tpl("26"), "1.3.6.1.4.1.19376.1.5.3.1.4.19")
    resource_id(proc, res, entry.full_url)
    prefer = ABSENT if is_absent_unknown(res.get("code")) else SNOMED
    coded(proc, "code", res.get("code"), f"{path}.code", prefer=prefer, text_ref=f"{row_id}-label")
    text_reference(proc, row_id)
    if res.get("status") in STATUS:
        el(proc, "statusCode", {"code": STATUS[res["status"]]})
    if start and not end and key == "performedDateTime":
        el(proc, "effectiveTime", {"value": ts(start, f"{path}.{key}")})
    else:
        ivl_ts(proc, "effectiveTime", start, end, f"{path}.{key}", typed=False)
    for b_index, site in enumerate(res.get("bodySite") or []):
        coded(proc, "targetSiteCode", site, f"{path}.bodySite[{b_index}]", prefer=SNOMED)
