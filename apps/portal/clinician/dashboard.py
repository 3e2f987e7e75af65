"""Accueil: profile alert, quick access, recent requests (how many, search), consultations waiting."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from apps.portal.clinician.model import OPEN_TASK, REQUEST_ID, TASK_CODES, by_reference, code_of, entries
from apps.portal.clinician.profile import missing_from, profile_role, role_values
from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirClient
from apps.portal.web import Fhir, Practitioner, render

COUNTS = (5, 10, 20, 50)
TASK_TYPES = {"demande-avis": "Demande d'avis", "tele-expertise": "Télé-expertise"}


def request_row(task: dict[str, Any], refs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    reference = next(
        (i.get("value") for i in task.get("identifier", []) if i.get("system") == REQUEST_ID), ""
    )
    kind = code_of(task.get("code"), TASK_CODES) or ""
    encounter = (task.get("focus") or {}).get("reference", "")
    return {
        "task": task,
        "reference": reference or task["id"],
        "patient": refs.get((task.get("for") or {}).get("reference", "")),
        "type": TASK_TYPES.get(kind, kind),
        "date": task.get("authoredOn", ""),
        "status": task.get("status"),
        "link": f"/consultations/{encounter.split('/', 1)[1]}" if encounter.startswith("Encounter/") else "",
    }


async def requests_of(
    fhir: FhirClient, me: str, count: int, query: str = "", open_only: bool = False
) -> list[dict[str, Any]]:
    params: list[tuple[str, str]] = [
        ("owner", me),
        ("_sort", "-authored-on"),
        ("_count", str(count)),
        ("_include", "Task:patient"),
    ]
    if open_only:
        params.append(("status", ",".join(OPEN_TASK)))
    bundle = await fhir.search("Task", params)
    refs = by_reference(bundle)
    rows = [
        request_row(t, refs)
        for t in entries(bundle, "Task")
        if code_of(t.get("code"), TASK_CODES) in TASK_TYPES
    ]
    if query:
        q = query.casefold()
        rows = [
            r
            for r in rows
            if q in r["reference"].casefold()
            or q in r["type"].casefold()
            or q in " ".join(_names(r["patient"])).casefold()
        ]
    return rows


def _names(patient: dict[str, Any] | None) -> list[str]:
    out: list[str] = []
    for name in (patient or {}).get("name", []):
        out.extend(name.get("given", []))
        out.append(name.get("family", ""))
    return out


@router.get("/accueil")
async def dashboard(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    try:
        count = int(request.query_params.get("nombre", "10"))
    except ValueError:
        count = 10
    count = count if count in COUNTS else 10
    query = request.query_params.get("q", "").strip()[:100]
    practitioner = await fhir.read("Practitioner", user.id)
    missing = missing_from(role_values(await profile_role(fhir, user.fhir_user)))
    recent = await requests_of(fhir, user.fhir_user, count, query)
    waiting = await requests_of(fhir, user.fhir_user, 10, open_only=True)
    return await render(
        request,
        "clinician/dashboard.html",
        {
            "practitioner": practitioner,
            "missing": missing,
            "recent": recent,
            "waiting": waiting,
            "count": count,
            "counts": COUNTS,
            "q": query,
        },
    )
