"""A patient's opinion request, answered from the consultation page's tabs."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.portal.browser import shot

ENCOUNTER = "demo-enc-bernard-avis"


def test_opinion_request_tabs_from_taking_on_to_closing(
    doctor: Page, fhir_admin: httpx.Client, portal: str
) -> None:
    doctor.goto("/accueil")
    doctor.locator("table").get_by_role("link", name="DA-2026-0002").click()
    expect(doctor).to_have_url(re.compile(f"/consultations/{ENCOUNTER}$"))
    tabs = doctor.locator("ul.tabs")
    for label in ("Demande patient", "Dossier médical", "Mon avis", "Certificats médicaux", "Diagnostics",
                  "Avis aux confrères", "Mémo"):  # fmt: skip
        expect(tabs.get_by_role("link", name=label)).to_be_visible()
    expect(doctor.get_by_text("Vertiges le matin au lever")).to_be_visible()
    shot(doctor, "demande-avis")
    doctor.get_by_role("button", name="Prendre en charge").click()
    expect(doctor.get_by_text("Demande prise en charge.")).to_be_visible()
    assert fhir_admin.get("Task/demo-task-bernard-avis").json()["status"] == "in-progress"
    assert fhir_admin.get(f"Encounter/{ENCOUNTER}").json()["status"] == "in-progress"

    # Mon avis: the sheet, its reason prefilled from the request
    assert doctor.get_by_label("Motif").input_value() == "Vertiges au lever"
    doctor.get_by_label("Conclusion").fill("Hypotension orthostatique probable : réduire l'amlodipine.")
    doctor.get_by_role("button", name="Enregistrer la fiche").click()
    expect(doctor.get_by_text("Fiche de consultation enregistrée.")).to_be_visible()
    sheet = fhir_admin.get("Composition", params={"encounter": f"Encounter/{ENCOUNTER}"}).json()["entry"][0]
    assert "Hypotension orthostatique" in str(sheet["resource"]["section"])

    # Diagnostics through the terminology service (ICD-10, French designations where known)
    tabs.get_by_role("link", name="Diagnostics").click()
    doctor.get_by_label("Rechercher un diagnostic (CIM-10)").fill("diab")
    doctor.locator("main").get_by_role("button", name="Rechercher").click()
    row = doctor.locator("li", has_text="E10 — Diabète sucré insulinodépendant")
    row.get_by_role("button", name="Ajouter").click()
    expect(doctor.get_by_text("Diagnostic ajouté : Diabète sucré insulinodépendant (E10).")).to_be_visible()
    conditions = fhir_admin.get("Condition", params={"encounter": f"Encounter/{ENCOUNTER}"}).json()["entry"]
    coding = conditions[0]["resource"]["code"]["coding"][0]
    assert coding == {"system": "http://hl7.org/fhir/sid/icd-10", "code": "E10",
                      "display": "Diabète sucré insulinodépendant"}  # fmt: skip

    # Certificate, memo
    tabs.get_by_role("link", name="Certificats médicaux").click()
    doctor.get_by_label("Type de certificat").select_option("certificat-medical")
    doctor.get_by_label("Texte du certificat").fill("Je certifie avoir examiné Mme Bernard ce jour.")
    doctor.get_by_role("button", name="Enregistrer le certificat").click()
    expect(doctor.get_by_text("Certificat médical enregistré dans le dossier.")).to_be_visible()
    docs = fhir_admin.get("DocumentReference", params={"encounter": f"Encounter/{ENCOUNTER}"}).json()["entry"]
    assert docs[0]["resource"]["type"]["coding"][0]["code"] == "certificat-medical"
    tabs.get_by_role("link", name="Mémo").click()
    doctor.get_by_label("Message rapide au patient").fill("Pensez à vous lever doucement.")
    doctor.get_by_role("button", name="Envoyer le mémo").click()
    expect(doctor.get_by_text("Mémo envoyé au patient.")).to_be_visible()
    memo = fhir_admin.get("Communication", params={"encounter": f"Encounter/{ENCOUNTER}"}).json()["entry"][0]
    assert memo["resource"]["recipient"] == [{"reference": "Patient/demo-pt-bernard"}]
    assert memo["resource"]["payload"] == [{"contentString": "Pensez à vous lever doucement."}]

    # Close without a follow-up: the request Task is completed, nothing can be added afterwards
    tabs.get_by_role("link", name="Clôture").click()
    doctor.get_by_label("Non").check()
    doctor.get_by_role("button", name="Clôturer la consultation").click()
    expect(doctor.get_by_text("Consultation clôturée.")).to_be_visible()
    assert fhir_admin.get("Task/demo-task-bernard-avis").json()["status"] == "completed"
    assert fhir_admin.get(f"Encounter/{ENCOUNTER}").json()["status"] == "finished"
    cookies = {c["name"]: c["value"] for c in doctor.context.cookies()}
    csrf = doctor.locator('input[name="csrf"]').first.get_attribute("value")
    for path, data in (
        ("diagnostics", {"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10", "display": "HTA"}),
        ("memo", {"message": "après clôture"}),
        ("certificats", {"type": "certificat-medical", "texte": "après clôture"}),
    ):
        r = httpx.post(
            f"{portal}/consultations/{ENCOUNTER}/{path}", data={"csrf": csrf, **data}, cookies=cookies
        )
        assert r.status_code == 409, (path, r.status_code)
    assert (
        len(fhir_admin.get("Condition", params={"encounter": f"Encounter/{ENCOUNTER}"}).json()["entry"]) == 1
    )
