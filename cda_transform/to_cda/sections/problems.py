"""Active problems (11450-4) and history of past illness (11348-0): eHDSI Problem Concern
(3.15) around an eHDSI Problem observation (3.7) whose value is the diagnosis (ICD-10 first,
the eHDSIIllnessandDisorder code system, then Orphanet, then SNOMED CT)."""

from __future__ import annotations

import uuid

from .. import oids
from ..datatypes import (
    coded,
    coding_attrs,
    concept_display,
    fixed_code,
    is_absent_unknown,
    period_bounds,
    resource_id,
    translation,
    ts,
)
from ..inputs import Entry
from ..narrative import fr_period
from ..sections_spec import condition_is_past
from ..xmlns import Element, el, template_ids
from .base import ABSENT_TEXT_FR, Context, absent_code_element, text_reference, tpl

HEADERS = ["Problème", "Type", "Période", "Statut clinique", "Vérification", "Sévérité"]
DIAGNOSIS_PREFERENCE = (
    "http://hl7.org/fhir/sid/icd-10",
    "https://www.orpha.net",
    "http://www.orpha.net",
    "http://snomed.info/sct",
)
#: Condition.category -> eHDSICodeProb (SNOMED CT)
PROBLEM_TYPE = {
    "problem-list-item": ("55607006", "Problem"),
    "encounter-diagnosis": ("282291009", "Diagnosis interpretation"),
}
#: Condition.clinicalStatus -> eHDSIStatusCode (SNOMED CT)
CLINICAL_STATUS = {
    "active": ("55561003", "Active"),
    "recurrence": ("255227004", "Recurrent"),
    "relapse": ("255227004", "Recurrent"),
    "inactive": ("73425007", "Inactive"),
    "remission": ("73425007", "Inactive"),
    "resolved": ("413322009", "Problem resolved"),
}


def build(ctx: Context, entries: list[Entry], *, mandatory: bool) -> None:
    ctx.narrative.headers = HEADERS
    for entry in entries:
        _problem(ctx, entry)
    if not entries and mandatory:
        code, display = ctx.absent_code("problems")
        row_id = ctx.narrative.paragraph(ABSENT_TEXT_FR[code])
        seed = f"absent-problems:{ctx.data.patient.full_url}"
        observation = _concern(ctx, seed, "active", None, None, "")
        el(observation, "id", {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, seed)).upper()})
        fixed_code(observation, "code", "55607006", oids.SNOMED, "Problem", "SNOMED CT")
        text_reference(observation, row_id)
        el(observation, "statusCode", {"code": "completed"})
        absent_code_element(observation, "value", code, display, xsi_type="CD")


def _concern(ctx: Context, seed: str, status: str, low: str | None, high: str | None, path: str) -> Element:
    act = el(ctx.entry(), "act", {"classCode": "ACT", "moodCode": "EVN"})
    template_ids(
        act,
        tpl("15"),
        "2.16.840.1.113883.10.20.1.27",
        "1.3.6.1.4.1.19376.1.5.3.1.4.5.1",
        "1.3.6.1.4.1.19376.1.5.3.1.4.5.2",
    )
    el(act, "id", {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, seed + "#concern")).upper()})
    fixed_code(act, "code", "CONC", oids.ACT_CLASS, system_name="ActClass")
    el(act, "statusCode", {"code": status})
    if low or high:
        time = el(act, "effectiveTime")
        el(time, "low", {"value": ts(low, path)} if low else {"nullFlavor": "UNK"})
        if high:
            el(time, "high", {"value": ts(high, path)})
    rel = el(act, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "false"})
    observation = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    template_ids(observation, tpl("7"), "1.3.6.1.4.1.19376.1.5.3.1.4.5")
    return observation


