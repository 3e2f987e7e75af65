"""History of procedures (47519-4): procedure (3.26) -> Procedure, with body site and laterality."""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.header import practitioner_role
from cda_transform.mappers.common import absent_concept, base, is_absent, kid, note, put, status_code
from cda_transform.parse import kids

STATUS = {
    "completed": "completed",
    "active": "in-progress",
    "aborted": "stopped",
    "cancelled": "not-done",
    "new": "preparation",
    "held": "on-hold",
    "suspended": "on-hold",
}


def map_procedure(ctx: Context, stmt: etree._Element) -> dict[str, Any]:
    tr = ctx.translator
    res = base("Procedure", ctx, stmt)
    code_el = kid(stmt, "code")
    if is_absent(code_el):
        res["status"] = "unknown" if (code_el.get("code") or "").endswith("-info") else "not-done"
    elif stmt.get("negationInd") == "true":
        res["status"] = "not-done"
    else:
        res["status"] = STATUS.get(status_code(stmt) or "", "completed")
    code = tr.concept(code_el, text=tr.reference_text(stmt))
    if code is None and code_el is None and not len(kids(stmt)):
        code = absent_concept(ctx, "no-procedure-info", "No information about past history of procedures")
    res["code"] = code or tr.concept_or_absent(code_el, text=tr.reference_text(stmt))
    p = dt.period(kid(stmt, "effectiveTime"))
    if p:
        if set(p) == {"start"}:
            res["performedDateTime"] = p["start"]
        else:
            res["performedPeriod"] = p
    sites = []
    for site_el in kids(stmt, "targetSiteCode"):
        site = tr.concept(site_el)
        if site:
            sites.append(site)
        for q in kids(site_el, "qualifier"):
            laterality = tr.concept(kid(q, "value"))
            if laterality:
                sites.append(laterality)
    put(res, "bodySite", sites)
    performers = []
    for pf in kids(stmt, "performer"):
        who = practitioner_role(ctx, kid(pf, "assignedEntity"), None)
        if who:
            performers.append({"actor": who})
    put(res, "performer", performers)
    put(res, "note", note(ctx, stmt))
    return res
