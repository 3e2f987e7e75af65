"""Mon agenda: availability as Schedule/Slot, booking without double-booking, cancelling."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import httpx
from playwright.sync_api import Page, expect

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import DR_MARTIN, bearer, professional_token, register_client
from tests.portal.browser import add_availability, shot

DAY = date.today() + timedelta(days=9)


def _slots(fhir_admin: httpx.Client) -> list[dict]:
    after = (DAY + timedelta(days=1)).isoformat()
    params = [("start", f"ge{DAY.isoformat()}"), ("start", f"lt{after}"), ("_sort", "start")]
    bundle = fhir_admin.get("Slot", params=params).json()
    return [e["resource"] for e in bundle.get("entry", [])]


def _appointments(fhir_admin: httpx.Client, slot_id: str) -> list[dict]:
    bundle = fhir_admin.get("Appointment", params={"slot": f"Slot/{slot_id}"}).json()
    return [e["resource"] for e in bundle.get("entry", [])]


def _add_slots(doctor: Page, fhir_admin: httpx.Client) -> list[dict]:
    add_availability(doctor, "urgence", DAY, "14:00", "14:30")
    return _slots(fhir_admin)


def test_availability_booking_and_cancelling(doctor: Page, fhir_admin: httpx.Client, portal: str) -> None:
    doctor.goto("/agenda/disponibilites")
    doctor.get_by_label("Type de créneau").select_option("cabinet")
    doctor.locator("#du").fill(DAY.isoformat())
    for box in doctor.locator('input[name="jours"]').all():
        box.uncheck()
    doctor.get_by_label("Heure de début").fill("09:00")
    doctor.get_by_label("Heure de fin").fill("08:00")
    doctor.get_by_role("button", name="Créer les créneaux").click()
    expect(doctor.locator("#fin-erreur")).to_have_text("L'heure de fin doit suivre l'heure de début.")
    expect(doctor.get_by_text("Cochez au moins un jour de la semaine.").first).to_be_visible()
    assert doctor.locator("#du").input_value() == DAY.isoformat()
    assert doctor.get_by_label("Type de créneau").input_value() == "cabinet"
    doctor.get_by_label("Heure de fin").fill("10:00")
    doctor.locator(f'input[name="jours"][value="{DAY.weekday()}"]').check()
    doctor.get_by_role("button", name="Créer les créneaux").click()
    expect(
        doctor.get_by_text("4 créneaux « Consultation au cabinet » ajoutés à votre agenda.")
    ).to_be_visible()
    shot(doctor, "agenda-semaine")
    slots = _slots(fhir_admin)
    assert [s["start"][11:16] for s in slots] == ["09:00", "09:15", "09:30", "09:45"]
    assert all(s["status"] == "free" for s in slots)
    assert slots[0]["serviceType"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"
    }  # fmt: skip
    schedule = fhir_admin.get(slots[0]["schedule"]["reference"]).json()
    assert schedule["actor"] == [{"reference": "Practitioner/demo-psc-martin"}]

    # the same hours again overlap what exists
    doctor.goto("/agenda/disponibilites")
    doctor.get_by_label("Type de créneau").select_option("teleconsultation")
    doctor.locator("#du").fill(DAY.isoformat())
    doctor.get_by_label("Heure de début").fill("09:30")
    doctor.get_by_label("Heure de fin").fill("11:00")
    doctor.locator(f'input[name="jours"][value="{DAY.weekday()}"]').check()
    doctor.get_by_role("button", name="Créer les créneaux").click()
    expect(doctor.locator("#debut-erreur")).to_contain_text("chevauchent votre agenda")
    assert len(_slots(fhir_admin)) == 4

    # book the first slot for Jeanne Bernard from the day view
    doctor.goto(f"/agenda?vue=jour&date={DAY.isoformat()}")
    row = doctor.locator(f"#creneau-{slots[0]['id']}")
    row.get_by_label("Patient").select_option("demo-pt-bernard")
    row.get_by_label("Motif").fill("Contrôle tensionnel J+9")
    row.get_by_role("button", name="Réserver").click()
    expect(doctor.get_by_text("Rendez-vous enregistré.")).to_be_visible()
    expect(doctor.locator(f"#creneau-{slots[0]['id']}")).to_contain_text("Jeanne BERNARD")
    shot(doctor, "agenda-jour")
    assert fhir_admin.get(f"Slot/{slots[0]['id']}").json()["status"] == "busy"
    [appointment] = _appointments(fhir_admin, slots[0]["id"])
    assert appointment["status"] == "booked" and appointment["description"] == "Contrôle tensionnel J+9"
    actors = {p["actor"]["reference"] for p in appointment["participant"]}
    assert actors == {"Practitioner/demo-psc-martin", "Patient/demo-pt-bernard"}
    assert appointment["start"] == slots[0]["start"]

    # many simultaneous bookings of one slot: exactly one appointment
    cookies = {c["name"]: c["value"] for c in doctor.context.cookies()}
    csrf = doctor.locator('input[name="csrf"]').first.get_attribute("value")
    target = slots[1]["id"]

    def book(patient: str) -> int:
        r = httpx.post(
            f"{portal}/agenda/creneaux/{target}/reserver",
            data={"csrf": csrf, "patient": patient, "motif": "course"},
            cookies=cookies,
            timeout=60,
        )
        return r.status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(book, ["demo-pt-bernard", "demo-pt-moreau"] * 2))
    assert all(s == 303 for s in statuses), statuses
    assert len(_appointments(fhir_admin, target)) == 1
    assert fhir_admin.get(f"Slot/{target}").json()["status"] == "busy"

    # Mes rendez-vous, then cancel: the slot is free again
    doctor.goto("/centre/rendez-vous")
    expect(doctor.locator("table")).to_contain_text("Contrôle tensionnel J+9")
    doctor.once("dialog", lambda d: d.accept())
    doctor.locator("tr", has_text="Contrôle tensionnel J+9").get_by_role("button", name="Annuler").click()
    expect(doctor.get_by_text("Rendez-vous annulé")).to_be_visible()
    assert fhir_admin.get(f"Appointment/{appointment['id']}").json()["status"] == "cancelled"
    assert fhir_admin.get(f"Slot/{slots[0]['id']}").json()["status"] == "free"


def test_month_view_and_another_doctor_cannot_touch_the_agenda(
    doctor: Page, portal_server: ServerProcess, portal: str, fhir_admin: httpx.Client
) -> None:
    doctor.goto(f"/agenda?vue=mois&date={DAY.isoformat()}")
    expect(doctor.locator("table.month")).to_be_visible()
    expect(doctor.get_by_role("link", name="Mois")).to_have_attribute("aria-current", "page")
    slots = _slots(fhir_admin) or _add_slots(doctor, fhir_admin)
    # Dr Garnier, through the FHIR API with his own token, cannot take Dr Martin's slot
    with httpx.Client(timeout=60) as http:
        client = register_client(portal_server, "confidential", "openid fhirUser user/*.cruds", name="tiers")
        token = professional_token(
            http, portal_server, client, "openid fhirUser user/*.cruds", "899700008081"
        )
        slot = fhir_admin.get(f"Slot/{slots[-1]['id']}").json()
        r = http.put(
            f"{portal}/fhir/Slot/{slot['id']}",
            json={**slot, "status": "busy"},
            headers={**bearer(token), "Content-Type": "application/fhir+json"},
        )
        assert r.status_code == 403, r.text
        # while Dr Martin, with his token, may
        mine = professional_token(http, portal_server, client, "openid fhirUser user/*.cruds", DR_MARTIN)
        r = http.put(
            f"{portal}/fhir/Slot/{slot['id']}",
            json={**slot, "comment": "ok"},
            headers={**bearer(mine), "Content-Type": "application/fhir+json"},
        )
        assert r.status_code == 200, r.text
    assert re.search("free|busy", fhir_admin.get(f"Slot/{slot['id']}").json()["status"])
