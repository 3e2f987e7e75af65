"""Allergies and adverse reactions (48765-2): concern act (3.16) -> observation (3.17).

One AllergyIntolerance per entry; reactions (3.44), severity, criticality (3.33), certainty
(3.35) and status (3.34) live inside it. The adverse-event type code (eHDSIAdverseEventType)
only partly maps to ``type``/``category``; the full coded concept is kept on ``_type``.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.mappers.common import (
    absent_concept,
    base,
    fhir_concept,
    is_absent,
    kid,
    note,
    pick,
    put,
    related,
    source_concept,
    status_code,
)
from cda_transform.parse import kids, local, path

CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"

# SNOMED adverse-event types -> (type, category)
EVENT_TYPES: dict[str, tuple[str | None, str | None]] = {
    "420134006": (None, None),
    "609328004": ("allergy", None),
    "782197009": ("intolerance", None),
    "419199007": ("allergy", None),
    "418038007": (None, None),
    "416098002": ("allergy", "medication"),
    "414285001": ("allergy", "food"),
    "59037007": ("intolerance", "medication"),
    "235719002": ("intolerance", "food"),
    "419511003": (None, "medication"),
    "418471000": (None, "food"),
    "232347008": ("allergy", "environment"),
    "426232007": ("allergy", "environment"),
    "418689008": ("allergy", None),
    "420113004": ("intolerance", "food"),
}
SNOMED_STATUS = {"55561003": "active", "73425007": "inactive", "413322009": "resolved"}
CONCERN_STATUS = {"active": "active", "completed": "resolved", "suspended": "inactive", "aborted": "inactive"}
SEVERITY = {
    "255604002": "mild",
    "6736007": "moderate",
    "24484000": "severe",
    "371923003": "moderate",
    "371924009": "severe",
    "399166001": "severe",
}
CLINICAL_DISPLAY = {"active": "Active", "inactive": "Inactive", "resolved": "Resolved"}
VERIFICATION_DISPLAY = {
    "confirmed": "Confirmed",
    "unconfirmed": "Unconfirmed",
    "refuted": "Refuted",
    "entered-in-error": "Entered in Error",
}
"""The FHIR code systems' own designations; French comes from the terminology service."""


def map_allergy(ctx: Context, stmt: etree._Element) -> dict[str, Any]:
    obs = (
        stmt
        if local(stmt) == "observation"
        else pick(related(stmt, "SUBJ", "observation"), "17", fallback_first=True)
    )
    res = base("AllergyIntolerance", ctx, obs if obs is not None else stmt, "patient")
    tr = ctx.translator
    value_el = kid(obs, "value")
    agent_el = path(obs, "participant/participantRole/playingEntity/code")
    for p in kids(obs, "participant"):
        if p.get("typeCode") == "CSM":
            agent_el = path(p, "participantRole/playingEntity/code")
            break
    absent = is_absent(value_el)
    if absent:
        res["code"] = tr.concept(value_el)
    else:
        agent = tr.concept(agent_el)
        if agent is None:
            name = path(obs, "participant/participantRole/playingEntity/name")
            label = name.text.strip() if name is not None and name.text and name.text.strip() else None
            agent = {"text": label} if label else None
        if agent is None and value_el is not None and (value_el.get("code") or tr.original_text(value_el)):
            agent = tr.concept(value_el)  # older documents code the allergy itself in value
        if agent is None and obs is None:
            agent = absent_concept(ctx, "no-allergy-info", "No information about allergies")
        put(res, "code", agent)

    type_el = kid(obs, "code")
    type_concept = tr.concept(type_el)
    kind, category = EVENT_TYPES.get((type_el.get("code") if type_el is not None else "") or "", (None, None))
    if kind:
        res["type"] = kind
    if type_concept:
        res["_type"] = {"extension": source_concept(type_concept)}
    if category:
        res["category"] = [category]

    subj = related(obs, "SUBJ")
    status_obs = pick(related(obs, "REFR"), "34", "33999-4")
    status_value = kid(status_obs, "value")
    status_concept = tr.concept(status_value)
    code = (status_value.get("code") if status_value is not None else None) or ""
    clinical = (
        code
        if code in CLINICAL_DISPLAY
        else SNOMED_STATUS.get(code) or CONCERN_STATUS.get(status_code(stmt) or "", "active")
    )
    res["clinicalStatus"] = fhir_concept(ctx, CLINICAL, clinical, CLINICAL_DISPLAY[clinical], status_concept)

    certainty = kid(pick(subj, "35", "66455-7"), "value")
    cert_code = certainty.get("code") if certainty is not None else None
    if cert_code in VERIFICATION_DISPLAY:
        if cert_code == "entered-in-error":
            res.pop("clinicalStatus", None)
        res["verificationStatus"] = fhir_concept(
            ctx, VERIFICATION, cert_code, VERIFICATION_DISPLAY[cert_code], tr.concept(certainty)
        )
    elif absent and value_el is not None and (value_el.get("code") or "").startswith("no-known"):
        # A known absence is an assertion; "no information" asserts nothing, so it gets no verification.
        res["verificationStatus"] = fhir_concept(ctx, VERIFICATION, "confirmed", "Confirmed")
    elif certainty is not None:
        res.setdefault("extension", []).extend(source_concept(tr.concept(certainty)))

    crit = kid(pick(subj, "33", "82606-5"), "value")
    crit_code = crit.get("code") if crit is not None else None
    crit_concept = tr.concept(crit)
    if crit_code in ("low", "high", "unable-to-assess"):
        res["criticality"] = crit_code
    if crit_concept:
        res["_criticality"] = {"extension": source_concept(crit_concept)}

    onset, last = dt.onset_and_end(kid(obs, "effectiveTime"))
    put(res, "onsetDateTime", onset)
    put(res, "lastOccurrence", last if last and "T" in last else None)
    if last and "T" not in last:
        res.setdefault("note", []).append({"text": f"Fin : {last}"})

    reactions = [r for r in (_reaction(ctx, m) for m in related(obs, "MFST")) if r]
    put(res, "reaction", reactions)
    notes = note(ctx, obs) or note(ctx, stmt)
    if notes:
        res.setdefault("note", []).extend(notes)
    return res


def _reaction(ctx: Context, mfst: etree._Element) -> dict[str, Any] | None:
    tr = ctx.translator
    out: dict[str, Any] = {
        "manifestation": [tr.concept_or_absent(kid(mfst, "value"), text=tr.reference_text(mfst))]
    }
    code = tr.concept(kid(mfst, "code"))
    if code:
        out["extension"] = source_concept(code)
    sev = kid(pick(related(mfst, "SUBJ"), None, "SEV", fallback_first=True), "value")
    if sev is not None:
        level = SEVERITY.get(sev.get("code") or "")
        if level:
            out["severity"] = level
        concept = tr.concept(sev)
        if concept:
            out["_severity"] = {"extension": source_concept(concept)}
    onset = dt.onset_and_end(kid(mfst, "effectiveTime"))[0]
    put(out, "onset", onset)
    desc = tr.reference_text(mfst)
    put(out, "description", desc)
    return out
