"""Télé-expertise: a doctor asks a colleague's opinion about a patient (ServiceRequest), with the
patient's consent (Consent permitting the expert) and the act paid through the payment provider
(ChargeItem); the expert answers from the Télé-expertise tab (Communication: draft, then sent),
which closes the request (Task and ServiceRequest completed)."""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.clinician.consultations import section_texts
from apps.portal.clinician.model import (
    LOINC,
    PORTAL_CS,
    REQUEST_ID,
    TASK_CODES,
    by_reference,
    code_of,
    entries,
    now_iso,
    ref,
    ref_id,
)
from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirClient, FhirError, version_etag
from apps.portal.filters import human_name
from apps.portal.payments import PaymentError, payment_provider
from apps.portal.web import Fhir, FormState, Practitioner, flash, form_data, form_dict, redirect, render

SR_CATEGORY = f"{PORTAL_CS}/portal-request"
NGAP = f"{PORTAL_CS}/ngap"
ACTS = {
    "TE2": ("Télé-expertise (TE2)", Decimal("20.00")),
    "RQD": ("Demande de télé-expertise (RQD)", Decimal("10.00")),
}
PAYMENT_ID = "urn:passerelle:paiement"


async def colleagues(fhir: FhirClient, me: str) -> list[dict[str, Any]]:
    found = await fhir.search_resources("Practitioner", {"active": "true", "_count": "200"})
    return sorted((p for p in found if f"Practitioner/{p['id']}" != me), key=lambda p: human_name(p, False))


async def _encounter(fhir: FhirClient, encounter_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    encounter = await fhir.read("Encounter", encounter_id)
    patient_id = ref_id(encounter.get("subject"), "Patient")
    if patient_id is None:
        raise HTTPException(404, "Consultation introuvable.")
    return encounter, await fhir.read("Patient", patient_id)


async def _form_context(
    fhir: FhirClient, user_ref: str, encounter: dict[str, Any], patient: dict[str, Any]
) -> dict[str, Any]:
    return {
        "encounter": encounter,
        "patient": patient,
        "experts": [(p["id"], human_name(p)) for p in await colleagues(fhir, user_ref)],
        "acts": [(code, f"{label} — {amount} €".replace(".", ",")) for code, (label, amount) in ACTS.items()],
    }


@router.get("/tele-expertise/nouvelle")
async def request_form(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    encounter, patient = await _encounter(fhir, request.query_params.get("consultation", ""))
    sheets = await fhir.search_resources(
        "Composition", {"encounter": f"Encounter/{encounter['id']}", "type": f"{LOINC}|11488-4"}
    )
    sheet = section_texts(sheets[0]) if sheets else {}
    summary = "\n".join(v for k, v in sheet.items() if v)
    ctx = await _form_context(fhir, user.fhir_user, encounter, patient)
    return await render(
        request, "clinician/te_request.html", ctx, form=FormState({"resume": summary, "acte": "TE2"})
    )


@router.post("/tele-expertise/nouvelle")
async def create_request(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    values = form_dict(await form_data(request))
    encounter, patient = await _encounter(fhir, values.get("consultation", ""))
    ctx = await _form_context(fhir, user.fhir_user, encounter, patient)
    form = FormState(values)
    if values.get("expert") not in {e[0] for e in ctx["experts"]}:
        form.error("expert", "Choisissez le confrère destinataire.")
    if not values.get("objet"):
        form.error("objet", "Indiquez l'objet de la demande.")
    elif len(values["objet"]) > 200:
        form.error("objet", "Objet : 200 caractères au plus.")
    if not values.get("resume"):
        form.error("resume", "Résumez la consultation pour votre confrère.")
    if values.get("consentement") != "oui":
        form.error("consentement", "Le consentement du patient est nécessaire à la télé-expertise.")
    if values.get("acte") not in ACTS:
        form.error("acte", "Choisissez l'acte facturé.")
    if form:
        return await render(request, "clinician/te_request.html", ctx, status_code=422, form=form)
    label, amount = ACTS[values["acte"]]
    try:
        payment = await payment_provider().charge(amount, "EUR", label, f"Patient/{patient['id']}")
    except PaymentError as exc:
        form.error("acte", f"Paiement refusé : {exc}")
        return await render(request, "clinician/te_request.html", ctx, status_code=402, form=form)
    try:
        reference = await _write_request(fhir, user.fhir_user, encounter, patient, values, payment)
    except FhirError as exc:
        await payment_provider().refund(payment)
        if exc.status >= 500:
            raise
        form.error("expert", f"Demande non enregistrée : {exc.message}")
        return await render(request, "clinician/te_request.html", ctx, status_code=exc.status, form=form)
    await flash(
        request, f"Demande de télé-expertise {reference} envoyée (paiement {payment.reference}).", "succes"
    )
    return redirect("/avis")


async def _write_request(
    fhir: FhirClient,
    me: str,
    encounter: dict[str, Any],
    patient: dict[str, Any],
    values: dict[str, str],
    payment: Any,
) -> str:
    when = now_iso()
    expert = ref("Practitioner", values["expert"])
    requester = ref(*me.split("/", 1))
    pid = patient["id"]
    sr_url = f"urn:uuid:{uuid.uuid4()}"
    reference = f"TE-{secrets.token_hex(3).upper()}"
    performers: list[dict[str, Any]] = [ref("Patient", pid)]
    if values.get("proche"):
        performers.append({"display": values["proche"][:200]})  # a relative who consents for the patient
    service_request = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": REQUEST_ID, "value": reference}],
        "status": "active",
        "intent": "order",
        "category": [
            {"coding": [{"system": SR_CATEGORY, "code": "tele-expertise", "display": "Télé-expertise"}]}
        ],
        "code": {"text": "Demande d'avis (télé-expertise)"},
        "subject": ref("Patient", pid),
        "encounter": ref("Encounter", encounter["id"]),
        "authoredOn": when,
        "requester": requester,
        "performer": [expert],
        "reasonCode": [{"text": values["objet"]}],
        "note": [{"text": values["resume"][:10_000]}],
        "supportingInfo": [ref("Encounter", encounter["id"])],
    }
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [
            {
                "coding": [{"system": LOINC, "code": "59284-0", "display": "Consent Document"}],
                "text": "Consentement à la télé-expertise",
            }
        ],
        "patient": ref("Patient", pid),
        "dateTime": when,
        "performer": performers,
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
        },
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "PRCP",
                            }
                        ]
                    },
                    "reference": expert,
                }
            ],
            "data": [{"meaning": "related", "reference": {"reference": sr_url}}],
        },
    }
    task = {
        "resourceType": "Task",
        "identifier": [{"system": REQUEST_ID, "value": reference}],
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODES, "code": "tele-expertise", "display": "Télé-expertise"}]},
        "description": values["objet"],
        "focus": {"reference": sr_url},
        "for": ref("Patient", pid),
        "encounter": ref("Encounter", encounter["id"]),
        "authoredOn": when,
        "requester": requester,
        "owner": expert,
    }
    label, amount = ACTS[values["acte"]]
    charge = {
        "resourceType": "ChargeItem",
        "identifier": [{"system": PAYMENT_ID, "value": payment.reference}],
        "status": "billed",
        "code": {"coding": [{"system": NGAP, "code": values["acte"], "display": label}]},
        "subject": ref("Patient", pid),
        "context": ref("Encounter", encounter["id"]),
        "occurrenceDateTime": when,
        "enterer": requester,
        "enteredDate": when,
        "priceOverride": {"value": float(amount), "currency": "EUR"},
        "service": [{"reference": sr_url}],
        "note": [{"text": f"Payé via le fournisseur « {payment.provider} »"}],
    }
    tx = [
        {
            "fullUrl": sr_url,
            "resource": service_request,
            "request": {"method": "POST", "url": "ServiceRequest"},
        },
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": consent,
            "request": {"method": "POST", "url": "Consent"},
        },
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": task,
            "request": {"method": "POST", "url": "Task"},
        },
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": charge,
            "request": {"method": "POST", "url": "ChargeItem"},
        },
    ]
    await fhir.transaction(tx)
    return reference


