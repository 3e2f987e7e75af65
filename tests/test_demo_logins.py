"""The first hour of a newcomer: ``passerelle serve --demo`` as ``make run`` starts it.

One real server process with authorization on and the demo data set; every role of the
README logs in the way a user would (Pro Santé Connect dev provider, patient password +
SMS code) and sees its demo data; an unmodified third-party SMART client (``fhirclient``,
smart-on-fhir's Python client) finds the endpoints in ``/fhir/metadata``, runs a standalone
launch and reads.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    PHARMACIEN,
    REDIRECT,
    approve,
    bearer,
    pkce,
    professional_token,
    redirect_query,
    register_client,
    root,
    session_of,
    sms_codes,
)

DR_BONNET = "899700007075"  # same health centre (FINESS 750712184) as Dr Martin
DR_BENALI = "899700011119"  # cardiologist
DR_ROUX = "899700009097"  # médecin conseil, ELSM Paris
PRO_SCOPE = "openid fhirUser user/*.rs"
PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.rs"
HELENE = ("helene.dupont@exemple.fr", "+33612345678")
THOMAS = ("thomas.nguyen@exemple.fr", "+33698765432")
PASSWORD = "demo-passerelle"  # README, "Comptes de démonstration"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with tempfile.TemporaryDirectory(prefix="passerelle-demo-") as tmp:
        # as make run: --demo on loopback turns the dev PSC provider on by itself
        proc = ServerProcess(
            Path(tmp),
            mongodb_uri=os.environ.get("MONGODB_URI"),
            env={"PASSERELLE_DB": f"test_{uuid.uuid4().hex[:12]}"},
            auth=True,
            extra_args=["--demo"],
        ).start(timeout=180)
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def pro_app(server: ServerProcess) -> dict[str, Any]:
    return register_client(server, "confidential", PRO_SCOPE, name="Logiciel de cabinet")


@pytest.fixture(scope="module")
def patient_app(server: ServerProcess) -> dict[str, Any]:
    return register_client(server, "public", PATIENT_SCOPE, name="Mon espace santé")


def ids(http: httpx.Client, server: ServerProcess, token: dict[str, Any], query: str) -> set[str]:
    resp = http.get(f"{server.base}/{query}", headers=bearer(token))
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", []) if e["search"]["mode"] == "match"}


def patient_login(
    http: httpx.Client, server: ServerProcess, client_id: str, who: tuple[str, str], authorize_url: str
) -> str:
    """Password, then the SMS code the dev gateway wrote, then consent; returns the redirect URL."""
    email, phone = who
    page = http.get(authorize_url)
    assert page.status_code == 200, page.text
    before = len(sms_codes(server, phone))
    otp = http.post(
        f"{root(server)}/auth/login/patient",
        data={"session": session_of(page.text), "email": email, "password": PASSWORD},
    )
    assert otp.status_code == 200, otp.text
    codes = sms_codes(server, phone)
    assert len(codes) == before + 1
    resp = approve(
        http,
        server,
        http.post(
            f"{root(server)}/auth/login/otp", data={"session": session_of(otp.text), "code": codes[-1]}
        ),
    )
    assert resp.status_code in (302, 303), resp.text
    return str(resp.headers["location"])


def test_every_professional_role_has_something_to_see(
    http: httpx.Client, server: ServerProcess, pro_app: dict[str, Any]
) -> None:
    martin = professional_token(http, server, pro_app, PRO_SCOPE, DR_MARTIN)
    assert martin["fhirUser"] == "Practitioner/demo-pra-martin"  # the demo's GP is a login
    assert {"demo-pat-dupont", "demo-pat-nguyen", "demo-pat-jules-dupont"} <= ids(
        http, server, martin, "Patient"
    )
    assert "demo-obs-bp" in ids(http, server, martin, "Observation?subject=Patient/demo-pat-dupont")

    bonnet = professional_token(http, server, pro_app, PRO_SCOPE, DR_BONNET)
    seen = ids(http, server, bonnet, "Patient")
    assert "demo-pat-petit" in seen  # a patient of the centre (managingOrganization)
    assert "demo-pat-dupont" in seen  # her colleague's patient, same FINESS

    benali = professional_token(http, server, pro_app, PRO_SCOPE, DR_BENALI)
    assert ids(http, server, benali, "Patient") == {"demo-pat-nguyen"}
    assert "demo-obs-nguyen-hr" in ids(http, server, benali, "Observation")

    roux = professional_token(http, server, pro_app, PRO_SCOPE, DR_ROUX)
    assert ids(http, server, roux, "Communication") == {"demo-msg-conseil-dupont"}

    petit = professional_token(http, server, pro_app, PRO_SCOPE, PHARMACIEN)
    found = ids(
        http, server, petit, "MedicationRequest?group-identifier=urn:passerelle:prescription|DEMO-2026-0001"
    )
    assert found == {"demo-rx-dupont-1"}


def test_demo_practitioner_is_not_rewritten_by_its_login(
    http: httpx.Client, server: ServerProcess, pro_app: dict[str, Any]
) -> None:
    token = professional_token(http, server, pro_app, PRO_SCOPE, DR_MARTIN)
    history = http.get(f"{server.base}/Practitioner/demo-pra-martin/_history", headers=bearer(token))
    assert history.status_code == 200, history.text
    assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["1"]


def test_patients_log_in_and_see_their_record_and_their_dependent(
    http: httpx.Client, server: ServerProcess, patient_app: dict[str, Any]
) -> None:
    for who, expected in (
        (HELENE, {"demo-pat-dupont", "demo-pat-jules-dupont"}),
        (THOMAS, {"demo-pat-nguyen"}),
    ):
        verifier, challenge = pkce()
        params = {
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "response_type": "code",
            "client_id": patient_app["client_id"],
            "redirect_uri": REDIRECT,
            "scope": PATIENT_SCOPE,
            "state": "etat",
            "aud": server.base,
        }
        location = patient_login(
            http,
            server,
            patient_app["client_id"],
            who,
            str(httpx.URL(f"{root(server)}/auth/authorize", params=params)),
        )
        query = redirect_query(httpx.Response(303, headers={"location": location}))
        token = http.post(
            f"{root(server)}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": REDIRECT,
                "client_id": patient_app["client_id"],
                "code_verifier": verifier,
            },
        )
        assert token.status_code == 200, token.text
        assert ids(http, server, token.json(), "Patient") == expected


def test_fhirclient_standalone_launch_and_read(
    http: httpx.Client, server: ServerProcess, patient_app: dict[str, Any]
) -> None:
    from fhirclient import client as smart_client
    from fhirclient.models.observation import Observation

    smart = smart_client.FHIRClient(
        settings={
            "app_id": patient_app["client_id"],
            "api_base": server.base,
            "redirect_uri": REDIRECT,
            "scope": "openid fhirUser patient/*.rs",  # fhirclient adds launch/patient itself
        }
    )
    authorize_url = smart.authorize_url  # from rest[0].security of /fhir/metadata
    assert authorize_url and authorize_url.startswith(f"{root(server)}/auth/authorize?")
    callback = patient_login(http, server, patient_app["client_id"], HELENE, authorize_url)
    smart.handle_callback(callback)  # code exchange at the token endpoint of the same statement
    assert smart.ready and smart.patient_id == "demo-pat-dupont"
    patient = smart.patient
    assert patient is not None and patient.name[0].given == ["Hélène"]
    weight = Observation.read("demo-obs-weight", smart.server)
    assert weight.valueQuantity.value == 64.5 and weight.subject.reference == "Patient/demo-pat-dupont"
