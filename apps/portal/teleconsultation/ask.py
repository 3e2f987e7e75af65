"""The patient asks: channel, specialty, who, symptoms, attachments, health profile, country."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from apps.portal.fhir import FhirClient, FhirError
from apps.portal.filters import human_name
from apps.portal.messaging.attachments import JPEG, PDF, PNG, sniff
from apps.portal.teleconsultation.model import (
    CHANNELS,
    LOINC,
    MIN_SYMPTOMS,
    QUESTIONNAIRE,
    SPECIALTIES,
    SYMPTOMS_LINK,
    UCUM,
    hours_table,
    open_now,
)
from apps.portal.teleconsultation.routing import router
from apps.portal.web import Fhir, FormState, PatientUser, form_data, form_dict, redirect, render

MAX_FILES = 3
MAX_BYTES = 10 * 1024 * 1024
ALLOWED = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG"}
EXTENSIONS = {"pdf": PDF, "png": PNG, "jpg": JPEG, "jpeg": JPEG}


async def persons(fhir: FhirClient, user: Any) -> list[dict[str, Any]]:
    """The account holder first, then their dependents (the Patients the token reaches)."""
    found = await fhir.search_resources("Patient", {"_count": "20"})
    found.sort(key=lambda p: (f"Patient/{p.get('id')}" != user.fhir_user, str(p.get("birthDate", ""))))
    return found


def _context(people: list[dict[str, Any]], covid: bool = False) -> dict[str, Any]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return {
        "channels": list(CHANNELS.items()),
        "specialties": [
            (c, label + ("" if open_now(c, now) else " (hors horaires)")) for c, label in SPECIALTIES.items()
        ],
        "hours": hours_table(),
        "people": [(p["id"], human_name(p), p.get("gender", "")) for p in people],
        "min_symptoms": MIN_SYMPTOMS,
        "covid": covid,
        "max_files": MAX_FILES,
    }


@router.get("/teleconsultation")
async def ask_form(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    covid = request.query_params.get("covid") == "1"
    form = FormState({"canal": "video" if covid else "", "pays": "France", "specialite": "generaliste"})
    return await render(
        request, "teleconsultation/ask.html", _context(await persons(fhir, user), covid), form=form
    )


async def _files(form: FormState, raw: Any) -> list[tuple[str, str, bytes]]:
    """The attachments, checked by their content: 3 at most, 10 Mo each, JPEG / PNG / PDF."""
    uploads = [f for f in raw.getlist("pieces") if isinstance(f, UploadFile) and f.filename]
    if len(uploads) > MAX_FILES:
        form.error("pieces", f"{MAX_FILES} pièces jointes au plus ({len(uploads)} choisies).")
        return []
    out = []
    for upload in uploads:
        data = await upload.read(MAX_BYTES + 1)
        name = upload.filename or "piece"
        if len(data) > MAX_BYTES:
            form.error("pieces", f"« {name} » dépasse 10 Mo.")
            continue
        kind = await run_in_threadpool(sniff, data)
        claimed = EXTENSIONS.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None
        if kind not in ALLOWED or claimed != kind:
            form.error("pieces", f"« {name} » n'est pas une image JPEG ou PNG ni un PDF (contenu vérifié).")
            continue
        out.append((name, kind, data))
    return out


def _number(form: FormState, name: str, label: str, low: float, high: float) -> float | None:
    raw = form.values.get(name, "").replace(",", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        form.error(name, f"{label} : un nombre.")
        return None
    if not low <= value <= high:
        form.error(name, f"{label} : entre {low:g} et {high:g}.")
        return None
    return value


def _observation(
    patient: str, encounter: str, code: str, display: str, value: dict[str, Any]
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs" if code != "82810-3" else "social-history",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": patient},
        "encounter": {"reference": encounter},
        **value,
    }


def _item(link: str, text: str, value: str) -> dict[str, Any]:
    return {"linkId": link, "text": text, "answer": [{"valueString": value}]}


@router.post("/teleconsultation")
async def ask(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    raw = await form_data(request)
    form = FormState(form_dict(raw))
    v = form.values
    people = await persons(fhir, user)
    covid = v.get("covid") == "1"
    by_id = {p["id"]: p for p in people}
    if v.get("canal") not in CHANNELS:
        form.error("canal", "Choisissez comment échanger avec le médecin.")
    if v.get("specialite", "generaliste") not in SPECIALTIES:
        form.error("specialite", "Choisissez un médecin généraliste ou une spécialité.")
    who = by_id.get(v.get("pour", ""))
    if who is None:
        form.error("pour", "Choisissez pour qui est la question.")
    symptoms = v.get("symptomes", "")
    if len(symptoms) < MIN_SYMPTOMS:
        form.error(
            "symptomes",
            f"Décrivez vos symptômes en {MIN_SYMPTOMS} caractères au moins ({len(symptoms)} pour l'instant).",
        )
    weight = _number(form, "poids", "Poids (kg)", 1, 350)
    height = _number(form, "taille", "Taille (cm)", 30, 250)
    if not v.get("pays"):
        form.error("pays", "Indiquez le pays où vous vous trouvez.")
    files = await _files(form, raw)
    context = _context(people, covid)
    if form:
        if files or raw.getlist("pieces"):
            form.error(
                "pieces", "Sélectionnez à nouveau vos pièces jointes (le navigateur ne les garde pas)."
            )
        return await render(request, "teleconsultation/ask.html", context, 422, form=form)
    assert who is not None
    patient = f"Patient/{who['id']}"
    enc = "urn:uuid:00000000-0000-4000-8000-000000000001"
    encounter = {
        "resourceType": "Encounter",
        "status": "planned",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "VR",
            "display": "virtual",
        },
        "serviceType": {"text": "Téléconsultation — " + SPECIALTIES[v.get("specialite") or "generaliste"]},
        "subject": {"reference": patient},
        "reasonCode": [{"text": "COVID-19" if covid else "Question de téléconsultation"}],
    }
    items = [
        _item(SYMPTOMS_LINK, "Symptômes", symptoms),
        _item("pays", "Pays où se trouve le patient", v["pays"]),
    ]
    for link, text in (
        ("traitements", "Traitements en cours"),
        ("antecedents", "Antécédents médicaux"),
        ("grossesse", "Grossesse"),
    ):
        if v.get(link):
            items.append(
                _item(
                    link,
                    text,
                    {"oui": "Oui", "non": "Non", "nsp": "Ne sait pas"}.get(v[link], v[link])
                    if link == "grossesse"
                    else v[link],
                )
            )
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": QUESTIONNAIRE,
        "status": "completed",
        "subject": {"reference": patient},
        "encounter": {"reference": enc},
        "author": {"reference": user.fhir_user},
        "item": items,
    }
    entries = [
        {"fullUrl": enc, "resource": encounter, "request": {"method": "POST", "url": "Encounter"}},
        {"resource": response, "request": {"method": "POST", "url": "QuestionnaireResponse"}},
    ]
    if weight:
        entries.append(
            {
                "resource": _observation(
                    patient,
                    enc,
                    "29463-7",
                    "Body weight",
                    {"valueQuantity": {"value": weight, "unit": "kg", "system": UCUM, "code": "kg"}},
                ),
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    if height:
        entries.append(
            {
                "resource": _observation(
                    patient,
                    enc,
                    "8302-2",
                    "Body height",
                    {"valueQuantity": {"value": height, "unit": "cm", "system": UCUM, "code": "cm"}},
                ),
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    if v.get("grossesse") in ("oui", "non"):
        code = {"oui": ("77386006", "Pregnant"), "non": ("60001007", "Not pregnant")}[v["grossesse"]]
        entries.append(
            {
                "resource": _observation(
                    patient,
                    enc,
                    "82810-3",
                    "Pregnancy status",
                    {
                        "valueCodeableConcept": {
                            "coding": [
                                {"system": "http://snomed.info/sct", "code": code[0], "display": code[1]}
                            ]
                        }
                    },
                ),
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    try:
        result = await fhir.transaction(entries)
        location = result["entry"][0]["response"]["location"]
        encounter_id = location.split("/")[1]
        for name, kind, data in files:  # one request each: a 10 Mo file is most of a request
            await fhir.create(attachment_document(patient, encounter_id, user.fhir_user, name, kind, data))
        await fhir.request(
            "POST",
            "Task/$tc-submit",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "encounter", "valueString": f"Encounter/{encounter_id}"},
                    {"name": "channel", "valueString": v["canal"]},
                    {"name": "specialty", "valueString": v.get("specialite") or "generaliste"},
                    {"name": "covid", "valueString": "true" if covid else "false"},
                ],
            },
        )
    except FhirError as exc:
        form.error("symptomes", exc.message)
        return await render(request, "teleconsultation/ask.html", context, exc.status, form=form)
    return redirect(f"/teleconsultation/{encounter_id}")


def attachment_document(
    patient: str, encounter_id: str, author: str, name: str, kind: str, data: bytes
) -> dict[str, Any]:
    """A file the patient joined to the question (inline: a patient token does not write Binary)."""
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"text": "Pièce jointe à une question de téléconsultation"},
        "subject": {"reference": patient},
        "author": [{"reference": author}],
        "description": name,
        "content": [
            {
                "attachment": {
                    "contentType": kind,
                    "title": name,
                    "size": len(data),
                    "data": base64.b64encode(data).decode(),
                }
            }
        ],
        "context": {"encounter": [{"reference": f"Encounter/{encounter_id}"}]},
    }
