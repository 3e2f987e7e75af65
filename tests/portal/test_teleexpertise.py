"""Télé-expertise: request with consent and payment, answered by the expert, read by the requester."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.portal.browser import DR_GARNIER, DR_MARTIN, shot


def test_tele_expertise_request_consent_payment_and_answer(
    logged_in: Callable[[str], Page], fhir_admin: httpx.Client
) -> None:
    martin = logged_in(DR_MARTIN)
    garnier = logged_in(DR_GARNIER)
    # before the request, Dr Garnier cannot open Sarah Haddad's record
    response = garnier.goto("/patients/demo-pt-haddad")
    assert response is not None and response.status == 404

    martin.goto("/patients/demo-pt-haddad/consultations/nouvelle")
    martin.get_by_label("Motif de consultation").fill("Nodule thyroïdien")
    martin.get_by_label("Conclusion").fill("Échographie à discuter.")
    martin.get_by_role("button", name="Enregistrer la consultation").click()
    encounter_id = martin.url.rsplit("/", 1)[1]
    martin.locator("ul.tabs").get_by_role("link", name="Avis aux confrères").click()
    martin.get_by_role("link", name=re.compile("Demander l'avis d'un confrère")).click()
    assert "Nodule thyroïdien" in martin.get_by_label("Résumé de la consultation").input_value()
    martin.get_by_label("Confrère destinataire").select_option("demo-psc-garnier")
    martin.get_by_label("Objet de la demande").fill("Avis sur nodule thyroïdien")
    martin.get_by_role("button", name="Payer et envoyer la demande").click()
    expect(martin.locator("#consentement-erreur")).to_contain_text("consentement du patient est nécessaire")
    assert martin.get_by_label("Objet de la demande").input_value() == "Avis sur nodule thyroïdien"
    martin.get_by_label(re.compile("consent à la télé-expertise")).check()
    martin.get_by_role("button", name="Payer et envoyer la demande").click()
    expect(
        martin.get_by_text(re.compile(r"Demande de télé-expertise TE-\w+ envoyée \(paiement DEV-"))
    ).to_be_visible()
    shot(martin, "avis-pour-un-confrere")

    [sr] = [e["resource"] for e in fhir_admin.get(
        "ServiceRequest", params={"encounter": f"Encounter/{encounter_id}"}).json()["entry"]]  # fmt: skip
    assert sr["status"] == "active" and sr["performer"] == [{"reference": "Practitioner/demo-psc-garnier"}]
    assert sr["requester"] == {"reference": "Practitioner/demo-psc-martin"}
    assert sr["reasonCode"] == [{"text": "Avis sur nodule thyroïdien"}]
    consents = fhir_admin.get("Consent", params={"patient": "Patient/demo-pt-haddad"}).json()["entry"]
    consent = consents[-1]["resource"]
    assert consent["status"] == "active" and consent["provision"]["type"] == "permit"
    assert consent["provision"]["actor"][0]["reference"] == {"reference": "Practitioner/demo-psc-garnier"}
    charges = fhir_admin.get("ChargeItem", params={"subject": "Patient/demo-pt-haddad"}).json()["entry"]
    charge = charges[-1]["resource"]
    assert charge["status"] == "billed" and charge["priceOverride"] == {"value": 20.0, "currency": "EUR"}
    assert charge["code"]["coding"][0]["code"] == "TE2"
    assert charge["identifier"][0]["value"].startswith("DEV-")
    task = fhir_admin.get("Task", params={"focus": f"ServiceRequest/{sr['id']}"}).json()["entry"][0][
        "resource"
    ]
    assert task["owner"] == {"reference": "Practitioner/demo-psc-garnier"} and task["status"] == "requested"

    # the expert answers from the Télé-expertise tab: draft, then send and close
    garnier.goto("/tele-expertise")
    garnier.get_by_role("link", name=task["identifier"][0]["value"]).click()
    expect(garnier.get_by_text("Avis sur nodule thyroïdien")).to_be_visible()
    garnier.get_by_label("Mon avis").fill("Échographie thyroïdienne puis cytoponction si > 1 cm.")
    garnier.get_by_role("button", name="Enregistrer").click()
    expect(garnier.get_by_text("Avis enregistré (brouillon).")).to_be_visible()
    draft = fhir_admin.get("Communication", params={"based-on": f"ServiceRequest/{sr['id']}"}).json()["entry"]
    assert draft[0]["resource"]["status"] == "preparation"
    assert garnier.get_by_label("Mon avis").input_value().startswith("Échographie thyroïdienne")
    # the consent lets him open the patient's record now
    response = garnier.goto("/patients/demo-pt-haddad")
    assert response is not None and response.status == 200
    garnier.goto(f"/tele-expertise/{task['id']}")
    garnier.once("dialog", lambda d: d.accept())
    garnier.get_by_role("button", name="Envoyer et clore").click()
    expect(garnier.get_by_text("Avis envoyé : la télé-expertise est close.")).to_be_visible()
    shot(garnier, "tele-expertise-reponse")
    answer = fhir_admin.get("Communication", params={"based-on": f"ServiceRequest/{sr['id']}"}).json()[
        "entry"
    ]
    assert answer[0]["resource"]["status"] == "completed"
    assert answer[0]["resource"]["recipient"] == [{"reference": "Practitioner/demo-psc-martin"}]
    assert fhir_admin.get(f"Task/{task['id']}").json()["status"] == "completed"
    assert fhir_admin.get(f"ServiceRequest/{sr['id']}").json()["status"] == "completed"

    # the requester reads the answer
    martin.goto("/avis")
    martin.get_by_role("link", name=task["identifier"][0]["value"]).click()
    expect(martin.get_by_text("cytoponction si > 1 cm")).to_be_visible()
