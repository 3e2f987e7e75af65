"""The opinion-request side of a consultation (a patient's "demande d'avis", an Encounter with its
Task): taking it on, diagnoses coded through the terminology service, medical certificates,
a memo to the patient. Every write is refused once the consultation is closed."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.clinician.model import LOINC, TASK_CODES, code_of, now_iso, ref, ref_id
from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirClient, FhirError, version_etag
from apps.portal.web import Fhir, Practitioner, flash, form_data, form_dict, redirect

ICD10 = "http://hl7.org/fhir/sid/icd-10"
DIAGNOSES_VS = "http://terminology.ehdsi.eu/ValueSet/eHDSIIllnessandDisorder"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
PORTAL_DOC = "https://passerelle.fr/fhir/CodeSystem/portal-document"
MEMO_CATEGORY = "https://passerelle.fr/fhir/CodeSystem/portal-communication"
CERTIFICATE_TYPES = [
    ("certificat-medical", "Certificat médical"),
    ("arret-de-travail", "Avis d'arrêt de travail"),
    ("aptitude-sport", "Certificat de non contre-indication au sport"),
]
OPINION_TABS = [
    ("demande", "Demande patient"),
    ("dossier", "Dossier médical"),
    ("fiche", "Mon avis"),
    ("certificats", "Certificats médicaux"),
    ("diagnostics", "Diagnostics"),
    ("confreres", "Avis aux confrères"),
    ("memo", "Mémo"),
    ("historique", "Historique"),
    ("cloture", "Clôture"),
]
OFFICE_TABS = [
    ("fiche", "Fiche de consultation"),
    ("constantes", "Constantes"),
    ("diagnostics", "Diagnostics"),
    ("confreres", "Avis aux confrères"),
    ("historique", "Historique"),
    ("cloture", "Clôture"),
]


async def request_task(fhir: FhirClient, encounter_id: str) -> dict[str, Any] | None:
    """The patient's opinion request this consultation answers (a Task focused on the Encounter)."""
    tasks = await fhir.search_resources("Task", {"focus": f"Encounter/{encounter_id}"})
    return next((t for t in tasks if code_of(t.get("code"), TASK_CODES) == "demande-avis"), None)


async def search_diagnoses(fhir: FhirClient, text: str) -> tuple[list[dict[str, Any]], str | None]:
    """CIM-10 diagnoses matching ``text`` (French designations where the terminology has them)."""
    if len(text) < 2:
        return [], "Saisissez au moins deux caractères."
    try:
        response = await fhir.request(
            "GET",
            "ValueSet/$expand",
            params={"url": DIAGNOSES_VS, "filter": text, "displayLanguage": "fr", "count": "20"},
        )
    except FhirError as exc:
        return [], exc.message
    contains = response.json().get("expansion", {}).get("contains", [])
    return [c for c in contains if c.get("code")], None


async def opinion_context(
    fhir: FhirClient, request: Request, encounter: dict[str, Any], patient: dict[str, Any], tab: str
) -> dict[str, Any]:
    eid = encounter["id"]
    task = await request_task(fhir, eid)
    ctx: dict[str, Any] = {
        "task": task,
        "tabs": OPINION_TABS if task else OFFICE_TABS,
        "certificate_types": CERTIFICATE_TYPES,
    }
    if tab == "dossier":
        ctx["documents"] = await fhir.search_resources(
            "DocumentReference",
            {"subject": f"Patient/{patient['id']}", "_sort": "-date", "_count": "50",
             "_elements": "type,date,description,author,subject"},
        )  # fmt: skip
    if tab == "certificats":
        ctx["certificates"] = [
            d
            for d in await fhir.search_resources("DocumentReference", {"encounter": f"Encounter/{eid}"})
            if code_of(d.get("type"), PORTAL_DOC)
        ]
    if tab == "memo":
        ctx["memos"] = await fhir.search_resources(
            "Communication", {"encounter": f"Encounter/{eid}", "category": f"{MEMO_CATEGORY}|memo"}
        )
    if tab == "confreres":
        ctx["expertises"] = await fhir.search_resources("ServiceRequest", {"encounter": f"Encounter/{eid}"})
    if tab == "diagnostics":
        q = request.query_params.get("q", "").strip()[:80]
        ctx["q"] = q
        ctx["diagnoses"], ctx["diagnosis_error"] = await search_diagnoses(fhir, q) if q else ([], None)
    return ctx


async def _open_encounter(fhir: FhirClient, encounter_id: str) -> tuple[dict[str, Any], str]:
    encounter = await fhir.read("Encounter", encounter_id)
    patient_id = ref_id(encounter.get("subject"), "Patient")
    if patient_id is None:
        raise HTTPException(404, "Consultation introuvable.")
    await fhir.read("Patient", patient_id)  # the patient must be within reach
    if encounter.get("status") == "finished":
        raise HTTPException(409, "Consultation clôturée : elle ne peut plus être modifiée.")
    return encounter, patient_id


