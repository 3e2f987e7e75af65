"""Both sides of the secure messaging in real headless Chromium contexts against a real server.

The server is the portal tests' one (auth on, dev Pro Santé Connect, demo data): Dr Marie Martin
and Dr Julie Bonnet are salaried doctors of the health centre Paris 15 (FINESS 750712184),
Dr Nadia Roux the médecin conseil of the ELSM de Paris, Dr Olivier Faure the ELSM du Rhône's,
Dr Henri Garnier a liberal doctor outside the centre (apps/demo_data/messaging.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from apps.portal.messaging.routing import FUND_SYSTEM
from bench.harness import ServerProcess
from fhir_server.identifiers import NIR_SYSTEM, nir_key
from tests.fhir_server.auth_support import (
    SmtpSink,
    backend_client_token,
    bearer,
    patient_signup,
    patient_token,
    professional_token,
    register_client,
    sms_codes,
)
from tests.portal.browser import DR_BONNET, DR_GARNIER, DR_MARTIN, login_patient, shot
from tests.portal.messaging import files
from tests.portal.messaging.helpers import mail_about

DR_ROUX = "899700009097"  # médecin conseil, ELSM de Paris
DR_FAURE = "899700010103"  # médecin conseil, ELSM du Rhône
CENTRE = "demo-org-centre-paris15"
CENTRE_EMAIL = "accueil@cds-paris15.test"
LAMBERT_NIR = "2 85 03 69 123 123 01"  # the centre's demo patient (CPAM de Paris)
PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.cruds"
PRO_SCOPE = "openid fhirUser user/*.cruds"
PASSWORD = "correct horse battery"  # auth_support.patient_signup's


def _nir(body: str) -> str:
    return body + f"{nir_key(body):02d}"


@pytest.fixture(scope="module")
def admin(portal_server: ServerProcess, portal: str) -> Iterator[httpx.Client]:
    """The Assurance Maladie's backend (system/*.cruds), to set up and check records."""
    with httpx.Client(timeout=60) as http:
        token = backend_client_token(http, portal_server, "system/*.cruds", name="messagerie tests")
    with httpx.Client(
        base_url=f"{portal}/fhir/",
        headers={**bearer(token), "Content-Type": "application/fhir+json"},
        timeout=60,
    ) as client:
        centre = client.get(f"Organization/{CENTRE}").json()
        # the centre's main e-mail (the only one: notifications go to it)
        others = [t for t in centre.get("telecom", []) if t.get("system") != "email"]
        wanted = [*others, {"system": "email", "value": CENTRE_EMAIL}]
        if centre.get("telecom") != wanted:
            centre["telecom"] = wanted
            assert client.put(f"Organization/{CENTRE}", json=centre).status_code == 200
        yield client


@pytest.fixture(scope="module")
def insured(portal_server: ServerProcess, smtp: SmtpSink, admin: httpx.Client) -> dict[str, Any]:
    """A signed-up patient of the health centre, insured at the CPAM de Paris, and her own token."""
    tag = uuid.uuid4().hex[:6]
    email, phone = f"assuree-{tag}@example.fr", "+33622" + str(uuid.uuid4().int)[:6]
    with httpx.Client(timeout=60, follow_redirects=False) as http:
        pid = patient_signup(http, portal_server, smtp.mailbox, email, phone, family="Renaud", given="Claire")
        patient = admin.get(f"Patient/{pid}").json()
        nir = _nir("2800175" + str(uuid.uuid4().int)[:6])
        patient["identifier"] = [*patient.get("identifier", []), {"system": NIR_SYSTEM, "value": nir}]
        patient["managingOrganization"] = {"reference": f"Organization/{CENTRE}"}
        assert admin.put(f"Patient/{pid}", json=patient).status_code == 200
        fund = admin.get("Organization", params={"identifier": f"{FUND_SYSTEM}|01-751"}).json()["entry"][0]
        coverage = {
            "resourceType": "Coverage", "status": "active", "beneficiary": {"reference": f"Patient/{pid}"},
            "payor": [{"reference": f"Organization/{fund['resource']['id']}"}], "dependent": "01",
        }  # fmt: skip
        assert admin.post("Coverage", json=coverage).status_code == 201
        app = register_client(portal_server, "public", PATIENT_SCOPE, name="Mon espace (tests messagerie)")
        token = patient_token(http, portal_server, app, PATIENT_SCOPE, email, phone)
    return {"id": pid, "nir": nir, "token": token, "email": email, "phone": phone}


