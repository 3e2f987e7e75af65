"""Authorization, black-box over HTTP: SMART App Launch (PKCE, refresh, revoke, introspect),
Backend Services (private_key_jwt), professionals through the dev Pro Santé Connect, token checks.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from bench.harness import ServerProcess
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    ASSUREUR,
    DR_DURAND,
    DR_MARTIN,
    FHIR_JSON,
    INFIRMIER_SANS_ACTIVITE,
    REPO,
    SAGE_FEMME,
    TECHNICIEN_LABO,
    approve,
    authorize_params,
    bearer,
    cli,
    create_client,
    exchange,
    pkce,
    professional_login,
    professional_token,
    redirect_query,
    register_client,
    root,
    session_of,
)

PRO_SCOPE = "openid fhirUser user/*.cruds offline_access"


server, http = auth_support.server, auth_support.http  # the shared fixtures


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> dict[str, Any]:
    return register_client(
        server, "confidential", PRO_SCOPE + " launch/patient patient/*.rs", name="Agenda médical"
    )


@pytest.fixture(scope="module")
def public_app(server: ServerProcess) -> dict[str, Any]:
    return register_client(server, "public", "openid fhirUser user/*.rs patient/*.rs launch/patient")


@pytest.fixture(scope="module")
def pro(http: httpx.Client, server: ServerProcess, app: dict[str, Any]) -> dict[str, Any]:
    return professional_token(http, server, app, PRO_SCOPE)


@pytest.fixture(scope="module")
def backend_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "cle-test", "alg": "RS384"})


@pytest.fixture(scope="module")
def backend(
    server: ServerProcess, backend_key: RSAKey, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    jwks = tmp_path_factory.mktemp("jwks") / "jwks.json"
    jwks.write_text(json.dumps(KeySet([backend_key]).as_dict(private=False)))
    return create_client(
        server,
        "backend",
        "system/Patient.rs system/Observation.cruds",
        name="Logiciel de cabinet",
        jwks_file=str(jwks),
    )


def assertion(server: ServerProcess, client_id: str, key: RSAKey, **override: Any) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{root(server)}/auth/token",
        "jti": uuid.uuid4().hex,
        "exp": int(time.time()) + 240,
        **override,
    }
    return jwt.encode({"alg": "RS384", "kid": key.kid}, claims, key, algorithms=["RS384"])


def backend_token(
    http: httpx.Client,
    server: ServerProcess,
    client_id: str,
    key: RSAKey,
    scope: str,
    signed: str | None = None,
) -> httpx.Response:
    return http.post(
        f"{root(server)}/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed or assertion(server, client_id, key),
        },
    )


def server_key(server: ServerProcess) -> Any:
    return KeySet.import_key_set(json.loads((server.data_dir / "auth" / "jwks.json").read_text())).keys[0]


# -- public routes and 401 ---------------------------------------------------------------


def test_public_routes_need_no_token(http: httpx.Client, server: ServerProcess) -> None:
    assert http.get(f"{server.base}/metadata").status_code == 200
    for url in (
        f"{root(server)}/.well-known/smart-configuration",
        f"{server.base}/.well-known/smart-configuration",
    ):
        doc = http.get(url).json()
        assert doc["token_endpoint"] == f"{root(server)}/auth/token"
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert {"permission-v1", "permission-v2", "launch-standalone"} <= set(doc["capabilities"])
    keys = http.get(f"{root(server)}/auth/jwks").json()["keys"]
    assert keys and all("d" not in k for k in keys)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/Patient/x"),
        ("GET", "/Patient"),
        ("GET", "/Patient/x/_history"),
        ("GET", "/_history"),
        ("POST", "/Patient"),
        ("PUT", "/Patient/x"),
        ("DELETE", "/Patient/x"),
        ("GET", "/Patient/x/_history/1"),
        ("GET", "/"),
        ("POST", "/"),
    ],
)
def test_every_fhir_route_answers_401_without_token(
    http: httpx.Client, server: ServerProcess, method: str, path: str
) -> None:
    resp = http.request(method, server.base + path, headers={"Content-Type": FHIR_JSON}, content=b"{}")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.json()["resourceType"] == "OperationOutcome"


# -- professionals through Pro Santé Connect ----------------------------------------------


def test_professional_login_creates_practitioner_with_rpps(
    http: httpx.Client, server: ServerProcess, pro: dict[str, Any]
) -> None:
    assert pro["token_type"] == "Bearer" and pro["refresh_token"] and pro["id_token"]
    fhir_user = pro["fhirUser"]
    assert fhir_user.startswith("Practitioner/")
    id_claims = jwt.decode(
        pro["id_token"], KeySet.import_key_set(http.get(f"{root(server)}/auth/jwks").json())
    )
    assert id_claims.claims["fhirUser"] == fhir_user
    practitioner = http.get(f"{server.base}/{fhir_user}", headers=bearer(pro)).json()
    values = {(i["system"], i["value"]) for i in practitioner["identifier"]}
    assert ("https://rpps.esante.gouv.fr", "99700366240") in values
    assert ("urn:oid:1.2.250.1.71.4.2.1", DR_MARTIN) in values
    assert practitioner["name"][0]["family"] == "Martin"
    # The practice situations travel in the access token, for the role rules.
    claims = jwt.decode(pro["access_token"], server_key(server)).claims
    assert claims["exercices"] == [
        {
            "profession": "10",
            "specialty": "SM26",
            "finess": "750712184",
            "structure": "R10000001",
            "sector": "SA07",
            "mode": "L",
        }
    ]
    assert claims["aud"] == server.base and claims["iss"] == root(server) and claims["kind"] == "practitioner"


def test_hs256_id_token_and_jwt_userinfo_are_accepted(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any]
) -> None:
    # The dev provider signs this sage-femme's ID token with the client secret and answers
    # userinfo as a signed JWT, the two other forms Pro Santé Connect may use.
    token = professional_token(http, server, app, "openid fhirUser user/*.rs", idnat=SAGE_FEMME)
    practitioner = http.get(f"{server.base}/{token['fhirUser']}", headers=bearer(token)).json()
    rpps = [i["value"] for i in practitioner["identifier"] if i["system"] == "https://rpps.esante.gouv.fr"]
    assert rpps == [SAGE_FEMME[1:]]


def test_second_login_matches_the_same_practitioner(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any], pro: dict[str, Any]
) -> None:
    again = professional_token(http, server, app, "openid fhirUser user/*.rs")
    assert again["fhirUser"] == pro["fhirUser"]
    assert "refresh_token" not in again  # no offline_access asked


@pytest.mark.parametrize(
    ("idnat", "reason"),
    [
        (DR_DURAND, "médecine du travail"),
        (INFIRMIER_SANS_ACTIVITE, "situation d'exercice"),
        (TECHNICIEN_LABO, "profession"),
        (ASSUREUR, "assureur privé"),
    ],
)
def test_ineligible_professionals_are_refused_in_french(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any], idnat: str, reason: str
) -> None:
    _, challenge = pkce()
    resp = professional_login(http, server, app["client_id"], PRO_SCOPE, idnat, challenge)
    assert resp.status_code == 403
    text = html.unescape(resp.text)
    assert "Accès refusé" in text and reason in text


def test_pkce_is_required_and_s256_only(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any]
) -> None:
    url = f"{root(server)}/auth/authorize"
    no_pkce = http.get(url, params=authorize_params(server, app["client_id"], PRO_SCOPE, None))
    assert redirect_query(no_pkce)["error"] == "invalid_request"
    params = authorize_params(server, app["client_id"], PRO_SCOPE, "x" * 43, code_challenge_method="plain")
    assert redirect_query(http.get(url, params=params))["error"] == "invalid_request"
    wrong_aud = authorize_params(
        server, app["client_id"], PRO_SCOPE, "x" * 43, aud="https://ailleurs.example/fhir"
    )
    assert redirect_query(http.get(url, params=wrong_aud))["error"] == "invalid_request"
    bad_redirect = authorize_params(
        server, app["client_id"], PRO_SCOPE, "x" * 43, redirect_uri="https://evil/cb"
    )
    resp = http.get(url, params=bad_redirect)
    assert resp.status_code == 400 and resp.json()["error"]  # never redirected to an unregistered URI
    # A code is only exchanged with the verifier matching its challenge.
    verifier, challenge = pkce()
    code = redirect_query(
        professional_login(http, server, app["client_id"], PRO_SCOPE, DR_MARTIN, challenge)
    )["code"]
    wrong = exchange(http, server, app, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert (
        exchange(http, server, app, code, verifier).status_code == 400
    )  # the code was consumed (single use)


def test_public_client_flow(http: httpx.Client, server: ServerProcess, public_app: dict[str, Any]) -> None:
    token = professional_token(http, server, public_app, "openid fhirUser user/*.rs")
    assert token["scope"] == "openid fhirUser user/*.rs"
    assert http.get(f"{server.base}/{token['fhirUser']}", headers=bearer(token)).status_code == 200


def test_refresh_rotates_and_revoke_and_introspect(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any]
) -> None:
    token = professional_token(http, server, app, PRO_SCOPE)
    auth = (app["client_id"], app["client_secret"])
    intro = http.post(
        f"{root(server)}/auth/introspect", data={"token": token["access_token"]}, auth=auth
    ).json()
    assert (
        intro["active"] is True
        and intro["fhirUser"] == token["fhirUser"]
        and intro["client_id"] == app["client_id"]
    )
    refreshed = http.post(
        f"{root(server)}/auth/token",
        auth=auth,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != token["refresh_token"]
    reuse = http.post(
        f"{root(server)}/auth/token",
        auth=auth,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert http.get(f"{server.base}/{new['fhirUser']}", headers=bearer(new)).status_code == 200
    assert (
        http.post(f"{root(server)}/auth/revoke", data={"token": new["access_token"]}, auth=auth).status_code
        == 200
    )
    resp = http.get(f"{server.base}/{new['fhirUser']}", headers=bearer(new))
    assert resp.status_code == 401
    intro = http.post(
        f"{root(server)}/auth/introspect", data={"token": new["access_token"]}, auth=auth
    ).json()
    assert intro == {"active": False}
    bad_auth = http.post(
        f"{root(server)}/auth/introspect",
        data={"token": new["access_token"]},
        auth=(app["client_id"], "wrong"),
    )
    assert bad_auth.status_code == 401 and bad_auth.json()["error"] == "invalid_client"


# -- token checks ---------------------------------------------------------------------------


def test_tampered_expired_and_wrong_audience_tokens_are_refused(
    http: httpx.Client, server: ServerProcess, pro: dict[str, Any]
) -> None:
    url = f"{server.base}/{pro['fhirUser']}"
    assert http.get(url, headers=bearer(pro)).status_code == 200
    header, _, signature = pro["access_token"].split(".")
    claims = dict(jwt.decode(pro["access_token"], server_key(server)).claims)
    forged_payload = jwt.encode(
        {"alg": "RS256"}, {**claims, "scope": "system/*.cruds"}, RSAKey.generate_key(2048)
    )
    tampered = f"{header}.{forged_payload.split('.')[1]}.{signature}"
    key = server_key(server)
    expired = jwt.encode({"alg": "RS256", "kid": key.kid}, {**claims, "exp": int(time.time()) - 60}, key)
    wrong_aud = jwt.encode(
        {"alg": "RS256", "kid": key.kid}, {**claims, "aud": "https://autre.example/fhir"}, key
    )
    wrong_iss = jwt.encode({"alg": "RS256", "kid": key.kid}, {**claims, "iss": "https://autre.example"}, key)
    other_key = jwt.encode({"alg": "RS256"}, claims, RSAKey.generate_key(2048))
    unknown_jti = jwt.encode({"alg": "RS256", "kid": key.kid}, {**claims, "jti": "inconnu"}, key)
    for bad in (tampered, expired, wrong_aud, wrong_iss, other_key, unknown_jti, "pas-un-jwt"):
        resp = http.get(url, headers=bearer(bad))
        assert resp.status_code == 401, bad
        assert 'error="invalid_token"' in resp.headers["www-authenticate"]


# -- backend services --------------------------------------------------------------------


def test_backend_services_private_key_jwt(
    http: httpx.Client,
    server: ServerProcess,
    backend: dict[str, Any],
    backend_key: RSAKey,
    pro: dict[str, Any],
) -> None:
    resp = backend_token(
        http, server, backend["client_id"], backend_key, "system/Patient.rs system/Observation.cruds"
    )
    assert resp.status_code == 200, resp.text
    token = resp.json()
    assert token["scope"] == "system/Patient.rs system/Observation.cruds" and "refresh_token" not in token
    headers = {**bearer(token), "Content-Type": FHIR_JSON}
    patient = {"resourceType": "Patient", "name": [{"family": "Système"}]}
    assert http.post(f"{server.base}/Patient", json=patient, headers=headers).status_code == 403  # rs only
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "poids"}}
    created = http.post(f"{server.base}/Observation", json=obs, headers=headers)
    assert created.status_code == 201, created.text
    assert (
        http.get(f"{server.base}/{pro['fhirUser']}", headers=headers).status_code == 403
    )  # no Practitioner scope
    assert http.get(f"{server.base}/Patient", headers=headers).status_code == 200  # search allowed by .rs


def test_backend_assertion_replay_wrong_key_and_wrong_audience_refused(
    http: httpx.Client, server: ServerProcess, backend: dict[str, Any], backend_key: RSAKey
) -> None:
    signed = assertion(server, backend["client_id"], backend_key)
    assert (
        backend_token(
            http, server, backend["client_id"], backend_key, "system/Patient.rs", signed
        ).status_code
        == 200
    )
    replay = backend_token(http, server, backend["client_id"], backend_key, "system/Patient.rs", signed)
    assert replay.status_code in (400, 401) and replay.json()["error"] == "invalid_client"
    other = RSAKey.generate_key(2048, parameters={"kid": "cle-test"})
    forged = assertion(server, backend["client_id"], other)
    assert backend_token(http, server, backend["client_id"], other, "system/Patient.rs", forged).json()[
        "error"
    ] == ("invalid_client")
    wrong_aud = assertion(server, backend["client_id"], backend_key, aud="https://ailleurs.example/token")
    assert (
        backend_token(http, server, backend["client_id"], backend_key, "system/Patient.rs", wrong_aud).json()[
            "error"
        ]
        == "invalid_client"
    )
    # A backend gets nothing beyond its registered system/ scopes.
    narrowed = backend_token(http, server, backend["client_id"], backend_key, "user/*.cruds")
    assert narrowed.status_code == 400 and narrowed.json()["error"] == "invalid_scope"


def test_clients_list_and_revoke(
    http: httpx.Client, server: ServerProcess, backend_key: RSAKey, tmp_path: Path
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(KeySet([backend_key]).as_dict(private=False)))
    client = create_client(server, "backend", "system/Patient.rs", name="À révoquer", jwks_file=str(jwks))
    token = backend_token(http, server, client["client_id"], backend_key, "system/Patient.rs").json()
    assert http.get(f"{server.base}/Patient", headers=bearer(token)).status_code == 200
    listed = json.loads(cli(server, "list", "--json").stdout)
    assert any(c["client_id"] == client["client_id"] and not c["revoked"] for c in listed)
    assert cli(server, "revoke", client["client_id"]).returncode == 0
    assert http.get(f"{server.base}/Patient", headers=bearer(token)).status_code == 401
    again = backend_token(http, server, client["client_id"], backend_key, "system/Patient.rs")
    assert again.json()["error"] == "invalid_client"
    assert cli(server, "revoke", "inconnu").returncode == 1
    bad = cli(
        server, "create", "--name", "x", "--type", "backend", "--scope", "user/*.rs", "--jwks-file", str(jwks)
    )
    assert bad.returncode == 2 and "system/" in bad.stderr


def test_no_auth_refuses_non_loopback_host(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.cli",
            "serve",
            "--no-auth",
            "--host",
            "0.0.0.0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--no-auth" in done.stderr and "loopback" in done.stderr


def test_ehr_launch_gives_patient_and_encounter_context(
    http: httpx.Client, server: ServerProcess, pro: dict[str, Any]
) -> None:
    backend_headers = {**bearer(pro), "Content-Type": FHIR_JSON}
    patient = http.post(
        f"{server.base}/Patient",
        json={
            "resourceType": "Patient",
            "name": [{"family": "Lancé"}],
            "generalPractitioner": [{"reference": pro["fhirUser"]}],
        },
        headers=backend_headers,
    )
    other = http.post(
        f"{server.base}/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Autre"}]},
        headers=backend_headers,
    )
    assert patient.status_code == other.status_code == 201
    pid, other_id = patient.json()["id"], other.json()["id"]
    app = register_client(server, "public", "launch openid fhirUser patient/*.rs")
    launch = http.post(
        f"{root(server)}/auth/launch",
        headers=bearer(pro),
        json={"patient": pid, "encounter": "enc-1", "client_id": app["client_id"]},
    )
    assert launch.status_code == 201, launch.text
    verifier, challenge = pkce()
    resp = professional_login(
        http,
        server,
        app["client_id"],
        "launch openid fhirUser patient/*.rs",
        DR_MARTIN,
        challenge,
        launch=launch.json()["launch"],
    )
    token = exchange(http, server, app, redirect_query(resp)["code"], verifier).json()
    assert token["patient"] == pid and token["encounter"] == "enc-1"
    # patient/ scopes of a practitioner reach the launch patient only.
    assert http.get(f"{server.base}/Patient/{pid}", headers=bearer(token)).status_code == 200
    assert http.get(f"{server.base}/Patient/{other_id}", headers=bearer(token)).status_code == 404
    assert http.post(f"{root(server)}/auth/launch", json={"patient": pid}).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/auth/authorize", {}),
        ("GET", "/auth/authorize", {"params": {"response_type": "code", "client_id": "inconnu"}}),
        ("POST", "/auth/authorize", {"data": {"response_type": "token"}}),
        ("POST", "/auth/token", {}),
        (
            "POST",
            "/auth/token",
            {"data": {"grant_type": "authorization_code", "code": "x", "client_id": "x"}},
        ),
        ("POST", "/auth/token", {"data": {"grant_type": "password", "username": "a", "password": "b"}}),
        (
            "POST",
            "/auth/token",
            {
                "data": {
                    "grant_type": "client_credentials",
                    "client_assertion": "a.b.c",
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                }
            },
        ),
        ("POST", "/auth/revoke", {"data": {"token": "x"}}),
        ("POST", "/auth/introspect", {"data": {"token": "a.b.c"}}),
        ("GET", "/auth/login/psc", {"params": {"session": "inconnue"}}),
        ("GET", "/auth/psc/callback", {"params": {"state": "x", "code": "y"}}),
        ("POST", "/auth/login/patient", {"data": {"session": "x"}}),
        ("POST", "/auth/login/otp", {"data": {"session": "x", "code": "1"}}),
        ("POST", "/auth/patients", {"content": b"{pas du json"}),
        ("POST", "/auth/patients", {"json": ["liste"]}),
        ("GET", "/auth/patients/confirm", {"params": {"token": "faux"}}),
        ("POST", "/auth/patients/reset", {"json": {"token": "faux", "password": "0123456789ab"}}),
        ("POST", "/auth/patients/dependents", {"headers": {"Authorization": "Bearer a.b.c"}}),
        ("POST", "/auth/launch", {"headers": {"Authorization": "Basic eDp5"}}),
        ("POST", "/dev-psc/token", {"data": {"grant_type": "authorization_code"}}),
        ("GET", "/dev-psc/auth", {"params": {"client_id": "passerelle-dev"}}),
        ("GET", "/dev-psc/userinfo", {"headers": {"Authorization": "Bearer faux"}}),
    ],
)
def test_bad_requests_to_auth_routes_are_4xx_never_500(
    http: httpx.Client, server: ServerProcess, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    resp = http.request(method, root(server) + path, **kwargs)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    if path in ("/auth/token", "/auth/revoke", "/auth/introspect"):
        assert resp.json()["error"]


def test_login_must_finish_in_the_browser_that_started_it(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any]
) -> None:
    _, challenge = pkce()
    page = http.get(
        f"{root(server)}/auth/authorize",
        params=authorize_params(server, app["client_id"], PRO_SCOPE, challenge),
    )
    assert page.status_code == 200 and "passerelle_login" in page.headers["set-cookie"]
    session = session_of(page.text)
    with httpx.Client(timeout=30, follow_redirects=False) as other:  # no cookie: another browser
        assert other.get(f"{root(server)}/auth/login/psc", params={"session": session}).status_code == 400
        login = other.post(
            f"{root(server)}/auth/login/patient",
            data={"session": session, "email": "a@b.fr", "password": "x"},
        )
        assert login.status_code == 400


def test_consent_page_lists_the_scopes_and_refusal_is_access_denied(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any]
) -> None:
    _, challenge = pkce()
    page = professional_login(http, server, app["client_id"], PRO_SCOPE, DR_MARTIN, challenge, decision="")
    assert page.status_code == 303  # helper answered the consent page with an empty decision
    assert redirect_query(page)["error"] == "access_denied"
    # What the page says before the user decides.
    params = authorize_params(server, app["client_id"], "openid fhirUser patient/Observation.rs", challenge)
    login = http.get(f"{root(server)}/auth/authorize", params=params)
    upstream = http.get(f"{root(server)}/auth/login/psc", params={"session": session_of(login.text)})
    query = {k: v[0] for k, v in parse_qs(urlsplit(upstream.headers["location"]).query).items()}
    back = http.post(upstream.headers["location"].split("?")[0], data={**query, "idnat": DR_MARTIN})
    consent = http.get(back.headers["location"])
    text = html.unescape(consent.text)
    assert consent.status_code == 200 and "Agenda médical" in text
    assert "lire, rechercher : les ressources Observation du dossier patient concerné" in text


def test_standalone_launch_by_a_professional_uses_the_patient_picker(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any], pro: dict[str, Any]
) -> None:
    created = http.post(
        f"{server.base}/Patient",
        json={
            "resourceType": "Patient",
            "name": [{"family": "Choisi"}],
            "generalPractitioner": [{"reference": pro["fhirUser"]}],
        },
        headers={**bearer(pro), "Content-Type": FHIR_JSON},
    )
    pid = created.json()["id"]
    scope = "openid fhirUser launch/patient patient/*.rs"
    verifier, challenge = pkce()
    picker = professional_login(http, server, app["client_id"], scope, DR_MARTIN, challenge)
    assert picker.status_code == 200 and 'action="/auth/patient-picker"' in picker.text
    url = f"{root(server)}/auth/patient-picker"
    unknown = http.post(url, data={"session": session_of(picker.text), "patient": "inconnu"})
    assert unknown.status_code == 404 and "introuvable" in unknown.text
    consent = http.post(url, data={"session": session_of(picker.text), "patient": f"Patient/{pid}"})
    code = redirect_query(approve(http, server, consent))["code"]
    token = exchange(http, server, app, code, verifier).json()
    assert token["patient"] == pid
    assert http.get(f"{server.base}/Patient/{pid}", headers=bearer(token)).status_code == 200
