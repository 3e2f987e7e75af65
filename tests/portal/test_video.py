"""Video teleconsultation: a patient invites the doctor, the doctor accepts and books a
teleconsultation, both enter the room and their browsers reach a connected WebRTC state
(Chromium's fake camera and microphone), the server relaying only the signalling."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import httpx
from playwright.sync_api import Browser, expect

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import (
    FHIR_JSON,
    SmtpSink,
    bearer,
    patient_signup,
    patient_token,
    register_client,
    sms_codes,
)
from tests.portal.browser import (
    DR_GARNIER,
    add_availability,
    login_patient,
    login_professional,
    new_context,
    shot,
)

DAY = date.today() + timedelta(days=12)
PASSWORD = "correct horse battery"


def test_patient_and_doctor_connect_by_webrtc(
    media_browser: Browser,
    portal: str,
    portal_server: ServerProcess,
    smtp: SmtpSink,
    fhir_admin: httpx.Client,
) -> None:
    email = f"video-{uuid.uuid4().hex[:8]}@example.fr"
    phone = f"+336{uuid.uuid4().int % 10**8:08d}"
    with httpx.Client(timeout=60) as http:
        patient_id = patient_signup(
            http, portal_server, smtp.mailbox, email, phone, PASSWORD, given="Inès", family="Video"
        )
        # the patient invites Dr Martin (a proposed CareTeam), with their own token
        client = register_client(portal_server, "public", "openid fhirUser patient/*.cruds launch/patient")
        token = patient_token(http, portal_server, client, "openid fhirUser patient/*.cruds launch/patient",
                              email, phone, PASSWORD)  # fmt: skip
        r = http.post(
            f"{portal}/fhir/CareTeam",
            json={
                "resourceType": "CareTeam",
                "status": "proposed",
                "subject": {"reference": f"Patient/{patient_id}"},
                "participant": [{"member": {"reference": "Practitioner/demo-pra-martin"}}],
            },
            headers={**bearer(token), "Content-Type": FHIR_JSON},
        )
        assert r.status_code == 201, r.text

    doctor_ctx = new_context(media_browser, portal)
    patient_ctx = new_context(media_browser, portal)
    try:
        doctor = doctor_ctx.new_page()
        login_professional(doctor)
        # accept the invitation, then open a teleconsultation slot and book it for her
        doctor.goto("/patients/recherche")
        invitation = doctor.locator("li", has_text="Inès VIDEO")
        invitation.get_by_role("button", name="Accepter").click()
        expect(doctor.get_by_text("Patient ajouté à vos patients.")).to_be_visible()
        add_availability(doctor, "teleconsultation", DAY, "17:00", "17:15")
        doctor.goto(f"/agenda?vue=jour&date={DAY.isoformat()}")
        row = doctor.locator("tr", has_text="17h00")
        row.get_by_label("Patient").select_option(patient_id)
        row.get_by_label("Motif").fill("Suivi en vidéo")
        row.get_by_role("button", name="Réserver").click()
        expect(doctor.get_by_text("Rendez-vous enregistré.")).to_be_visible()
        doctor.goto("/centre/rendez-vous")
        doctor.locator("tr", has_text="Suivi en vidéo").get_by_role("link", name="Démarrer la vidéo").click()
        appointment_id = doctor.url.rsplit("/", 1)[1]
        expect(doctor.get_by_text("Caméra et micro fonctionnent.")).to_be_visible()
        expect(doctor.locator(".facts")).to_contain_text("Inès VIDEO")
        doctor.get_by_role("button", name="Entrer dans la salle").click()
        expect(doctor.locator("#salle")).to_have_attribute("data-state", "attente")
        # in the room: the way out only
        expect(doctor.get_by_role("button", name="Entrer dans la salle")).to_be_hidden()
        expect(doctor.get_by_role("button", name="Quitter")).to_be_visible()

        patient = patient_ctx.new_page()
        login_patient(patient, email, PASSWORD, lambda: sms_codes(portal_server, phone)[-1])
        patient.goto(f"/video/{appointment_id}")
        expect(patient.get_by_text("Caméra et micro fonctionnent.")).to_be_visible()
        patient.get_by_role("button", name="Entrer dans la salle").click()

        expect(patient.locator("#salle")).to_have_attribute("data-state", "connecte", timeout=30_000)
        expect(doctor.locator("#salle")).to_have_attribute("data-state", "connecte", timeout=30_000)
        expect(doctor.locator("#etat")).to_have_text(re.compile("Connecté avec"))
        expect(doctor.locator("#presents")).to_contain_text("Inès")
        # the remote video really plays (frames from the other side's fake camera)
        doctor.wait_for_function("document.getElementById('distant').videoWidth > 0", timeout=30_000)
        shot(doctor, "teleconsultation-video")
        appointment = fhir_admin.get(f"Appointment/{appointment_id}").json()
        assert {p["actor"]["reference"] for p in appointment["participant"]} == {
            "Practitioner/demo-pra-martin", f"Patient/{patient_id}"
        }  # fmt: skip
        # the doctor leaves: the other side is told, and she may come back in
        doctor.get_by_role("button", name="Quitter").click()
        expect(patient.locator("#etat")).to_have_text("L'autre participant a quitté la salle.")
        expect(doctor.get_by_role("button", name="Quitter")).to_be_hidden()
        expect(doctor.get_by_role("button", name="Entrer dans la salle")).to_be_enabled()
    finally:
        doctor_ctx.close()
        patient_ctx.close()


def test_room_refuses_strangers_and_other_sites(
    media_browser: Browser, portal: str, fhir_admin: httpx.Client
) -> None:
    appointment_id = "demo-appt-moreau-video"  # Dr Martin and Lucas Moreau (demo data)
    assert fhir_admin.get(f"Appointment/{appointment_id}").status_code == 200
    ctx = new_context(media_browser, portal)
    try:
        garnier = ctx.new_page()
        login_professional(garnier, DR_GARNIER)
        response = garnier.goto(f"/video/{appointment_id}")
        assert response is not None and response.status == 404
        # the signalling socket is refused before the handshake completes: from another site, and to
        # a professional who does not take part in the appointment (even from the portal's own origin)
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        cookies = "; ".join(f"{c['name']}={c['value']}" for c in ctx.cookies())
        url = portal.replace("http://", "ws://") + f"/video/{appointment_id}/ws"
        for origin in ("http://evil.example", portal):
            try:
                with connect(url, additional_headers={"Cookie": cookies, "Origin": origin}):
                    raise AssertionError(f"socket accepted from {origin}")
            except InvalidStatus as exc:
                assert exc.response.status_code == 403
    finally:
        ctx.close()
