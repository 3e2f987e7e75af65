"""Regulation in a real Chromium: Dr Martin accepts a patient's invitation and takes on their
regulation; the patient's request addressed to Dr Garnier lands with Dr Martin (routed by the FHIR
layer), who orders an exam and passes it on; Dr Garnier then sees the request and the exam.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.fhir_server.auth_support import fhir_backend
from tests.portal.browser import DR_GARNIER, shot

TASKS = "https://passerelle.fr/fhir/CodeSystem/portal-task"
MARTIN, GARNIER = "Practitioner/demo-pra-martin", "Practitioner/demo-pra-garnier"


@pytest.fixture(scope="module")
def writer(portal_server, portal: str) -> Iterator[httpx.Client]:
    """The FHIR API as a backend service that writes (sets up the patient and their request)."""
    with fhir_backend(portal_server, "system/*.cruds", "régulation (tests)") as client:
        yield client


def _created(resp: httpx.Response) -> dict:
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_regulated_request_goes_through_the_regulating_doctor(
    doctor: Page, logged_in, writer: httpx.Client, fhir_admin: httpx.Client
) -> None:
    family = f"Régulé{uuid.uuid4().hex[:5]}"
    patient = _created(
        writer.post(
            "Patient",
            json={
                "resourceType": "Patient",
                "name": [{"family": family, "given": ["Claire"]}],
                "gender": "female",
                "birthDate": "1970-02-03",
                "generalPractitioner": [{"reference": GARNIER}],
            },
        )
    )
    pid = patient["id"]
    _created(
        writer.post(
            "CareTeam",
            json={
                "resourceType": "CareTeam",
                "status": "proposed",
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [{"member": {"reference": MARTIN}}],
            },
        )
    )
    # 1. Dr Martin accepts the invitation and takes on the regulation
    doctor.goto("/patients/recherche")
    card = doctor.locator("li.card", has_text=family)
    card.get_by_label(re.compile("Assurer la régulation")).check()
    card.get_by_role("button", name="Accepter").click()
    expect(doctor.get_by_text("Patient ajouté à vos patients.")).to_be_visible()
    # 2. the patient's request, addressed to Dr Garnier
    encounter = _created(
        writer.post(
            "Encounter",
            json={
                "resourceType": "Encounter",
                "status": "planned",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [{"individual": {"reference": GARNIER}}],
                "reasonCode": [{"text": "Douleurs thoraciques à l'effort"}],
            },
        )
    )
    reference = f"DA-REG-{uuid.uuid4().hex[:6]}"
    task = _created(
        writer.post(
            "Task",
            json={
                "resourceType": "Task",
                "identifier": [{"system": "urn:passerelle:demande", "value": reference}],
                "status": "requested",
                "intent": "order",
                "code": {"coding": [{"system": TASKS, "code": "demande-avis"}]},
                "description": "Douleurs dans la poitrine quand je monte les escaliers.",
                "focus": {"reference": f"Encounter/{encounter['id']}"},
                "for": {"reference": f"Patient/{pid}"},
                "authoredOn": "2026-01-05T10:00:00+01:00",
                "requester": {"reference": f"Patient/{pid}"},
                "owner": {"reference": GARNIER},
            },
        )
    )
    # routed by the FHIR layer: to the regulating doctor, the chosen one kept
    assert task["owner"]["reference"] == MARTIN
    assert task["restriction"]["recipient"][0]["reference"] == GARNIER
    assert task["businessStatus"]["coding"][0]["code"] == "en-regulation"
    # 3. Dr Martin finds it, orders an exam and passes it on
    doctor.goto("/accueil")
    doctor.get_by_role("link", name=reference).first.click()
    expect(doctor.get_by_role("heading", name="Régulation")).to_be_visible()
    expect(doctor.get_by_text(re.compile("Le patient l'adresse au Dr Henri GARNIER", re.I))).to_be_visible()
    doctor.get_by_label("Examen à prescrire").select_option(label="Électrocardiogramme (ECG)")
    doctor.get_by_label("Précisions (facultatif)").fill("ECG de repos avant avis")
    doctor.get_by_role("button", name="Prescrire l'examen").click()
    expect(doctor.get_by_text("Examen prescrit : Électrocardiogramme (ECG).")).to_be_visible()
    # an opinion request has no consultation date yet: the title must not read "Consultation du —"
    expect(doctor.locator("h1")).to_have_text(re.compile(r"^Consultation — Claire "))
    shot(doctor, "regulation-regulateur")
    doctor.get_by_role("button", name=re.compile("^Transmettre")).click()
    expect(doctor.get_by_text("Demande transmise au médecin choisi par le patient.")).to_be_visible()
    stored = fhir_admin.get(f"Task/{task['id']}").json()
    assert stored["owner"]["reference"] == GARNIER
    assert stored["businessStatus"]["coding"][0]["code"] == "transmise"
    exams = fhir_admin.get("ServiceRequest", params={"encounter": f"Encounter/{encounter['id']}"}).json()
    [exam] = [e["resource"] for e in exams["entry"]]
    assert exam["code"]["coding"][0] == {"system": "http://loinc.org", "code": "11524-6"}
    assert exam["requester"]["reference"] == MARTIN and exam["intent"] == "order"
    # the request left Dr Martin's hands: no regulation panel any more
    doctor.goto(f"/consultations/{encounter['id']}?onglet=demande")
    expect(doctor.get_by_role("heading", name="Régulation")).to_have_count(0)
    # 4. Dr Garnier now sees it, with the exam ordered by the regulation
    garnier = logged_in(DR_GARNIER)
    garnier.goto("/accueil")
    garnier.get_by_role("link", name=reference).first.click()
    expect(garnier.get_by_role("heading", name="Examens prescrits par le médecin régulateur")).to_be_visible()
    expect(garnier.get_by_text(re.compile("Électrocardiogramme \\(ECG\\)"))).to_be_visible()
    expect(garnier.get_by_role("button", name="Prendre en charge")).to_be_visible()
    shot(garnier, "regulation-medecin-choisi")


def test_demo_regulated_request_waits_with_the_regulating_doctor(doctor: Page) -> None:
    doctor.goto("/accueil")
    doctor.get_by_role("link", name="DA-2026-0003").first.click()
    expect(doctor.get_by_role("heading", name="Régulation")).to_be_visible()
    expect(doctor.get_by_role("button", name="Transmettre au Dr Henri GARNIER")).to_be_visible()
