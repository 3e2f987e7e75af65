"""The patient's account in a real headless Chromium: sign-up (e-mail link over real SMTP, SMS
code, terms and health-data consent recorded as Consents) → services page; refusals in French
with what was typed kept; the terms asked again when their version changed; dependents;
profile completion with the mobile validated by SMS code; documents; "Télécharger mes données"
(JSON Bundle, PDF); and the attacks: another patient's data by URL, the code replayed in parallel.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import Message

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect
from pypdf import PdfReader

from apps.portal.patient.terms import CURRENT_VERSIONS
from bench.harness import ServerProcess
from tests.fhir_server.auth_support import Mailbox, SmtpSink, backend_client_token, patient_signup, sms_codes
from tests.portal.browser import DR_MARTIN, login_patient, shot

PASSWORD = "correct horse battery"  # auth_support.patient_signup's
DEMO_PASSWORD = "demo-passerelle"
CONSENT_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/portal-consent"
SERVICES = {
    "Poser une question": "/teleconsultation",
    "Mes questions": "/teleconsultation/mes-questions",
    "Mes documents médicaux": "/mes-documents",
    "Mes ordonnances": "/mes-ordonnances",
    "Mon profil": "/mon-profil",
    "Télécharger mes données": "/mes-donnees",
}


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _letters() -> str:
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8])


def _mobile() -> str:
    return "+336" + str(uuid.uuid4().int)[:8]


def _mails(mailbox: Mailbox, to: str, subject: str) -> list[Message]:
    return [m for m in mailbox.messages if m["To"] == to and subject in str(m["Subject"])]


def _fresh_account(portal_server: ServerProcess, smtp: SmtpSink, **extra: str) -> dict[str, str]:
    email, phone = f"pat-{_tag()}@example.fr", _mobile()
    with httpx.Client(timeout=60) as http:
        pid = patient_signup(http, portal_server, smtp.mailbox, email, phone, **extra)
    return {"id": pid, "email": email, "phone": phone}


def _login(page: Page, server: ServerProcess, email: str, phone: str, password: str = PASSWORD) -> None:
    login_patient(page, email, password, lambda: sms_codes(server, phone)[-1])


def _field(page: Page, label: str) -> Locator:
    """The input of this exact label (a required field's label ends with an asterisk)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


def _fill_signup(page: Page, **over: str) -> dict[str, str]:
    values = {
        "N° d'adhérent": "ADH" + str(uuid.uuid4().int)[:9],
        "Prénom": "Camille",
        "Nom": "Lefèvre-" + _letters(),
        "Date de naissance": "1990-04-21",
        "Code postal": "75015",
        "Ville": "Paris",
        "Téléphone mobile": "06 " + " ".join(re.findall("..", str(uuid.uuid4().int)[:8])),
        "Adresse e-mail": f"camille-{_tag()}@example.fr",
        "Mot de passe": "un mot de passe solide",
        "Confirmation du mot de passe": "un mot de passe solide",
    } | over
    page.goto("/inscription")
    for label, value in values.items():
        _field(page, label).fill(value)
    page.get_by_label("Sexe").select_option("female")
    return values


def _tick_both(page: Page) -> None:
    page.get_by_label(re.compile("J'ai lu et j'accepte les conditions")).check()
    page.get_by_label(re.compile("Je consens au traitement de mes données de santé")).check()


def _e164(french: str) -> str:
    return "+33" + french.replace(" ", "")[1:]


# -- sign-up ------------------------------------------------------------------------------


def test_signup_confirm_resend_login_services(
    page: Page, portal_server: ServerProcess, smtp: SmtpSink, fhir_admin: httpx.Client
) -> None:
    started = datetime.now(UTC).date()  # the Consents are dated in UTC, between now and the end
    values = _fill_signup(page)
    email, phone = values["Adresse e-mail"], _e164(values["Téléphone mobile"])
    _tick_both(page)
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_role("heading", name="Vérifiez votre messagerie")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()
    first = smtp.mailbox.wait_for(email, "Confirmez")

    # resend: a new link; the first one stops working
    page.get_by_role("button", name="Renvoyer le lien").click()
    expect(page.get_by_text("un nouveau lien vient de lui être envoyé")).to_be_visible()
    for _ in range(100):
        if len(_mails(smtp.mailbox, email, "Confirmez")) == 2:
            break
        page.wait_for_timeout(100)
    second = _mails(smtp.mailbox, email, "Confirmez")[1]
    old_link, new_link = Mailbox.link(first), Mailbox.link(second)
    assert "/inscription/confirmer?token=" in new_link and old_link != new_link

    # not confirmed yet: the login is refused
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(values["Mot de passe"])
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_text("Adresse e-mail non confirmée")).to_be_visible()

    page.goto(old_link)
    expect(page.get_by_role("heading", name="Lien invalide")).to_be_visible()
    page.goto(new_link)
    expect(page.get_by_role("heading", name="Adresse confirmée")).to_be_visible()
    page.goto(new_link)  # single use
    expect(page.get_by_role("heading", name="Lien invalide")).to_be_visible()

    _login(page, portal_server, email, phone, values["Mot de passe"])
    page.goto("/")
    expect(page).to_have_url(re.compile("/mon-espace$"))
    expect(page.get_by_role("heading", name="Mes services")).to_be_visible()
    for label, href in SERVICES.items():
        expect(page.locator("main").get_by_role("link", name=label, exact=True)).to_have_attribute(
            "href", href
        )
    shot(page, "patient-services")

    # what was stored: the Patient with the membership number, the two accepted texts
    found = fhir_admin.get("Patient", params={"email": email}).json()["entry"]
    patient = found[0]["resource"]
    assert patient["name"][0]["given"] == ["Camille"] and patient["birthDate"] == "1990-04-21"
    assert patient["gender"] == "female"
    assert patient["address"][0]["postalCode"] == "75015" and patient["address"][0]["city"] == "Paris"
    member = [i for i in patient["identifier"] if i["type"]["coding"][0]["code"] == "MB"]
    assert member[0]["value"] == values["N° d'adhérent"]
    assert {"system": "phone", "value": phone, "use": "mobile"} in patient["telecom"]
    consents = fhir_admin.get("Consent", params={"patient": f"Patient/{patient['id']}"}).json()["entry"]
    accepted = {}
    for entry in consents:
        consent = entry["resource"]
        kind = next(
            c["code"] for cat in consent["category"] for c in cat["coding"] if c["system"] == CONSENT_SYSTEM
        )
        accepted[kind] = consent["policy"][0]["uri"].rsplit("/", 1)[1]
        days = {started.isoformat(), datetime.now(UTC).date().isoformat()}  # the test may cross midnight
        assert consent["status"] == "active" and consent["dateTime"][:10] in days
        assert consent["patient"]["reference"] == f"Patient/{patient['id']}"
    assert accepted == CURRENT_VERSIONS


