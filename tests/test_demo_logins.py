"""The first hour of a newcomer: ``passerelle serve --demo`` as ``make run`` starts it.

One real server process with authorization on and the demo data set; every role of the
README logs in the way a user would (Pro Santé Connect dev provider, patient password +
SMS code) and sees its demo data; an unmodified third-party SMART client (``fhirclient``,
smart-on-fhir's Python client) finds the endpoints in ``/fhir/metadata``, runs a standalone
launch and reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from fhir_server.embedded import free_port
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    PHARMACIEN,
    REDIRECT,
    approve,
    bearer,
    patient_token,
    pkce,
    professional_token,
    register_client,
    root,
    session_of,
    sms_codes,
)

DR_BONNET = "899700007075"  # same health centre (FINESS 750712184) as Dr Martin
DR_BENALI = "899700011119"  # cardiologist
DR_ROUX = "899700009097"  # médecin conseil, ELSM Paris
DR_FAURE = "899700010103"  # médecin conseil, ELSM du Rhône
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
    # her échelon's messages: the request about Mme Dupont and the demo thread with the health centre
    assert ids(http, server, roux, "Communication") == {
        "demo-msg-conseil-dupont",
        "demo-msg-thread-1",
        "demo-msg-thread-1-1",
        "demo-msg-thread-1-2",
    }
    faure = professional_token(http, server, pro_app, PRO_SCOPE, DR_FAURE)
    assert not ids(http, server, faure, "Communication")  # ELSM du Rhône: none of Paris's

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
    for (email, phone), expected in (
        (HELENE, {"demo-pat-dupont", "demo-pat-jules-dupont"}),
        (THOMAS, {"demo-pat-nguyen"}),
    ):
        token = patient_token(http, server, patient_app, PATIENT_SCOPE, email, phone, PASSWORD)
        assert ids(http, server, token, "Patient") == expected


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


def test_console_says_where_to_go(server: ServerProcess) -> None:
    log = server.log()
    base = root(server)
    for line in (
        f"prêt sur {base}",
        f"{base}/fhir",
        f"{base}/.well-known/smart-configuration",
        f"{base}/dev-psc",
        "passerelle clients create",
        "passerelle clients token",
    ):
        assert line in log, line


def test_dev_psc_explains_itself_and_lists_professions(http: httpx.Client, server: ServerProcess) -> None:
    page = http.get(f"{root(server)}/dev-psc")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for text in ("Pro Santé Connect", "/auth/authorize", "Pharmacien", "cardiologie", "médecin conseil"):
        assert text in page.text, text
    # the authorize endpoint opened by hand leads there instead of "client_id inconnu"
    by_hand = http.get(f"{root(server)}/dev-psc/auth")
    assert by_hand.status_code == 303 and by_hand.headers["location"] == "/dev-psc"


def test_psc_login_page_preselects_nothing_and_refuses_an_empty_choice(
    http: httpx.Client, server: ServerProcess, pro_app: dict[str, Any]
) -> None:
    from urllib.parse import parse_qs, urlsplit

    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": pro_app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": PRO_SCOPE,
        "state": "etat",
        "aud": server.base,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = http.get(f"{root(server)}/auth/authorize", params=params)
    upstream = http.get(f"{root(server)}/auth/login/psc", params={"session": session_of(page.text)})
    location = upstream.headers["location"]
    form = http.get(location)
    assert form.status_code == 200
    assert "checked" not in form.text and "Médecin, qualifié en médecine générale" in form.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    empty = http.post(location.split("?")[0], data=query)  # "Se connecter" with nobody chosen
    assert empty.status_code == 400
    assert "Choisissez un professionnel" in empty.text
    assert 'name="state"' in empty.text and 'type="radio"' in empty.text  # the form again, kept
    assert "error=access_denied" in empty.text  # and a way back to the application


def test_load_beside_the_running_server(http: httpx.Client, server: ServerProcess, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    patient = {"resourceType": "Patient", "id": "charge-1", "name": [{"family": "Chargée"}]}
    entry = {"resource": patient, "request": {"method": "PUT", "url": "Patient/charge-1"}}
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [entry]}))
    env = {**os.environ, **server.env}
    cmd = [sys.executable, "-m", "apps.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120)

    refused = run("load", "--data-dir", str(server.data_dir), str(bundle))
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr and "passerelle clients token" in refused.stderr
    token = run("clients", "--data-dir", str(server.data_dir), "token", "chargement")
    assert token.returncode == 0, token.stderr
    loaded = run("load", "--data-dir", str(server.data_dir), "--token", token.stdout.strip(), str(bundle))
    assert loaded.returncode == 0, loaded.stderr
    assert "serveur en cours" in loaded.stderr
    read = http.get(f"{server.base}/Patient/charge-1", headers=bearer(token.stdout.strip()))
    assert read.status_code == 200 and read.json()["name"][0]["family"] == "Chargée"
    again = run("clients", "--data-dir", str(server.data_dir), "token", "chargement")
    assert again.returncode == 0 and "enregistré" not in again.stderr  # the same client, reused


def test_second_serve_on_the_same_data_dir_says_it_is_in_use(server: ServerProcess) -> None:
    env = {k: v for k, v in {**os.environ, **server.env}.items() if k != "MONGODB_URI"}
    if server.mongodb_uri:
        pytest.skip("MONGODB_URI: no embedded database to share")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.cli",
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(server.data_dir),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert "déjà utilisé par un serveur en cours" in done.stderr and server.base in done.stderr
    assert "Traceback" not in done.stderr and "prêt" not in done.stderr