def pro_token(server: ServerProcess, idnat: str) -> dict[str, Any]:
    with httpx.Client(timeout=60, follow_redirects=False) as http:
        app = register_client(server, "confidential", PRO_SCOPE, name=f"app {idnat}")
        return professional_token(http, server, app, PRO_SCOPE, idnat)


def write_new(page: Page, nir: str, topic: str, text: str, attachments: list[Any] | None = None,
              draft: bool = False) -> str:  # fmt: skip
    """Compose a new message from the doctor side; returns the thread id (from the URL)."""
    page.goto("/messagerie/nouveau")
    page.get_by_label("NIR du patient").fill(nir)
    page.get_by_role("button", name="Rechercher le patient").click()
    expect(page.locator(".patient-card")).to_be_visible()
    page.get_by_label("Objet").fill(topic)
    page.get_by_label("Message").fill(text)
    if attachments:
        page.locator("#pieces").set_input_files(attachments)
    page.get_by_role("button", name="Enregistrer le brouillon" if draft else "Envoyer").click()
    expect(page.locator(".flash-succes")).to_contain_text(
        "Brouillon enregistré." if draft else "Message envoyé."
    )
    return page.url.rstrip("/").split("/")[-1]


def row(page: Page, tid: str) -> Any:
    return page.locator(f'tr[data-thread="{tid}"]')


def is_bold(page: Page, tid: str) -> bool:
    weight = row(page, tid).locator("a").first.evaluate("el => getComputedStyle(el).fontWeight")
    return int(weight) >= 700


def open_bin(page: Page, key: str) -> None:
    page.goto(f"/service-medical?bac={key}")