@pytest.mark.parametrize(
    ("over", "untick", "field", "message"),
    [
        ({"Adresse e-mail": "camille.exemple.fr"}, None, "Adresse e-mail", "Adresse e-mail invalide"),
        ({}, "donnees", "Je consens", "consentement au traitement de vos données de santé"),
        ({}, "cgu", "J'ai lu", "Acceptez les conditions générales"),
        ({"Date de naissance": "2099-01-01"}, None, "Date de naissance", "Date de naissance invalide"),
        ({"Date de naissance": "2015-06-01"}, None, "Date de naissance", "Il faut être majeur"),
        ({"Adresse e-mail": "helene.dupont@exemple.fr"}, None, "Adresse e-mail", "Un compte existe déjà"),
        ({"Code postal": "7501"}, None, "Code postal", "Code postal invalide"),
        ({"Téléphone mobile": "01 23 45 67 89"}, None, "Téléphone mobile", "Numéro de mobile invalide"),
    ],
)
def test_signup_refusals_keep_what_was_typed(
    page: Page, fhir_admin: httpx.Client, over: dict[str, str], untick: str | None, field: str, message: str
) -> None:
    values = _fill_signup(page, **over)
    _tick_both(page)
    if untick == "donnees":
        page.get_by_label(re.compile("Je consens")).uncheck()
    if untick == "cgu":
        page.get_by_label(re.compile("J'ai lu")).uncheck()
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_role("alert").filter(has_text=message).first).to_be_visible()
    target = page.get_by_label(re.compile(re.escape(field))).first
    expect(target).to_have_attribute("aria-invalid", "true")
    # what was typed is shown again (except the passwords), and the ticked box stays ticked
    for label in ("N° d'adhérent", "Prénom", "Nom", "Ville", "Adresse e-mail"):
        expect(_field(page, label)).to_have_value(values[label])
    expect(_field(page, "Mot de passe")).to_have_value("")
    if untick != "cgu":
        expect(page.get_by_label(re.compile("J'ai lu"))).to_be_checked()
    # nothing stored
    found = fhir_admin.get("Patient", params={"family": values["Nom"]}).json()
    assert found.get("total", len(found.get("entry", []))) == 0


