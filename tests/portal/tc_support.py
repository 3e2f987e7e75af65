"""Helpers of the teleconsultation tests: accounts, tokens, a question written through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import (
    SmtpSink,
    bearer,
    patient_signup,
    patient_token,
    professional_token,
    register_client,
    sms_codes,
)

SCOPE = "openid fhirUser user/*.cruds"
SYMPTOMS = (
    "Depuis trois jours j'ai une toux sèche, de la fièvre à 38,5 le soir et une grande fatigue ; "
    "je n'ai pas de difficulté à respirer mais je dors mal."
)
TC = "https://passerelle.fr/fhir/CodeSystem/teleconsultation"


def new_patient(server: ServerProcess, smtp: SmtpSink, **extra: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    email, phone = f"tc-{tag}@example.fr", "+337" + str(uuid.uuid4().int)[:8]
    with httpx.Client(timeout=60) as http:
        pid = patient_signup(http, server, smtp.mailbox, email, phone, **extra)
    return {"id": pid, "email": email, "phone": phone, "password": "correct horse battery"}


def client(server: ServerProcess) -> dict[str, Any]:
    return register_client(server, "confidential", SCOPE, name=f"tc {uuid.uuid4().hex[:6]}")


def patient_api(server: ServerProcess, who: dict[str, str]) -> httpx.Client:
    base = f"http://127.0.0.1:{server.port}"
    with httpx.Client(timeout=60) as http:
        token = patient_token(http, server, client(server), SCOPE, who["email"], who["phone"])
    return httpx.Client(base_url=f"{base}/fhir", headers=bearer(token), timeout=60)


def doctor_api(server: ServerProcess, idnat: str) -> httpx.Client:
    base = f"http://127.0.0.1:{server.port}"
    with httpx.Client(timeout=60) as http:
        token = professional_token(http, server, client(server), SCOPE, idnat)
    return httpx.Client(base_url=f"{base}/fhir", headers=bearer(token), timeout=60)


def params(**values: str) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": k, "valueString": v} for k, v in values.items()],
    }


def ask(
    api: httpx.Client, patient_id: str, symptoms: str = SYMPTOMS, channel: str = "chat", covid: bool = False
) -> httpx.Response:
    """The question written as the portal writes it (Encounter + QuestionnaireResponse), then submitted."""
    encounter = api.post(
        "/Encounter",
        json={
            "resourceType": "Encounter",
            "status": "planned",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
            "subject": {"reference": f"Patient/{patient_id}"},
        },
    )
    assert encounter.status_code == 201, encounter.text
    eid = encounter.json()["id"]
    response = api.post(
        "/QuestionnaireResponse",
        json={
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "questionnaire": "https://passerelle.fr/fhir/Questionnaire/teleconsultation-question",
            "subject": {"reference": f"Patient/{patient_id}"},
            "encounter": {"reference": f"Encounter/{eid}"},
            "item": [{"linkId": "symptomes", "answer": [{"valueString": symptoms}]}],
        },
    )
    assert response.status_code == 201, response.text
    return api.post(
        "/Task/$tc-submit",
        json=params(
            encounter=f"Encounter/{eid}", channel=channel, specialty="generaliste", covid=str(covid).lower()
        ),
    )


def task_of(answer: httpx.Response) -> dict[str, Any]:
    return next(p["resource"] for p in answer.json()["parameter"] if p["name"] == "task")


def login_patient(page: Page, server: ServerProcess, who: dict[str, str]) -> None:
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(who["email"])
    page.get_by_label("Mot de passe").fill(who["password"])
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Code reçu par SMS").fill(sms_codes(server, who["phone"])[-1])
    page.get_by_role("button", name="Valider").click()
    approve = page.get_by_role("button", name="Autoriser")
    if approve.count():
        approve.click()
    expect(page.locator(".greeting")).to_be_visible()
