"""Consultations: in-office consultation (reason, summary, examination, vital signs as
Observations, consultation sheet as a Composition), its page, and closing it (locked after)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.clinician.model import ACT_CODE, LOINC, entries, now_iso, ref, ref_id
from apps.portal.clinician.opinion import opinion_context, request_task
from apps.portal.clinician.regulation import regulation_context
from apps.portal.clinician.routing import router
from apps.portal.clinician.vitals import VITALS, check_vitals, latest, observations
from apps.portal.fhir import FhirClient, FhirError, version_etag
from apps.portal.web import Fhir, FormState, Practitioner, flash, form_data, form_dict, redirect, render

CONSULT_NOTE = {"system": LOINC, "code": "11488-4", "display": "Consult note"}
SECTIONS = [
    ("motif", "Motif", "29299-5", "Reason for visit"),
    ("resume", "Résumé", "10164-2", "History of present illness"),
    ("examen", "Examen clinique", "29545-1", "Physical findings"),
    ("conclusion", "Conclusion", "51848-0", "Evaluation note"),
]
FIELD_MAX = 10_000


def sheet_errors(values: dict[str, str]) -> dict[str, str]:
    errors = check_vitals(values)
    if not values.get("motif"):
        errors["motif"] = "Indiquez le motif de la consultation."
    for key, label, *_ in SECTIONS:
        if len(values.get(key, "")) > FIELD_MAX:
            errors[key] = f"{label} : {FIELD_MAX} caractères au plus."
    return errors


def _div(text: str) -> dict[str, str]:
    from html import escape

    body = "<br/>".join(escape(line) for line in text.splitlines()) or "—"
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def composition(
    values: dict[str, str], patient_id: str, encounter: str, me: str, when: str
) -> dict[str, Any]:
    return {
        "resourceType": "Composition",
        "status": "preliminary",
        "type": {"coding": [CONSULT_NOTE], "text": "Fiche de consultation"},
        "subject": ref("Patient", patient_id),
        "encounter": {"reference": encounter},
        "date": when,
        "author": [ref(*me.split("/", 1))],
        "title": "Fiche de consultation",
        "section": [
            {
                "title": label,
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "text": _div(values.get(key, "")),
            }
            for key, label, code, display in SECTIONS
        ],
    }


def section_texts(comp: dict[str, Any] | None) -> dict[str, str]:
    """The sheet's sections back as form values (from the narrative written by :func:`_div`)."""
    import re
    from html import unescape

    out: dict[str, str] = {}
    for section in (comp or {}).get("section", []):
        code = ((section.get("code") or {}).get("coding") or [{}])[0].get("code")
        key = next((k for k, _, c, _ in SECTIONS if c == code), None)
        if key:
            div = (section.get("text") or {}).get("div", "")
            inner = re.sub(r"^<div[^>]*>|</div>$", "", div).replace("<br/>", "\n")
            out[key] = "" if inner == "—" else unescape(inner)
    return out


@router.get("/patients/{patient_id}/consultations/nouvelle")
async def new_consultation_form(
    request: Request, patient_id: str, user: Practitioner, fhir: Fhir
) -> Response:
    patient = await fhir.read("Patient", patient_id)
    return await render(request, "clinician/consultation_new.html", {"patient": patient, "vitals": VITALS})


@router.post("/patients/{patient_id}/consultations/nouvelle")
async def create_consultation(request: Request, patient_id: str, user: Practitioner, fhir: Fhir) -> Response:
    patient = await fhir.read("Patient", patient_id)
    values = form_dict(await form_data(request))
    form = FormState(values, sheet_errors(values))
    ctx = {"patient": patient, "vitals": VITALS}
    if form:
        return await render(request, "clinician/consultation_new.html", ctx, status_code=422, form=form)
    when = now_iso()
    enc_url = f"urn:uuid:{uuid.uuid4()}"
    encounter = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"text": "Consultation au cabinet"}],
        "subject": ref("Patient", patient_id),
        "participant": [{"individual": ref(*user.fhir_user.split("/", 1))}],
        "period": {"start": when},
        "reasonCode": [{"text": values["motif"][:500]}],
    }
    bundle_entries = [
        {"fullUrl": enc_url, "resource": encounter, "request": {"method": "POST", "url": "Encounter"}},
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": composition(values, patient_id, enc_url, user.fhir_user, when),
            "request": {"method": "POST", "url": "Composition"},
        },
    ]
    for obs in observations(values, patient_id, "placeholder", user.fhir_user, when):
        obs["encounter"] = {"reference": enc_url}
        bundle_entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": obs,
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    try:
        result = await fhir.transaction(bundle_entries)
    except FhirError as exc:
        if exc.status >= 500:
            raise
        form.error("motif", f"Consultation non enregistrée : {exc.message}")
        return await render(
            request, "clinician/consultation_new.html", ctx, status_code=exc.status, form=form
        )
    location = result["entry"][0]["response"]["location"]  # Encounter/<id>/_history/1
    encounter_id = location.split("/")[1]
    await flash(request, "Consultation enregistrée.", "succes")
    return redirect(f"/consultations/{encounter_id}")


