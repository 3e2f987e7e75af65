"""Medical devices (46264-8): supply (3.5) -> DeviceUseStatement + Device (type, UDI/serial)."""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.mappers.common import absent_concept, base, is_absent, kid, note, put, status_code
from cda_transform.parse import kids, path

STATUS = {
    "completed": "completed",
    "active": "active",
    "aborted": "stopped",
    "cancelled": "entered-in-error",
    "suspended": "on-hold",
    "held": "on-hold",
    "new": "intended",
}


def map_device(ctx: Context, stmt: etree._Element) -> dict[str, Any]:
    tr = ctx.translator
    res = base("DeviceUseStatement", ctx, stmt)
    role = None
    for p in kids(stmt, "participant"):
        if p.get("typeCode") in ("DEV", None):
            role = kid(p, "participantRole")
            break
    if role is None:
        role = path(stmt, "product/manufacturedProduct")
    code_el = kid(kid(role, "playingDevice"), "code")
    device: dict[str, Any] = {"resourceType": "Device"}
    concept = tr.concept(code_el, text=tr.reference_text(stmt))
    if concept is None and role is None:
        concept = absent_concept(ctx, "no-device-info", "No information about devices")
    device["type"] = concept or tr.concept_or_absent(code_el, text=tr.reference_text(stmt))
    ids = dt.identifiers(role)
    if ids:
        device["identifier"] = ids
        device["udiCarrier"] = [{"deviceIdentifier": i["value"]} for i in ids if i.get("value")][:1]
    name = dt.org_name(kid(role, "playingDevice"))
    if name:
        device["deviceName"] = [{"name": name, "type": "user-friendly-name"}]
    res["device"] = ctx.add(device)
    p = dt.period(kid(stmt, "effectiveTime"))
    if is_absent(code_el):
        res["status"] = "active" if "known" in (code_el.get("code") or "") else "completed"
    else:
        res["status"] = "completed" if p and "end" in p else STATUS.get(status_code(stmt) or "", "active")
    if p:
        res["timingPeriod"] = p
    put(res, "note", note(ctx, stmt))
    return res
