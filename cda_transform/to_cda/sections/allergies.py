"""Allergies and adverse reactions (48765-2): eHDSI Allergy and Intolerance Concern (3.16)
around an eHDSI Allergy and Intolerance observation (3.17), as in the eHDSI Wave 7/8 samples."""

from __future__ import annotations

import uuid
from typing import Any

from .. import oids
from ..datatypes import coded, concept_display, fixed_code, is_absent_unknown, period_bounds, resource_id, ts
from ..inputs import Entry
from ..narrative import fr_date
from ..xmlns import Element, el, set_xsi_type, template_ids
from .base import ABSENT_TEXT_FR, Context, absent_code_element, text_reference, tpl

HEADERS = ["Agent", "Type", "Manifestations", "Sévérité", "Criticité", "Statut", "Certitude", "Début"]

#: AllergyIntolerance.type -> eHDSIAdverseEventType (SNOMED CT)
ADVERSE_EVENT_TYPE = {
    "allergy": ("609328004", "Allergic disposition"),
    "intolerance": ("782197009", "Intolerance to substance"),
}
PROPENSITY = ("420134006", "Propensity to adverse reaction")
#: AllergyIntolerance.reaction.severity -> eHDSISeverity (SNOMED CT)
SEVERITY = {
    "mild": ("255604002", "Mild"),
    "moderate": ("6736007", "Moderate"),
    "severe": ("24484000", "Severe"),
}
CRITICALITY = {"low": "Low Risk", "high": "High Risk", "unable-to-assess": "Unable to Assess Risk"}
AGENT_PREFERENCE = ("http://www.whocc.no/atc", "http://snomed.info/sct")
SNOMED_PREFERENCE = ("http://snomed.info/sct",)


def build(ctx: Context, entries: list[Entry]) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        _allergy(ctx, entry)
    if not entries:
        code, display = ctx.absent_code("allergies")
        row_id = ctx.narrative.paragraph(ABSENT_TEXT_FR[code])
        observation = _concern(ctx, None, f"absent-allergies:{ctx.data.patient.full_url}")
        el(
            observation,
            "code",
            {
                "code": PROPENSITY[0],
                "codeSystem": oids.SNOMED,
                "codeSystemName": "SNOMED CT",
                "displayName": PROPENSITY[1],
            },
        )
        text_reference(observation, row_id)
        el(observation, "statusCode", {"code": "completed"})
        el(el(observation, "effectiveTime"), "low", {"nullFlavor": "NA"})
        absent_code_element(observation, "value", code, display, xsi_type="CD")


def _concern(
    ctx: Context,
    entry: Entry | None,
    seed: str,
    status: str = "active",
    onset: str | None = None,
    onset_path: str = "",
) -> Element:
    """The concern act and its SUBJ observation (returned, still without code)."""
    act = el(ctx.entry(), "act", {"classCode": "ACT", "moodCode": "EVN"})
    template_ids(
        act,
        tpl("16"),
        "1.3.6.1.4.1.19376.1.5.3.1.4.5.1",
        "1.3.6.1.4.1.19376.1.5.3.1.4.5.3",
        "2.16.840.1.113883.10.20.1.27",
    )
    el(act, "id", {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, seed + "#concern")).upper()})
    fixed_code(act, "code", "CONC", oids.ACT_CLASS, system_name="ActClass")
    el(act, "statusCode", {"code": status})
    low = el(el(act, "effectiveTime"), "low")
    if onset:
        low.set("value", ts(onset, onset_path))
    else:
        low.set("nullFlavor", "UNK")
    rel = el(act, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "false"})
    observation = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    template_ids(
        observation,
        tpl("17"),
        "1.3.6.1.4.1.19376.1.5.3.1.4.5",
        "1.3.6.1.4.1.19376.1.5.3.1.4.6",
        "2.16.840.1.113883.10.20.1.18",
        "2.16.840.1.113883.10.20.1.28",
    )
    if entry is not None:
        resource_id(observation, entry.resource, entry.full_url)
    else:
        el(observation, "id", {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, seed)).upper()})
    return observation