def test_doctor_and_medecin_conseil_exchange_until_closed_and_reopened(
    logged_in: Callable[[str], Page], smtp: SmtpSink, admin: httpx.Client
) -> None:
    martin, roux = logged_in(DR_MARTIN), logged_in(DR_ROUX)
    topic = f"Reprise à mi-temps {uuid.uuid4().hex[:4]}"
    pdf = {"name": "bilan.pdf", "mimeType": "application/pdf", "buffer": files.pdf("Bilan")}
    png = {"name": "plaie.png", "mimeType": "image/png", "buffer": files.png()}
    tid = write_new(martin, LAMBERT_NIR, topic, "Bonjour, voici le bilan.", [pdf, png])
    expect(martin.get_by_role("link", name="bilan.pdf")).to_be_visible()
    header = admin.get(f"Communication/{tid}").json()
    assert header["sender"]["reference"] == f"Organization/{CENTRE}"  # the centre's name and FINESS
    shot(martin, "messagerie-medecin-conversation")

    # the médecin conseil finds it in À traiter, in bold
    open_bin(roux, "a-traiter")
    expect(row(roux, tid)).to_be_visible()
    assert is_bold(roux, tid)
    expect(row(roux, tid)).to_contain_text("CENTRE DE SANTE PARIS 15".title().split()[0], ignore_case=True)
    expect(row(roux, tid)).to_contain_text("750712184")
    shot(roux, "messagerie-back-office-a-traiter")
    roux.get_by_role("link", name=topic).click()
    download = roux.request.get(roux.get_by_role("link", name="bilan.pdf").get_attribute("href") or "")
    assert download.status == 200 and download.body() == files.pdf("Bilan")
    roux.get_by_label("Votre réponse").fill("Merci. Quelle date de reprise envisagez-vous ?")
    roux.get_by_role("button", name="Envoyer la réponse").click()
    expect(roux.locator(".flash-succes")).to_contain_text("Réponse envoyée")

    # the centre gets the e-mail; the thread is En cours
    mail = mail_about(smtp, CENTRE_EMAIL, tid)  # not an earlier notification to the centre
    assert "service médical" in str(mail["Subject"])
    open_bin(roux, "en-cours")
    expect(row(roux, tid)).to_contain_text("Dr Nadia Roux")  # Rédacteur
    assert not is_bold(roux, tid)

    # the doctor sees the answer in bold, reads it (the échelon then sees [Lu]) and replies
    martin.goto("/messagerie")
    assert is_bold(martin, tid)
    martin.get_by_role("link", name=topic).click()
    expect(martin.get_by_text("Quelle date de reprise")).to_be_visible()
    open_bin(roux, "en-cours")
    expect(row(roux, tid)).to_contain_text("[Lu]")
    martin.get_by_label("Votre réponse").fill("Reprise le 4 janvier.")
    martin.get_by_role("button", name="Envoyer la réponse").click()
    expect(martin.locator(".flash-succes")).to_contain_text("Réponse envoyée")
    open_bin(roux, "a-traiter")
    expect(row(roux, tid)).to_be_visible()

    # the échelon closes it: Clos, readable, no reply form
    roux.goto(f"/service-medical/{tid}")
    roux.once("dialog", lambda d: d.accept())  # "Clore cette conversation ?"
    roux.get_by_role("button", name="Clore la conversation").click()
    expect(roux.locator(".flash-succes")).to_contain_text("Conversation close.")
    expect(row(roux, tid)).to_be_visible()  # redirected to the Clos bin
    roux.goto(f"/service-medical/{tid}")
    expect(roux.get_by_text("Reprise le 4 janvier.")).to_be_visible()
    expect(roux.get_by_label("Votre réponse")).to_have_count(0)

    # the doctor writes again: back in À traiter
    martin.goto(f"/messagerie/{tid}")
    martin.get_by_label("Votre réponse").fill("Je joins le certificat.")
    docx = {"name": "certificat.docx", "mimeType": "application/octet-stream", "buffer": files.docx()}
    martin.locator("#pieces").set_input_files([docx])
    martin.get_by_role("button", name="Envoyer la réponse").click()
    expect(martin.locator(".flash-succes")).to_contain_text("Réponse envoyée")
    open_bin(roux, "a-traiter")
    expect(row(roux, tid)).to_be_visible()
    assert is_bold(roux, tid)
    open_bin(roux, "clos")
    expect(row(roux, tid)).to_have_count(0)


def test_health_centre_shared_inbox_drafts_and_delete(logged_in: Callable[[str], Page]) -> None:
    martin, bonnet, roux = logged_in(DR_MARTIN), logged_in(DR_BONNET), logged_in(DR_ROUX)
    topic = f"Arrêt prolongé {uuid.uuid4().hex[:4]}"
    tid = write_new(martin, LAMBERT_NIR, topic, "Premier jet", draft=True)
    martin.goto("/messagerie")
    expect(row(martin, tid)).to_contain_text("[Brouillon]")
    # the colleague of the centre sees the centre's threads, the échelon not a draft
    bonnet.goto("/messagerie")
    expect(row(bonnet, tid)).to_contain_text("[Brouillon]")
    open_bin(roux, "a-traiter")
    expect(row(roux, tid)).to_have_count(0)
    assert roux.goto(f"/service-medical/{tid}").status == 404  # type: ignore[union-attr]
    # the colleague completes and sends the centre's draft
    bonnet.get_by_role("link", name=topic).click()
    bonnet.get_by_label("Message").fill("Message complet")
    bonnet.get_by_role("button", name="Envoyer", exact=True).click()
    expect(bonnet.locator(".flash-succes")).to_contain_text("Message envoyé.")
    open_bin(roux, "a-traiter")
    expect(row(roux, tid)).to_be_visible()

    # deleted by one doctor: gone for the whole centre, kept by the échelon
    martin.goto(f"/messagerie/{tid}")
    martin.once("dialog", lambda d: d.accept())
    martin.get_by_role("button", name="Supprimer la conversation").click()
    expect(martin.locator(".flash-succes")).to_contain_text("Conversation supprimée.")
    expect(row(martin, tid)).to_have_count(0)
    bonnet.goto("/messagerie")
    expect(row(bonnet, tid)).to_have_count(0)
    assert bonnet.goto(f"/messagerie/{tid}").status == 404  # type: ignore[union-attr]
    open_bin(roux, "a-traiter")
    expect(row(roux, tid)).to_contain_text("[Supprimée par le médecin]")
    roux.goto(f"/service-medical/{tid}")
    expect(roux.get_by_text("Message complet")).to_be_visible()
    expect(roux.get_by_label("Votre réponse")).to_have_count(0)


