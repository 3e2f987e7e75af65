"""The patient's teleconsultation journey in a real headless Chromium, patient and doctor side by side.

Ask (with an attachment and the health profile) → the waiting screen → a doctor takes it from
the queue → the patient's page opens the consultation → chat both ways with a file (preview,
download) → the doctor prescribes (e-prescription screens, SMS signature) and writes the report
→ both e-mails arrive (real SMTP) and their links work → the patient rates the consultation.
Then the refusals of the question form: nothing typed is lost.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import Mailbox, SmtpSink, sms_codes
from tests.portal.browser import DR_MARTIN, shot
from tests.portal.tc_support import SYMPTOMS, TC, login_patient, new_patient


def sms_number(fhir_admin: httpx.Client, practitioner: str) -> str:
    """The number the signing code goes to, read when needed: the session's server is shared by the
    test files of a worker, and another one (the prescriptions chain) gives Dr Martin a new one."""
    telecom = fhir_admin.get(f"Practitioner/{practitioner}").json()["telecom"]
    return next(t["value"] for t in telecom if t.get("system") == "sms")


def png(color: str = "red", size: int = 24) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


def task_for(fhir_admin: httpx.Client, patient_id: str) -> dict[str, Any]:
    bundle = fhir_admin.get(
        "Task", params={"patient": patient_id, "code": f"{TC}|question", "_sort": "-_lastUpdated"}
    ).json()
    return bundle["entry"][0]["resource"]


def fill_question(page: Page, symptoms: str = SYMPTOMS) -> None:
    page.get_by_label("Décrivez vos symptômes").fill(symptoms)
    page.get_by_label("Poids (kg)").fill("62")
    page.get_by_label("Taille (cm)").fill("168")
    page.get_by_label("Traitements en cours").fill("Aucun")


def test_ask_wait_take_chat_report_prescription_rating(
    browser: Browser,
    logged_in: Callable[[str], Page],
    page: Page,
    portal_server: ServerProcess,
    smtp: SmtpSink,
    fhir_admin: httpx.Client,
) -> None:
    who = new_patient(portal_server, smtp, given="Claire", family="Question")
    patient = page
    login_patient(patient, portal_server, who)
    patient.goto("/teleconsultation")
    expect(patient.get_by_role("link", name=re.compile("Parcours COVID-19"))).to_be_visible()
    patient.get_by_label("Chat").check()
    patient.get_by_label("Médecin").select_option("generaliste")
    patient.get_by_text("Voir les horaires").click()
    expect(patient.locator("details.horaires")).to_contain_text("Dermatologie")
    patient.get_by_label("Décrivez vos symptômes").fill("Toux")
    expect(patient.locator("#compteur")).to_contain_text("encore 96 au minimum")
    fill_question(patient)
    expect(patient.locator("#compteur")).to_contain_text("c'est suffisant")
    patient.get_by_label("Grossesse en cours").select_option("non")
    patient.get_by_label("Pièces jointes (facultatif)").set_input_files(
        [{"name": "gorge.png", "mimeType": "image/png", "buffer": png("red")}]
    )
    patient.get_by_role("button", name="Envoyer la question").click()
    expect(patient.get_by_role("heading", name="Votre question est envoyée")).to_be_visible()
    expect(patient.locator("#reste")).to_contain_text(re.compile(r"1[45] min"))
    smtp.mailbox.wait_for(who["email"], "bien été envoyée")
    shot(patient, "tc-attente")
    task = task_for(fhir_admin, who["id"])
    eid = task["encounter"]["reference"].split("/")[1]
    # what the patient wrote is in the record
    observations = fhir_admin.get("Observation", params={"encounter": f"Encounter/{eid}"}).json()["entry"]
    assert sorted(o["resource"]["code"]["coding"][0]["code"] for o in observations) == [
        "29463-7",
        "82810-3",
        "8302-2",
    ]
    document = fhir_admin.get("DocumentReference", params={"encounter": f"Encounter/{eid}"}).json()["entry"]
    assert document[0]["resource"]["content"][0]["attachment"]["contentType"] == "image/png"

    # the doctor takes it from the queue
    doctor = logged_in(DR_MARTIN)
    doctor.goto("/file-attente")
    row = doctor.locator(f'tr[data-task="{task["id"]}"]')
    expect(row).to_contain_text("Chat")
    expect(row).not_to_contain_text("Claire")
    shot(doctor, "tc-file-attente")
    row.get_by_role("button", name="Prendre la question").click()
    expect(doctor.get_by_text("Question prise en charge")).to_be_visible()
    expect(doctor.locator("dd.symptomes")).to_contain_text("toux sèche")
    expect(doctor.get_by_role("link", name="gorge.png")).to_be_visible()
    # the waiting page moves on by itself
    expect(patient.get_by_role("heading", name=re.compile("Téléconsultation avec"))).to_be_visible(
        timeout=15_000
    )
    expect(patient.locator("#chat")).to_have_attribute("data-connecte", "1")
    expect(doctor.locator("#chat")).to_have_attribute("data-connecte", "1")
    # chat both ways
    patient.get_by_label("Votre message").fill("Bonjour docteur, la fièvre est remontée ce matin.")
    patient.get_by_role("button", name="Envoyer").click()
    expect(doctor.locator("#fil")).to_contain_text("la fièvre est remontée ce matin")
    doctor.get_by_label("Votre message").fill("Bonjour, avez-vous une photo de votre gorge ?")
    doctor.get_by_role("button", name="Envoyer").click()
    expect(patient.locator("#fil")).to_contain_text("photo de votre gorge")
    # a file through the paperclip: preview in the thread, then download
    picture = png("blue", 32)
    patient.locator("#chat-fichier").set_input_files(
        [{"name": "gorge-2.png", "mimeType": "image/png", "buffer": picture}]
    )
    expect(doctor.locator("#fil a.piece", has_text="gorge-2.png")).to_be_visible()
    expect(doctor.locator("#fil img.apercu")).to_be_visible()
    doctor.wait_for_function("document.querySelector('#fil img.apercu').naturalWidth === 32")
    with doctor.expect_download() as info:
        doctor.locator("#fil a.piece", has_text="gorge-2.png").click()
    assert open(info.value.path(), "rb").read() == picture  # noqa: SIM115
    # a refused file in the chat: a French message
    patient.locator("#chat-fichier").set_input_files(
        [{"name": "virus.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00" + b"\x00" * 200}]
    )
    expect(patient.locator("#chat-erreur")).to_contain_text("n'est pas une image JPEG ou PNG ni un PDF")
    shot(doctor, "tc-consultation-medecin")
    comms = fhir_admin.get("Communication", params={"encounter": f"Encounter/{eid}"}).json()["entry"]
    assert len(comms) == 3  # two messages and the file, each a Communication of the record

    # the doctor prescribes through the e-prescription screens, signs with the SMS code
    doctor.get_by_role("link", name=re.compile("^Prescrire")).click()
    doctor.get_by_role("link", name="Nouvelle ordonnance de médicaments").click()
    doctor.get_by_label("Médicament").nth(0).fill("Paracétamol 1 g, comprimé")
    doctor.get_by_label("Posologie").nth(0).fill("1 comprimé toutes les 6 heures si fièvre")
    doctor.get_by_role("button", name="Enregistrer le brouillon").click()
    doctor.get_by_role("button", name="Signer les ordonnances (code SMS)").click()
    # the code page is served once the SMS is sent: read the outbox only then
    expect(doctor.get_by_label("Code reçu par SMS")).to_be_visible()
    code = sms_codes(portal_server, sms_number(fhir_admin, "demo-pra-martin"))[-1]
    doctor.get_by_label("Code reçu par SMS").fill(code)
    doctor.get_by_role("button", name="Signer").click()
    expect(doctor.get_by_text("Ordonnances signées")).to_be_visible()
    smtp.mailbox.wait_for(who["email"], "Ordonnance disponible")
    # the report closes the consultation
    doctor.goto(f"/file-attente/consultation/{eid}")
    doctor.get_by_label("Conclusion et conduite à tenir").fill(
        "Virose probable. Paracétamol, repos, hydratation ; reconsulter si gêne respiratoire."
    )
    doctor.get_by_role("button", name="Enregistrer le compte rendu et clore").click()
    expect(doctor.get_by_text("Compte rendu enregistré : le patient est prévenu")).to_be_visible()
    mail = smtp.mailbox.wait_for(who["email"], "Compte rendu disponible")
    link = Mailbox.link(mail)
    assert fhir_admin.get(f"Task/{task['id']}").json()["status"] == "completed"

    # the e-mail's link works; the report and the ordonnance download; the rating
    patient.goto(link)
    expect(patient.get_by_role("heading", name="Mes questions")).to_be_visible()
    expect(patient.locator("tr.question").first).to_contain_text("Terminée")
    patient.locator("tr.question").first.get_by_role("link", name="Ouvrir").click()
    expect(patient.get_by_text("Virose probable.")).to_be_visible()
    with patient.expect_download() as info:
        patient.get_by_role("link", name="Télécharger le compte rendu").click()
    assert "Virose probable." in open(info.value.path(), encoding="utf-8").read()  # noqa: SIM115
    pdf = patient.request.get(
        patient.get_by_role("link", name=re.compile("Télécharger l'ordonnance")).get_attribute("href") or ""
    )
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    patient.get_by_role("button", name="Envoyer mon avis").click()
    expect(patient.locator("p.error", has_text="Donnez une note de 1 à 5 étoiles.")).to_be_visible()
    patient.get_by_label("Oui").check()
    patient.get_by_label("4 étoiles").check()
    patient.get_by_label("Commentaire pour l'équipe qualité (facultatif)").fill("Rapide et clair, merci.")
    patient.get_by_role("button", name="Envoyer mon avis").click()
    expect(patient.get_by_text("Merci pour votre avis")).to_be_visible()
    shot(patient, "tc-bilan")
    rating = fhir_admin.get(
        "QuestionnaireResponse",
        params={
            "encounter": f"Encounter/{eid}",
            "questionnaire": "https://passerelle.fr/fhir/Questionnaire/teleconsultation-evaluation",
        },
    ).json()
    items = {i["linkId"]: i["answer"][0] for i in rating["entry"][0]["resource"]["item"]}
    assert items["visite-evitee"] == {"valueBoolean": True} and items["note"] == {"valueInteger": 4}
    assert items["commentaire"]["valueString"] == "Rapide et clair, merci."


def test_question_form_refusals_keep_what_was_typed(
    page: Page, portal_server: ServerProcess, smtp: SmtpSink, fhir_admin: httpx.Client
) -> None:
    who = new_patient(portal_server, smtp)
    login_patient(page, portal_server, who)
    page.goto("/teleconsultation")
    page.get_by_label("Appel audio").check()
    fill_question(page, "Mal au dos depuis hier soir.")
    files = [{"name": f"photo{i}.png", "mimeType": "image/png", "buffer": png()} for i in range(4)]
    page.get_by_label("Pièces jointes (facultatif)").set_input_files(files)
    page.get_by_role("button", name="Envoyer la question").click()
    expect(page.locator("#symptomes-erreur")).to_contain_text("100 caractères au moins")
    expect(page.locator("#pieces-erreur")).to_contain_text("3 pièces jointes au plus")
    expect(page.get_by_label("Décrivez vos symptômes")).to_have_value("Mal au dos depuis hier soir.")
    expect(page.get_by_label("Appel audio")).to_be_checked()
    expect(page.get_by_label("Poids (kg)")).to_have_value("62")
    # 11 Mo, and an executable renamed .pdf
    fill_question(page)
    big = b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024)
    page.get_by_label("Pièces jointes (facultatif)").set_input_files(
        [{"name": "scanner.pdf", "mimeType": "application/pdf", "buffer": big}]
    )
    page.get_by_role("button", name="Envoyer la question").click()
    expect(page.locator("#pieces-erreur")).to_contain_text("« scanner.pdf » dépasse 10 Mo.")
    expect(page.get_by_label("Décrivez vos symptômes")).to_have_value(SYMPTOMS)
    page.get_by_label("Pièces jointes (facultatif)").set_input_files(
        [{"name": "ordonnance.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00" + b"\x00" * 500}]
    )
    page.get_by_role("button", name="Envoyer la question").click()
    expect(page.locator("#pieces-erreur")).to_contain_text("« ordonnance.pdf » n'est pas une image")
    expect(page.get_by_label("Traitements en cours")).to_have_value("Aucun")
    # nothing was written for this patient
    bundle = fhir_admin.get("Encounter", params={"subject": f"Patient/{who['id']}"}).json()
    assert not bundle.get("entry")
