"""Choose the mapper for one CDA ``entry``: by statement type first, then by section.

Real documents put unexpected statements in sections (an ``act`` in the results section, a
``procedure`` among coded results, an ``observation`` directly in a problem list), so the
choice never fails: anything unexpected becomes an Observation that keeps its code, value
and narrative.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform.context import Context
from cda_transform.mappers.allergy import map_allergy
from cda_transform.mappers.common import absent_concept, base, fhir_concept, statements
from cda_transform.mappers.condition import map_condition
from cda_transform.mappers.device import map_device
from cda_transform.mappers.immunization import map_immunization
from cda_transform.mappers.medication import map_medication
from cda_transform.mappers.observation import map_observation, map_organizer
from cda_transform.mappers.procedure import map_procedure
from cda_transform.parse import local, template_ids

ALLERGY, PROBLEMS, PAST, MEDS, PROCS, DEVICES, IMMUNIZ = (
    "48765-2",
    "11450-4",
    "11348-0",
    "10160-0",
    "47519-4",
    "46264-8",
    "11369-6",
)
T = "1.3.6.1.4.1.12559.11.10.1.3.1.3."

# What an entry without any clinical statement means, for the sections IPS requires.
NO_INFO = {
    ALLERGY: ("AllergyIntolerance", "no-allergy-info", "No information about allergies"),
    PROBLEMS: ("Condition", "no-problem-info", "No information about problems"),
    MEDS: ("MedicationStatement", "no-medication-info", "No information about medications"),
    PROCS: ("Procedure", "no-procedure-info", "No information about past history of procedures"),
    DEVICES: ("DeviceUseStatement", "no-device-info", "No information about devices"),
}


def map_entry(ctx: Context, entry: etree._Element, section_code: str | None) -> dict[str, Any]:
    stmts = statements(entry)
    if not stmts:
        return _no_statement(ctx, entry, section_code)
    stmt, extra = stmts[0], stmts[1:]
    kind = local(stmt)
    tids = template_ids(stmt)
    if kind == "substanceAdministration":
        if section_code == IMMUNIZ or T + "19" in tids or "1.3.6.1.4.1.19376.1.5.3.1.4.12" in tids:
            res = map_immunization(ctx, stmt)
        else:
            res = map_medication(ctx, stmt)
    elif kind in ("act", "observation") and (section_code == ALLERGY or T + "16" in tids or T + "17" in tids):
        res = map_allergy(ctx, stmt)
    elif kind in ("act", "observation") and (
        section_code in (PROBLEMS, PAST) or T + "15" in tids or T + "7" in tids
    ):
        res = map_condition(ctx, stmt, section_code)
    elif kind == "procedure" or (kind == "act" and section_code == PROCS):
        res = map_procedure(ctx, stmt)
    elif kind == "supply":
        res = map_device(ctx, stmt)
    elif kind == "organizer":
        res = map_organizer(ctx, stmt, section_code)
    else:
        res = map_observation(ctx, stmt, section_code, extra)
        extra = []
    if extra:
        ctx.warn(
            f"Entrée contenant {len(stmts)} déclarations cliniques : seule la première est structurée, "
            "les autres restent dans le texte de la section.",
            entry,
        )
    return res


def _no_statement(ctx: Context, entry: etree._Element, section_code: str | None) -> dict[str, Any]:
    """An entry with no clinical statement (often ``nullFlavor``) is 'no information', never dropped."""
    if section_code in NO_INFO:
        rtype, code, display = NO_INFO[section_code]
        concept = absent_concept(ctx, code, display)
        if rtype == "AllergyIntolerance":
            res = base(rtype, ctx, None, "patient")
            res["code"] = concept
            res["clinicalStatus"] = fhir_concept(
                ctx, "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
            )
        elif rtype == "Condition":
            res = base(rtype, ctx, None)
            res["code"] = concept
        elif rtype == "MedicationStatement":
            res = base(rtype, ctx, None)
            res.update(status="unknown", medicationCodeableConcept=concept)
        elif rtype == "Procedure":
            res = base(rtype, ctx, None)
            res.update(status="unknown", code=concept)
        else:
            res = base(rtype, ctx, None)
            res["status"] = "active"
            res["device"] = ctx.add({"resourceType": "Device", "type": concept})
    else:
        res = base("Observation", ctx, None)
        res.update(status="unknown", code={"text": "Entrée sans contenu structuré"})
        res["dataAbsentReason"] = ctx.translator.absent_reason(entry.get("nullFlavor"))
    ctx.warn("Entrée sans déclaration clinique : représentée comme « pas d'information ».", entry)
    return res
