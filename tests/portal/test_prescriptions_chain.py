"""The whole prescription chain in a real headless Chromium, and its refusals.

Doctor writes two ordonnances in one consultation (medicines, a bilan) → signs with the SMS
code from the outbox → the patient is e-mailed (real SMTP) and downloads the PDF → the
pharmacist opens the URL of the QR code decoded from that PDF's rendered page → dispenses
(one line partially) → a second scan says "Ordonnance déjà délivrée". Refused: a wrong code,
a forged QR token, a stupéfiant in teleconsultation, and a pharmacist doing anything else.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pypdfium2
import pytest
import zxingcpp
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import (
    PHARMACIEN,
    SmtpSink,
    fhir_backend,
    patient_signup,
    sms_codes,
)
from tests.portal.browser import shot
from tests.portal.tc_support import login_patient

MARTIN = "Practitioner/demo-pra-martin"


@pytest.fixture(scope="module")
def admin(portal_server: ServerProcess, portal: str) -> httpx.Client:
    return fhir_backend(portal_server, "system/*.cruds", "tests ordonnances")


@pytest.fixture(scope="module")
def doctor_phone(admin: httpx.Client, logged_in: Any = None) -> str:
    """Dr Martin's mobile on her profile (kept across her Pro Santé Connect logins)."""
    phone = "+336" + str(uuid.uuid4().int)[:8]
    practitioner = admin.get("/Practitioner/demo-pra-martin").json()
    practitioner["telecom"] = [t for t in practitioner.get("telecom", []) if t.get("system") != "sms"]
    practitioner["telecom"].append({"system": "sms", "value": phone, "use": "mobile"})
    assert admin.put("/Practitioner/demo-pra-martin", json=practitioner).status_code == 200
    return phone


def _patient(admin: httpx.Client, server: ServerProcess, smtp: SmtpSink) -> dict[str, str]:
    """A patient account (e-mail + SMS login) whom Dr Martin cares for (a CareTeam)."""
    tag = uuid.uuid4().hex[:8]
    email, phone = f"rx-{tag}@example.fr", "+337" + str(uuid.uuid4().int)[:8]
    with httpx.Client(timeout=60) as http:
        pid = patient_signup(http, server, smtp.mailbox, email, phone)
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{pid}"},
        "participant": [{"member": {"reference": MARTIN}}],
    }
    assert admin.post("/CareTeam", json=team).status_code == 201
    return {"id": pid, "email": email, "phone": phone, "password": "correct horse battery"}


def _open_consultation(doctor: Page, patient_id: str, kind: str) -> None:
    doctor.goto(f"/ordonnances?patient={patient_id}")
    doctor.get_by_label("Type de consultation").select_option(kind)
    doctor.get_by_role("button", name="Ouvrir la consultation").click()
    expect(doctor.get_by_role("heading", name=re.compile("^Ordonnances — "))).to_be_visible()


def _qr_url(pdf: bytes) -> str:
    document = pypdfium2.PdfDocument(pdf)
    image = document[len(document) - 1].render(scale=150 / 72).to_pil()
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(codes) == 1
    return codes[0].text