def test_terms_asked_when_their_version_changed(
    page: Page, portal_server: ServerProcess, smtp: SmtpSink, fhir_admin: httpx.Client
) -> None:
    """An account that accepted an older version of the terms, and never the health-data consent."""
    who = _fresh_account(portal_server, smtp, terms="2025-01", healthConsent="")
    _login(page, portal_server, who["email"], who["phone"])
    page.goto("/mes-donnees")  # any patient page: the texts first, then back here
    expect(page).to_have_url(re.compile(r"/mon-espace/conditions\?suite=%2Fmes-donnees"))
    expect(page.get_by_text("ont changé depuis votre dernier accord")).to_be_visible()
    page.get_by_role("button", name="Valider et continuer").click()
    expect(
        page.get_by_role("alert").filter(has_text="Acceptez les conditions générales").first
    ).to_be_visible()
    page.get_by_label(re.compile("J'ai lu")).check()
    page.get_by_role("button", name="Valider et continuer").click()
    expect(page.get_by_role("alert").filter(has_text="consentement au traitement").first).to_be_visible()
    expect(page.get_by_label(re.compile("J'ai lu"))).to_be_checked()
    _tick_both(page)
    page.get_by_role("button", name="Valider et continuer").click()
    expect(page).to_have_url(re.compile("/mes-donnees$"))
    versions = sorted(
        e["resource"]["policy"][0]["uri"].rsplit("/", 2)[-2:][1]
        for e in fhir_admin.get("Consent", params={"patient": f"Patient/{who['id']}"}).json()["entry"]
    )
    assert versions == sorted(["2025-01", CURRENT_VERSIONS["cgu"], CURRENT_VERSIONS["donnees-sante"]])
    page.goto("/mon-espace")  # asked once: now the services page
    expect(page.get_by_role("heading", name="Mes services")).to_be_visible()


# -- dependents, documents ------------------------------------------------------------------


def test_dependents_screen_and_new_dependent(
    page: Page, portal_server: ServerProcess, smtp: SmtpSink, fhir_admin: httpx.Client
) -> None:
    who = _fresh_account(portal_server, smtp)
    _login(page, portal_server, who["email"], who["phone"])
    page.goto("/mon-espace/ayants-droit")
    expect(page.get_by_text("Aucun ayant droit")).to_be_visible()
    _field(page, "Prénom").fill("Léo")
    _field(page, "Nom").fill("Martin")
    page.get_by_label("Sexe").select_option("male")
    page.get_by_label("Date de naissance").fill("2099-02-01")
    page.get_by_label("Cette personne est").select_option("PRN")
    page.get_by_role("button", name="Ajouter").click()
    expect(page.get_by_text("Date de naissance invalide").first).to_be_visible()
    expect(_field(page, "Prénom")).to_have_value("Léo")
    page.get_by_label("Date de naissance").fill("2018-02-01")
    page.get_by_role("button", name="Ajouter").click()
    expect(page.get_by_text("Léo Martin est ajouté(e) à vos ayants droit.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Léo")
    expect(row).to_contain_text("Mineur : les e-mails le concernant vous sont adressés")
    # the holder reaches the new record at once (the token was refreshed)
    row.get_by_role("link", name="Profil").click()
    expect(page.get_by_role("heading", name="Profil de Léo MARTIN")).to_be_visible()
    dependent = page.url.split("patient=")[1]
    stored = fhir_admin.get(f"Patient/{dependent}").json()
    assert stored["birthDate"] == "2018-02-01" and "telecom" not in stored  # a minor: no own contact
    related = fhir_admin.get("RelatedPerson", params={"patient": f"Patient/{dependent}"}).json()["entry"]
    assert related[0]["resource"]["telecom"] == [{"system": "email", "value": who["email"]}]
    page.goto("/mon-espace")
    expect(page.get_by_role("heading", name="Mes ayants droit")).to_be_visible()


def test_holder_reaches_dependent_documents_and_downloads(page: Page, portal_server: ServerProcess) -> None:
    _login(page, portal_server, "helene.dupont@exemple.fr", "+33612345678", DEMO_PASSWORD)
    page.goto("/mes-documents")
    expect(page.get_by_role("heading", name="Mes documents médicaux")).to_be_visible()
    with page.expect_download() as report:
        page.get_by_role("listitem").filter(has_text="Compte rendu de téléconsultation").get_by_role(
            "link", name="Télécharger (PDF)"
        ).click()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(_bytes(report.value))).pages)
    assert "Compte rendu de téléconsultation" in text and "Exacerbation légère" in text
    assert "Marie MARTIN" in text
    page.get_by_role("link", name="Jules DUPONT").click()
    expect(page.get_by_role("heading", name="Documents médicaux de Jules DUPONT")).to_be_visible()
    with page.expect_download() as carnet:
        page.get_by_role("listitem").filter(has_text="Carnet de vaccination").get_by_role("link").click()
    assert "ROR : 12 mois" in _bytes(carnet.value).decode()


