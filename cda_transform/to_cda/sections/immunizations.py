"""Immunizations (11369-6): eHDSI Immunization (3.19) with its Vaccine product (3.18) and dose
number (3.28); target diseases are kept as IND/AGNT participants as in the eHDSI samples."""

from __future__ import annotations

from ..datatypes import coded, concept_display, pq, resource_id, ts
from ..inputs import Entry
from ..narrative import fr_date
from ..oids import IHE_ACT_CODE, LOINC
from ..xmlns import el, set_xsi_type, template_ids
from .base import Context, text_reference, tpl

HEADERS = ["Vaccin", "Date", "Lot", "Fabricant", "Dose", "Maladies ciblées", "Statut"]
VACCINE_PREFERENCE = ("http://www.whocc.no/atc", "http://snomed.info/sct")


def build(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        _immunization(ctx, entry)


def _immunization(ctx: Context, entry: Entry) -> None:
    res, path = entry.resource, entry.path
    protocol = (res.get("protocolApplied") or [{}])[0]
    dose = protocol.get("doseNumberPositiveInt") or protocol.get("doseNumberString")
    diseases = protocol.get("targetDisease") or []
    manufacturer = (res.get("manufacturer") or {}).get("display")
    date = res.get("occurrenceDateTime")
    row_id = ctx.narrative.row(
        [
            concept_display(res.get("vaccineCode")),
            fr_date(date) or res.get("occurrenceString", ""),
            res.get("lotNumber", ""),
            manufacturer or "",
            str(dose or ""),
            ", ".join(concept_display(d) for d in diseases),
            str(res.get("status", "")),
        ]
    )
    adm = el(
        ctx.entry(),
        "substanceAdministration",
        {
            "classCode": "SBADM",
            "moodCode": "EVN",
            "negationInd": "true" if res.get("status") == "not-done" else "false",
        },
    )
    template_ids(adm, tpl("19"), "1.3.6.1.4.1.19376.1.5.3.1.4.12", "2.16.840.1.113883.10.20.1.24")
    resource_id(adm, res, entry.full_url)
    el(
        adm,
        "code",
        {
            "code": "IMMUNIZ",
            "codeSystem": IHE_ACT_CODE,
            "codeSystemName": "IHEActCode",
            "displayName": "Immunization",
        },
    )
    text_reference(adm, row_id)
    el(adm, "statusCode", {"code": "completed" if res.get("status") != "entered-in-error" else "nullified"})
    if date:
        el(adm, "effectiveTime", {"value": ts(date, f"{path}.occurrenceDateTime")})
    else:
        el(adm, "effectiveTime", {"nullFlavor": "UNK"})
    if res.get("route"):
        coded(adm, "routeCode", res["route"], f"{path}.route", prefer=("http://standardterms.edqm.eu",))
    if res.get("doseQuantity"):
        pq(adm, "doseQuantity", res["doseQuantity"], f"{path}.doseQuantity")
    product = el(el(adm, "consumable", {"typeCode": "CSM"}), "manufacturedProduct")
    template_ids(product, tpl("18"), "2.16.840.1.113883.10.20.1.53")
    material = el(product, "manufacturedMaterial")
    coded(
        material,
        "code",
        res.get("vaccineCode"),
        f"{path}.vaccineCode",
        prefer=VACCINE_PREFERENCE,
        text_ref=f"{row_id}-label",
    )
    label = concept_display(res.get("vaccineCode"))
    if label:
        el(material, "name", text=label)
    if res.get("lotNumber"):
        el(material, "lotNumberText", text=res["lotNumber"])
    if manufacturer:
        org = el(product, "manufacturerOrganization", {"classCode": "ORG", "determinerCode": "INSTANCE"})
        el(org, "name", text=manufacturer)
    for d_index, disease in enumerate(diseases):
        role = el(el(adm, "participant", {"typeCode": "IND"}), "participantRole", {"classCode": "AGNT"})
        coded(
            role,
            "code",
            disease,
            f"{path}.protocolApplied[0].targetDisease[{d_index}]",
            prefer=("http://hl7.org/fhir/sid/icd-10", "http://snomed.info/sct"),
        )
        el(role, "playingEntity", {"classCode": "ENT", "nullFlavor": "UNK"})
    if protocol.get("doseNumberPositiveInt"):
        rel = el(adm, "entryRelationship", {"typeCode": "SUBJ"})
        obs = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        template_ids(obs, tpl("28"), "2.16.840.1.113883.10.20.1.46")
        el(
            obs,
            "code",
            {"code": "30973-2", "codeSystem": LOINC, "codeSystemName": "LOINC", "displayName": "Dose number"},
        )
        el(obs, "statusCode", {"code": "completed"})
        set_xsi_type(el(obs, "value", {"value": str(protocol["doseNumberPositiveInt"])}), "INT")