def test_doctor_patient_pharmacist_chain(
    doctor: Page,
    logged_in: Callable[[str], Page],
    page: Page,
    portal: str,
    portal_server: ServerProcess,
    smtp: SmtpSink,
    admin: httpx.Client,
    doctor_phone: str,
) -> None:
    who = _patient(admin, portal_server, smtp)
    _open_consultation(doctor, who["id"], "AMB")
    # first ordonnance: two medicines
    doctor.get_by_role("link", name="Nouvelle ordonnance de médicaments").click()
    doctor.get_by_label("Médicament").nth(0).fill("Amoxicilline 1 g, comprimé")
    doctor.get_by_label("Posologie").nth(0).fill("1 comprimé matin et soir pendant 6 jours")
    doctor.get_by_label("Quantité").nth(0).fill("12")
    doctor.get_by_label("Unité").nth(0).fill("comprimé(s)")
    doctor.get_by_label("Durée du traitement (jours)").nth(0).fill("6")
    doctor.get_by_label("Médicament").nth(1).fill("Ibuprofène 400 mg, comprimé")
    doctor.get_by_label("Posologie").nth(1).fill("1 comprimé si douleur, 3 par jour au plus")
    doctor.get_by_label("Quantité").nth(1).fill("1")
    doctor.get_by_label("Non remboursable").nth(1).check()
    doctor.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(doctor.get_by_text("Ordonnance enregistrée en brouillon")).to_be_visible()
    # second ordonnance of the same consultation: a bilan
    doctor.get_by_role("link", name="Nouvelle ordonnance d'examens").click()
    doctor.get_by_label("Examen").nth(0).fill("NFS, CRP")
    doctor.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(doctor.locator("tr.ordonnance")).to_have_count(2)
    # drafts are invisible to the patient
    drafts = admin.get("/MedicationRequest", params={"subject": f"Patient/{who['id']}"}).json()["entry"]
    number = drafts[0]["resource"]["groupIdentifier"]["value"]
    patient_page = page
    login_patient(patient_page, portal_server, who)
    patient_page.goto("/mes-ordonnances")
    expect(patient_page.get_by_text("Vous n'avez pas encore d'ordonnance.")).to_be_visible()
    # signature: a wrong code first, then the code from the outbox
    doctor.get_by_role("button", name="Signer les ordonnances (code SMS)").click()
    code = sms_codes(portal_server, doctor_phone)[-1]
    doctor.get_by_label("Code reçu par SMS").fill(f"{(int(code) + 1) % 10**6:06d}")
    doctor.get_by_role("button", name="Signer").click()
    expect(doctor.locator("#code-erreur")).to_have_text("Code incorrect : il reste 4 essai(s).")
    doctor.get_by_label("Code reçu par SMS").fill(code)
    doctor.get_by_role("button", name="Signer").click()
    expect(doctor.get_by_text("Ordonnances signées")).to_be_visible()
    expect(doctor.locator("tr.ordonnance").filter(has_text="Signée")).to_have_count(2)
    shot(doctor, "ordonnances-signees")
    smtp.mailbox.wait_for(who["email"], "Ordonnance disponible")
    # the patient downloads the PDF
    patient_page.goto("/mes-ordonnances")
    link = patient_page.get_by_role("link", name=re.compile(f"ordonnance n° {number[:4]}"))
    probe = patient_page.request.get(link.get_attribute("href") or "")
    assert probe.status == 200, probe.text()[:3000]
    with patient_page.expect_download() as info:
        patient_page.get_by_role("link", name=re.compile(f"ordonnance n° {number[:4]}")).click()
    pdf = open(info.value.path(), "rb").read()  # noqa: SIM115
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Amoxicilline 1 g, comprimé" in text and "Non remboursable (NR)" in text and "RPPS" in text
    url = _qr_url(pdf)
    assert url.startswith(f"{portal}/pharmacie/ordonnance/{number}?t=")
    # the pharmacist scans: first scan
    pharmacist = logged_in(PHARMACIEN)
    pharmacist.goto(url)
    expect(pharmacist.locator(".verdict")).to_have_text("Ordonnance délivrable")
    expect(pharmacist.get_by_text("Vérifiez l'identité du patient")).to_be_visible()
    expect(pharmacist.get_by_text("DUPONT Alice")).to_be_visible()
    shot(pharmacist, "pharmacie-delivrable")
    pharmacist.get_by_label("Quantité délivrée : Amoxicilline 1 g, comprimé").fill("6")
    pharmacist.get_by_role("button", name="Enregistrer la délivrance").click()
    expect(pharmacist.get_by_text("Délivrance enregistrée.")).to_be_visible()
    # any later scan
    pharmacist.goto(url)
    expect(pharmacist.locator(".verdict")).to_contain_text("Ordonnance déjà délivrée le ")
    expect(pharmacist.locator(".verdict")).to_contain_text("PHARMACIE DU CENTRE")
    # typing the number (QR code unreadable) gives the same answer
    pharmacist.goto("/pharmacie")
    pharmacist.get_by_label("Numéro de l'ordonnance").fill(" ".join(re.findall("....", number)))
    pharmacist.get_by_role("button", name="Ouvrir").click()
    expect(pharmacist.locator(".verdict")).to_contain_text("Ordonnance déjà délivrée le ")
    lines = admin.get("/MedicationRequest", params={"group-identifier": number}).json()["entry"]
    assert {e["resource"]["status"] for e in lines} == {"completed"}
    dispenses = admin.get(
        "/MedicationDispense",
        params={"prescription": ",".join(f"MedicationRequest/{e['resource']['id']}" for e in lines)},
    ).json()["entry"]
    assert sorted(d["resource"]["quantity"]["value"] for d in dispenses) == [1, 6]
    # a forged QR code: refused, nothing changes
    forged = url[:-6] + ("AAAAAA" if not url.endswith("AAAAAA") else "BBBBBB")
    response = pharmacist.goto(forged)
    assert response is not None and response.status == 403
    expect(pharmacist.get_by_text(re.compile("QR code non reconnu"))).to_be_visible()


