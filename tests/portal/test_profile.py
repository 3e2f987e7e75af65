"""Mon profil: contact and fees in the professional's own profile role, their certificates,
inviting a colleague by e-mail (real SMTP), and what another professional may not do."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import FHIR_JSON, SmtpSink, bearer, professional_token, register_client
from tests.portal.browser import DR_GARNIER, DR_MARTIN, shot

ROLE = "https://passerelle.fr/fhir/CodeSystem/portal-role|profil"


def test_profile_fees_certificates_and_invitation(
    logged_in: Callable[[str], Page], fhir_admin: httpx.Client, smtp: SmtpSink, portal: str
) -> None:
    martin = logged_in(DR_MARTIN)
    martin.goto("/profil")
    expect(martin.get_by_text(re.compile("Profil incomplet"))).to_be_visible()
    martin.get_by_label("Téléphone professionnel").fill("12 34")
    martin.get_by_label("Ville").fill("Paris")
    martin.get_by_label("Consultation au cabinet (€)").fill("30")
    martin.get_by_label("Téléconsultation (€)").fill("25,005")
    martin.get_by_role("button", name="Enregistrer mon profil").click()
    expect(martin.locator("#phone-erreur")).to_be_visible()
    expect(martin.locator("#tarif_teleconsultation-erreur")).to_be_visible()
    assert martin.get_by_label("Ville").input_value() == "Paris"
    assert martin.get_by_label("Consultation au cabinet (€)").input_value() == "30"
    martin.get_by_label("Téléphone professionnel").fill("01 45 67 89 10")
    martin.get_by_label("Téléconsultation (€)").fill("25")
    martin.get_by_role("button", name="Enregistrer mon profil").click()
    expect(martin.get_by_text("Profil enregistré.")).to_be_visible()
    shot(martin, "profil")
    roles = fhir_admin.get(
        "PractitionerRole", params={"practitioner": "Practitioner/demo-psc-martin", "role": ROLE}
    ).json()["entry"]
    role = roles[0]["resource"]
    assert role["telecom"] == [{"system": "phone", "value": "01 45 67 89 10", "use": "work"}]
    fees = {
        {e["url"]: e for e in x["extension"]}["acte"]["valueCode"]: {e["url"]: e for e in x["extension"]}[
            "montant"
        ]["valueMoney"]
        for x in role["extension"]
        if x["url"].endswith("/tarif")
    }
    assert fees == {
        "cabinet": {"value": 30.0, "currency": "EUR"},
        "teleconsultation": {"value": 25.0, "currency": "EUR"},
    }
    martin.goto("/accueil")
    expect(martin.get_by_text("Votre profil est incomplet")).to_have_count(0)

    # a certificate, readable by her only
    martin.goto("/profil")
    martin.get_by_label("Type d'attestation").select_option("inscription-ordre")
    martin.locator("#fichier").set_input_files(
        {"name": "ordre.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}
    )
    martin.get_by_role("button", name="Déposer").click()
    expect(martin.get_by_text("Attestation d'inscription à l'Ordre ajoutée à votre profil.")).to_be_visible()
    href = martin.get_by_role("link", name="Attestation d'inscription à l'Ordre").get_attribute("href")
    assert href
    papers = fhir_admin.get("DocumentReference", params={"subject": "Practitioner/demo-psc-martin"}).json()
    assert papers["entry"][0]["resource"]["type"]["coding"][0]["code"] == "inscription-ordre"
    garnier = logged_in(DR_GARNIER)
    response = garnier.goto(href)
    assert response is not None and response.status == 404

    # invite a colleague: a real e-mail through SMTP
    martin.get_by_label("E-mail du confrère").fill("pas-une-adresse")
    martin.get_by_role("button", name="Envoyer l'invitation").click()
    expect(martin.locator("#invite_email-erreur")).to_be_visible()
    martin.get_by_label("E-mail du confrère").fill("dr.confrere@example.fr")
    martin.get_by_label("Message (facultatif)").fill("Rejoins-nous pour les télé-expertises.")
    martin.get_by_role("button", name="Envoyer l'invitation").click()
    expect(martin.get_by_text("Invitation envoyée à dr.confrere@example.fr.")).to_be_visible()
    mail = smtp.mailbox.wait_for("dr.confrere@example.fr", "vous invite sur Passerelle")
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "Rejoins-nous pour les télé-expertises." in body and f"{portal}/" in body

    # invite a patient to open an account and invite her
    martin.goto("/patients/recherche")
    martin.get_by_label("E-mail du patient").fill("patiente@example.fr")
    martin.get_by_role("button", name="Envoyer l'invitation").click()
    expect(martin.get_by_text("Invitation envoyée à patiente@example.fr.")).to_be_visible()
    body = smtp.mailbox.wait_for("patiente@example.fr", "vous invite").get_body().get_content()  # type: ignore[union-attr]
    assert "Créez votre compte patient" in body and f"{portal}/" in body


def test_a_professional_cannot_widen_their_reach_through_a_profile_role(
    portal_server: ServerProcess, portal: str, fhir_admin: httpx.Client
) -> None:
    scope = "openid fhirUser user/*.cruds"
    with httpx.Client(timeout=60) as http:
        client = register_client(portal_server, "confidential", scope, name="profil")
        token = professional_token(http, portal_server, client, scope, DR_GARNIER)
        headers = {**bearer(token), "Content-Type": FHIR_JSON}
        base = {
            "resourceType": "PractitionerRole",
            "practitioner": {"reference": "Practitioner/demo-psc-garnier"},
            "code": [{"coding": [{"system": ROLE.split("|")[0], "code": "profil"}]}],
        }
        # joining the health centre through a self-written role would reach its patients: refused
        r = http.post(
            f"{portal}/fhir/PractitionerRole",
            json={**base, "organization": {"reference": "Organization/demo-org-cds-paris15"}},
            headers=headers,
        )
        assert r.status_code == 403, r.text
        r = http.post(
            f"{portal}/fhir/PractitionerRole",
            json={**base, "practitioner": {"reference": "Practitioner/demo-psc-martin"}},
            headers=headers,
        )
        assert r.status_code == 403, r.text
        r = http.post(f"{portal}/fhir/PractitionerRole", json=base, headers=headers)
        assert r.status_code == 201, r.text
        # still none of the health centre's patients (Camille Roussel is one; no test links her to him)
        assert fhir_admin.get("Patient/demo-pt-roussel").status_code == 200
        r = http.get(f"{portal}/fhir/Patient/demo-pt-roussel", headers=bearer(token))
        assert r.status_code in (403, 404)
