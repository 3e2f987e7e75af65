"""The ordonnance through the FHIR API (server without authorization: the rules hold for everyone).

Draft → SMS code → signature (Provenance with a JWS verified against the published JWKS) →
PDF → pharmacy check → dispensing once; and the refusals: no edit after signature, no
active creation, bilans apart, stupéfiant in teleconsultation, wrong / expired / reused code.
"""

from __future__ import annotations

import base64
import concurrent.futures
import uuid
from typing import Any

import httpx
import orjson
import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from eprescription import content_hash, new_number
from tests.conftest import FHIR_JSON
from tests.eprescription.rx_support import (
    lab_line,
    medication_line,
    params,
    post,
    practice,
    sms_code,
    value,
)


def _phone() -> str:
    return "+336" + str(uuid.uuid4().int)[:8]


def _lines(http: httpx.Client, number: str) -> list[dict[str, Any]]:
    bundle = http.get(
        "/MedicationRequest", params={"group-identifier": f"urn:passerelle:ordonnance|{number}"}
    ).json()
    return [e["resource"] for e in bundle.get("entry", [])]


def _sign(http: httpx.Client, server: Any, phone: str, *numbers: str) -> httpx.Response:
    asked = http.post("/$sign-request", json=params(*(("prescription", n) for n in numbers)))
    assert asked.status_code == 200, asked.text
    challenge = value(asked.json(), "challenge")
    return http.post(
        "/$sign", json=params(("challenge", challenge), ("code", sms_code(server.data_dir, phone)))
    )


@pytest.fixture()
def world(http: httpx.Client) -> dict[str, str]:
    phone = _phone()
    ids = practice(http, phone=phone)
    return {**ids, "phone": phone}


def test_draft_sign_provenance_and_no_edit_after(
    http: httpx.Client, server: Any, world: dict[str, str]
) -> None:
    number = new_number()
    first = post(http, medication_line(world, number))
    post(http, medication_line(world, number, "Paracétamol 1 g", dispenseRequest={"quantity": {"value": 8}}))
    # a draft says "draft" and cannot be made active by hand
    active = {**first, "status": "active"}
    refused = http.put(f"/MedicationRequest/{first['id']}", json=active)
    assert refused.status_code == 422 and "signature" in refused.text
    signed = _sign(http, server, world["phone"], number)
    assert signed.status_code == 200, signed.text
    lines = _lines(http, number)
    assert {line["status"] for line in lines} == {"active"} and len(lines) == 2
    signature = signed.json()["parameter"][0]
    assert signature["name"] == "signed" and signature["part"][0]["valueString"] == number
    provenance_ref = signature["part"][1]["valueReference"]
    provenance = http.get(f"/{provenance_ref['reference']}").json()
    assert {t["reference"] for t in provenance["target"]} == {f"MedicationRequest/{x['id']}" for x in lines}
    assert provenance["agent"][0]["who"]["reference"] == f"Practitioner/{world['practitioner']}"
    assert provenance["signature"][0]["type"][0]["code"] == "1.2.840.10065.1.12.1.1"
    # the JWS verifies with the server's published keys and covers the content as stored
    token = base64.b64decode(provenance["signature"][0]["data"]).decode()
    jwks = _jwks(server)
    claims = orjson.loads(jws.deserialize_compact(token, jwks).payload)
    assert claims["prescription"] == number and claims["amr"] == ["sms"]
    assert claims["sub"] == f"Practitioner/{world['practitioner']}" and claims["rpps"] == "99700366240"
    assert claims["sha256"] == content_hash("MedicationRequest", lines)
    # after the signature: no edit, no delete, no cancellation by hand, no new line
    edited = {**lines[0], "dosageInstruction": [{"text": "3 comprimés par jour"}]}
    assert http.put(f"/MedicationRequest/{lines[0]['id']}", json=edited).status_code == 409
    cancelled = {**lines[0], "status": "cancelled"}
    assert http.put(f"/MedicationRequest/{lines[0]['id']}", json=cancelled).status_code == 409
    assert http.delete(f"/MedicationRequest/{lines[0]['id']}").status_code == 409
    assert http.post("/MedicationRequest", json=medication_line(world, number)).status_code == 409
    assert _lines(http, number) == lines  # nothing changed
    # signing twice is refused
    again = http.post("/$sign-request", json=params(("prescription", number)))
    assert again.status_code == 409


