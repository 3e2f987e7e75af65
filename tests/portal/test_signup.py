"""A doctor without e-CPS in a real Chromium: sign-up (refusals keep what was typed), "renvoyer le
lien", e-mail link, SMS code, login with password + SMS code, then the cross-border service refuses
the account (Pro Santé Connect only), on its screen.
"""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from apps.portal.crossborder.access import TERMS_VERSION as XB_TERMS
from fhir_server.identifiers import luhn_check_digit
from tests.fhir_server.auth_support import Mailbox, SmtpSink, sms_codes
from tests.portal.browser import DR_MARTIN, shot

DEMO_EMAIL = "antoine.lemaire@exemple.fr"  # apps/demo_data/signup.py
DEMO_PHONE = "+33611223344"


def _rpps() -> str:
    body = f"99780{uuid.uuid4().int % 10**5:05d}"
    return body + luhn_check_digit(body)


def fill_form(page: Page, email: str, rpps: str, phone: str) -> None:
    page.get_by_label("Adresse e-mail").fill(email)
    page.locator("#password").fill("mot de passe du docteur")
    page.get_by_label("Confirmation du mot de passe").fill("mot de passe du docteur")
    page.get_by_label("Profession").select_option(label="Médecin")
    page.get_by_label("Numéro RPPS (Ordre)").fill(rpps)
    page.get_by_label("Prénom").fill("Inès")
    page.locator("#family").fill("Carpentier")
    page.get_by_label("Téléphone mobile").fill(phone)


def login_account(page: Page, email: str, password: str, code_for: object) -> None:
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Code reçu par SMS").fill(code_for())  # type: ignore[operator]
    page.get_by_role("button", name="Valider").click()
    page.get_by_role("button", name="Autoriser").click()
    expect(page.locator(".greeting")).to_be_visible()


