"""Patients, black-box over HTTP: sign-up with a real SMTP server, SMS second factor from the dev
outbox, lockout, password reset, dependents, and what a patient token may read and write.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    FHIR_JSON,
    Mailbox,
    backend_client_token,
    bearer,
    patient_password_step,
    patient_signup,
    patient_token,
    pkce,
    professional_token,
    register_client,
    root,
    session_of,
    sms_codes,
)

SCOPE = "openid fhirUser launch/patient patient/*.cruds"


server, mailbox, http = auth_support.server, auth_support.mailbox, auth_support.http  # the shared fixtures


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> dict[str, Any]:
    return register_client(
        server,
        "public",
        SCOPE + " patient/Observation.rs user/*.cruds offline_access",
        name="Mon espace santé",
    )


@pytest.fixture(scope="module")
def alice(http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any]) -> dict[str, Any]:
    pid = patient_signup(
        http, server, mailbox, "alice@example.fr", "+33600000001", nir="2 80 05 75 115 001 90"
    )
    token = patient_token(http, server, app, SCOPE, "alice@example.fr", "+33600000001")
    return {"id": pid, "token": token}


@pytest.fixture(scope="module")
def bob(http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any]) -> dict[str, Any]:
    pid = patient_signup(http, server, mailbox, "bob@example.fr", "+33600000002")
    token = patient_token(http, server, app, SCOPE, "bob@example.fr", "+33600000002")
    return {"id": pid, "token": token}


def observation(patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "valueQuantity": {"value": 62, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }


def write_headers(token: dict[str, Any]) -> dict[str, str]:
    return {**bearer(token), "Content-Type": FHIR_JSON}


def test_signup_sends_a_confirmation_link_over_smtp(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any]
) -> None:
    resp = http.post(
        f"{root(server)}/auth/patients",
        json={
            "email": "claire@example.fr",
            "password": "un mot de passe long",
            "phone": "+33600000003",
            "given": "Claire",
            "family": "Roux",
        },
    )
    assert resp.status_code == 201, resp.text
    msg = mailbox.wait_for("claire@example.fr", "Confirmez")
    link = Mailbox.link(msg)
    assert link.startswith(f"{root(server)}/auth/patients/confirm?token=")
    # Not confirmed yet: the password alone is refused.
    _, challenge = pkce()
    early = patient_password_step(
        http, server, app["client_id"], SCOPE, "claire@example.fr", "un mot de passe long", challenge
    )
    assert early.status_code == 401 and "non confirmée" in early.text
    assert http.get(link).status_code == 200
    assert http.get(link).status_code == 400  # single use
    duplicate = http.post(
        f"{root(server)}/auth/patients",
        json={
            "email": "Claire@example.fr",
            "password": "un mot de passe long",
            "phone": "+33600000003",
            "given": "Claire",
            "family": "Roux",
        },
    )
    assert duplicate.status_code == 409


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"password": "court"}, "10 caractères"),
        ({"email": "pas-une-adresse"}, "e-mail"),
        ({"nir": "295109912611199"}, "NIR"),
        ({"phone": ""}, "téléphone"),
    ],
)
def test_signup_validation_in_french(
    http: httpx.Client, server: ServerProcess, change: dict[str, str], text: str
) -> None:
    body = {
        "email": "x@example.fr",
        "password": "un mot de passe long",
        "phone": "+33600000009",
        "given": "X",
        "family": "Y",
        **change,
    }
    resp = http.post(f"{root(server)}/auth/patients", json=body)
    assert resp.status_code == 400 and text in resp.json()["error_description"]


def test_login_needs_the_sms_code(
    http: httpx.Client, server: ServerProcess, alice: dict[str, Any], app: dict[str, Any]
) -> None:
    token = alice["token"]
    assert token["patient"] == alice["id"] and token["fhirUser"] == f"Patient/{alice['id']}"
    _, challenge = pkce()
    page = patient_password_step(
        http, server, app["client_id"], SCOPE, "alice@example.fr", "correct horse battery", challenge
    )
    assert page.status_code == 200 and "SMS" in page.text
    wrong = http.post(
        f"{root(server)}/auth/login/otp", data={"session": session_of(page.text), "code": "000000"}
    )
    assert wrong.status_code == 401 and "Code erroné" in wrong.text


def test_patient_reads_and_writes_only_their_compartment(
    http: httpx.Client, server: ServerProcess, alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    a, b = alice["token"], bob["token"]
    assert http.get(f"{server.base}/Patient/{alice['id']}", headers=bearer(a)).status_code == 200
    # Another patient's record: 404, as if it did not exist.
    other = http.get(f"{server.base}/Patient/{bob['id']}", headers=bearer(a))
    assert other.status_code == 404 and other.json()["resourceType"] == "OperationOutcome"
    assert http.get(f"{server.base}/Patient/{bob['id']}/_history", headers=bearer(a)).status_code == 404
    assert http.get(f"{server.base}/Patient/{bob['id']}/_history/1", headers=bearer(a)).status_code == 404
    mine = http.post(f"{server.base}/Observation", json=observation(alice["id"]), headers=write_headers(a))
    assert mine.status_code == 201, mine.text
    obs_id = mine.json()["id"]
    assert http.get(f"{server.base}/Observation/{obs_id}", headers=bearer(a)).status_code == 200
    assert http.get(f"{server.base}/Observation/{obs_id}", headers=bearer(b)).status_code == 404
    # Writing into someone else's record is refused.
    assert (
        http.post(
            f"{server.base}/Observation", json=observation(bob["id"]), headers=write_headers(a)
        ).status_code
        == 403
    )
    moved = {**mine.json(), "subject": {"reference": f"Patient/{bob['id']}"}}
    assert (
        http.put(f"{server.base}/Observation/{obs_id}", json=moved, headers=write_headers(a)).status_code
        == 403
    )
    assert (
        http.put(
            f"{server.base}/Observation/{obs_id}", json=mine.json(), headers=write_headers(b)
        ).status_code
        == 404
    )
    assert http.delete(f"{server.base}/Observation/{obs_id}", headers=bearer(b)).status_code == 404
    # Compartment search of one's own record is allowed, of another's is not.
    own = http.get(f"{server.base}/Patient/{alice['id']}/Observation", headers=bearer(a))
    assert own.status_code == 200 and len(own.json().get("entry", [])) == 1
    assert http.get(f"{server.base}/Patient/{bob['id']}/Observation", headers=bearer(a)).status_code == 404
    # Type-level history and unfiltered searches are not open to compartment-restricted tokens yet.
    assert http.get(f"{server.base}/Observation/_history", headers=bearer(a)).status_code == 403
    assert http.get(f"{server.base}/_history", headers=bearer(a)).status_code == 403
    assert http.delete(f"{server.base}/Observation/{obs_id}", headers=bearer(a)).status_code == 204


def test_scopes_limit_types_and_interactions(
    http: httpx.Client, server: ServerProcess, alice: dict[str, Any], app: dict[str, Any]
) -> None:
    token = patient_token(
        http, server, app, "launch/patient patient/Observation.rs", "alice@example.fr", "+33600000001"
    )
    assert http.get(f"{server.base}/Patient/{alice['id']}", headers=bearer(token)).status_code == 403
    assert (
        http.post(
            f"{server.base}/Observation", json=observation(alice["id"]), headers=write_headers(token)
        ).status_code
        == 403
    )
    # v1 syntax: patient/*.read allows reading, not writing.
    v1 = patient_token(http, server, app, "launch/patient patient/*.read", "alice@example.fr", "+33600000001")
    assert http.get(f"{server.base}/Patient/{alice['id']}", headers=bearer(v1)).status_code == 200
    assert (
        http.post(
            f"{server.base}/Observation", json=observation(alice["id"]), headers=write_headers(v1)
        ).status_code
        == 403
    )
    # A patient's "user/" scope is still limited to their own record.
    user = patient_token(http, server, app, "user/*.cruds", "alice@example.fr", "+33600000001")
    assert http.get(f"{server.base}/Patient/{alice['id']}", headers=bearer(user)).status_code == 200
    patient = {"resourceType": "Patient", "name": [{"family": "Autre"}]}
    assert http.post(f"{server.base}/Patient", json=patient, headers=write_headers(user)).status_code == 403


def test_lockout_after_repeated_failures(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any]
) -> None:
    patient_signup(http, server, mailbox, "dan@example.fr", "+33600000004")
    _, challenge = pkce()
    for _ in range(3):  # PASSERELLE_LOCKOUT_THRESHOLD=3 for the tests
        resp = patient_password_step(
            http, server, app["client_id"], SCOPE, "dan@example.fr", "mauvais mot", challenge
        )
        assert resp.status_code == 401
    locked = patient_password_step(
        http, server, app["client_id"], SCOPE, "dan@example.fr", "correct horse battery", challenge
    )
    assert locked.status_code == 401 and "verrouillé" in locked.text
    assert sms_codes(server, "+33600000004") == []  # no code was ever sent
    # Resetting the password (link by e-mail) unlocks the account.
    assert (
        http.post(
            f"{root(server)}/auth/patients/password-reset", json={"email": "dan@example.fr"}
        ).status_code
        == 202
    )
    link = Mailbox.link(mailbox.wait_for("dan@example.fr", "Réinitialisation"))
    form = http.get(link)
    assert form.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    done = http.post(
        f"{root(server)}/auth/patients/reset", data={"token": token, "password": "nouveau mot de passe"}
    )
    assert done.status_code == 200, done.text
    assert (
        http.post(
            f"{root(server)}/auth/patients/reset", data={"token": token, "password": "encore un autre"}
        ).status_code
        == 400
    )
    assert patient_token(http, server, app, SCOPE, "dan@example.fr", "+33600000004", "nouveau mot de passe")
    # Unknown addresses get the same answer (no account enumeration).
    unknown = http.post(f"{root(server)}/auth/patients/password-reset", json={"email": "inconnu@example.fr"})
    assert unknown.status_code == 202


def test_dependents_are_in_the_holders_compartment(
    http: httpx.Client, server: ServerProcess, alice: dict[str, Any], bob: dict[str, Any], app: dict[str, Any]
) -> None:
    resp = http.post(
        f"{root(server)}/auth/patients/dependents",
        headers=bearer(alice["token"]),
        json={"given": "Léo", "family": "Dupont", "birthDate": "2015-03-02", "relationship": "PRN"},
    )
    assert resp.status_code == 201, resp.text
    child = resp.json()["patient"]
    related = resp.json()["relatedPerson"]
    fresh = patient_token(http, server, app, SCOPE, "alice@example.fr", "+33600000001")
    assert http.get(f"{server.base}/{child}", headers=bearer(fresh)).status_code == 200
    rp = http.get(f"{server.base}/{related}", headers=bearer(fresh))
    assert rp.status_code == 200 and rp.json()["patient"]["reference"] == child
    obs = http.post(
        f"{server.base}/Observation", json=observation(child.split("/")[1]), headers=write_headers(fresh)
    )
    assert obs.status_code == 201
    assert http.get(f"{server.base}/{child}", headers=bearer(bob["token"])).status_code == 404
    assert http.post(f"{root(server)}/auth/patients/dependents", json={"given": "X"}).status_code == 401


def test_practitioner_token_cannot_add_dependents(http: httpx.Client, server: ServerProcess) -> None:
    pro_app = register_client(server, "confidential", "openid fhirUser user/*.rs")
    pro = professional_token(http, server, pro_app, "openid fhirUser user/*.rs")
    resp = http.post(f"{root(server)}/auth/patients/dependents", headers=bearer(pro), json={"given": "X"})
    assert resp.status_code == 403


def test_older_versions_from_another_record_stay_hidden(
    http: httpx.Client, server: ServerProcess, alice: dict[str, Any], bob: dict[str, Any]
) -> None:
    # a backend client moves the Observation (practitioners only write into their patients' records)
    pro = backend_client_token(http, server, "system/Observation.cruds")
    created = http.post(f"{server.base}/Observation", json=observation(bob["id"]), headers=write_headers(pro))
    assert created.status_code == 201
    obs = created.json()
    moved = {**obs, "subject": {"reference": f"Patient/{alice['id']}"}}
    assert (
        http.put(f"{server.base}/Observation/{obs['id']}", json=moved, headers=write_headers(pro)).status_code
        == 200
    )
    a = bearer(alice["token"])
    assert http.get(f"{server.base}/Observation/{obs['id']}", headers=a).status_code == 200
    assert http.get(f"{server.base}/Observation/{obs['id']}/_history/2", headers=a).status_code == 200
    # Version 1 was in Bob's record: Alice sees neither it nor a history listing it.
    assert http.get(f"{server.base}/Observation/{obs['id']}/_history/1", headers=a).status_code == 404
    assert http.get(f"{server.base}/Observation/{obs['id']}/_history", headers=a).status_code == 404
    assert (
        http.get(
            f"{server.base}/Observation/{obs['id']}/_history/1", headers=bearer(bob["token"])
        ).status_code
        == 404
    )