def _problem(ctx: Context, entry: Entry) -> None:
    res, path = entry.resource, entry.path
    onset, _, onset_key = period_bounds(res, "onset")
    abatement, _, abatement_key = period_bounds(res, "abatement")
    if onset is None and "onsetPeriod" in res:
        onset = res["onsetPeriod"].get("start")
    past = condition_is_past(res)
    category = next(
        (
            c.get("code")
            for cat in res.get("category") or []
            for c in cat.get("coding") or []
            if c.get("code") in PROBLEM_TYPE
        ),
        "problem-list-item",
    )
    type_code, type_display = PROBLEM_TYPE[category]
    row_id = ctx.narrative.row(
        [
            concept_display(res.get("code")),
            type_display,
            fr_period(onset, abatement),
            concept_display(res.get("clinicalStatus")),
            concept_display(res.get("verificationStatus")),
            concept_display(res.get("severity")),
        ]
    )
    observation = _concern(
        ctx,
        entry.full_url,
        "completed" if past else "active",
        onset,
        abatement if past else None,
        f"{path}.{onset_key if onset else abatement_key}",
    )
    resource_id(observation, res, entry.full_url)
    # the eHDSICodeProb code leads; the FHIR category codings follow as translations
    categories = [
        coding_attrs(coding, f"{path}.category[{c_index}].coding[{k_index}]")
        for c_index, cat in enumerate(res.get("category") or [])
        for k_index, coding in enumerate(cat.get("coding") or [])
    ]
    fixed_code(
        observation, "code", type_code, oids.SNOMED, type_display, "SNOMED CT", translations=categories
    )
    text_reference(observation, row_id)
    el(observation, "statusCode", {"code": "completed"})
    if onset or abatement:
        time = el(observation, "effectiveTime")
        el(time, "low", {"value": ts(onset, f"{path}.{onset_key}")} if onset else {"nullFlavor": "UNK"})
        if abatement:
            el(time, "high", {"value": ts(abatement, f"{path}.{abatement_key}")})
    prefer = (oids.ABSENT_UNKNOWN_URI,) if is_absent_unknown(res.get("code")) else DIAGNOSIS_PREFERENCE
    coded(
        observation,
        "value",
        res.get("code"),
        f"{path}.code",
        prefer=prefer,
        xsi_type="CD",
        text_ref=f"{row_id}-label",
    )
    for b_index, site in enumerate(res.get("bodySite") or []):
        coded(
            observation,
            "targetSiteCode",
            site,
            f"{path}.bodySite[{b_index}]",
            prefer=("http://snomed.info/sct",),
        )
    if res.get("severity"):
        rel = el(observation, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "true"})
        sev = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        template_ids(sev, tpl("8"), "1.3.6.1.4.1.19376.1.5.3.1.4.1")
        fixed_code(sev, "code", "SEV", oids.ACT_CODE, "Severity", "ActCode")
        el(sev, "statusCode", {"code": "completed"})
        coded(
            sev,
            "value",
            res["severity"],
            f"{path}.severity",
            prefer=("http://snomed.info/sct",),
            xsi_type="CD",
        )
    if res.get("verificationStatus"):
        # eHDSI Certainty Observation (3.49, eHDSICertainty = FHIR condition-ver-status)
        rel = el(observation, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "true"})
        cert = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        template_ids(cert, tpl("49"))
        fixed_code(cert, "code", "66455-7", oids.LOINC, "Condition status", "LOINC")
        text_reference(cert, row_id)
        el(cert, "statusCode", {"code": "completed"})
        coded(cert, "value", res["verificationStatus"], f"{path}.verificationStatus", xsi_type="CE")
    status_codes = (res.get("clinicalStatus") or {}).get("coding") or []
    if status_codes:
        rel = el(observation, "entryRelationship", {"typeCode": "REFR"})
        stat = el(rel, "observation", {"classCode": "OBS", "moodCode": "EVN"})
        template_ids(
            stat,
            tpl("9"),
            "1.3.6.1.4.1.19376.1.5.3.1.4.1.1",
            "2.16.840.1.113883.10.20.1.57",
            "2.16.840.1.113883.10.20.1.50",
        )
        fixed_code(stat, "code", "33999-4", oids.LOINC, "Status", "LOINC")
        el(stat, "statusCode", {"code": "completed"})
        snomed = CLINICAL_STATUS.get(str(status_codes[0].get("code")))
        if snomed:
            # the eHDSI value is SNOMED CT; the FHIR status codings follow as translations
            value = fixed_code(stat, "value", snomed[0], oids.SNOMED, snomed[1], "SNOMED CT", xsi_type="CE")
            for index, coding in enumerate(status_codes):
                translation(value, coding_attrs(coding, f"{path}.clinicalStatus.coding[{index}]"))
        else:
            coded(stat, "value", res["clinicalStatus"], f"{path}.clinicalStatus", xsi_type="CE")