async def _consultation(
    fhir: FhirClient, encounter_id: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    encounter = await fhir.read("Encounter", encounter_id)
    patient_id = ref_id(encounter.get("subject"), "Patient")
    if patient_id is None:
        raise HTTPException(404, "Consultation introuvable.")
    patient = await fhir.read("Patient", patient_id)
    sheets = await fhir.search_resources(
        "Composition", {"encounter": f"Encounter/{encounter_id}", "type": f"{LOINC}|11488-4"}
    )
    return encounter, patient, sheets[0] if sheets else None


@router.get("/consultations/{encounter_id}")
async def consultation_page(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    encounter, patient, sheet = await _consultation(fhir, encounter_id)
    tab = request.query_params.get("onglet", "")
    if not tab:
        tab = "demande" if await request_task(fhir, encounter_id) else "fiche"
    obs = await fhir.search_resources(
        "Observation", {"encounter": f"Encounter/{encounter_id}", "_sort": "-date", "_count": "100"}
    )
    conditions = await fhir.search_resources("Condition", {"encounter": f"Encounter/{encounter_id}"})
    history = entries(
        await fhir.search(
            "Encounter", {"subject": f"Patient/{patient['id']}", "_sort": "-date", "_count": "20"}
        ),
        "Encounter",
    )
    return await render(
        request,
        "clinician/consultation.html",
        {
            "encounter": encounter,
            "patient": patient,
            "sheet": sheet,
            "sheet_values": section_texts(sheet)
            or {"motif": ((encounter.get("reasonCode") or [{}])[0]).get("text", "")},
            "sections": SECTIONS,
            "closed": encounter.get("status") == "finished",
            "tab": tab,
            "vitals": latest(obs),
            "conditions": conditions,
            "history": history,
            **await opinion_context(fhir, request, encounter, patient, tab),
            **(
                await regulation_context(
                    fhir, user.fhir_user, encounter_id, await request_task(fhir, encounter_id)
                )
                if tab == "demande"
                else {}
            ),
        },
    )


@router.post("/consultations/{encounter_id}/fiche")
async def save_sheet(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    encounter, patient, sheet = await _consultation(fhir, encounter_id)
    if encounter.get("status") == "finished" or (sheet is not None and sheet.get("status") == "final"):
        raise HTTPException(409, "Consultation clôturée : elle ne peut plus être modifiée.")
    values = form_dict(await form_data(request))
    form = FormState(
        values, {k: v for k, v in sheet_errors(values).items() if k in dict((s[0], 1) for s in SECTIONS)}
    )
    if form:
        return await render(
            request,
            "clinician/consultation.html",
            {"encounter": encounter, "patient": patient, "sheet": sheet, "sheet_values": values,
             "sections": SECTIONS, "closed": False, "tab": "fiche", "vitals": [], "conditions": [],
             "history": []},
            status_code=422,
            form=form,
        )  # fmt: skip
    updated = composition(values, patient["id"], f"Encounter/{encounter_id}", user.fhir_user, now_iso())
    try:
        if sheet is None:
            await fhir.create(updated)
        else:
            await fhir.update({**updated, "id": sheet["id"]}, if_match=version_etag(sheet))
    except FhirError as exc:
        if exc.status in (409, 412):
            await flash(
                request,
                "La fiche a été modifiée entre-temps : vos changements n'ont pas été enregistrés.",
                "erreur",
            )
            return redirect(f"/consultations/{encounter_id}")
        raise
    await flash(request, "Fiche de consultation enregistrée.", "succes")
    return redirect(f"/consultations/{encounter_id}")


@router.post("/consultations/{encounter_id}/cloture")
async def close_consultation(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    encounter, patient, sheet = await _consultation(fhir, encounter_id)
    if encounter.get("status") == "finished":
        raise HTTPException(409, "Cette consultation est déjà clôturée.")
    values = form_dict(await form_data(request))
    revoir = values.get("revoir")
    if revoir not in ("oui", "non"):
        await flash(request, "Indiquez s'il faut revoir le patient avant de clôturer.", "erreur")
        return redirect(f"/consultations/{encounter_id}?onglet=cloture")
    when = now_iso()
    encounter = {**encounter, "status": "finished", "period": {**encounter.get("period", {}), "end": when}}
    tx: list[dict[str, Any]] = [
        {"resource": encounter, "request": {"method": "PUT", "url": f"Encounter/{encounter_id}",
                                            "ifMatch": version_etag(encounter)}},
    ]  # fmt: skip
    if sheet is not None:
        tx.append(
            {"resource": {**sheet, "status": "final"},
             "request": {"method": "PUT", "url": f"Composition/{sheet['id']}",
                         "ifMatch": version_etag(sheet)}}
        )  # fmt: skip
    task = await request_task(fhir, encounter_id)
    if task is not None and task.get("status") not in ("completed", "cancelled"):
        tx.append(
            {"resource": {**task, "status": "completed", "lastModified": when},
             "request": {"method": "PUT", "url": f"Task/{task['id']}", "ifMatch": version_etag(task)}}
        )  # fmt: skip
    if revoir == "oui":
        delay = values.get("delai", "").strip()[:100] or "à préciser"
        tx.append(
            {
                "resource": {
                    "resourceType": "Task",
                    "status": "requested",
                    "intent": "plan",
                    "description": f"Revoir le patient ({delay})",
                    "for": ref("Patient", patient["id"]),
                    "encounter": ref("Encounter", encounter_id),
                    "authoredOn": when,
                    "requester": ref(*user.fhir_user.split("/", 1)),
                    "owner": ref(*user.fhir_user.split("/", 1)),
                },
                "request": {"method": "POST", "url": "Task"},
            }
        )
    try:
        await fhir.transaction(tx)
    except FhirError as exc:
        if exc.status in (409, 412):
            await flash(
                request, "La consultation a été modifiée entre-temps : rechargez et recommencez.", "erreur"
            )
            return redirect(f"/consultations/{encounter_id}")
        raise
    await flash(
        request,
        "Consultation clôturée."
        + (" Un rappel pour revoir le patient a été créé." if revoir == "oui" else ""),
        "succes",
    )
    return redirect(f"/consultations/{encounter_id}")
