"""Keeping the source: the CDA (and an L1 PDF) as Binary + DocumentReference, and Provenance.

The original bytes are stored unchanged, so the clinician (or an auditor) can always go back
to exactly what the foreign NCP sent, whatever the translation did.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.extensions import PROVENANCE_ACTIVITY as ACTIVITY
from cda_transform.parse import kid, path

LOINC_PS = {"system": "http://loinc.org", "code": "60591-5", "display": "Patient summary Document"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def pdf_bytes(ctx: Context, root: etree._Element) -> bytes | None:
    """The embedded L1 PDF, decoded, or None (with a warning) when it is missing or unreadable."""
    text = path(root, "component/nonXMLBody/text")
    if text is None:
        return None
    media = text.get("mediaType") or ""
    if text.get("representation") != "B64":
        ctx.warn("Corps non XML sans représentation B64 : document PDF non extrait.", text)
        return None
    try:
        data = base64.b64decode("".join((text.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        ctx.warn("Corps non XML : base64 invalide, document PDF non extrait.", text)
        return None
    if not data:
        ctx.warn("Corps non XML vide.", text)
        return None
    if media != "application/pdf" and not data.startswith(b"%PDF"):
        ctx.warn(f"Corps non XML de type {media!r} (attendu application/pdf).", text)
    return data


def source_documents(ctx: Context, root: etree._Element, xml: bytes, pdf: bytes | None) -> dict[str, str]:
    """Binary resources for the CDA (and PDF) and the DocumentReference pointing to them."""
    cda_ref = ctx.add(
        {"resourceType": "Binary", "contentType": "text/xml", "data": base64.b64encode(xml).decode("ascii")}
    )
    contents = [
        {
            "attachment": {
                "contentType": "text/xml",
                "url": cda_ref["reference"],
                "title": "Document CDA eHDSI d'origine",
                "size": len(xml),
            }
        }
    ]
    if ctx.source_lang:
        contents[0]["attachment"]["language"] = ctx.source_lang
    if pdf is not None:
        pdf_ref = ctx.add(
            {
                "resourceType": "Binary",
                "contentType": "application/pdf",
                "data": base64.b64encode(pdf).decode("ascii"),
            }
        )
        contents.append(
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "url": pdf_ref["reference"],
                    "title": "Synthèse médicale (PDF d'origine)",
                    "size": len(pdf),
                }
            }
        )
        if ctx.source_lang:
            contents[1]["attachment"]["language"] = ctx.source_lang
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": ctx.translator.synthetic(LOINC_PS["system"], LOINC_PS["code"], LOINC_PS["display"]),
        "subject": dict(ctx.patient_ref),
        "description": "Synthèse médicale eHDSI reçue (document source)",
        "content": contents,
    }
    master = dt.identifier(kid(root, "id"))
    if master:
        doc["masterIdentifier"] = master
    return ctx.add(doc)


def provenances(ctx: Context, composition: dict[str, str], source: dict[str, str], lang: str) -> None:
    tr = ctx.translator
    gateway = ctx.add(
        {
            "resourceType": "Device",
            "deviceName": [{"name": "Passerelle cda_transform", "type": "manufacturer-name"}],
        },
        key="Device|passerelle",
    )
    agent = [
        {
            "type": tr.synthetic(
                "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "assembler", "Assembler"
            ),
            "who": gateway,
        }
    ]
    entity = [{"role": "source", "what": source}]
    recorded = now()
    ctx.add(
        {
            "resourceType": "Provenance",
            "target": [composition],
            "recorded": recorded,
            "activity": {
                **tr.synthetic(
                    "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "TRANSFORM", "transform"
                ),
                "text": "Transformation CDA eHDSI vers FHIR (document IPS)",
            },
            "agent": agent,
            "entity": entity,
        }
    )
    ctx.add(
        {
            "resourceType": "Provenance",
            "target": [composition],
            "recorded": recorded,
            "activity": {
                **tr.synthetic(ACTIVITY, "translation", "Translation"),
                "text": f"Traduction {ctx.source_lang or '?'} → {lang} : {tr.translated} codage(s) "
                f"traduit(s), {tr.untranslated} non traduit(s)",
            },
            "agent": agent,
            "entity": entity,
        }
    )