def _allergy(ctx: Context, entry: Entry) -> None:
    res, path = entry.resource, entry.path
    clinical = {c.get("code") for c in (res.get("clinicalStatus") or {}).get("coding") or []}
    status = "completed" if clinical & {"inactive", "resolved"} else "active"
    onset, _end, onset_key = period_bounds(res, "onset")
    absent = is_absent_unknown(res.get("code"))
    reactions = res.get("reaction") or []
    manifestations = "; ".join(concept_display(m) for r in reactions for m in r.get("manifestation") or [])
    severities = ", ".join(r["severity"] for r in reactions if r.get("severity"))
    row_id = ctx.narrative.row(
        [
            concept_display(res.get("code")),
            ", ".join([res.get("type", ""), *res.get("category", [])]).strip(", "),
            manifestations,
            severities,
            res.get("criticality", ""),
            concept_display(res.get("clinicalStatus")),
            concept_display(res.get("verificationStatus")),
            fr_date(onset),
        ]
    )
    observation = _concern(ctx, entry, entry.full_url, status, onset, f"{path}.{onset_key}")
    event_code, event_display = ADVERSE_EVENT_TYPE.get(res.get("type", ""), PROPENSITY)
    el(
        observation,
        "code",
        {
            "code": event_code,
            "codeSystem": oids.SNOMED,
            "codeSystemName": "SNOMED CT",
            "displayName": event_display,
        },
    )
    text_reference(observation, row_id)
    el(observation, "statusCode", {"code": "completed"})
    time = el(observation, "effectiveTime")
    if onset:
        el(time, "low", {"value": ts(onset, f"{path}.{onset_key}")})
    else:
        el(time, "low", {"nullFlavor": "UNK"})
    if absent:
        coded(
            observation,
            "value",
            res.get("code"),
            f"{path}.code",
            xsi_type="CD",
            prefer=(oids.ABSENT_UNKNOWN_URI,),
            text_ref=f"{row_id}-label",
        )
    else:
        role = el(
            el(observation, "participant", {"typeCode": "CSM"}), "participantRole", {"classCode": "MANU"}
        )
        entity = el(role, "playingEntity", {"classCode": "MMAT"})
        coded(
            entity,
            "code",
            res.get("code"),
            f"{path}.code",
            prefer=AGENT_PREFERENCE,
            text_ref=f"{row_id}-label",
        )
    for r_index, reaction in enumerate(reactions):
        _reaction(observation, reaction, f"{path}.reaction[{r_index}]")
    if res.get("criticality"):
        rel = el(observation, "entryRelationship", {"typeCode": "SUBJ"})
        crit = _sub_observation(rel, tpl("33"), "82606-5", "Allergy or intolerance criticality")
        fixed_code(
            crit,
            "value",
            res["criticality"],
            oids.ALLERGY_CRITICALITY,
            CRITICALITY.get(res["criticality"]),
            xsi_type="CD",
        )
    if res.get("verificationStatus"):
        rel = el(observation, "entryRelationship", {"typeCode": "SUBJ"})
        cert = _sub_observation(rel, tpl("35"), "66455-7", "Condition status")
        coded(cert, "value", res["verificationStatus"], f"{path}.verificationStatus", xsi_type="CD")
    if res.get("clinicalStatus"):
        rel = el(observation, "entryRelationship", {"typeCode": "REFR"})
        stat = _sub_observation(rel, tpl("34"), "33999-4", "Status")
        coded(stat, "value", res["clinicalStatus"], f"{path}.clinicalStatus", xsi_type="CD")


def _sub_observation(rel: Element, template: str, loinc: str, display: str) -> Element:
    obs = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    template_ids(obs, template)
    el(
        obs,
        "code",
        {"code": loinc, "codeSystem": oids.LOINC, "codeSystemName": "LOINC", "displayName": display},
    )
    el(obs, "statusCode", {"code": "completed"})
    return obs


def _reaction(observation: Element, reaction: dict[str, Any], path: str) -> None:
    for m_index, manifestation in enumerate(reaction.get("manifestation") or []):
        rel = el(observation, "entryRelationship", {"typeCode": "MFST", "inversionInd": "true"})
        obs = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        template_ids(obs, tpl("44"))
        el(
            obs,
            "code",
            {
                "code": "404684003",
                "codeSystem": oids.SNOMED,
                "codeSystemName": "SNOMED CT",
                "displayName": "Clinical finding",
            },
        )
        el(obs, "statusCode", {"code": "completed"})
        if reaction.get("onset"):
            el(el(obs, "effectiveTime"), "low", {"value": ts(reaction["onset"], f"{path}.onset")})
        coded(
            obs,
            "value",
            manifestation,
            f"{path}.manifestation[{m_index}]",
            prefer=SNOMED_PREFERENCE,
            xsi_type="CD",
        )
        if reaction.get("severity") in SEVERITY:
            code, display = SEVERITY[reaction["severity"]]
            sev_rel = el(obs, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "true"})
            sev = el(sev_rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
            template_ids(sev, "1.3.6.1.4.1.19376.1.5.3.1.4.1", "2.16.840.1.113883.10.20.1.55")
            el(
                sev,
                "code",
                {
                    "code": "SEV",
                    "codeSystem": oids.ACT_CODE,
                    "codeSystemName": "ActCode",
                    "displayName": "Severity",
                },
            )
            el(sev, "statusCode", {"code": "completed"})
            value = el(
                sev,
                "value",
                {
                    "code": code,
                    "codeSystem": oids.SNOMED,
                    "codeSystemName": "SNOMED CT",
                    "displayName": display,
                },
            )
            set_xsi_type(value, "CD")
