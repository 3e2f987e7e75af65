"""Medical devices (46264-8): eHDSI Medical Device (3.5), a ``supply`` whose DEV participant
plays the device (EMDN or SNOMED CT type, UDI/serial as the role id)."""

from __future__ import annotations

import uuid
from typing import Any

from ..datatypes import coded, concept_display, ii, is_absent_unknown, ivl_ts, period_bounds, resource_id
from ..inputs import Entry
from ..narrative import fr_period
from ..refusals import refuse
from ..xmlns import Element, el, template_ids
from .base import ABSENT_TEXT_FR, Context, absent_code_element, text_reference, tpl

HEADERS = ["Dispositif", "Identifiant", "Période", "Statut"]
DEVICE_PREFERENCE = ("urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.44.6", "http://snomed.info/sct")
ABSENT = ("http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",)


def build(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        _device_use(ctx, entry)
    if not entries:
        code, display = ctx.absent_code("devices")
        row_id = ctx.narrative.paragraph(ABSENT_TEXT_FR[code])
        supply = _supply(ctx)
        el(
            supply,
            "id",
            {
                "root": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"absent-devices:{ctx.data.patient.full_url}")
                ).upper()
            },
        )
        text_reference(supply, row_id)
        ivl_ts(supply, "effectiveTime", None, None, "").set("nullFlavor", "NA")
        role = el(el(supply, "participant", {"typeCode": "DEV"}), "participantRole", {"classCode": "MANU"})
        device = el(role, "playingDevice", {"classCode": "DEV", "determinerCode": "INSTANCE"})
        absent_code_element(device, "code", code, display)


def _supply(ctx: Context) -> Element:
    supply = el(ctx.entry(), "supply", {"classCode": "SPLY", "moodCode": "EVN"})
    template_ids(supply, tpl("5"))
    return supply


def _device_identifiers(device: dict[str, Any]) -> list[dict[str, Any]]:
    ids = [
        {"system": u.get("issuer") or u.get("jurisdiction"), "value": u.get("deviceIdentifier")}
        for u in device.get("udiCarrier") or []
    ]
    return ids + list(device.get("identifier") or [])


def _device_use(ctx: Context, entry: Entry) -> None:
    res, path = entry.resource, entry.path
    target = ctx.reference(res.get("device"), f"{path}.device")
    if target is None or target.type != "Device":
        refuse("DeviceUseStatement.device doit désigner une ressource Device du Bundle", f"{path}.device")
    assert target is not None
    device = target.resource
    start, end, key = period_bounds(res, "timing")
    label = concept_display(device.get("type")) or ", ".join(
        n.get("name", "") for n in device.get("deviceName") or []
    )
    ids = ", ".join(str(i.get("value")) for i in _device_identifiers(device) if i.get("value"))
    row_id = ctx.narrative.row([label, ids, fr_period(start, end), str(res.get("status", ""))])
    supply = _supply(ctx)
    resource_id(supply, res, entry.full_url)
    text_reference(supply, row_id)
    ivl_ts(supply, "effectiveTime", start, end, f"{path}.{key}")
    role = el(el(supply, "participant", {"typeCode": "DEV"}), "participantRole", {"classCode": "MANU"})
    for identifier in _device_identifiers(device):
        ii(role, identifier)
    playing = el(role, "playingDevice", {"classCode": "DEV", "determinerCode": "INSTANCE"})
    prefer = ABSENT if is_absent_unknown(device.get("type")) else DEVICE_PREFERENCE
    coded(
        playing, "code", device.get("type"), f"{target.path}.type", prefer=prefer, text_ref=f"{row_id}-label"
    )