def test_signup_confirm_sms_login_and_no_cross_border(
    page: Page, smtp: SmtpSink, portal_server, fhir_admin: httpx.Client
) -> None:
    email = f"ines.carpentier.{uuid.uuid4().hex[:6]}@exemple.fr"
    phone = f"06{uuid.uuid4().int % 10**8:08d}"
    rpps = _rpps()
    page.goto("/")
    page.get_by_role("link", name=re.compile("créer un compte avec e-mail")).click()
    expect(page.get_by_role("heading", name=re.compile("Créer un compte professionnel"))).to_be_visible()
    # 1. a bad RPPS key: refused on its field, everything typed kept (but the passwords)
    bad = rpps[:-1] + str((int(rpps[-1]) + 1) % 10)
    fill_form(page, email, bad, phone)
    page.get_by_label(re.compile("J'accepte les conditions")).check()
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.locator("#rpps-erreur")).to_contain_text("clé de contrôle")
    expect(page.get_by_label("Adresse e-mail")).to_have_value(email)
    expect(page.get_by_label("Prénom")).to_have_value("Inès")
    expect(page.get_by_label("Numéro RPPS (Ordre)")).to_have_value(bad)
    expect(page.get_by_label(re.compile("J'accepte les conditions"))).to_be_checked()
    shot(page, "inscription-pro-refus")
    # 2. an RPPS already held by a PSC professional (Dr Martin, demo data)
    fill_form(page, email, DR_MARTIN[1:], phone)
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.locator("#rpps-erreur")).to_contain_text("déjà associé")
    # 3. the terms must be accepted
    fill_form(page, email, rpps, phone)
    page.get_by_label(re.compile("J'accepte les conditions")).uncheck()
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.locator("#cgu-erreur")).to_contain_text("conditions générales")
    # 4. accepted: the mail goes out; "renvoyer le lien" voids the first one
    fill_form(page, email, rpps, phone)
    page.get_by_label(re.compile("J'accepte les conditions")).check()
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_text(f"un lien de confirmation vient d'être envoyé à {email}")).to_be_visible()
    first = Mailbox.link(smtp.mailbox.wait_for(email, "Confirmez"))
    page.get_by_role("button", name="Renvoyer le lien").click()
    expect(page.get_by_text(re.compile("le précédent ne fonctionne plus"))).to_be_visible()
    mails = [m for m in smtp.mailbox.messages if m["To"] == email]
    assert len(mails) == 2
    second = Mailbox.link(mails[-1])
    page.goto(first)
    page.get_by_role("button", name="Confirmer mon adresse").click()
    expect(page.get_by_text("invalide, expiré ou déjà utilisé")).to_be_visible()
    # 5. the new link, then the SMS code
    page.goto(second)
    page.get_by_role("button", name="Confirmer mon adresse").click()
    page.get_by_label("Code reçu par SMS").fill(sms_codes(portal_server, phone)[-1])
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Inscription terminée")).to_be_visible()
    shot(page, "inscription-pro-terminee")
    # the link again: already used
    page.goto(second)
    page.get_by_role("button", name="Confirmer mon adresse").click()
    expect(page.get_by_text("invalide, expiré ou déjà utilisé")).to_be_visible()
    # 6. login with e-mail, password and a new SMS code
    login_account(page, email, "mot de passe du docteur", lambda: sms_codes(portal_server, phone)[-1])
    expect(page.locator(".greeting")).to_contain_text("Inès")
    found = fhir_admin.get(
        "Practitioner", params={"identifier": f"https://rpps.esante.gouv.fr|{rpps}"}
    ).json()
    assert len(found["entry"]) == 1
    assert found["entry"][0]["resource"]["name"][0]["family"] == "Carpentier"
    # the account history (AuditEvents where she is the agent): sign-up, login at the lower level
    page.goto("/profil/historique")
    rows = page.locator("table tbody tr")
    expect(rows.filter(has_text="Inscription terminée")).to_have_count(1)
    login_row = rows.filter(has_text="Connexion professionnel sans carte e-CPS").first
    expect(login_row).to_contain_text("Mot de passe + code SMS (niveau inférieur à Pro Santé Connect)")
    shot(page, "profil-historique-sans-ecps")
    page.goto("/profil")
    expect(page.get_by_role("heading", name=re.compile("compte sans carte e-CPS"))).to_be_visible()
    # 7. the cross-border service: refused, in French, naming Pro Santé Connect
    page.goto(f"/transfrontalier/connexion?cgu={XB_TERMS}")
    expect(page.get_by_role("heading", name="Accès refusé")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Pro Santé Connect")
    shot(page, "inscription-pro-transfrontalier-refuse")


def test_demo_account_without_ecps_logs_in_and_is_refused_cross_border(page: Page, portal_server) -> None:
    before = len(sms_codes(portal_server, DEMO_PHONE))

    def code() -> str:
        codes = sms_codes(portal_server, DEMO_PHONE)
        assert len(codes) == before + 1
        return codes[-1]

    login_account(page, DEMO_EMAIL, "demo-passerelle", code)
    expect(page.locator(".greeting")).to_contain_text("Antoine")
    page.goto("/transfrontalier/recherche")  # terms first, as for everyone
    expect(page).to_have_url(re.compile("/transfrontalier$"))
    page.goto(f"/transfrontalier/connexion?cgu={XB_TERMS}")
    expect(page.get_by_role("alert")).to_contain_text(
        "réservé aux professionnels connectés avec Pro Santé Connect"
    )
    # a direct POST of the search form is refused the same way (never reaches the gateway)
    csrf = page.locator('form[action="/deconnexion"] input[name="csrf"]').first.get_attribute("value")
    assert csrf
    status, text = page.evaluate(
        """async (csrf) => {
            const r = await fetch('/transfrontalier/recherche', {method: 'POST',
              headers: {'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': csrf},
              body: 'pays=HR&identifiant=123'});
            return [r.status, await r.text()];
        }""",
        csrf,
    )
    assert status == 403 and "Pro Santé Connect" in text


DR_BENALI = "899700011119"  # the demo cardiologist: no other test changes his profile


def test_history_shows_psc_logins_and_profile_changes_and_nobody_elses(logged_in) -> None:
    doctor = logged_in(DR_BENALI)
    doctor.goto("/profil")
    doctor.get_by_label("Ville").fill("Paris 15e")
    doctor.get_by_role("button", name="Enregistrer mon profil").click()
    doctor.get_by_role("link", name="Historique du compte").click()
    rows = doctor.locator("table tbody tr")
    expect(rows.filter(has_text="Connexion Pro Santé Connect").first).to_contain_text(
        "Pro Santé Connect (eidas1)"
    )
    expect(rows.filter(has_text="profil d'exercice").first).to_be_visible()
    # nothing of the other professionals (their logins name them, never Dr Martin)
    expect(rows.filter(has_text="sans carte e-CPS")).to_have_count(0)
    shot(doctor, "profil-historique")
