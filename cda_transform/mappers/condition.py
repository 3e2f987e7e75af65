"""Active problems (11450-4) and history of past illness (11348-0): concern act (3.15) -> problem (3.7).

The diagnosis (ICD-10, Orphanet or an IPS absent/unknown code) is in the observation
``value``; its ``code`` (eHDSICodeProb, e.g. 404684003 Clinical finding) is kept as a second
category. Status (3.9), health status (3.10) and severity (3.8) stay on the Condition; the
observation's ``targetSiteCode`` is ``Condition.bodySite``.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.extensions import HEALTH_STATUS
from cda_transform.mappers.common import (
    absent_concept,
    base,
    fhir_concept,
    first_time,
    is_absent,
    kid,
    note,
    pick,
    put,
    related,
    source_concept,
    status_code,
)
from cda_transform.parse import kids, local

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
VERIFICATION_DISPLAY = {
    "unconfirmed": "Unconfirmed",
    "provisional": "Provisional",
    "differential": "Differential",
    "confirmed": "Confirmed",
    "refuted": "Refuted",
    "entered-in-error": "Entered in Error",
}
SNOMED_STATUS = {
    "55561003": "active",
    "73425007": "inactive",
    "413322009": "resolved",
    "277022003": "remission",
    "255227004": "recurrence",
    "246455001": "recurrence",
    "263855007": "relapse",
}
CONCERN_STATUS = {"active": "active", "completed": "resolved", "suspended": "inactive", "aborted": "inactive"}
DISPLAY = {
    "active": "Active",
    "inactive": "Inactive",
    "resolved": "Resolved",
    "remission": "Remission",
    "recurrence": "Recurrence",
    "relapse": "Relapse",
}
"""The FHIR code system's own designations; French comes from the terminology service."""


def map_condition(ctx: Context, stmt: etree._Element, section_code: str | None) -> dict[str, Any]:
    obs = (
        stmt
        if local(stmt) == "observation"
        else pick(related(stmt, "SUBJ", "observation"), "7", fallback_first=True)
    )
    res = base("Condition", ctx, obs if obs is not None else stmt)
    tr = ctx.translator
    value_el = kid(obs, "value")
    code = tr.concept(value_el, text=tr.reference_text(obs))
    if code is None and obs is None:
        code = absent_concept(ctx, "no-problem-info", "No information about problems")
    if code is None:
        code = tr.concept_or_absent(value_el, text=tr.reference_text(obs) or tr.reference_text(stmt))
    res["code"] = code
    categories = [fhir_concept(ctx, CATEGORY_SYSTEM, "problem-list-item", "Problem List Item")]
    kind = tr.concept(kid(obs, "code"))
    if kind:
        categories.append(kind)
    res["category"] = categories
    # targetSiteCode (0..* in CDA, e.g. written by to_cda from Condition.bodySite): the
    # problem's anatomical location, which has no other home than Condition.bodySite
    put(res, "bodySite", [c for c in (tr.concept(t) for t in kids(obs, "targetSiteCode")) if c])

    onset, end = dt.onset_and_end(first_time(obs, stmt))
    put(res, "onsetDateTime", onset)
    put(res, "abatementDateTime", end)

    refr = related(obs, "REFR")
    status_obs = pick(refr, "9", "33999-4")
    status_value = kid(status_obs, "value")
    explicit = SNOMED_STATUS.get((status_value.get("code") if status_value is not None else "") or "")
    if explicit:
        clinical = explicit
    elif is_absent(value_el):
        clinical = "active"
    else:
        clinical = CONCERN_STATUS.get(status_code(stmt) or "", "active")
        if section_code == "11348-0" and clinical == "active" and status_code(stmt) != "active":
            clinical = "resolved"
        if end and clinical in ("active", "recurrence", "relapse"):
            clinical = "resolved"
    res["clinicalStatus"] = fhir_concept(ctx, CLINICAL, clinical, DISPLAY[clinical], tr.concept(status_value))

    health = tr.concept(kid(pick(refr, "10", "11323-3"), "value"))
    if health:
        res["extension"] = [{"url": HEALTH_STATUS, "valueCodeableConcept": health}]
    severity_obs = pick(related(obs, "SUBJ"), "8", "SEV")
    severity = tr.concept(kid(severity_obs, "value"))
    put(res, "severity", severity)
    certainty_el = kid(pick(related(obs, "SUBJ"), "49", "66455-7"), "value")
    certainty = tr.concept(certainty_el)
    cert_code = (certainty_el.get("code") or "") if certainty_el is not None else ""
    if cert_code in VERIFICATION_DISPLAY:  # eHDSICertainty uses the FHIR condition-ver-status codes
        res["verificationStatus"] = fhir_concept(
            ctx, VERIFICATION, cert_code, VERIFICATION_DISPLAY[cert_code], certainty
        )
        if cert_code == "entered-in-error":
            res.pop("clinicalStatus", None)
    elif certainty:
        res.setdefault("extension", []).extend(source_concept(certainty))

    notes = note(ctx, obs) or note(ctx, stmt)
    for comment in [c for c in related(obs, "SUBJ") if c is not severity_obs] + related(stmt, "SUBJ", "act"):
        text = tr.reference_text(comment)
        if text and local(comment) == "act":
            notes.append({"text": text})
    put(res, "note", notes)
    return res
