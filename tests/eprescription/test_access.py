"""Who may do what with an ordonnance, over HTTP with real tokens (authorization on).

The prescriber (Pro Santé Connect, Dr Martin) writes, signs and cancels; a colleague who is
not the prescriber cannot sign; the patient sees nothing before the signature, then downloads
the PDF; the pharmacist (PSC profession 21) checks and dispenses, and can do nothing else:
no PDF, no signature, no edit of a line, no dispensing with a forged token. Every refusal
leaves the stored lines unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from eprescription import PRESCRIPTION_SYSTEM, new_number
from tests.eprescription.rx_support import medication_line, params, value
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    PHARMACIEN,
    SmtpSink,
    backend_client_token,
    bearer,
    patient_signup,
    patient_token,
    professional_token,
    register_client,
    sms_codes,
    start_server,
)

PRO_SCOPE = "openid fhirUser user/*.cruds"
PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.cruds"
DR_BONNET = "899700007075"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, SmtpSink]]:
    """A server of its own: the relationships made here (an encounter with Dr Martin and Dr Bonnet)
    must not change what the users of the shared auth server reach in the role tests."""
    with SmtpSink() as smtp:
        server = start_server(tmp_path_factory.mktemp("rx-auth"), smtp.port)
        try:
            yield server, smtp
        finally:
            server.stop()


@pytest.fixture(scope="module")
def world(auth_server: tuple[ServerProcess, SmtpSink]) -> dict[str, Any]:
    server, smtp = auth_server
    with httpx.Client(timeout=60) as http:
        system = backend_client_token(http, server, "system/*.cruds", name="LAP ordonnances")
        app = register_client(server, "confidential", PRO_SCOPE, name="LAP")
        tokens = {
            "martin": professional_token(http, server, app, PRO_SCOPE, DR_MARTIN),
            "bonnet": professional_token(http, server, app, PRO_SCOPE, DR_BONNET),
            "pharmacist": professional_token(http, server, app, PRO_SCOPE, PHARMACIEN),
        }
        tag = uuid.uuid4().hex[:6]
        email, phone = f"rx-acces-{tag}@example.fr", "+3361" + str(uuid.uuid4().int)[:7]
        pid = patient_signup(http, server, smtp.mailbox, email, phone)
        patient_app = register_client(server, "public", PATIENT_SCOPE, name="Mon espace (ordonnances)")
        tokens["patient"] = patient_token(http, server, patient_app, PATIENT_SCOPE, email, phone)
        martin = tokens["martin"]["fhirUser"]
        doctor_phone = "+3362" + str(uuid.uuid4().int)[:7]
        base = server.base
        admin = {**bearer(system), "Content-Type": "application/fhir+json"}
        practitioner = http.get(f"{base}/{martin}", headers=admin).json()
        practitioner["telecom"] = [*practitioner.get("telecom", []), {"system": "sms", "value": doctor_phone}]
        assert http.put(f"{base}/{martin}", json=practitioner, headers=admin).status_code == 200
        encounter = http.post(f"{base}/Encounter", headers=admin, json={
            "resourceType": "Encounter", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{pid}"},
            "participant": [{"individual": {"reference": martin}},
                            {"individual": {"reference": tokens["bonnet"]["fhirUser"]}}],
        })  # fmt: skip
        assert encounter.status_code == 201, encounter.text
    ids = {"patient": pid, "practitioner": martin.split("/")[1], "encounter": encounter.json()["id"]}
    return {"server": server, "smtp": smtp, "tokens": tokens, "ids": ids, "phone": doctor_phone,
            "email": email, "admin": admin}  # fmt: skip


def _as(world: dict[str, Any], who: str) -> httpx.Client:
    headers = {**bearer(world["tokens"][who]), "Content-Type": "application/fhir+json"}
    return httpx.Client(base_url=world["server"].base, headers=headers, timeout=60)


def _lines(world: dict[str, Any], number: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=world["server"].base, headers=world["admin"], timeout=60) as admin:
        found = admin.get(
            "/MedicationRequest", params={"group-identifier": f"{PRESCRIPTION_SYSTEM}|{number}"}
        )
    return [e["resource"] for e in found.json().get("entry", [])]


def _write(world: dict[str, Any]) -> str:
    number = new_number()
    with _as(world, "martin") as martin:
        for text in ("Amoxicilline 1 g, comprimé", "Paracétamol 1 g, comprimé"):
            created = martin.post("/MedicationRequest", json=medication_line(world["ids"], number, text))
            assert created.status_code == 201, created.text
    return number


def _sign(world: dict[str, Any], number: str, action: str = "sign", reason: str = "") -> httpx.Response:
    with _as(world, "martin") as martin:
        extra = [("action", action)] + ([("reason", reason)] if reason else [])
        asked = martin.post("/$sign-request", json=params(("prescription", number), *extra))
        assert asked.status_code == 200, asked.text
        code = sms_codes(world["server"], world["phone"])[-1]
        return martin.post(
            "/$sign", json=params(("challenge", value(asked.json(), "challenge")), ("code", code))
        )


def test_prescriber_signs_patient_sees_only_signed(world: dict[str, Any]) -> None:
    number = _write(world)
    with _as(world, "patient") as patient:
        mine = patient.get("/MedicationRequest", params={"subject": f"Patient/{world['ids']['patient']}"})
        assert number not in mine.text  # drafts are invisible to the patient
        draft_id = _lines(world, number)[0]["id"]
        assert patient.get(f"/MedicationRequest/{draft_id}").status_code == 404
        assert patient.get("/$ordonnance-pdf", params={"prescription": number}).status_code == 404
    # a colleague caring for the patient cannot sign Dr Martin's ordonnance
    with _as(world, "bonnet") as bonnet:
        refused = bonnet.post("/$sign-request", json=params(("prescription", number)))
        assert refused.status_code == 403 and "prescripteur" in refused.text
    assert _sign(world, number).status_code == 200
    world["smtp"].mailbox.wait_for(world["email"], "Ordonnance disponible")
    with _as(world, "patient") as patient:
        mine = patient.get("/MedicationRequest", params={"subject": f"Patient/{world['ids']['patient']}"})
        assert number in mine.text
        pdf = patient.get(
            "/$ordonnance-pdf", params={"prescription": number}, headers={"Accept": "application/pdf"}
        )
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # the patient cannot sign, edit or cancel
    with _as(world, "patient") as patient:
        assert patient.post("/$sign-request", json=params(("prescription", number))).status_code == 404


def test_pharmacist_checks_and_dispenses_nothing_else(world: dict[str, Any]) -> None:
    number = _write(world)
    with _as(world, "pharmacist") as pharmacist:
        assert pharmacist.get("/$pharmacy-check", params={"prescription": number}).status_code == 404  # draft
    assert _sign(world, number).status_code == 200
    before = _lines(world, number)
    line = before[0]
    with _as(world, "pharmacist") as pharmacist:
        check = pharmacist.get("/$pharmacy-check", params={"prescription": number})
        assert check.status_code == 200 and value(check.json(), "status") == "delivrable"
        patient = value(check.json(), "patient")
        assert {p["name"] for p in patient["part"]} == {"name", "birthDate", "advice"}
        # anything else than checking and dispensing: refused
        assert pharmacist.get("/$ordonnance-pdf", params={"prescription": number}).status_code == 403
        assert pharmacist.post("/$sign-request", json=params(("prescription", number))).status_code == 403
        edited = {**line, "dosageInstruction": [{"text": "10 comprimés par jour"}]}
        assert pharmacist.put(f"/MedicationRequest/{line['id']}", json=edited).status_code == 403
        forged = params(("prescription", number), ("token", "eyJhbGciOiJSUzI1NiJ9.eyJuIjoiMSJ9.c2ln"))
        ref = {"reference": f"MedicationRequest/{line['id']}"}
        forged["parameter"].append({"name": "line", "part": [{"name": "request", "valueReference": ref}]})
        assert pharmacist.post("/$dispense", json=forged).status_code == 403
        assert _lines(world, number) == before  # nothing changed
        body = params(("prescription", number))
        body["parameter"].append(forged["parameter"][-1])
        done = pharmacist.post("/$dispense", json=body)
        assert done.status_code == 200, done.text
        dispense = pharmacist.get(f"/{value(done.json(), 'dispense')['reference']}").json()
        assert dispense["performer"][0]["actor"]["display"] == "PHARMACIE DU CENTRE"
        again = pharmacist.get("/$pharmacy-check", params={"prescription": number})
        assert value(again.json(), "status") == "deja-delivree"
        assert "PHARMACIE DU CENTRE" in value(again.json(), "message")
    # a doctor is not a pharmacist
    with _as(world, "martin") as martin:
        assert martin.get("/$pharmacy-check", params={"prescription": number}).status_code == 403
        assert martin.post("/$dispense", json=body).status_code == 403


def test_cancellation_is_signed_and_stops_the_pharmacy(world: dict[str, Any]) -> None:
    number = _write(world)
    assert _sign(world, number).status_code == 200
    with _as(world, "martin") as martin:
        no_reason = martin.post("/$sign-request", json=params(("prescription", number), ("action", "cancel")))
        assert no_reason.status_code == 400
    cancelled = _sign(world, number, "cancel", "Erreur de posologie")
    assert cancelled.status_code == 200, cancelled.text
    lines = _lines(world, number)
    assert {line["status"] for line in lines} == {"cancelled"}
    assert lines[0]["statusReason"]["text"] == "Erreur de posologie"
    provenance_ref = cancelled.json()["parameter"][0]["part"][1]["valueReference"]["reference"]
    with httpx.Client(base_url=world["server"].base, headers=world["admin"], timeout=60) as admin:
        provenance = admin.get(f"/{provenance_ref}").json()
    assert provenance["activity"]["coding"][0]["code"] == "CANCEL"
    with _as(world, "pharmacist") as pharmacist:
        check = pharmacist.get("/$pharmacy-check", params={"prescription": number})
        assert check.status_code == 200 and value(check.json(), "status") == "annulee"
        # said so, without the patient or the lines (pharmacies no longer read them)
        assert value(check.json(), "patient") is None and value(check.json(), "line") is None