@router.post("/consultations/{encounter_id}/prise-en-charge")
async def take_on(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    encounter, _ = await _open_encounter(fhir, encounter_id)
    task = await request_task(fhir, encounter_id)
    if task is None or task.get("status") not in ("requested", "received", "accepted"):
        return redirect(f"/consultations/{encounter_id}?onglet=demande")
    tx = [
        {"resource": {**task, "status": "in-progress", "lastModified": now_iso()},
         "request": {"method": "PUT", "url": f"Task/{task['id']}", "ifMatch": version_etag(task)}},
        {"resource": {**encounter, "status": "in-progress"},
         "request": {"method": "PUT", "url": f"Encounter/{encounter_id}",
                     "ifMatch": version_etag(encounter)}},
    ]  # fmt: skip
    try:
        await fhir.transaction(tx)
    except FhirError as exc:
        if exc.status not in (409, 412):
            raise
        await flash(request, "La demande a été modifiée entre-temps : rechargez la page.", "erreur")
        return redirect(f"/consultations/{encounter_id}?onglet=demande")
    await flash(request, "Demande prise en charge.", "succes")
    return redirect(f"/consultations/{encounter_id}?onglet=fiche")


@router.post("/consultations/{encounter_id}/diagnostics")
async def add_diagnosis(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    _, patient_id = await _open_encounter(fhir, encounter_id)
    values = form_dict(await form_data(request))
    code, display = values.get("code", ""), values.get("display", "")[:300]
    back = f"/consultations/{encounter_id}?onglet=diagnostics"
    if values.get("system") != ICD10 or not code or len(code) > 10:
        await flash(request, "Choisissez un diagnostic dans la liste proposée.", "erreur")
        return redirect(back)
    condition = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed"}]},
        "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": ICD10, "code": code, "display": display}], "text": display or code},
        "subject": ref("Patient", patient_id),
        "encounter": ref("Encounter", encounter_id),
        "recordedDate": now_iso(),
        "recorder": ref(*user.fhir_user.split("/", 1)),
    }
    await fhir.create(condition)
    await flash(request, f"Diagnostic ajouté : {display or code} ({code}).", "succes")
    return redirect(back)


@router.post("/consultations/{encounter_id}/certificats")
async def add_certificate(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    _, patient_id = await _open_encounter(fhir, encounter_id)
    values = form_dict(await form_data(request))
    back = f"/consultations/{encounter_id}?onglet=certificats"
    kind = dict(CERTIFICATE_TYPES).get(values.get("type", ""))
    text = values.get("texte", "")
    if kind is None or not text or len(text) > 5000:
        await flash(
            request, "Choisissez le type et rédigez le certificat (5 000 caractères au plus).", "erreur"
        )
        return redirect(back)
    body = f"{kind}\n\n{text}\n\nFait le {now_iso()[:10]} par {user.name}.\n".encode()
    await fhir.create(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": {"coding": [{"system": PORTAL_DOC, "code": values["type"], "display": kind}],
                     "text": kind},
            "category": [{"coding": [{"system": LOINC, "code": "11488-4"}], "text": "Certificat"}],
            "subject": ref("Patient", patient_id),
            "date": now_iso(),
            "author": [ref(*user.fhir_user.split("/", 1))],
            "description": kind,
            "context": {"encounter": [ref("Encounter", encounter_id)]},
            "content": [
                {"attachment": {"contentType": "text/plain; charset=utf-8",
                                "data": base64.b64encode(body).decode(),
                                "title": f"{kind}.txt", "size": len(body)}}
            ],
        }
    )  # fmt: skip
    await flash(request, f"{kind} enregistré dans le dossier.", "succes")
    return redirect(back)


@router.post("/consultations/{encounter_id}/memo")
async def send_memo(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    _, patient_id = await _open_encounter(fhir, encounter_id)
    values = form_dict(await form_data(request))
    back = f"/consultations/{encounter_id}?onglet=memo"
    text = values.get("message", "")
    if not text or len(text) > 2000:
        await flash(request, "Écrivez le message (2 000 caractères au plus).", "erreur")
        return redirect(back)
    await fhir.create(
        {
            "resourceType": "Communication",
            "status": "completed",
            "category": [
                {"coding": [{"system": MEMO_CATEGORY, "code": "memo", "display": "Mémo au patient"}]}
            ],
            "subject": ref("Patient", patient_id),
            "encounter": ref("Encounter", encounter_id),
            "sent": now_iso(),
            "sender": ref(*user.fhir_user.split("/", 1)),
            "recipient": [ref("Patient", patient_id)],
            "payload": [{"contentString": text}],
        }
    )
    await flash(request, "Mémo envoyé au patient.", "succes")
    return redirect(back)
