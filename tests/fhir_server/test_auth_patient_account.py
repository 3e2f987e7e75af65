"""The patient-account routes the portal's sign-up and profile use, black-box over HTTP: the accepted
texts recorded as Consents, the confirmation link sent again, the mobile-phone change by SMS code,
and a refresh that covers a dependent added after the login.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    Mailbox,
    backend_client_token,
    bearer,
    patient_signup,
    patient_token,
    professional_token,
    register_client,
    root,
    sms_codes,
)

SCOPE = "openid fhirUser launch/patient patient/*.cruds offline_access"
CONSENT_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/portal-consent"


server, mailbox, http = auth_support.server, auth_support.mailbox, auth_support.http  # the shared fixtures


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> dict[str, Any]:
    return register_client(server, "confidential", SCOPE, name="Espace patient")


@pytest.fixture(scope="module")
def admin(http: httpx.Client, server: ServerProcess) -> dict[str, str]:
    return bearer(backend_client_token(http, server, "system/*.rs", name="account checks"))


def _who() -> tuple[str, str]:
    return f"acc-{uuid.uuid4().hex[:8]}@example.fr", "+336" + str(uuid.uuid4().int)[:8]


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_signup_records_the_accepted_texts(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, admin: dict[str, str]
) -> None:
    email, phone = _who()
    pid = patient_signup(
        http, server, mailbox, email, phone, terms="2026-12", healthConsent="2026-12", member="ADH123456",
        postalCode="13001", city="Marseille",
    )  # fmt: skip
    consents = http.get(f"{server.base}/Consent", params={"patient": f"Patient/{pid}"}, headers=admin).json()
    got = {}
    for entry in consents["entry"]:
        c = entry["resource"]
        kinds = [x["code"] for cat in c["category"] for x in cat["coding"] if x["system"] == CONSENT_SYSTEM]
        got[kinds[0]] = c["policy"][0]["uri"]
        assert c["scope"]["coding"][0]["code"] == "patient-privacy" and c["provision"] == {"type": "permit"}
    assert got == {
        "cgu": "https://passerelle.fr/conditions/cgu/2026-12",
        "donnees-sante": "https://passerelle.fr/conditions/donnees-sante/2026-12",
    }
    patient = http.get(f"{server.base}/Patient/{pid}", headers=admin).json()
    assert patient["address"][0]["postalCode"] == "13001" and patient["address"][0]["city"] == "Marseille"
    assert any(
        i["value"] == "ADH123456" and i["type"]["coding"][0]["code"] == "MB" for i in patient["identifier"]
    )

    email2, phone2 = _who()
    pid2 = patient_signup(http, server, mailbox, email2, phone2, terms="", healthConsent="")
    none = http.get(f"{server.base}/Consent", params={"patient": f"Patient/{pid2}"}, headers=admin).json()
    assert not none.get("entry")


def test_signup_refuses_bad_fields_in_french(http: httpx.Client, server: ServerProcess) -> None:
    base = {
        "email": "x@example.fr",
        "password": "0123456789",
        "phone": "+33611111111",
        "given": "A",
        "family": "B",
    }
    for extra, text in (
        ({"birthDate": "2999-01-01"}, "Date de naissance invalide"),
        ({"postalCode": "7500"}, "Code postal invalide"),
        ({"member": "12"}, "Numéro d'adhérent invalide"),
        ({"email": "pas-une-adresse"}, "Adresse e-mail invalide"),
        ({"terms": "../../x"}, "Version de texte accepté invalide"),
    ):
        resp = http.post(f"{root(server)}/auth/patients", json={**base, **extra})
        assert resp.status_code == 400 and text in resp.json()["error_description"], (extra, resp.text)


def test_confirmation_link_sent_again_replaces_the_first(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox
) -> None:
    email, phone = _who()
    patient_signup(http, server, mailbox, email, phone, confirm=False, link="portal")
    first = Mailbox.link(mailbox.wait_for(email, "Confirmez"))
    assert "/inscription/confirmer?token=" in first
    unknown = http.post(f"{root(server)}/auth/patients/confirm/resend", json={"email": "personne@example.fr"})
    known = http.post(f"{root(server)}/auth/patients/confirm/resend", json={"email": email})
    assert unknown.status_code == known.status_code == 202 and unknown.json() == known.json()
    links = []
    for _ in range(100):
        links = [Mailbox.link(m) for m in mailbox.messages if m["To"] == email]
        if len(links) == 2:
            break
        time.sleep(0.05)
    second = links[1]
    assert "/auth/patients/confirm?token=" in second  # no "link": the authorization server's page
    token = second.split("token=")[1]
    assert (
        http.get(
            f"{root(server)}/auth/patients/confirm", params={"token": first.split("token=")[1]}
        ).status_code
        == 400
    )
    assert http.get(f"{root(server)}/auth/patients/confirm", params={"token": token}).status_code == 200
    # confirmed: nothing more is sent
    before = len([m for m in mailbox.messages if m["To"] == email])
    http.post(f"{root(server)}/auth/patients/confirm/resend", json={"email": email})
    assert len([m for m in mailbox.messages if m["To"] == email]) == before


def test_mobile_change_by_sms_code(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any], admin: dict[str, str]
) -> None:
    email, phone = _who()
    pid = patient_signup(http, server, mailbox, email, phone)
    token = patient_token(http, server, app, SCOPE, email, phone)
    url = f"{root(server)}/auth/patients/phone"
    bad = http.post(url, json={"phone": "01 23 45 67 89"}, headers=bearer(token))
    assert bad.status_code == 400 and bad.json()["error_description"].startswith("Numéro de mobile invalide")
    assert (
        http.post(f"{url}/verify", json={"code": "123456"}, headers=bearer(token))
        .json()["error_description"]
        .startswith("Aucune validation en cours")
    )
    new = "+337" + str(uuid.uuid4().int)[:8]
    assert http.post(url, json={"phone": "0" + new[3:]}, headers=bearer(token)).json()["phone"] == new
    again = http.post(url, json={"phone": new}, headers=bearer(token))
    assert again.status_code == 429  # no SMS flooding
    code = sms_codes(server, new)[-1]
    wrong = "000000" if code != "000000" else "111111"
    texts = [
        http.post(f"{url}/verify", json={"code": wrong}, headers=bearer(token)).json()["error_description"]
        for _ in range(3)
    ]
    assert texts[0] == "Code erroné (2 essais restants)." and texts[1] == "Code erroné (1 essai restant)."
    assert "Trop d'essais" in texts[2]
    late = http.post(f"{url}/verify", json={"code": code}, headers=bearer(token))  # the right code, too late
    assert late.status_code == 400
    patient = http.get(f"{server.base}/Patient/{pid}", headers=admin).json()
    assert new not in json.dumps(patient)
    assert sms_codes(server, phone)  # the login number is unchanged
    pro_scope = "openid fhirUser user/*.rs"
    pro = professional_token(
        http, server, register_client(server, "confidential", pro_scope), pro_scope, DR_MARTIN
    )
    assert http.post(url, json={"phone": new}, headers=bearer(pro)).status_code == 403


def test_refresh_covers_a_dependent_added_after_the_login(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any]
) -> None:
    email, phone = _who()
    pid = patient_signup(http, server, mailbox, email, phone)
    token = patient_token(http, server, app, SCOPE, email, phone)
    assert _claims(token["access_token"])["patients"] == [pid]
    added = http.post(
        f"{root(server)}/auth/patients/dependents",
        headers=bearer(token),
        json={"given": "Zoé", "family": "Test", "birthDate": "2016-05-04", "email": "zoe@example.fr"},
    )
    assert added.status_code == 201
    child = added.json()["patient"].split("/")[1]
    assert http.get(f"{server.base}/Patient/{child}", headers=bearer(token)).status_code == 404  # old token
    fresh = http.post(
        f"{root(server)}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(app["client_id"], app["client_secret"]),
    )
    assert fresh.status_code == 200, fresh.text
    access = fresh.json()["access_token"]
    assert _claims(access)["patients"] == [pid, child]
    stored = http.get(f"{server.base}/Patient/{child}", headers=bearer(access)).json()
    assert "telecom" not in stored  # a minor's messages go to the holder, never to an address of their own