def _bytes(download: object) -> bytes:
    path = download.path()  # type: ignore[attr-defined]
    with open(path, "rb") as fh:
        return fh.read()


# -- profile, phone validation, data download -----------------------------------------------


def test_profile_phone_and_data_download(
    page: Page, portal_server: ServerProcess, smtp: SmtpSink, fhir_admin: httpx.Client
) -> None:
    who = _fresh_account(portal_server, smtp)
    _login(page, portal_server, who["email"], who["phone"])
    page.goto("/mon-profil")
    expect(page.get_by_role("heading", name="Mon profil")).to_be_visible()

    # refused values: French messages, what was typed kept
    page.get_by_label("Taille (cm)").fill("abc")
    page.get_by_label("Poids (kg)").fill("68,5")
    page.get_by_role("button", name="Enregistrer les mesures").click()
    expect(page.get_by_text("Taille invalide").first).to_be_visible()
    expect(page.get_by_label("Taille (cm)")).to_have_value("abc")
    expect(page.get_by_label("Poids (kg)")).to_have_value("68,5")
    page.get_by_label("Taille (cm)").fill("172")
    page.get_by_role("button", name="Enregistrer les mesures").click()
    expect(page.get_by_text("Mesures enregistrées.")).to_be_visible()
    expect(page.get_by_text("172 cm")).to_be_visible()

    page.get_by_label("Profession").fill("Infirmière")
    page.get_by_label("Adresse (numéro et voie)").fill("12 rue des Lilas")
    page.get_by_label("Code postal").fill("69003")
    page.get_by_label("Ville").fill("Lyon")
    page.get_by_role("button", name="Enregistrer l'identité et l'adresse").click()
    expect(page.get_by_text("Profil enregistré.")).to_be_visible()
    expect(page.get_by_label("Profession")).to_have_value("Infirmière")

    page.get_by_label("Allergie à").fill("Pénicilline")
    page.get_by_label("Réaction observée").fill("Urticaire")
    page.get_by_role("button", name="Ajouter l'allergie").click()
    expect(page.get_by_text("Pénicilline — Urticaire")).to_be_visible()
    _field(page, "Antécédent").fill("Appendicectomie")
    page.get_by_label("Depuis (année)").fill("20O5")
    page.get_by_role("button", name="Ajouter l'antécédent").click()
    expect(page.get_by_text("Année invalide").first).to_be_visible()
    expect(_field(page, "Antécédent")).to_have_value("Appendicectomie")
    page.get_by_label("Depuis (année)").fill("2005")
    page.get_by_role("button", name="Ajouter l'antécédent").click()
    expect(page.get_by_text("Appendicectomie (depuis 2005)")).to_be_visible()

    # the mobile: a code sent to the new number, one wrong try, then the right one
    new_phone = _mobile()
    page.get_by_label("Nouveau numéro de mobile").fill("0" + new_phone[3:4] + " " + new_phone[4:])
    page.get_by_role("button", name="Recevoir un code de validation").click()
    expect(page.get_by_role("heading", name="Valider mon numéro de mobile")).to_be_visible()
    code = sms_codes(portal_server, new_phone)[-1]
    page.get_by_label("Code reçu par SMS").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#code-erreur")).to_have_text("Code erroné (2 essais restants).")
    page.get_by_label("Code reçu par SMS").fill(code)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text("Numéro de mobile validé")).to_be_visible()
    national = "0" + new_phone[3:]  # shown as written in France: 06 12 34 56 78
    expect(page.get_by_text(" ".join(national[i : i + 2] for i in range(0, 10, 2)))).to_be_visible()
    patient = fhir_admin.get(f"Patient/{who['id']}").json()
    mobiles = [t["value"] for t in patient["telecom"] if t.get("use") == "mobile"]
    assert mobiles == [new_phone]
    assert patient["address"][0]["city"] == "Lyon" and patient["address"][0]["postalCode"] == "69003"
    shot(page, "patient-profile")

    # Télécharger mes données: the JSON Bundle holds what was just recorded
    page.goto("/mes-donnees")
    with page.expect_download() as got:
        page.get_by_role("link", name="Dossier complet (FHIR JSON)").click()
    import orjson

    bundle = orjson.loads(_bytes(got.value))
    assert bundle["resourceType"] == "Bundle" and bundle["total"] == len(bundle["entry"])
    resources = [e["resource"] for e in bundle["entry"]]

    def coded(r: dict, code: str) -> bool:
        return any(c.get("code") == code for c in r.get("code", {}).get("coding", []))

    height = [r for r in resources if r["resourceType"] == "Observation" and coded(r, "8302-2")]
    weight = [r for r in resources if r["resourceType"] == "Observation" and coded(r, "29463-7")]
    assert [h["valueQuantity"]["value"] for h in height] == [172]
    assert [w["valueQuantity"]["value"] for w in weight] == [68.5]
    assert weight[0]["valueQuantity"]["code"] == "kg" and height[0]["valueQuantity"]["code"] == "cm"
    assert any(
        r["resourceType"] == "AllergyIntolerance" and r["code"]["text"] == "Pénicilline" for r in resources
    )
    assert any(r["resourceType"] == "Condition" and r["onsetDateTime"] == "2005" for r in resources)
    assert sum(r["resourceType"] == "Consent" for r in resources) == 2
    assert {r["id"] for r in resources if r["resourceType"] == "Patient"} == {who["id"]}

    with page.expect_download() as got_pdf:
        page.get_by_role("link", name="Version lisible (PDF)").click()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(_bytes(got_pdf.value))).pages)
    for expected in ("Allergies", "Pénicilline", "172 cm", "68,5 kg", "Appendicectomie", "Infirmière"):
        assert expected in text, expected
    page.get_by_role("link", name="Version lisible (page)").click()
    expect(page.get_by_role("heading", name="Mesures et observations")).to_be_visible()
    expect(page.get_by_text("Urticaire")).to_be_visible()

    # the next login's code goes to the validated number
    page.context.clear_cookies()
    _login(page, portal_server, who["email"], new_phone)