def test_bad_input_gets_a_french_message_and_keeps_what_was_typed(logged_in: Callable[[str], Page]) -> None:
    martin = logged_in(DR_MARTIN)
    martin.goto("/messagerie/nouveau")
    martin.get_by_label("NIR du patient").fill("2 85 03 69 123 123 99")
    martin.get_by_role("button", name="Rechercher le patient").click()
    expect(martin.locator("#nir-erreur")).to_contain_text("NIR invalide : la clé ne correspond pas")
    expect(martin.get_by_label("NIR du patient")).to_have_value("2 85 03 69 123 123 99")

    def attempt(topic: str, text: str, attachments: list[Any]) -> None:
        martin.goto("/messagerie/nouveau")
        martin.get_by_label("NIR du patient").fill(LAMBERT_NIR)
        martin.get_by_role("button", name="Rechercher le patient").click()
        martin.get_by_label("Objet").fill(topic)
        martin.get_by_label("Message").fill(text)
        if attachments:
            martin.locator("#pieces").set_input_files(attachments)
        martin.get_by_role("button", name="Envoyer").click()

    six = [{"name": f"p{i}.png", "mimeType": "image/png", "buffer": files.png()} for i in range(6)]
    attempt("Six pièces", "Texte gardé", six)
    expect(martin.locator("#pieces-erreur")).to_contain_text("5 pièces jointes au maximum")
    expect(martin.get_by_label("Objet")).to_have_value("Six pièces")
    expect(martin.get_by_label("Message")).to_have_value("Texte gardé")
    big = {"name": "scanner.pdf", "mimeType": "application/pdf", "buffer": files.big(11 * 1024 * 1024)}
    attempt("Gros fichier", "Texte gardé 2", [big])
    expect(martin.locator("#pieces-erreur")).to_contain_text("dépasse 10 Mo")
    expect(martin.get_by_label("Message")).to_have_value("Texte gardé 2")
    attempt("", "Sans objet", [])
    expect(martin.locator("#objet-erreur")).to_contain_text("L'objet est obligatoire.")
    expect(martin.get_by_label("Message")).to_have_value("Sans objet")
    shot(martin, "messagerie-erreur-objet")

    # a stored draft is left as it was by a refused send
    tid = write_new(martin, LAMBERT_NIR, "Brouillon gardé", "Texte du brouillon", draft=True)
    martin.get_by_label("Objet").fill("")
    martin.get_by_role("button", name="Envoyer", exact=True).click()
    expect(martin.locator("#objet-erreur")).to_contain_text("L'objet est obligatoire.")
    martin.goto(f"/messagerie/{tid}")
    expect(martin.get_by_label("Objet")).to_have_value("Brouillon gardé")
    expect(martin.get_by_label("Message")).to_have_value("Texte du brouillon")


