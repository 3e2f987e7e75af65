"""The doctors' side: the queue, taking a question, the consultation page, the report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from apps.portal.fhir import FhirClient, FhirError
from apps.portal.teleconsultation.consult import _appointment, names_of, question, thread
from apps.portal.teleconsultation.model import (
    COVID,
    QUESTIONNAIRE,
    REPORT_TYPE,
    answer_rows,
    answers,
    ops_params,
    view,
)
from apps.portal.teleconsultation.routing import router
from apps.portal.web import Fhir, FormState, Practitioner, flash, form_data, form_dict, redirect, render


async def queue(fhir: FhirClient) -> list[dict[str, Any]]:
    bundle = (await fhir.request("GET", "Task/$tc-queue")).json()
    return [view(e["resource"]) for e in bundle.get("entry", [])]


@router.get("/file-attente")
async def waiting_list(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    return await render(request, "teleconsultation/queue.html", {"questions": await queue(fhir)})


@router.get("/file-attente/etat")
async def waiting_list_json(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    return JSONResponse({"questions": await queue(fhir)}, headers={"Cache-Control": "no-store"})


@router.post("/file-attente/{task_id}/prendre")
async def take(request: Request, task_id: str, user: Practitioner, fhir: Fhir) -> Response:
    await form_data(request)
    try:
        answer = ops_params(
            (
                await fhir.request("POST", f"Task/{task_id}/$tc-take", json={"resourceType": "Parameters"})
            ).json()
        )
    except FhirError as exc:
        if exc.status not in (404, 409):
            raise
        await flash(request, exc.message, "erreur")
        return redirect("/file-attente")
    encounter_id = view(answer["task"])["encounter"]
    await flash(request, "Question prise en charge : le patient est prévenu.", "succes")
    return redirect(f"/file-attente/consultation/{encounter_id}")


async def record(fhir: FhirClient, encounter_id: str, patient_id: str) -> dict[str, Any]:
    """What the doctor reads: the question, the health profile, attachments, earlier COVID forms."""
    responses = await fhir.search_resources(
        "QuestionnaireResponse", {"encounter": f"Encounter/{encounter_id}"}
    )
    described = next((answers(r) for r in responses if r.get("questionnaire") == QUESTIONNAIRE), {})
    observations = await fhir.search_resources("Observation", {"encounter": f"Encounter/{encounter_id}"})
    profile = []
    for obs in observations:
        coding = (obs.get("code", {}).get("coding") or [{}])[0]
        # pregnancy is shown from the patient's own answer (the QuestionnaireResponse)
        label = {"29463-7": "Poids", "8302-2": "Taille"}.get(coding.get("code"), "")
        if "valueQuantity" in obs:
            value = f"{obs['valueQuantity']['value']:g} {obs['valueQuantity'].get('unit', '')}"
        else:
            value = {"77386006": "oui", "60001007": "non"}.get(
                ((obs.get("valueCodeableConcept") or {}).get("coding") or [{}])[0].get("code"), ""
            )
        if label:
            profile.append((label, value))
    documents = await fhir.search_resources(
        "DocumentReference", {"encounter": f"Encounter/{encounter_id}", "_elements": "id,description,content"}
    )
    files = []
    for doc in documents:
        att = (doc.get("content") or [{}])[0].get("attachment", {})
        files.append(
            {
                "id": doc["id"],
                "title": att.get("title") or doc.get("description", "pièce"),
                "type": att.get("contentType", ""),
                "size": att.get("size", 0),
            }
        )
    covid_forms = [
        {"when": r.get("authored", ""), "rows": answer_rows(r)}
        for r in await fhir.search_resources(
            "QuestionnaireResponse",
            {"subject": f"Patient/{patient_id}", "questionnaire": COVID, "_sort": "-authored"},
        )
    ]
    reports = await fhir.search_resources("Composition", {"encounter": f"Encounter/{encounter_id}"})
    return {
        "described": described,
        "profile": profile,
        "files": files,
        "covid_forms": covid_forms,
        "report": reports[0] if reports else None,
    }


@router.get("/file-attente/consultation/{encounter_id}")
async def consultation(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    return await _page(request, encounter_id, user, fhir)


async def _page(
    request: Request,
    encounter_id: str,
    user: Any,
    fhir: FhirClient,
    form: FormState | None = None,
    status_code: int = 200,
) -> Response:
    encounter, task = await question(fhir, encounter_id, user.fhir_user)
    patient_id = str(encounter["subject"]["reference"]).partition("/")[2]
    patient = await fhir.read("Patient", patient_id)
    names = await names_of(fhir, encounter, task)
    return await render(
        request,
        "teleconsultation/doctor.html",
        {
            "q": view(task),
            "eid": encounter_id,
            "patient": patient,
            **await record(fhir, encounter_id, patient_id),
            "fil": await thread(fhir, encounter_id, names),
            "appointment": _appointment(encounter),
            "mine": view(task)["owner"] == user.fhir_user,
        },
        status_code,
        form=form,
    )


@router.get("/file-attente/consultation/{encounter_id}/document/{doc_id}")
async def document(
    request: Request, encounter_id: str, doc_id: str, user: Practitioner, fhir: Fhir
) -> Response:
    import base64

    doc = await fhir.read("DocumentReference", doc_id)
    contexts = [e.get("reference") for e in (doc.get("context") or {}).get("encounter") or []]
    att = (doc.get("content") or [{}])[0].get("attachment", {})
    if f"Encounter/{encounter_id}" not in contexts or "data" not in att:
        raise FhirError(404, "Pièce jointe introuvable.")
    name = str(att.get("title", "piece")).replace('"', "")
    return Response(
        base64.b64decode(att["data"]),
        media_type=att.get("contentType", "application/octet-stream"),
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/file-attente/consultation/{encounter_id}/compte-rendu")
async def report(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    form = FormState(form_dict(await form_data(request)))
    v = form.values
    if len(v.get("conclusion", "")) < 10:
        form.error("conclusion", "Écrivez le compte rendu (10 caractères au moins).")
    if form:
        return await _page(request, encounter_id, user, fhir, form, 422)
    encounter, task = await question(fhir, encounter_id, user.fhir_user)
    sections = [
        ("Motif et symptômes", v.get("motif", "")),
        ("Examen et échanges", v.get("examen", "")),
        ("Conclusion et conduite à tenir", v["conclusion"]),
    ]
    composition = {
        "resourceType": "Composition",
        "status": "final",
        "type": {"coding": [REPORT_TYPE], "text": "Compte rendu de téléconsultation"},
        "subject": encounter["subject"],
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "author": [{"reference": user.fhir_user}],
        "title": "Compte rendu de téléconsultation",
        "section": [
            {"title": title, "text": {"status": "generated", "div": _div(text)}}
            for title, text in sections
            if text
        ],
    }
    try:
        await fhir.create(composition)
        await fhir.request("POST", f"Task/{task['id']}/$tc-close", json={"resourceType": "Parameters"})
    except FhirError as exc:
        form.error("conclusion", exc.message)
        return await _page(request, encounter_id, user, fhir, form, exc.status)
    await flash(request, "Compte rendu enregistré : le patient est prévenu par e-mail.", "succes")
    return redirect(f"/file-attente/consultation/{encounter_id}")


def _div(text: str) -> str:
    from html import escape

    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip())
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{paragraphs}</div>'