def test_phone_code_replayed_in_parallel_wins_once(
    page: Page, portal: str, portal_server: ServerProcess, smtp: SmtpSink, fhir_admin: httpx.Client
) -> None:
    who = _fresh_account(portal_server, smtp)
    _login(page, portal_server, who["email"], who["phone"])
    page.goto("/mon-profil")
    new_phone = _mobile()
    page.get_by_label("Nouveau numéro de mobile").fill(new_phone)
    page.get_by_role("button", name="Recevoir un code de validation").click()
    expect(page.get_by_role("heading", name="Valider mon numéro de mobile")).to_be_visible()
    code = sms_codes(portal_server, new_phone)[-1]
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}

    def submit(_: int) -> httpx.Response:
        with httpx.Client(base_url=portal, cookies=cookies, timeout=60) as http:
            return http.post("/mon-profil/mobile/code", data={"csrf": csrf, "code": code})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(submit, range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [303] + [422] * 7, statuses
    refused = [a.text for a in answers if a.status_code == 422]
    assert all("Code déjà utilisé" in t or "Aucune validation en cours" in t for t in refused)
    patient = fhir_admin.get(f"Patient/{who['id']}").json()
    assert [t["value"] for t in patient["telecom"] if t.get("use") == "mobile"] == [new_phone]


# -- access attacks ---------------------------------------------------------------------------

OTHERS = [
    "/mes-donnees/demo-pat-dupont.json",
    "/mes-donnees/demo-pat-dupont.pdf",
    "/mes-donnees/demo-pat-jules-dupont.html",
    "/mes-documents?patient=demo-pat-jules-dupont",
    "/mes-documents/document/demo-doc-jules-vaccins",
    "/mes-documents/compte-rendu/demo-cr-dupont-teleconsultation.pdf",
    "/mon-profil?patient=demo-pat-dupont",
    "/mon-profil?patient=demo-pat-jules-dupont",
]


def test_a_patient_never_reaches_another_record(
    page: Page, portal_server: ServerProcess, fhir_admin: httpx.Client
) -> None:
    _login(page, portal_server, "thomas.nguyen@exemple.fr", "+33698765432", DEMO_PASSWORD)
    for url in OTHERS:
        answer = page.request.get(url, max_redirects=0)
        assert answer.status == 404, (url, answer.status)
        assert "Dupont" not in answer.text() and "ROR" not in answer.text()
    page.goto("/mon-profil")
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    for path in ("/mon-profil/mesures", "/mon-profil/allergies"):
        answer = page.request.post(
            f"{path}?patient=demo-pat-jules-dupont",
            form={"csrf": csrf or "", "taille": "99", "poids": "99", "allergie": "Arachide"},
            max_redirects=0,
        )
        assert answer.status == 404, (path, answer.status)
    assert (
        fhir_admin.get(
            "Observation", params={"subject": "Patient/demo-pat-jules-dupont", "value-quantity": "99"}
        )
        .json()
        .get("total", 0)
        == 0
    )
    allergies = fhir_admin.get(
        "AllergyIntolerance", params={"patient": "Patient/demo-pat-jules-dupont"}
    ).json()
    assert not [e for e in allergies.get("entry", []) if "Arachide" in str(e["resource"].get("code"))]
    # his own record, and only his, is in his download
    own = page.request.get("/mes-donnees/demo-pat-nguyen.json")
    assert own.status == 200
    ids = {e["resource"]["id"] for e in own.json()["entry"] if e["resource"]["resourceType"] == "Patient"}
    assert ids == {"demo-pat-nguyen"}


def test_the_holder_reaches_the_dependent_and_a_doctor_has_no_patient_space(
    page: Page, logged_in: object, portal_server: ServerProcess
) -> None:
    _login(page, portal_server, "helene.dupont@exemple.fr", "+33612345678", DEMO_PASSWORD)
    answer = page.request.get("/mes-donnees/demo-pat-jules-dupont.json")
    assert answer.status == 200
    assert {
        e["resource"]["id"] for e in answer.json()["entry"] if e["resource"]["resourceType"] == "Patient"
    } == {"demo-pat-jules-dupont"}
    assert page.request.get("/mes-donnees/demo-pat-nguyen.json", max_redirects=0).status == 404
    doctor = logged_in(DR_MARTIN)  # type: ignore[operator]
    assert doctor.request.get("/mon-espace", max_redirects=0).status == 403


def test_notifications_about_a_minor_go_to_the_holder(portal: str, portal_server: ServerProcess) -> None:
    from apps.portal.fhir import FhirClient
    from apps.portal.patient import notification_email

    with httpx.Client(timeout=60) as http:
        token = backend_client_token(http, portal_server, "system/*.rs", name="notification test")

    async def both() -> tuple[str | None, str | None, str | None]:
        async with httpx.AsyncClient(timeout=60) as http:
            fhir = FhirClient(http, portal, token)
            return (
                await notification_email(fhir, "demo-pat-jules-dupont"),
                await notification_email(fhir, "demo-pat-dupont"),
                await notification_email(fhir, "demo-pat-nguyen"),
            )

    with ThreadPoolExecutor(1) as pool:  # (the browser fixtures' event loop runs in this thread)
        jules, helene, thomas = pool.submit(asyncio.run, both()).result()
    assert jules == "helene.dupont@exemple.fr" and helene == "helene.dupont@exemple.fr"
    assert thomas == "thomas.nguyen@exemple.fr"
