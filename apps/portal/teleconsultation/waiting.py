"""The patient waits: the waiting screen, the 15-minute expiry (wait again or cancel)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from apps.portal.fhir import FhirClient
from apps.portal.teleconsultation.model import ops_params, task_for, view
from apps.portal.teleconsultation.routing import router
from apps.portal.web import Fhir, PatientUser, flash, form_data, redirect, render


async def status(fhir: FhirClient, encounter_id: str) -> tuple[dict[str, Any], int]:
    """The question's Task as the server sees it now (expired when its deadline has passed)."""
    task = await task_for(fhir, encounter_id)
    answer = ops_params((await fhir.request("GET", f"Task/{task['id']}/$tc-status")).json())
    return answer["task"], int(answer.get("doctors-online") or 0)


@router.get("/teleconsultation/{encounter_id}")
async def waiting(request: Request, encounter_id: str, user: PatientUser, fhir: Fhir) -> Response:
    if encounter_id in ("mes-questions", "covid"):
        return redirect("/teleconsultation")
    task, online = await status(fhir, encounter_id)
    state = task.get("status")
    if state == "in-progress":
        return redirect(f"/teleconsultation/{encounter_id}/consultation")
    if state == "completed":
        return redirect(f"/teleconsultation/{encounter_id}/bilan")
    template = {"on-hold": "expired", "cancelled": "cancelled"}.get(str(state), "waiting")
    return await render(
        request, f"teleconsultation/{template}.html", {"q": view(task), "online": online, "eid": encounter_id}
    )


@router.get("/teleconsultation/{encounter_id}/etat")
async def state(request: Request, encounter_id: str, user: PatientUser, fhir: Fhir) -> Response:
    task, online = await status(fhir, encounter_id)
    q = view(task)
    return JSONResponse(
        {"status": q["status"], "left": q["left"], "online": online}, headers={"Cache-Control": "no-store"}
    )


@router.post("/teleconsultation/{encounter_id}/attendre")
async def wait_again(request: Request, encounter_id: str, user: PatientUser, fhir: Fhir) -> Response:
    await form_data(request)
    task = await task_for(fhir, encounter_id)
    await fhir.request("POST", f"Task/{task['id']}/$tc-wait-again", json={"resourceType": "Parameters"})
    await flash(request, "Votre question attend de nouveau un médecin (15 minutes).", "succes")
    return redirect(f"/teleconsultation/{encounter_id}")


@router.post("/teleconsultation/{encounter_id}/annuler")
async def cancel(request: Request, encounter_id: str, user: PatientUser, fhir: Fhir) -> Response:
    await form_data(request)
    task = await task_for(fhir, encounter_id)
    await fhir.request("POST", f"Task/{task['id']}/$tc-cancel", json={"resourceType": "Parameters"})
    await flash(request, "Votre question est annulée. Un e-mail vous a été envoyé.", "info")
    return redirect(f"/teleconsultation/{encounter_id}")
