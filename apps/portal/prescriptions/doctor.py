"""The prescriber's screens: a consultation's ordonnances, writing one, signing with the SMS code."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from apps.portal.fhir import FhirError
from apps.portal.prescriptions import router
from apps.portal.prescriptions.views import group
from apps.portal.web import Fhir, FormState, Practitioner, flash, form_data, form_dict, redirect, render
from eprescription import PRESCRIPTION_SYSTEM, REIMBURSABLE_URL, is_valid, new_number, normalize

LINES = 3  # line slots of the form
SNOMED = "http://snomed.info/sct"
EXAM_CATEGORIES = {"lab": ("108252007", "Biologie"), "imaging": ("363679005", "Imagerie")}
UCUM = "http://unitsofmeasure.org"


def _params(*items: tuple[str, str]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": n, "valueString": v} for n, v in items]}


@router.get("/ordonnances")
async def start(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    patient_id = request.query_params.get("patient", "")
    patient = await fhir.read("Patient", patient_id) if patient_id else None
    return await render(request, "prescriptions/start.html", {"patient": patient})


@router.post("/ordonnances")
async def open_consultation(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    form = FormState(form_dict(await form_data(request)))
    patient_id = form.values.get("patient", "").strip()
    kind = form.values.get("kind", "")
    if not patient_id:
        form.error("patient", "Indiquez le patient.")
    if kind not in ("AMB", "VR"):
        form.error("kind", "Choisissez le type de consultation.")
    if form:
        return await render(request, "prescriptions/start.html", {"patient": None}, 422, form=form)
    encounter = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": kind},
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": [{"individual": {"reference": user.fhir_user}}],
    }
    try:
        created = await fhir.create(encounter)
    except FhirError as exc:
        form.error("patient", exc.message)
        return await render(request, "prescriptions/start.html", {"patient": None}, exc.status, form=form)
    return redirect(f"/ordonnances/consultation/{created['id']}")


async def _consultation(fhir: Any, encounter_id: str) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    encounter = await fhir.read("Encounter", encounter_id)
    patient_ref = encounter.get("subject", {}).get("reference", "")
    patient = await fhir.read("Patient", patient_ref.split("/")[-1])
    found = []
    for type_ in ("MedicationRequest", "ServiceRequest"):
        found += await fhir.search_resources(
            type_, {"encounter": f"Encounter/{encounter_id}", "_count": "200"}
        )
    return encounter, patient, group(found)


@router.get("/ordonnances/consultation/{encounter_id}")
async def consultation(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    encounter, patient, ordonnances = await _consultation(fhir, encounter_id)
    return await render(
        request,
        "prescriptions/consultation.html",
        {"encounter": encounter, "patient": patient, "ordonnances": ordonnances,
         "drafts": [o for o in ordonnances if o.status == "draft"],
         "teleconsultation": encounter.get("class", {}).get("code") == "VR"},
    )  # fmt: skip


@router.get("/ordonnances/consultation/{encounter_id}/nouvelle")
async def new_form(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    encounter, patient, _ = await _consultation(fhir, encounter_id)
    kind = "examens" if request.query_params.get("sorte") == "examens" else "medicaments"
    return await render(request, "prescriptions/new.html", _form_context(encounter, patient, kind))


def _form_context(encounter: dict[str, Any], patient: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "encounter": encounter,
        "patient": patient,
        "kind": kind,
        "slots": range(1, LINES + 1),
        "categories": [(k, v[1]) for k, v in EXAM_CATEGORIES.items()],
    }


def _int(form: FormState, name: str, label: str) -> int | None:
    raw = form.values.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        form.error(name, f"{label} : un nombre entier.")
        return None
    return int(raw)


def _medication_lines(form: FormState, base: dict[str, Any], number: str) -> list[dict[str, Any]]:
    lines = []
    for i in range(1, LINES + 1):
        v = form.values
        medication = v.get(f"medicament{i}", "").strip()
        posology = v.get(f"posologie{i}", "").strip()
        if not medication and not posology:
            continue
        if not medication:
            form.error(f"medicament{i}", f"Ligne {i} : indiquez le médicament.")
        if not posology:
            form.error(f"posologie{i}", f"Ligne {i} : écrivez la posologie.")
        quantity = _int(form, f"quantite{i}", f"Ligne {i}, quantité")
        days = _int(form, f"duree{i}", f"Ligne {i}, durée")
        refills = _int(form, f"renouvellements{i}", f"Ligne {i}, renouvellements")
        dispense: dict[str, Any] = {"numberOfRepeatsAllowed": refills or 0}
        if quantity:
            dispense["quantity"] = {"value": quantity, "unit": v.get(f"unite{i}", "").strip() or "boîte(s)"}
        if days:
            dispense["expectedSupplyDuration"] = {"value": days, "unit": "jours", "system": UCUM, "code": "d"}
        lines.append({
            **base,
            "resourceType": "MedicationRequest",
            "groupIdentifier": {"system": PRESCRIPTION_SYSTEM, "value": number},
            "medicationCodeableConcept": {"text": medication},
            "dosageInstruction": [{"text": posology}],
            "dispenseRequest": dispense,
            "substitution": {"allowedBoolean": v.get(f"nonsubstituable{i}") != "on"},
            "extension": [{"url": REIMBURSABLE_URL, "valueBoolean": v.get(f"nonremboursable{i}") != "on"}],
        })  # fmt: skip
    return lines


def _exam_lines(form: FormState, base: dict[str, Any], number: str) -> list[dict[str, Any]]:
    lines = []
    for i in range(1, LINES + 1):
        exam = form.values.get(f"examen{i}", "").strip()
        if not exam:
            continue
        code, _ = EXAM_CATEGORIES.get(form.values.get(f"categorie{i}", ""), EXAM_CATEGORIES["lab"])
        lines.append({
            **base,
            "resourceType": "ServiceRequest",
            "requisition": {"system": PRESCRIPTION_SYSTEM, "value": number},
            "category": [{"coding": [{"system": SNOMED, "code": code}]}],
            "code": {"text": exam},
        })  # fmt: skip
    return lines


@router.post("/ordonnances/consultation/{encounter_id}/nouvelle")
async def create(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    encounter, patient, _ = await _consultation(fhir, encounter_id)
    form = FormState(form_dict(await form_data(request)))
    kind = "examens" if form.values.get("sorte") == "examens" else "medicaments"
    number = new_number()
    base = {
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient['id']}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "requester": {"reference": user.fhir_user},
    }
    lines = _exam_lines(form, base, number) if kind == "examens" else _medication_lines(form, base, number)
    if not lines and not form:
        form.error("medicament1" if kind == "medicaments" else "examen1", "Écrivez au moins une ligne.")
    context = _form_context(encounter, patient, kind)
    if form:
        return await render(request, "prescriptions/new.html", context, 422, form=form)
    entries = [
        {"resource": line, "request": {"method": "POST", "url": line["resourceType"]}} for line in lines
    ]
    try:
        await fhir.transaction(entries)
    except FhirError as exc:
        field = "medicament1" if kind == "medicaments" else "examen1"
        form.error(field, exc.message)
        return await render(request, "prescriptions/new.html", context, exc.status, form=form)
    await flash(request, "Ordonnance enregistrée en brouillon : signez-la pour la transmettre.", "succes")
    return redirect(f"/ordonnances/consultation/{encounter_id}")


@router.post("/ordonnances/consultation/{encounter_id}/signer")
async def ask_code(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    await form_data(request)
    _, patient, ordonnances = await _consultation(fhir, encounter_id)
    numbers = [o.number for o in ordonnances if o.status == "draft"]
    if not numbers:
        await flash(request, "Aucune ordonnance à signer.", "info")
        return redirect(f"/ordonnances/consultation/{encounter_id}")
    answer = await fhir.request(
        "POST", "$sign-request", json=_params(*(("prescription", n) for n in numbers))
    )
    values = {
        p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in answer.json()["parameter"]
    }
    return await render(request, "prescriptions/code.html", {
        "challenge": values["challenge"], "phone": values["phone"], "count": len(numbers),
        "action_url": f"/ordonnances/consultation/{encounter_id}/signer/code", "patient": patient,
        "what": "signer",
    })  # fmt: skip


@router.post("/ordonnances/consultation/{encounter_id}/annuler/{number}")
async def ask_cancel_code(
    request: Request, encounter_id: str, number: str, user: Practitioner, fhir: Fhir
) -> Response:
    form = FormState(form_dict(await form_data(request)))
    reason = form.values.get("motif", "").strip()
    if len(reason) < 3:
        await flash(request, "Annulation : indiquez le motif.", "erreur")
        return redirect(f"/ordonnances/consultation/{encounter_id}")
    try:
        answer = await fhir.request("POST", "$sign-request", json=_params(
            ("prescription", normalize(number)), ("action", "cancel"), ("reason", reason)))  # fmt: skip
    except FhirError as exc:
        await flash(request, exc.message, "erreur")
        return redirect(f"/ordonnances/consultation/{encounter_id}")
    values = {
        p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in answer.json()["parameter"]
    }
    return await render(request, "prescriptions/code.html", {
        "challenge": values["challenge"], "phone": values["phone"], "count": 1,
        "action_url": f"/ordonnances/consultation/{encounter_id}/signer/code", "what": "annuler",
    })  # fmt: skip


@router.post("/ordonnances/consultation/{encounter_id}/signer/code")
async def check_code(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    form = FormState(form_dict(await form_data(request)))
    code = form.values.get("code", "").strip()
    challenge = form.values.get("challenge", "")
    try:
        answer = await fhir.request("POST", "$sign", json=_params(("challenge", challenge), ("code", code)))
    except FhirError as exc:
        form.error("code", exc.message)
        return await render(request, "prescriptions/code.html", {
            "challenge": challenge, "phone": form.values.get("phone", ""),
            "count": form.values.get("count", ""),
            "action_url": f"/ordonnances/consultation/{encounter_id}/signer/code",
            "what": form.values.get("what", "signer"),
        }, exc.status, form=form)  # fmt: skip
    cancelled = any(p["name"] == "cancelled" for p in answer.json().get("parameter", []))
    text = (
        "Ordonnance annulée (annulation signée)."
        if cancelled
        else "Ordonnances signées : le patient est prévenu par e-mail."
    )
    await flash(request, text, "succes")
    return redirect(f"/ordonnances/consultation/{encounter_id}")


@router.get("/ordonnances/{number}.pdf")
async def doctor_pdf(request: Request, number: str, user: Practitioner, fhir: Fhir) -> Response:
    return await pdf_response(fhir, number)


async def pdf_response(fhir: Any, number: str) -> Response:
    number = normalize(number)
    if not is_valid(number):
        raise FhirError(404, "Ordonnance introuvable.")
    answer = await fhir.request(
        "GET", "$ordonnance-pdf", params={"prescription": number}, headers={"Accept": "application/pdf"}
    )
    return Response(
        answer.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="ordonnance-{number}.pdf"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip
