"""The médecin conseil opens conversations from the back office, in real headless Chromium contexts.

Demo data (apps/demo_data/messaging.py): Sophie Lambert (NIR 2 85 03 69 123 123 01, CPAM de
Paris → ELSM de Paris) has Dr Marie Martin, salaried at the health centre Paris 15 (FINESS
750712184), as médecin traitant; Marc Roussel (NIR 1 92 01 75 056 042 53, CPAM du Rhône → ELSM du
Rhône) has Dr Henri Garnier, liberal, N° AM 691234567. Dr Nadia Roux is the ELSM de Paris's médecin
conseil, Dr Olivier Faure the ELSM du Rhône's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from bench.harness import ServerProcess
from fhir_server.identifiers import NIR_SYSTEM
from tests.fhir_server.auth_support import SmtpSink, bearer
from tests.portal.browser import DR_BONNET, DR_GARNIER, DR_MARTIN, shot
from tests.portal.messaging import files
from tests.portal.messaging.helpers import mail_about
from tests.portal.messaging.test_screens import (  # noqa: F401  (admin: a fixture)
    CENTRE,
    CENTRE_EMAIL,
    DR_FAURE,
    DR_ROUX,
    LAMBERT_NIR,
    admin,
    open_bin,
    pro_token,
    row,
)

ROUSSEL_NIR = "1 92 01 75 056 042 53"
GARNIER_NAM = "691234567"
GARNIER_EMAIL = "henri.garnier@test.mssante.fr"  # his e-mail from Pro Santé Connect
MEDECIN = "Écrire à un médecin"
STRUCTURE = "Écrire à un centre de santé / établissement"


def find_addressee(page: Page, target: str, way: str, nir: str, other: str = "") -> None:
    page.goto("/service-medical")
    page.get_by_role("link", name=target).click()
    page.get_by_label(way).check()
    page.get_by_role("textbox", name="NIR du patient").fill(nir)
    if other:
        label = "N° AM du médecin" if target == MEDECIN else "FINESS de la structure"
        page.get_by_role("textbox", name=label).fill(other)
    page.get_by_role("button", name="Rechercher le destinataire").click()


def compose(
    page: Page, topic: str, text: str, attachments: list[Any] | None = None, draft: bool = False
) -> None:
    page.get_by_label("Objet").fill(topic)
    page.get_by_label("Message").fill(text)
    if attachments:
        page.locator("#pieces").set_input_files(attachments)
    page.get_by_role("button", name="Enregistrer le brouillon" if draft else "Envoyer", exact=True).click()


def thread_id(page: Page) -> str:
    return page.url.rstrip("/").split("/")[-1]


def test_medecin_conseil_writes_to_the_treating_doctor_by_nir_and_by_nam(
    logged_in: Callable[[str], Page], smtp: SmtpSink
) -> None:
    faure, garnier = logged_in(DR_FAURE), logged_in(DR_GARNIER)
    # a médecin conseil gets the service médical's menu, a treating doctor the clinic's
    faure_menu, garnier_menu = (p.get_by_role("navigation", name="Menu principal") for p in (faure, garnier))
    expect(faure_menu.get_by_role("link", name="Messages du service médical")).to_be_visible()
    for clinical in ("File d'attente", "Mes patients", "Ordonnances", "Échanges avec le médecin conseil"):
        expect(faure_menu.get_by_role("link", name=clinical, exact=True)).to_have_count(0)
    expect(garnier_menu.get_by_role("link", name="Échanges avec le médecin conseil")).to_be_visible()
    expect(garnier_menu.get_by_role("link", name="Messages du service médical")).to_have_count(0)
    topic = f"Arrêt de travail {uuid.uuid4().hex[:4]}"
    find_addressee(faure, MEDECIN, "Par le NIR du patient (son médecin traitant)", ROUSSEL_NIR)
    expect(faure.locator(".patient-card")).to_contain_text("ROUSSEL Marc")
    expect(faure.locator(".patient-card")).to_contain_text(ROUSSEL_NIR)  # spaced as on the carte Vitale
    expect(faure.locator(".addressee")).to_contain_text("Dr Henri Garnier")
    expect(faure.locator(".addressee")).to_contain_text(GARNIER_NAM)
    shot(faure, "messagerie-echelon-ecrire-medecin")
    pdf = {"name": "questionnaire.pdf", "mimeType": "application/pdf", "buffer": files.pdf("Questionnaire")}
    compose(faure, topic, "Pouvez-vous nous adresser le dernier certificat ?", [pdf])
    expect(faure.locator(".flash-succes")).to_contain_text("Message envoyé.")
    tid = thread_id(faure)

    # the doctor is notified by e-mail (a link, no health data) and finds the thread, in bold
    body = mail_about(smtp, GARNIER_EMAIL, tid).get_body().get_content()  # type: ignore[union-attr]
    assert topic not in body and "Roussel" not in body
    garnier.goto("/messagerie")
    expect(row(garnier, tid)).to_contain_text("ELSM 69")  # started by the échelon
    weight = row(garnier, tid).locator("a").first.evaluate("el => getComputedStyle(el).fontWeight")
    assert int(weight) >= 700
    garnier.get_by_role("link", name=topic).click()
    expect(garnier.get_by_text("le dernier certificat")).to_be_visible()
    expect(garnier.get_by_role("link", name="questionnaire.pdf")).to_be_visible()
    garnier.get_by_label("Votre réponse").fill("Certificat envoyé par courrier.")
    garnier.get_by_role("button", name="Envoyer la réponse").click()
    expect(garnier.locator(".flash-succes")).to_contain_text("Réponse envoyée")
    open_bin(faure, "a-traiter")  # the doctor's answer: back to À traiter for the échelon
    expect(row(faure, tid)).to_be_visible()

    # by N° AM: the same doctor, found in the directory
    find_addressee(faure, MEDECIN, "Par le N° AM du médecin", ROUSSEL_NIR, GARNIER_NAM)
    expect(faure.locator(".addressee")).to_contain_text("Dr Henri Garnier")
    compose(faure, f"Par N° AM {topic}", "Second message.")
    expect(faure.locator(".flash-succes")).to_contain_text("Message envoyé.")
    second = thread_id(faure)
    mail_about(smtp, GARNIER_EMAIL, second)
    garnier.goto("/messagerie")
    expect(row(garnier, second)).to_be_visible()


def test_medecin_conseil_writes_to_a_health_centre_by_finess_and_by_nir(
    logged_in: Callable[[str], Page],
    smtp: SmtpSink,
    admin: httpx.Client,  # noqa: F811
) -> None:
    roux, martin, bonnet = logged_in(DR_ROUX), logged_in(DR_MARTIN), logged_in(DR_BONNET)
    # her médecin traitant, Dr Martin, is salaried: never written to individually
    find_addressee(roux, MEDECIN, "Par le NIR du patient (son médecin traitant)", LAMBERT_NIR)
    expect(roux.locator("#nir-erreur")).to_contain_text("un médecin salarié ne reçoit pas de message")
    expect(roux.get_by_label("Objet")).to_have_count(0)

    topic = f"Mi-temps thérapeutique {uuid.uuid4().hex[:4]}"
    find_addressee(roux, STRUCTURE, "Par le FINESS de la structure", LAMBERT_NIR, "750712184")
    expect(roux.locator(".addressee")).to_contain_text("750712184")
    compose(roux, topic, "Merci de nous transmettre le protocole de reprise.")
    expect(roux.locator(".flash-succes")).to_contain_text("Message envoyé.")
    tid = thread_id(roux)
    stored = admin.get(f"Communication/{tid}").json()
    assert stored["recipient"] == [{"reference": f"Organization/{CENTRE}"}]
    mail_about(smtp, CENTRE_EMAIL, tid)  # the centre's main e-mail
    open_bin(roux, "en-cours")  # waiting for the centre's answer
    expect(row(roux, tid)).to_be_visible()

    # every salaried doctor of the centre sees it; Dr Bonnet answers for the centre
    martin.goto("/messagerie")
    expect(row(martin, tid)).to_contain_text(topic)
    bonnet.goto(f"/messagerie/{tid}")
    bonnet.get_by_label("Votre réponse").fill("Protocole joint.")
    bonnet.get_by_role("button", name="Envoyer la réponse").click()
    expect(bonnet.locator(".flash-succes")).to_contain_text("Réponse envoyée")
    open_bin(roux, "a-traiter")
    expect(row(roux, tid)).to_contain_text("rédigé par Dr Julie Bonnet")  # who wrote, for the centre
    expect(row(roux, tid)).to_contain_text("FINESS 750712184")
    shot(roux, "messagerie-echelon-centre-redacteur")

    # by NIR: the centre where her médecin traitant works
    find_addressee(
        roux, STRUCTURE, "Par le NIR du patient (le centre où exerce son médecin traitant)", LAMBERT_NIR
    )
    expect(roux.locator(".addressee")).to_contain_text("750712184")
    compose(roux, f"Par NIR {topic}", "Second message.")
    expect(roux.locator(".flash-succes")).to_contain_text("Message envoyé.")
    second = thread_id(roux)
    mail_about(smtp, CENTRE_EMAIL, second)
    bonnet.goto("/messagerie")
    expect(row(bonnet, second)).to_be_visible()


def test_bad_input_keeps_what_was_typed_and_drafts_stay_in_the_back_office(
    logged_in: Callable[[str], Page], portal_server: ServerProcess, portal: str
) -> None:
    roux, martin = logged_in(DR_ROUX), logged_in(DR_MARTIN)
    # an invalid NIR key
    find_addressee(roux, STRUCTURE, "Par le FINESS de la structure", "2 85 03 69 123 123 99", "750712184")
    expect(roux.locator("#nir-erreur")).to_contain_text("NIR invalide : la clé ne correspond pas")
    expect(roux.get_by_role("textbox", name="NIR du patient")).to_have_value("2 85 03 69 123 123 99")
    expect(roux.get_by_role("textbox", name="FINESS de la structure")).to_have_value("750712184")
    # an insured of another échelon's fund (CPAM du Rhône): nothing, on the screen and through FHIR
    find_addressee(roux, MEDECIN, "Par le NIR du patient (son médecin traitant)", ROUSSEL_NIR)
    expect(roux.locator("#nir-erreur")).to_contain_text(
        "Aucun assuré des caisses de votre échelon n'a ce NIR."
    )
    expect(roux.locator(".patient-card")).to_have_count(0)
    token = pro_token(portal_server, DR_ROUX)
    found = httpx.get(f"{portal}/fhir/Patient", params={"identifier": f"{NIR_SYSTEM}|192017505604253"},
                      headers=bearer(token), timeout=60).json()  # fmt: skip
    assert not found.get("entry")
    assert (
        httpx.get(
            f"{portal}/fhir/Patient/demo-msg-pat-roussel", headers=bearer(token), timeout=60
        ).status_code
        == 404
    )

    def attempt(topic: str, text: str, attachments: list[Any]) -> None:
        find_addressee(roux, STRUCTURE, "Par le FINESS de la structure", LAMBERT_NIR, "750712184")
        compose(roux, topic, text, attachments)

    six = [{"name": f"p{i}.png", "mimeType": "image/png", "buffer": files.png()} for i in range(6)]
    attempt("Six pièces", "Texte gardé", six)
    expect(roux.locator("#pieces-erreur")).to_contain_text("5 pièces jointes au maximum")
    expect(roux.get_by_label("Objet")).to_have_value("Six pièces")
    expect(roux.get_by_label("Message")).to_have_value("Texte gardé")
    big = {"name": "scanner.pdf", "mimeType": "application/pdf", "buffer": files.big(11 * 1024 * 1024)}
    attempt("Gros fichier", "Texte gardé 2", [big])
    expect(roux.locator("#pieces-erreur")).to_contain_text("dépasse 10 Mo")
    expect(roux.get_by_label("Message")).to_have_value("Texte gardé 2")
    attempt("", "Sans objet", [])
    expect(roux.locator("#objet-erreur")).to_contain_text("L'objet est obligatoire.")
    expect(roux.get_by_label("Message")).to_have_value("Sans objet")
    shot(roux, "messagerie-echelon-erreur-objet")

    # a draft: in the échelon's À traiter, tagged; never seen by the centre
    topic = f"Brouillon échelon {uuid.uuid4().hex[:4]}"
    find_addressee(roux, STRUCTURE, "Par le FINESS de la structure", LAMBERT_NIR, "750712184")
    compose(roux, topic, "Texte du brouillon", draft=True)
    expect(roux.locator(".flash-succes")).to_contain_text("Brouillon enregistré.")
    tid = thread_id(roux)
    open_bin(roux, "a-traiter")
    expect(row(roux, tid)).to_contain_text("[Brouillon]")
    martin.goto("/messagerie")
    expect(row(martin, tid)).to_have_count(0)
    assert martin.goto(f"/messagerie/{tid}").status == 404  # type: ignore[union-attr]
    # a refused send leaves the stored draft as it was
    roux.goto(f"/service-medical/{tid}")
    roux.get_by_label("Objet").fill("")
    roux.get_by_role("button", name="Envoyer", exact=True).click()
    expect(roux.locator("#objet-erreur")).to_contain_text("L'objet est obligatoire.")
    roux.goto(f"/service-medical/{tid}")
    expect(roux.get_by_label("Objet")).to_have_value(topic)
    expect(roux.get_by_label("Message")).to_have_value("Texte du brouillon")
    roux.get_by_role("button", name="Envoyer", exact=True).click()
    expect(roux.locator(".flash-succes")).to_contain_text("Message envoyé.")
    martin.goto("/messagerie")
    expect(row(martin, tid)).to_contain_text(topic)
