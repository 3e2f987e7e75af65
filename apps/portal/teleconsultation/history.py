"""After the consultation (patient): "Mes questions", the report, the prescriptions, the rating."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from apps.portal.fhir import FhirClient
from apps.portal.filters import human_name
from apps.portal.teleconsultation.model import RATING, TC_SYSTEM, answers, task_for, view
from apps.portal.teleconsultation.routing import router
from apps.portal.web import (
    Fhir,
    FormState,
    PatientUser,
    flash,
    form_data,
    form_dict,
    portal_of,
    redirect,
    render,
)


@router.get("/teleconsultation/mes-questions")
async def my_questions(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    tasks = await fhir.search_resources("Task", {"code": f"{TC_SYSTEM}|question", "_count": "100"})
    tasks.sort(key=lambda t: str(t.get("authoredOn", "")), reverse=True)
    people = {p["id"]: human_name(p) for p in await fhir.search_resources("Patient", {"_count": "20"})}
    rows = []
    for task in tasks:
        q = view(task)
        q["who"] = people.get(str(task.get("for", {}).get("reference", "")).partition("/")[2], "")
        rows.append(q)
    return await render(request, "teleconsultation/history.html", {"questions": rows})


async def _after(fhir: FhirClient, encounter_id: str) -> dict[str, Any]:
    task = await task_for(fhir, encounter_id)
    reports = await fhir.search_resources(
        "Composition", {"encounter": f"Encounter/{encounter_id}", "status": "final"}
    )
    prescriptions = await fhir.search_resources(
        "MedicationRequest", {"encounter": f"Encounter/{encounter_id}"}
    )
    exams = await fhir.search_resources("ServiceRequest", {"encounter": f"Encounter/{encounter_id}"})
    numbers = sorted(
        {
            str((r.get("groupIdentifier") or r.get("requisition") or {}).get("value", ""))
            for r in prescriptions + exams
        }
        - {""}
    )
    ratings = await fhir.search_resources(
        "QuestionnaireResponse", {"encounter": f"Encounter/{encounter_id}", "questionnaire": RATING}
    )
    return {
        "q": view(task),
        "task": task,
        "report": reports[0] if reports else None,
        "numbers": numbers,
        "rating": answers(ratings[0]) if ratings else None,
    }


@router.get("/teleconsultation/{encounter_id}/bilan")
async def summary(request: Request, encounter_id: str, user: PatientUser, fhir: Fhir) -> Response:
    return await render(
        request, "teleconsultation/after.html", {"eid": encounter_id, **await _after(fhir, encounter_id)}
    )


@router.get("/teleconsultation/{encounter_id}/compte-rendu")
async def report_download(request: Request, encounter_id: str, user: PatientUser, fhir: Fhir) -> Response:
    """The report as a standalone HTML file (printable)."""
    data = await _after(fhir, encounter_id)
    if data["report"] is None:
        return redirect(f"/teleconsultation/{encounter_id}/bilan")
    report = data["report"]
    author = report.get("author", [{}])[0].get("reference", "")
    doctor = human_name(await fhir.read("Practitioner", author.partition("/")[2])) if author else ""
    patient = human_name(await fhir.read("Patient", report["subject"]["reference"].partition("/")[2]))
    page = (
        portal_of(request)
        .templates.env.get_template("teleconsultation/report_file.html")
        .render(report=report, doctor=doctor, patient=patient)
    )
    return HTMLResponse(
        page,
        headers={
            "Content-Disposition": f'attachment; filename="compte-rendu-{encounter_id}.html"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/teleconsultation/{encounter_id}/evaluation")
async def rate(request: Request, encounter_id: str, user: PatientUser, fhir: Fhir) -> Response:
    form = FormState(form_dict(await form_data(request)))
    v = form.values
    if v.get("evite") not in ("oui", "non"):
        form.error("evite", "Indiquez si la téléconsultation vous a évité une visite chez le médecin.")
    if v.get("note") not in ("1", "2", "3", "4", "5"):
        form.error("note", "Donnez une note de 1 à 5 étoiles.")
    if len(v.get("commentaire", "")) > 2000:
        form.error("commentaire", "Commentaire : 2 000 caractères au plus.")
    data = await _after(fhir, encounter_id)
    if data["rating"] is not None:
        await flash(request, "Vous avez déjà donné votre avis sur cette téléconsultation.", "info")
        return redirect(f"/teleconsultation/{encounter_id}/bilan")
    if form:
        return await render(
            request, "teleconsultation/after.html", {"eid": encounter_id, **data}, 422, form=form
        )
    items = [
        {
            "linkId": "visite-evitee",
            "text": "Cette téléconsultation vous a-t-elle évité une visite chez le médecin ?",
            "answer": [{"valueBoolean": v["evite"] == "oui"}],
        },
        {"linkId": "note", "text": "Note (1 à 5 étoiles)", "answer": [{"valueInteger": int(v["note"])}]},
    ]
    if v.get("commentaire"):
        items.append(
            {
                "linkId": "commentaire",
                "text": "Commentaire pour l'équipe qualité",
                "answer": [{"valueString": v["commentaire"]}],
            }
        )
    await fhir.create(
        {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": RATING,
            "status": "completed",
            "subject": data["task"]["for"],
            "encounter": {"reference": f"Encounter/{encounter_id}"},
            "authored": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "author": {"reference": user.fhir_user},
            "item": items,
        }
    )
    await flash(request, "Merci pour votre avis : il est transmis à l'équipe qualité.", "succes")
    return redirect(f"/teleconsultation/{encounter_id}/bilan")
