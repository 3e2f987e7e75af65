"""Regulation on the opinion-request page: the regulating doctor orders exams, then passes the
request on to the doctor the patient chose (``fhir_server.operations.regulation_rules`` routed it).

Exams are ``ServiceRequest`` (status active, intent order) of the patient, in the request's
Encounter, category ``regulation``; passing on is one update of the Task (``owner``), with If-Match.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.clinician.model import now_iso
from apps.portal.clinician.opinion import _open_encounter, request_task
from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirClient, FhirError, version_etag
from apps.portal.web import Fhir, Practitioner, flash, form_data, form_dict, redirect

STATUS_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/regulation-status"
CATEGORY = {
    "coding": [
        {
            "system": "https://passerelle.fr/fhir/CodeSystem/portal-servicerequest",
            "code": "regulation",
            "display": "Examen prescrit par la régulation",
        }
    ]
}
LOINC = "http://loinc.org"
# Common first-line exams (LOINC orderable codes), labelled in French.
EXAMS = [
    ("58410-2", "Numération formule sanguine (NFS)"),
    ("24323-8", "Bilan métabolique (ionogramme, créatinine, glycémie)"),
    ("11524-6", "Électrocardiogramme (ECG)"),
    ("36643-5", "Radiographie du thorax (face et profil)"),
    ("24558-9", "Échographie abdominale"),
    ("1988-5", "Protéine C réactive (CRP)"),
]


def routed_to_me(task: dict[str, Any] | None, me: str) -> bool:
    """Whether this request waits for me as its regulating doctor."""
    if not task or (task.get("owner") or {}).get("reference") != me:
        return False
    return any(
        c.get("system") == STATUS_SYSTEM and c.get("code") == "en-regulation"
        for c in (task.get("businessStatus") or {}).get("coding", [])
    )


def chosen_doctor(task: dict[str, Any]) -> str | None:
    recipients = (task.get("restriction") or {}).get("recipient") or []
    return next(
        (r["reference"] for r in recipients if str(r.get("reference", "")).startswith("Practitioner/")), None
    )


async def regulation_context(
    fhir: FhirClient, me: str, encounter_id: str, task: dict[str, Any] | None
) -> dict[str, Any]:
    """What the "demande" tab shows: the exams ordered by the regulation, and (for the regulating
    doctor) the doctor the request will be passed on to."""
    if task is None:
        return {}
    exams = await fhir.search_resources(
        "ServiceRequest",
        {
            "encounter": f"Encounter/{encounter_id}",
            "category": "https://passerelle.fr/fhir/CodeSystem/portal-servicerequest|regulation",
        },
    )
    ctx: dict[str, Any] = {
        "regulation_exams": exams,
        "exam_choices": EXAMS,
        "regulating": routed_to_me(task, me),
    }
    chosen = chosen_doctor(task)
    if ctx["regulating"] and chosen:
        try:
            ctx["chosen"] = await fhir.read("Practitioner", chosen.split("/", 1)[1])
        except FhirError:
            ctx["chosen"] = None
    return ctx


async def _regulated_task(
    fhir: FhirClient, encounter_id: str, me: str
) -> tuple[dict[str, Any], dict[str, Any], str]:
    encounter, patient_id = await _open_encounter(fhir, encounter_id)
    task = await request_task(fhir, encounter_id)
    if task is None or not routed_to_me(task, me):
        raise HTTPException(403, "Cette demande n'est pas (ou plus) en régulation chez vous.")
    return encounter, task, patient_id


@router.post("/consultations/{encounter_id}/regulation/examen")
async def order_exam(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    _, task, patient_id = await _regulated_task(fhir, encounter_id, user.fhir_user)
    form = form_dict(await form_data(request))
    code = form.get("examen", "")
    label = dict(EXAMS).get(code)
    back = f"/consultations/{encounter_id}?onglet=demande"
    if label is None:
        await flash(request, "Choisissez un examen dans la liste.", "erreur")
        return redirect(back)
    exam: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [CATEGORY],
        "code": {"coding": [{"system": LOINC, "code": code}], "text": label},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "authoredOn": now_iso(),
        "requester": {"reference": user.fhir_user},
        "supportingInfo": [{"reference": f"Task/{task['id']}"}],
    }
    note = form.get("note", "")[:1000]
    if note:
        exam["note"] = [{"text": note}]
    chosen = chosen_doctor(task)
    if chosen:
        exam["performer"] = [{"reference": chosen}]
    await fhir.create(exam)
    await flash(request, f"Examen prescrit : {label}.", "succes")
    return redirect(back)


@router.post("/consultations/{encounter_id}/regulation/transmettre")
async def forward(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    _, task, _ = await _regulated_task(fhir, encounter_id, user.fhir_user)
    chosen = chosen_doctor(task)
    if chosen is None:
        await flash(request, "Aucun médecin destinataire : la demande reste chez vous.", "erreur")
        return redirect(f"/consultations/{encounter_id}?onglet=demande")
    updated = {**task, "owner": {"reference": chosen}, "lastModified": now_iso()}
    try:
        await fhir.update(updated, if_match=version_etag(task))
    except FhirError as exc:
        if exc.status not in (409, 412):
            raise
        await flash(request, "La demande a été modifiée entre-temps : rechargez la page.", "erreur")
        return redirect(f"/consultations/{encounter_id}?onglet=demande")
    await flash(request, "Demande transmise au médecin choisi par le patient.", "succes")
    return redirect("/accueil")