# -- lists --------------------------------------------------------------------------------------


def _rows(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    refs = by_reference(bundle)
    rows = []
    for task in entries(bundle, "Task"):
        if code_of(task.get("code"), TASK_CODES) != "tele-expertise":
            continue
        rows.append(
            {
                "task": task,
                "reference": next(
                    (i["value"] for i in task.get("identifier", []) if i.get("system") == REQUEST_ID), ""
                ),
                "patient": refs.get(task.get("for", {}).get("reference", "")),
                "requester": refs.get(task.get("requester", {}).get("reference", "")),
                "owner": refs.get(task.get("owner", {}).get("reference", "")),
            }
        )
    return rows


STATUS = {
    "requested": "Nouvelle",
    "accepted": "Acceptée",
    "in-progress": "En cours",
    "completed": "Répondue",
    "cancelled": "Annulée",
    "rejected": "Refusée",
}


@router.get("/tele-expertise")
async def received(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    bundle = await fhir.search(
        "Task",
        [
            ("owner", user.fhir_user),
            ("_sort", "-authored-on"),
            ("_count", "100"),
            ("_include", "Task:patient"),
            ("_include", "Task:requester"),
        ],
    )
    return await render(
        request,
        "clinician/te_list.html",
        {
            "title": "Télé-expertise : demandes reçues",
            "rows": _rows(bundle),
            "received": True,
            "status": STATUS,
        },
    )


@router.get("/avis")
async def sent(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    bundle = await fhir.search(
        "Task",
        [
            ("requester", user.fhir_user),
            ("_sort", "-authored-on"),
            ("_count", "100"),
            ("_include", "Task:patient"),
            ("_include", "Task:owner"),
        ],
    )
    return await render(
        request,
        "clinician/te_list.html",
        {
            "title": "Avis pour un confrère : mes demandes",
            "rows": _rows(bundle),
            "received": False,
            "status": STATUS,
        },
    )


# -- the expert's page ---------------------------------------------------------------------------


async def _expertise(fhir: FhirClient, task_id: str, me: str) -> dict[str, Any]:
    task = await fhir.read("Task", task_id)
    owner, requester = task.get("owner", {}).get("reference"), task.get("requester", {}).get("reference")
    if code_of(task.get("code"), TASK_CODES) != "tele-expertise" or me not in (owner, requester):
        raise HTTPException(404, "Demande de télé-expertise introuvable.")
    sr_id = ref_id(task.get("focus"), "ServiceRequest") or ""
    service_request = await fhir.read("ServiceRequest", sr_id)
    patient = await fhir.read("Patient", ref_id(task.get("for"), "Patient") or "")
    answers = await fhir.search_resources("Communication", {"based-on": f"ServiceRequest/{sr_id}"})
    requester_res = await fhir.read("Practitioner", ref_id(task.get("requester"), "Practitioner") or "")
    return {
        "task": task,
        "service_request": service_request,
        "patient": patient,
        "answer": answers[0] if answers else None,
        "requester": requester_res,
        "expert": owner == me,
        "closed": task.get("status") in ("completed", "cancelled", "rejected"),
        "status": STATUS,
    }


@router.get("/tele-expertise/{task_id}")
async def expertise_page(request: Request, task_id: str, user: Practitioner, fhir: Fhir) -> Response:
    ctx = await _expertise(fhir, task_id, user.fhir_user)
    answer = ctx["answer"]
    text = (answer or {}).get("payload", [{}])[0].get("contentString", "") if answer else ""
    return await render(request, "clinician/te_page.html", ctx, form=FormState({"reponse": text}))


@router.post("/tele-expertise/{task_id}")
async def answer(request: Request, task_id: str, user: Practitioner, fhir: Fhir) -> Response:
    ctx = await _expertise(fhir, task_id, user.fhir_user)
    if not ctx["expert"]:
        raise HTTPException(403, "Seul le confrère sollicité peut répondre.")
    if ctx["closed"]:
        raise HTTPException(409, "Cette télé-expertise est close : la réponse ne peut plus être modifiée.")
    values = form_dict(await form_data(request))
    form = FormState(values)
    text = values.get("reponse", "")
    if not text:
        form.error("reponse", "Rédigez votre avis.")
    elif len(text) > 20_000:
        form.error("reponse", "Avis : 20 000 caractères au plus.")
    if form:
        return await render(request, "clinician/te_page.html", ctx, status_code=422, form=form)
    task, sr, patient, existing = ctx["task"], ctx["service_request"], ctx["patient"], ctx["answer"]
    close = values.get("action") == "cloturer"
    when = now_iso()
    communication = {
        "resourceType": "Communication",
        "status": "completed" if close else "preparation",
        "basedOn": [ref("ServiceRequest", sr["id"])],
        "subject": ref("Patient", patient["id"]),
        "sender": ref(*user.fhir_user.split("/", 1)),
        "recipient": [task["requester"]],
        "payload": [{"contentString": text}],
        **({"sent": when} if close else {}),
    }
    tx: list[dict[str, Any]] = []
    if existing is None:
        tx.append({"resource": communication, "request": {"method": "POST", "url": "Communication"}})
    else:
        tx.append(
            {
                "resource": {**communication, "id": existing["id"]},
                "request": {
                    "method": "PUT",
                    "url": f"Communication/{existing['id']}",
                    "ifMatch": version_etag(existing),
                },
            }
        )
    new_status = "completed" if close else "in-progress"
    if task.get("status") != new_status:
        tx.append(
            {
                "resource": {**task, "status": new_status, "lastModified": when},
                "request": {"method": "PUT", "url": f"Task/{task['id']}", "ifMatch": version_etag(task)},
            }
        )
    if close:
        tx.append(
            {
                "resource": {**sr, "status": "completed"},
                "request": {
                    "method": "PUT",
                    "url": f"ServiceRequest/{sr['id']}",
                    "ifMatch": version_etag(sr),
                },
            }
        )
    try:
        await fhir.transaction(tx)
    except FhirError as exc:
        if exc.status not in (409, 412):
            raise
        form.error("reponse", "La demande a été modifiée entre-temps : votre texte est conservé, réessayez.")
        return await render(request, "clinician/te_page.html", ctx, status_code=409, form=form)
    await flash(
        request,
        "Avis envoyé : la télé-expertise est close." if close else "Avis enregistré (brouillon).",
        "succes",
    )
    return redirect(f"/tele-expertise/{task_id}")