def _jwks(server: Any) -> KeySet:
    from fhir_server.auth.keys import public_jwks

    return KeySet.import_key_set(public_jwks(server.data_dir / "auth" / "jwks.json"))


def test_codes_wrong_expired_reused_and_attempts(
    http: httpx.Client, server: Any, world: dict[str, str]
) -> None:
    number = new_number()
    post(http, medication_line(world, number))
    asked = http.post("/$sign-request", json=params(("prescription", number))).json()
    challenge = value(asked, "challenge")
    assert value(asked, "phone").endswith(world["phone"][-2:]) and world["phone"] not in str(asked)
    code = sms_code(server.data_dir, world["phone"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    first = http.post("/$sign", json=params(("challenge", challenge), ("code", wrong)))
    assert first.status_code == 422 and "il reste 4 essai" in first.text
    assert http.post("/$sign", json=params(("challenge", challenge), ("code", "12ab56"))).status_code == 400
    assert {line["status"] for line in _lines(http, number)} == {"draft"}
    ok = http.post("/$sign", json=params(("challenge", challenge), ("code", code)))
    assert ok.status_code == 200, ok.text
    reused = http.post("/$sign", json=params(("challenge", challenge), ("code", code)))
    assert reused.status_code == 409 and "déjà été utilisé" in reused.text
    # five wrong codes lock the challenge, even for the right code afterwards
    other = new_number()
    post(http, medication_line(world, other))
    challenge = value(http.post("/$sign-request", json=params(("prescription", other))).json(), "challenge")
    code = sms_code(server.data_dir, world["phone"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    statuses = [http.post("/$sign", json=params(("challenge", challenge), ("code", wrong))).status_code
                for _ in range(5)]  # fmt: skip
    assert statuses == [422, 422, 422, 422, 429]
    locked = http.post("/$sign", json=params(("challenge", challenge), ("code", code)))
    assert locked.status_code == 429
    assert {line["status"] for line in _lines(http, other)} == {"draft"}
    assert http.post("/$sign", json=params(("challenge", "inconnu"), ("code", code))).status_code == 404


def test_expired_code(tmp_path: Any) -> None:
    import time

    from tests.conftest import make_server

    with (
        make_server(tmp_path, PASSERELLE_RX_CODE_TTL="2") as server,
        httpx.Client(base_url=server.base, headers={"Accept": FHIR_JSON}, timeout=60) as http,
    ):
        phone = _phone()
        world = practice(http, phone=phone)
        number = new_number()
        post(http, medication_line(world, number))
        challenge = value(
            http.post("/$sign-request", json=params(("prescription", number))).json(), "challenge"
        )
        code = sms_code(server.data_dir, phone)
        time.sleep(2.5)
        expired = http.post("/$sign", json=params(("challenge", challenge), ("code", code)))
        assert expired.status_code == 422 and "expiré" in expired.text
        assert {line["status"] for line in _lines(http, number)} == {"draft"}


def test_parallel_verifications_sign_once(http: httpx.Client, server: Any, world: dict[str, str]) -> None:
    number = new_number()
    post(http, medication_line(world, number))
    challenge = value(http.post("/$sign-request", json=params(("prescription", number))).json(), "challenge")
    code = sms_code(server.data_dir, world["phone"])

    def attempt(_: int) -> int:
        with httpx.Client(base_url=http.base_url, timeout=60) as client:
            return client.post("/$sign", json=params(("challenge", challenge), ("code", code))).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count(200) == 1 and set(results) <= {200, 409}, results
    lines = _lines(http, number)
    provenances = http.get("/Provenance", params={"target": f"MedicationRequest/{lines[0]['id']}"}).json()
    assert provenances["total"] == 1 if "total" in provenances else len(provenances["entry"]) == 1
    assert len(provenances.get("entry", [])) == 1


def test_bilans_apart_and_narcotics_in_teleconsultation(http: httpx.Client, world: dict[str, str]) -> None:
    number = new_number()
    post(http, lab_line(world, number))
    mixed = http.post("/MedicationRequest", json=medication_line(world, number))
    assert mixed.status_code == 422 and "leur ordonnance" in mixed.text
    tele = practice(http, phone=_phone(), teleconsultation=True)
    narcotic = medication_line(tele, new_number(), "Skenan LP 30 mg, gélule")
    refused = http.post("/MedicationRequest", json=narcotic)
    assert refused.status_code == 422
    outcome = refused.json()["issue"][0]
    assert "stupéfiants" in outcome["diagnostics"] and "téléconsultation" in outcome["diagnostics"]
    assert outcome["expression"] == ["MedicationRequest.medication"]
    coded = medication_line(tele, new_number(), medicationCodeableConcept={
        "coding": [{"system": "http://www.whocc.no/atc", "code": "N06BA04"}]})  # fmt: skip
    assert http.post("/MedicationRequest", json=coded).status_code == 422
    # the same in an office consultation is accepted (as a draft)
    assert (
        http.post(
            "/MedicationRequest", json=medication_line(world, new_number(), "Skenan LP 30 mg")
        ).status_code
        == 201
    )
    # a line must say what a line says
    bare = medication_line(world, new_number())
    bare.pop("dosageInstruction")
    missing = http.post("/MedicationRequest", json=bare)
    assert missing.status_code == 422 and missing.json()["issue"][0]["expression"] == [
        "MedicationRequest.dosageInstruction"
    ]
    bad_number = medication_line(world, "1234567890123456")
    assert http.post("/MedicationRequest", json=bad_number).status_code == 422
    assert (
        http.post(
            "/MedicationRequest", json={**medication_line(world, new_number()), "status": "active"}
        ).status_code
        == 422
    )


def test_capability_statement_documents_the_operations(http: httpx.Client) -> None:
    rest = http.get("/metadata").json()["rest"][0]
    operations = {o["name"]: o for o in rest.get("operation", [])}
    for name in ("sign-request", "sign", "ordonnance-pdf", "pharmacy-check", "dispense"):
        assert name in operations and operations[name]["documentation"], name


def test_code_goes_to_the_mobile_of_the_profile_role(http: httpx.Client, server: Any) -> None:
    """No mobile on the Practitioner: the one of their profile PractitionerRole (portal "Mon profil")."""
    world = practice(http, phone=_phone())
    practitioner = http.get(f"/Practitioner/{world['practitioner']}").json()
    practitioner.pop("telecom")
    assert http.put(f"/Practitioner/{world['practitioner']}", json=practitioner).status_code == 200
    number = new_number()
    post(http, medication_line(world, number))
    missing = http.post("/$sign-request", json=params(("prescription", number)))
    assert missing.status_code == 422 and missing.json()["issue"][0]["expression"] == ["Practitioner.telecom"]
    mobile = "06 " + " ".join(str(uuid.uuid4().int)[i : i + 2] for i in range(0, 8, 2))
    post(http, {
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": f"Practitioner/{world['practitioner']}"},
        "telecom": [{"system": "phone", "value": mobile, "use": "work"}],
    })  # fmt: skip
    asked = http.post("/$sign-request", json=params(("prescription", number)))
    assert asked.status_code == 200, asked.text
    code = sms_code(server.data_dir, mobile)
    done = http.post("/$sign", json=params(("challenge", value(asked.json(), "challenge")), ("code", code)))
    assert done.status_code == 200, done.text
