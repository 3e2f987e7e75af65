"""The clinician's workspace in a real browser, checking the FHIR resources the screens write."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.portal.browser import DR_GARNIER, shot

LOINC = "http://loinc.org"


def test_dashboard_shows_menu_requests_and_profile_alert(doctor: Page) -> None:
    expect(doctor).to_have_url(re.compile("/accueil$"))
    menu = doctor.get_by_role("navigation", name="Menu principal")
    for label in ("Accueil", "Mes dossiers", "Mes rendez-vous", "Mes patients", "Rechercher et ajouter",
                  "Nouveau patient"):  # fmt: skip
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(doctor.get_by_text("Votre profil est incomplet")).to_be_visible()
    table = doctor.locator("table").first
    expect(table).to_contain_text("DA-2026-0001")
    expect(table).to_contain_text("Lucas MOREAU")
    expect(table).to_contain_text("Demande d'avis")
    expect(doctor.locator("#attente + ul")).to_contain_text("DA-2026-0001")
    shot(doctor, "tableau-de-bord")
    doctor.get_by_label("Rechercher", exact=True).fill("introuvable")
    doctor.get_by_role("button", name="Appliquer").click()
    expect(doctor.get_by_text("Aucune demande ne correspond à « introuvable »")).to_be_visible()
    assert doctor.get_by_label("Rechercher", exact=True).input_value() == "introuvable"


def test_my_patients_and_health_centre_records(doctor: Page) -> None:
    menu = doctor.get_by_role("navigation", name="Menu principal")
    menu.get_by_role("link", name="Mes patients", exact=True).click()
    table = doctor.locator("table")
    expect(table).to_contain_text("Jeanne BERNARD")
    expect(table).to_contain_text("Lucas MOREAU")
    expect(table).not_to_contain_text("LEFÈVRE")  # Dr Garnier's patient
    shot(doctor, "mes-patients")
    menu.get_by_role("link", name="Mes dossiers").click()
    expect(doctor.locator("table")).to_contain_text("Sarah HADDAD")


def test_new_patient_checks_the_ins_key_and_keeps_the_input(doctor: Page, fhir_admin: httpx.Client) -> None:
    doctor.goto("/patients/nouveau")
    doctor.get_by_label("Nom de naissance").fill("Rousseau")
    doctor.get_by_label("Prénom(s)").fill("Émile")
    doctor.get_by_label("Sexe").select_option("male")
    doctor.get_by_label("Date de naissance").fill("1984-06-15")
    # body 1840675056001: key 97 - (1840675056001 mod 97); the last two digits are wrong on purpose
    body = "1840675056001"
    key = 97 - int(body) % 97
    doctor.get_by_label("Matricule INS (NIR)").fill(body + f"{(key + 1) % 97:02d}")
    doctor.get_by_label("Téléphone mobile").fill("06 12 34 56 78")
    doctor.get_by_role("button", name="Créer le dossier").click()
    expect(doctor.locator("#ins-erreur")).to_have_text(re.compile("clé du matricule INS"))
    assert doctor.get_by_label("Nom de naissance").input_value() == "Rousseau"
    assert doctor.get_by_label("Prénom(s)").input_value() == "Émile"
    assert doctor.get_by_label("Téléphone mobile").input_value() == "06 12 34 56 78"
    shot(doctor, "nouveau-patient-erreur")
    # a correct key, but a NIR of a woman (2…) for a man
    doctor.get_by_label("Matricule INS (NIR)").fill("2840675056001" + f"{97 - 2840675056001 % 97:02d}")
    doctor.get_by_role("button", name="Créer le dossier").click()
    expect(doctor.locator("#ins-erreur")).to_have_text(re.compile("sexe"))
    nir = body + f"{key:02d}"
    doctor.get_by_label("Matricule INS (NIR)").fill(nir)
    doctor.get_by_role("button", name="Créer le dossier").click()
    expect(doctor.get_by_text("Dossier de Émile ROUSSEAU créé.")).to_be_visible()
    patient_id = doctor.url.rstrip("/").rsplit("/", 1)[1]
    stored = fhir_admin.get(f"Patient/{patient_id}").json()
    assert stored["identifier"] == [
        {"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8", "value": nir}
    ]
    assert stored["generalPractitioner"] == [{"reference": "Practitioner/demo-psc-martin"}]
    assert stored["birthDate"] == "1984-06-15" and stored["gender"] == "male"
    # the new patient is now one of "my patients"
    doctor.goto("/patients")
    expect(doctor.locator("table")).to_contain_text("Émile ROUSSEAU")


def test_patient_record_page(doctor: Page) -> None:
    doctor.goto("/patients/demo-pt-bernard")
    expect(doctor.get_by_role("heading", name="Dossier médical de Jeanne BERNARD")).to_be_visible()
    expect(doctor.get_by_text("Hypertension artérielle")).to_be_visible()
    expect(doctor.get_by_text(re.compile(r"Poids : 70\.2 kg"))).to_be_visible()
    expect(doctor.get_by_text(re.compile(r"Pression artérielle systolique : 134 mmHg"))).to_be_visible()
    expect(doctor.get_by_text("Suivi tension artérielle")).to_be_visible()
    shot(doctor, "dossier-medical")


def test_in_office_consultation_writes_encounter_sheet_and_vital_signs_then_locks(
    doctor: Page, fhir_admin: httpx.Client, portal: str
) -> None:
    doctor.goto("/patients/demo-pt-moreau")
    doctor.get_by_role("link", name="Nouvelle consultation").click()
    doctor.get_by_label("Motif de consultation").fill("Fièvre et toux")
    doctor.get_by_label("Résumé").fill("Toux sèche depuis 4 jours.")
    doctor.get_by_label("Poids (kg)").fill("81,5")
    doctor.get_by_label("Température (°C)").fill("389")  # typing error: refused, everything kept
    doctor.get_by_label("Pression artérielle systolique (mmHg)").fill("128")
    doctor.get_by_label("Pression artérielle diastolique (mmHg)").fill("79")
    doctor.get_by_role("button", name="Enregistrer la consultation").click()
    expect(doctor.locator("#temperature-erreur")).to_contain_text("hors des limites plausibles")
    assert doctor.get_by_label("Motif de consultation").input_value() == "Fièvre et toux"
    assert doctor.get_by_label("Poids (kg)").input_value() == "81,5"
    doctor.get_by_label("Température (°C)").fill("38,9")
    doctor.get_by_role("button", name="Enregistrer la consultation").click()
    expect(doctor.get_by_text("Consultation enregistrée.")).to_be_visible()
    encounter_id = doctor.url.rsplit("/", 1)[1]
    encounter = fhir_admin.get(f"Encounter/{encounter_id}").json()
    assert encounter["status"] == "in-progress"
    assert encounter["subject"] == {"reference": "Patient/demo-pt-moreau"}
    assert encounter["class"]["code"] == "AMB"
    assert encounter["participant"][0]["individual"] == {"reference": "Practitioner/demo-psc-martin"}
    obs = fhir_admin.get("Observation", params={"encounter": f"Encounter/{encounter_id}"}).json()
    by_code = {o["resource"]["code"]["coding"][0]["code"]: o["resource"] for o in obs["entry"]}
    assert by_code["29463-7"]["valueQuantity"] == {
        "value": 81.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"
    }  # fmt: skip
    assert by_code["8310-5"]["valueQuantity"]["value"] == 38.9
    assert by_code["8310-5"]["valueQuantity"]["code"] == "Cel"
    panel = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in by_code["85354-9"]["component"]
    }
    assert panel == {"8480-6": 128, "8462-4": 79}
    assert all(o["category"][0]["coding"][0]["code"] == "vital-signs" for o in by_code.values())
    sheet = fhir_admin.get("Composition", params={"encounter": f"Encounter/{encounter_id}"}).json()["entry"][
        0
    ]
    assert sheet["resource"]["status"] == "preliminary"
    assert "Toux sèche depuis 4 jours." in str(sheet["resource"]["section"])

    # edit the sheet, then close with "revoir le patient"
    doctor.get_by_label("Examen clinique").fill("Auscultation : ronchi bilatéraux.")
    doctor.get_by_role("button", name="Enregistrer la fiche").click()
    expect(doctor.get_by_text("Fiche de consultation enregistrée.")).to_be_visible()
    doctor.get_by_role("link", name="Clôture").click()
    doctor.get_by_label("Oui").check()
    doctor.get_by_label("Dans quel délai ?").fill("1 semaine")
    doctor.get_by_role("button", name="Clôturer la consultation").click()
    expect(doctor.get_by_text(re.compile("Consultation clôturée"))).to_be_visible()
    shot(doctor, "consultation-cloturee")
    encounter = fhir_admin.get(f"Encounter/{encounter_id}").json()
    assert encounter["status"] == "finished" and encounter["period"]["end"]
    sheet = fhir_admin.get("Composition", params={"encounter": f"Encounter/{encounter_id}"}).json()["entry"][
        0
    ]
    assert sheet["resource"]["status"] == "final"
    assert "ronchi bilatéraux" in str(sheet["resource"]["section"])
    tasks = fhir_admin.get("Task", params={"encounter": f"Encounter/{encounter_id}"}).json()
    assert tasks["entry"][0]["resource"]["description"] == "Revoir le patient (1 semaine)"
    # locked: no form any more, and a forged POST is refused
    assert doctor.get_by_role("button", name="Enregistrer la fiche").count() == 0
    cookies = {c["name"]: c["value"] for c in doctor.context.cookies()}
    csrf = doctor.locator('input[name="csrf"]').first.get_attribute("value")
    r = httpx.post(
        f"{portal}/consultations/{encounter_id}/fiche",
        data={"csrf": csrf, "motif": "changé", "resume": "changé"},
        cookies=cookies,
    )
    assert r.status_code == 409 and "ne peut plus être modifiée" in r.text
    version = fhir_admin.get(f"Composition/{sheet['resource']['id']}").json()["meta"]["versionId"]
    assert version == sheet["resource"]["meta"]["versionId"]


def test_vital_sign_chart(doctor: Page) -> None:
    doctor.goto("/patients/demo-pt-bernard/constantes")
    doctor.get_by_label("Paramètre").select_option("poids")
    doctor.get_by_role("button", name="Afficher").click()
    svg = doctor.locator("svg.chart")
    expect(svg).to_be_visible()
    expect(svg.locator("circle.point")).to_have_count(6)
    expect(svg.locator("desc")).to_contain_text("de 70.2 à 72.4 kg")
    shot(doctor, "courbe-poids")
    doctor.get_by_label("Paramètre").select_option("systolique")
    doctor.get_by_role("button", name="Afficher").click()
    expect(doctor.locator("svg.chart circle.point")).to_have_count(6)
    expect(doctor.locator("svg.chart desc")).to_contain_text("de 134 à 152 mmHg")
    # a range with nothing in it, and a reversed range
    doctor.locator("#du").fill("2001-01-01")
    doctor.locator("#au").fill("2001-12-31")
    doctor.get_by_role("button", name="Afficher").click()
    expect(doctor.locator("svg.chart desc")).to_have_text("Aucune mesure sur la période.")
    doctor.locator("#du").fill("2002-01-01")
    doctor.get_by_role("button", name="Afficher").click()
    expect(doctor.locator("#au-erreur")).to_have_text("La date de fin précède la date de début.")


def test_document_upload_list_and_open(doctor: Page, fhir_admin: httpx.Client, portal: str) -> None:
    doctor.goto("/patients/demo-pt-bernard/documents")
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    # a text file named .pdf is refused, the other fields are kept
    doctor.get_by_label("Type de document").select_option("11502-2")
    doctor.get_by_label("Description").fill("Bilan sanguin de mars")
    doctor.locator("#fichier").set_input_files(
        {"name": "faux.pdf", "mimeType": "application/pdf", "buffer": b"ceci n'est pas un PDF"}
    )
    doctor.get_by_role("button", name="Ajouter au dossier").click()
    expect(doctor.locator("#fichier-erreur")).to_contain_text("Format non accepté")
    assert doctor.get_by_label("Description").input_value() == "Bilan sanguin de mars"
    doctor.locator("#fichier").set_input_files(
        {"name": "bilan.pdf", "mimeType": "application/pdf", "buffer": pdf}
    )
    doctor.get_by_role("button", name="Ajouter au dossier").click()
    expect(doctor.get_by_text("Document « Bilan sanguin de mars » ajouté au dossier.")).to_be_visible()
    shot(doctor, "documents")
    found = fhir_admin.get(
        "DocumentReference", params={"subject": "Patient/demo-pt-bernard", "type": f"{LOINC}|11502-2"}
    ).json()
    doc = found["entry"][0]["resource"]
    assert doc["author"] == [{"reference": "Practitioner/demo-psc-martin"}]
    assert doc["content"][0]["attachment"]["contentType"] == "application/pdf"
    assert doc["content"][0]["attachment"]["size"] == len(pdf)
    link = doctor.get_by_role("link", name="Bilan sanguin de mars")
    href = link.get_attribute("href")
    cookies = {c["name"]: c["value"] for c in doctor.context.cookies()}
    opened = httpx.get(f"{portal}{href}", cookies=cookies)
    assert opened.status_code == 200 and opened.content == pdf
    assert opened.headers["content-type"] == "application/pdf"


def test_a_doctor_never_reaches_another_doctors_patients(
    logged_in: Callable[[str], Page], portal: str
) -> None:
    garnier = logged_in(DR_GARNIER)
    garnier.goto("/patients")
    expect(garnier.locator("table")).to_contain_text("Paul LEFÈVRE")
    expect(garnier.locator("table")).not_to_contain_text("BERNARD")
    for path in (
        "/patients/demo-pt-bernard",
        "/patients/demo-pt-bernard/constantes",
        "/patients/demo-pt-bernard/documents",
        "/patients/demo-pt-bernard/consultations/nouvelle",
        "/consultations/demo-enc-bernard-1",
    ):
        response = garnier.goto(path)
        assert response is not None and response.status == 404, path
        expect(garnier.get_by_role("heading", name="Page introuvable")).to_be_visible()
        assert "Jeanne" not in garnier.content() and "Hypertension" not in garnier.content()
    garnier.goto("/patients/recherche?q=Bernard")
    expect(garnier.get_by_text("Aucun patient trouvé")).to_be_visible()
    garnier.goto("/accueil")
    expect(garnier.locator("main")).not_to_contain_text("MOREAU")
    # a forged POST on another doctor's patient writes nothing
    cookies = {c["name"]: c["value"] for c in garnier.context.cookies()}
    csrf = garnier.locator('input[name="csrf"]').first.get_attribute("value")
    r = httpx.post(
        f"{portal}/patients/demo-pt-bernard/consultations/nouvelle",
        data={"csrf": csrf, "motif": "intrusion"},
        cookies=cookies,
    )
    assert r.status_code == 404