def test_narcotic_refused_in_teleconsultation_keeps_what_was_typed(
    doctor: Page, portal_server: ServerProcess, smtp: SmtpSink, admin: httpx.Client
) -> None:
    who = _patient(admin, portal_server, smtp)
    _open_consultation(doctor, who["id"], "VR")
    doctor.get_by_role("link", name="Nouvelle ordonnance de médicaments").click()
    doctor.get_by_label("Médicament").nth(0).fill("Skenan LP 30 mg, gélule")
    doctor.get_by_label("Posologie").nth(0).fill("1 gélule matin et soir")
    doctor.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(
        doctor.get_by_text(
            re.compile("stupéfiants .* ne peuvent pas être prescrits en téléconsultation")
        ).first
    ).to_be_visible()
    expect(doctor.get_by_label("Médicament").nth(0)).to_have_value("Skenan LP 30 mg, gélule")
    found = admin.get("/MedicationRequest", params={"subject": f"Patient/{who['id']}"}).json()
    assert not found.get("entry")


def test_pharmacist_can_do_nothing_else(
    logged_in: Callable[[str], Page], portal: str, portal_server: ServerProcess, admin: httpx.Client
) -> None:
    """Through the pharmacist's own token: no ordonnance PDF, no signature, no edit of a line."""
    pharmacist = logged_in(PHARMACIEN)
    response = pharmacist.goto("/ordonnances/1234567890123456.pdf")
    assert response is not None and response.status in (403, 404)
    response = pharmacist.goto("/mes-ordonnances")
    assert response is not None and response.status == 403


def test_signed_ordonnance_is_cancelled_with_a_signed_code(
    doctor: Page, portal_server: ServerProcess, smtp: SmtpSink, admin: httpx.Client, doctor_phone: str
) -> None:
    who = _patient(admin, portal_server, smtp)
    _open_consultation(doctor, who["id"], "AMB")
    doctor.get_by_role("link", name="Nouvelle ordonnance de médicaments").click()
    doctor.get_by_label("Médicament").nth(0).fill("Amoxicilline 500 mg, gélule")
    doctor.get_by_label("Posologie").nth(0).fill("2 gélules matin et soir pendant 7 jours")
    doctor.get_by_role("button", name="Enregistrer le brouillon").click()
    doctor.get_by_role("button", name="Signer les ordonnances (code SMS)").click()
    doctor.get_by_label("Code reçu par SMS").fill(sms_codes(portal_server, doctor_phone)[-1])
    doctor.get_by_role("button", name="Signer").click()
    expect(doctor.locator("tr.ordonnance").filter(has_text="Signée")).to_have_count(1)
    doctor.get_by_label("Motif d'annulation").fill("Allergie signalée par la patiente")
    doctor.once("dialog", lambda dialog: dialog.accept())
    doctor.get_by_role("button", name="Annuler l'ordonnance").click()
    doctor.get_by_label("Code reçu par SMS").fill(sms_codes(portal_server, doctor_phone)[-1])
    doctor.get_by_role("button", name="Signer l'annulation").click()
    expect(doctor.get_by_text("Ordonnance annulée (annulation signée).")).to_be_visible()
    expect(doctor.locator("tr.ordonnance").filter(has_text="Annulée")).to_have_count(1)
    lines = admin.get("/MedicationRequest", params={"subject": f"Patient/{who['id']}"}).json()["entry"]
    assert [e["resource"]["status"] for e in lines] == ["cancelled"]
    assert lines[0]["resource"]["statusReason"]["text"] == "Allergie signalée par la patiente"