def test_search_on_both_sides(logged_in: Callable[[str], Page]) -> None:
    martin, roux = logged_in(DR_MARTIN), logged_in(DR_ROUX)
    topic = f"Recherche {uuid.uuid4().hex[:4]}"
    tid = write_new(martin, LAMBERT_NIR, topic, "Texte")
    martin.goto("/messagerie")
    martin.get_by_label("Rechercher par nom du patient ou NIR").fill("lambert")
    martin.locator("#contenu").get_by_role("button", name="Rechercher", exact=True).click()
    expect(row(martin, tid)).to_be_visible()
    martin.get_by_label("Rechercher par nom du patient ou NIR").fill("Roussel")
    martin.locator("#contenu").get_by_role("button", name="Rechercher", exact=True).click()
    expect(row(martin, tid)).to_have_count(0)
    martin.get_by_role("link", name="Réinitialiser").click()
    expect(row(martin, tid)).to_be_visible()

    for label, value, found in (
        ("Nom, prénom ou NIR", "285036912312301", True),
        ("N° AM ou FINESS", "750712184", True),
        ("Code postal", "75015", True),
        ("Ville", "paris", True),
        ("Nom du médecin ou du centre", "centre", True),
        ("N° AM ou FINESS", "691234567", False),
        ("Nom, prénom ou NIR", "Roussel", False),
    ):
        open_bin(roux, "a-traiter")
        roux.locator("summary", has_text="Rechercher").click()  # opens the search panel
        roux.get_by_label(label).fill(value)
        roux.locator("#contenu").get_by_role("button", name="Rechercher", exact=True).click()
        expect(row(roux, tid)).to_have_count(1 if found else 0)


def test_other_echelon_other_doctor_and_patient_never_see_the_thread(
    logged_in: Callable[[str], Page],
    page: Page,
    portal_server: ServerProcess,
    portal: str,
    insured: dict[str, Any],
) -> None:
    martin = logged_in(DR_MARTIN)
    tid = write_new(martin, insured["nir"], "Confidentiel", "Échange sur votre patiente")
    for idnat, url in ((DR_FAURE, "/service-medical"), (DR_GARNIER, "/messagerie")):
        other = logged_in(idnat)
        other.goto(url)
        expect(other.locator("h1")).to_be_visible()
        expect(row(other, tid)).to_have_count(0)
        assert other.goto(f"{url}/{tid}").status == 404  # type: ignore[union-attr]
    # a doctor is no médecin conseil: the back office is closed to him
    garnier = logged_in(DR_GARNIER)
    assert garnier.goto("/service-medical").status == 403  # type: ignore[union-attr]
    # the patient the thread is about: the professionals' screens are closed to her
    login_patient(page, insured["email"], PASSWORD, lambda: sms_codes(portal_server, insured["phone"])[-1])
    for url in ("/messagerie", f"/messagerie/{tid}", "/service-medical", f"/service-medical/{tid}"):
        answer = page.goto(url)
        assert answer is not None and answer.status == 403, url
        expect(page.locator("main")).not_to_contain_text("Confidentiel")
    # the FHIR API agrees: another échelon, another doctor, the patient herself
    fhir = f"{portal}/fhir"
    tokens = {"faure": pro_token(portal_server, DR_FAURE), "garnier": pro_token(portal_server, DR_GARNIER)}
    tokens["patient"] = insured["token"]
    for who, token in tokens.items():
        got = httpx.get(f"{fhir}/Communication/{tid}", headers=bearer(token), timeout=60)
        assert got.status_code == 404, who
        listed = httpx.get(
            f"{fhir}/Communication", params={"_count": "200"}, headers=bearer(token), timeout=60
        )
        assert tid not in {e["resource"]["id"] for e in listed.json().get("entry", [])}, who
    mine = httpx.get(f"{fhir}/Communication", params={"subject": f"Patient/{insured['id']}"},
                     headers=bearer(insured["token"]), timeout=60)  # fmt: skip
    assert mine.status_code == 200 and not mine.json().get("entry")
    assert httpx.get(f"{fhir}/Task", headers=bearer(insured["token"]), timeout=60).json().get("entry") is None
    assert re.fullmatch(r"[A-Za-z0-9\-.]+", tid)
