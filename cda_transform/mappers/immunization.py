"""Immunizations (11369-6): substanceAdministration (3.19) -> Immunization.

FHIR requires ``occurrence[x]``; when the CDA has no date, ``occurrenceString`` says so in
French instead of inventing a date.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.header import organization, practitioner_role
from cda_transform.mappers.common import base, kid, note, pick, put, related
from cda_transform.parse import kids, path, text_of


def map_immunization(ctx: Context, stmt: etree._Element) -> dict[str, Any]:
    tr = ctx.translator
    res = base("Immunization", ctx, stmt, "patient")
    res["status"] = "not-done" if stmt.get("negationInd") == "true" else "completed"
    material = path(stmt, "consumable/manufacturedProduct/manufacturedMaterial")
    name = text_of(kid(material, "name"))
    vaccine = tr.concept(kid(material, "code"), text=name)
    res["vaccineCode"] = vaccine or tr.concept_or_absent(
        kid(material, "code"), text=name or tr.reference_text(stmt)
    )
    p = dt.period(kid(stmt, "effectiveTime"))
    if p and p.get("start"):
        res["occurrenceDateTime"] = p["start"]
    else:
        res["occurrenceString"] = "Date inconnue"
    lot = text_of(kid(material, "lotNumberText"))
    put(res, "lotNumber", lot)
    manufacturer = organization(ctx, path(stmt, "consumable/manufacturedProduct/manufacturerOrganization"))
    put(res, "manufacturer", manufacturer)
    put(res, "route", tr.concept(kid(stmt, "routeCode")))
    put(res, "site", tr.concept(kid(stmt, "approachSiteCode")))
    dose = kid(stmt, "doseQuantity")
    q = dt.quantity(dose)
    if q:
        res["doseQuantity"] = q
    performers = [
        {"actor": who}
        for who in (practitioner_role(ctx, kid(pf, "assignedEntity"), None) for pf in kids(stmt, "performer"))
        if who
    ]
    put(res, "performer", performers)

    protocol: dict[str, Any] = {}
    subj = related(stmt, "SUBJ")
    dose_obs = pick(subj, "28", "30973-2")
    number = kid(dose_obs, "value")
    value = dt.decimal(number.get("value")) if number is not None else None
    if isinstance(value, int) and value > 0:
        protocol["doseNumberPositiveInt"] = value
    diseases = [
        c for c in (tr.concept(path(p_, "participantRole/code")) for p_ in kids(stmt, "participant")) if c
    ]
    if diseases:
        protocol["targetDisease"] = diseases
    if protocol:
        if "doseNumberPositiveInt" not in protocol:
            protocol["doseNumberString"] = "Numéro de dose inconnu"
        res["protocolApplied"] = [protocol]
    reasons = [c for c in (tr.concept(kid(r, "value")) for r in related(stmt, "RSON")) if c]
    put(res, "reasonCode", reasons)
    put(res, "note", note(ctx, stmt))
    return res
