"""The COVID-19 pathway for a dependent (the demo account's son Jules), the doctors' multi-step
form kept in the record, and a video question whose two browsers reach a connected WebRTC state."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta

import httpx
from playwright.sync_api import Browser, Page, expect

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import SmtpSink
from tests.portal.browser import DR_BONNET, DR_GARNIER, DR_MARTIN, login_professional, new_context, shot
from tests.portal.tc_support import SYMPTOMS, TC, login_patient, new_patient

HELENE = {"email": "helene.dupont@exemple.fr", "password": "demo-passerelle", "phone": "+33612345678"}


def latest_task(fhir_admin: httpx.Client, patient_id: str) -> dict:
    bundle = fhir_admin.get(
        "Task", params={"patient": patient_id, "code": f"{TC}|question", "_sort": "-_lastUpdated"}
    ).json()
    return bundle["entry"][0]["resource"]


def sms_texts(server: ServerProcess, phone: str) -> list[str]:
    path = server.data_dir / "auth" / "sms-outbox.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [m["text"] for m in map(json.loads, lines) if m["to"] == phone]


def test_covid_question_for_a_dependent_and_the_doctors_form(
    page: Page,
    logged_in: Callable[[str], Page],
    portal_server: ServerProcess,
    smtp: SmtpSink,
    fhir_admin: httpx.Client,
) -> None:
    patient = page
    login_patient(patient, portal_server, HELENE)
    patient.goto("/teleconsultation")
    patient.get_by_role("link", name=re.compile("Parcours COVID-19")).click()
    expect(patient.get_by_role("heading", name="COVID-19 : avant votre téléconsultation")).to_be_visible()
    patient.get_by_role("link", name="Continuer vers ma question").click()
    expect(patient.get_by_text("votre question sera traitée en appel visio")).to_be_visible()
    expect(patient.get_by_label("Chat")).to_have_count(0)  # straight to video
    patient.get_by_label("Pour qui est la question ?").select_option("demo-pat-jules-dupont")
    expect(patient.get_by_label("Grossesse en cours")).to_be_hidden()  # Jules is a boy
    patient.get_by_label("Décrivez vos symptômes").fill(SYMPTOMS)
    patient.get_by_role("button", name="Envoyer la question").click()
    expect(patient.get_by_role("heading", name="Votre question est envoyée")).to_be_visible()
    # a minor's e-mails go to the main insured person, who asked
    smtp.mailbox.wait_for(HELENE["email"], "bien été envoyée")
    task = latest_task(fhir_admin, "demo-pat-jules-dupont")
    assert task["for"]["reference"] == "Patient/demo-pat-jules-dupont"
    assert task["requester"]["reference"] == "Patient/demo-pat-dupont"
    inputs = {
        i["type"]["text"]: next(v for k, v in i.items() if k.startswith("value")) for i in task["input"]
    }
    assert inputs["channel"] == "video" and inputs["covid"] is True
    eid = task["encounter"]["reference"].split("/")[1]
    before = len(sms_texts(portal_server, HELENE["phone"]))
    # Dr Martin (Jules's GP) sees it flagged, takes it: the family gets an SMS
    doctor = logged_in(DR_MARTIN)
    doctor.goto("/file-attente")
    row = doctor.locator(f'tr[data-task="{task["id"]}"]')
    expect(row).to_have_class(re.compile("covid"))
    expect(row).to_contain_text("Appel visio")
    row.get_by_role("button", name="Prendre la question").click()
    expect(doctor.get_by_role("heading", name="Téléconsultation — Jules DUPONT")).to_be_visible()
    texts = sms_texts(portal_server, HELENE["phone"])
    assert len(texts) == before + 1 and "COVID-19" in texts[-1]
    expect(patient.get_by_role("link", name="Rejoindre l'appel visio")).to_be_visible(timeout=15_000)
    # the mother joins her son's call: the room lets her in (camera check first)
    patient.get_by_role("link", name="Rejoindre l'appel visio").click()
    expect(patient.locator("#salle")).to_be_visible()
    expect(patient.locator(".facts")).to_contain_text("Hélène DUPONT")
    # the doctors' form, three steps (back and forth keeps the answers)
    doctor.get_by_role("link", name="Remplir le formulaire COVID-19").click()
    doctor.get_by_role("button", name="Étape suivante").click()
    expect(doctor.locator("#type-erreur")).to_contain_text("choisissez une réponse")
    doctor.get_by_label("Première téléconsultation").check()
    doctor.get_by_label("Adressé par un établissement hospitalier").check()
    doctor.get_by_role("button", name="Étape suivante").click()
    doctor.get_by_label("PCR positive").check()
    doctor.get_by_label("Date de début des symptômes").fill((date.today() - timedelta(days=3)).isoformat())
    doctor.get_by_role("button", name="Étape suivante").click()
    doctor.get_by_role("button", name="Étape précédente").click()
    expect(doctor.get_by_label("PCR positive")).to_be_checked()
    doctor.get_by_role("button", name="Étape suivante").click()
    doctor.get_by_label("Maintien à domicile avec surveillance").check()
    doctor.get_by_role("button", name="Enregistrer dans le dossier").click()
    expect(doctor.get_by_text("Formulaire COVID-19 enregistré")).to_be_visible()
    shot(doctor, "tc-covid-medecin")
    forms = fhir_admin.get(
        "QuestionnaireResponse",
        params={
            "subject": "Patient/demo-pat-jules-dupont",
            "questionnaire": "https://passerelle.fr/fhir/Questionnaire/teleconsultation-covid19",
        },
    ).json()
    answers = {i["linkId"]: i["answer"][0] for i in forms["entry"][0]["resource"]["item"]}
    assert answers["parcours"]["valueCoding"]["code"] == "hopital"
    assert answers["pcr"]["valueCoding"]["code"] == "positif"
    assert answers["evaluation"]["valueCoding"]["code"] == "domicile"
    # the next doctor of the centre opening the record reads it
    colleague = logged_in(DR_BONNET)
    colleague.goto(f"/file-attente/consultation/{eid}")
    summary = colleague.locator(".covid-form").first
    expect(summary).to_contain_text("PCR positive")
    # read as the questions were asked, the date as written in France (not "debut 2026-12-03")
    onset = date.today() - timedelta(days=3)
    expect(summary).to_contain_text(f"Date de début des symptômes{onset:%d/%m/%Y}")
    expect(summary).to_contain_text("Confirmation par test PCR")
    expect(colleague.get_by_text("Cette question est suivie par un autre médecin.")).to_be_visible()


def test_video_question_reaches_a_connected_call(
    media_browser: Browser,
    portal: str,
    portal_server: ServerProcess,
    smtp: SmtpSink,
    fhir_admin: httpx.Client,
) -> None:
    who = new_patient(portal_server, smtp, given="Inès", family="Visio")
    patient_ctx, doctor_ctx = new_context(media_browser, portal), new_context(media_browser, portal)
    try:
        patient = patient_ctx.new_page()
        login_patient(patient, portal_server, who)
        patient.goto("/teleconsultation")
        patient.get_by_label("Appel visio").check()
        patient.get_by_label("Décrivez vos symptômes").fill(SYMPTOMS)
        patient.get_by_role("button", name="Envoyer la question").click()
        expect(patient.get_by_role("heading", name="Votre question est envoyée")).to_be_visible()
        task = latest_task(fhir_admin, who["id"])
        doctor = doctor_ctx.new_page()
        login_professional(doctor, DR_GARNIER)
        doctor.goto("/file-attente")
        doctor.locator(f'tr[data-task="{task["id"]}"]').get_by_role(
            "button", name="Prendre la question"
        ).click()
        doctor.get_by_role("link", name="Ouvrir l'appel visio").click()
        expect(doctor.get_by_text("Caméra et micro fonctionnent.")).to_be_visible()
        doctor.get_by_role("button", name="Entrer dans la salle").click()
        patient.get_by_role("link", name="Rejoindre l'appel visio").click(timeout=15_000)
        expect(patient.get_by_text("Caméra et micro fonctionnent.")).to_be_visible()
        patient.get_by_role("button", name="Entrer dans la salle").click()
        expect(patient.locator("#salle")).to_have_attribute("data-state", "connecte", timeout=30_000)
        expect(doctor.locator("#salle")).to_have_attribute("data-state", "connecte", timeout=30_000)
        doctor.wait_for_function("document.getElementById('distant').videoWidth > 0", timeout=30_000)
        shot(doctor, "tc-visio")
        encounter = fhir_admin.get(task["encounter"]["reference"]).json()
        appointment = fhir_admin.get(encounter["appointment"][0]["reference"]).json()
        assert {p["actor"]["reference"] for p in appointment["participant"]} == {
            "Practitioner/demo-pra-garnier",
            f"Patient/{who['id']}",
        }
    finally:
        patient_ctx.close()
        doctor_ctx.close()
