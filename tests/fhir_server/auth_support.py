"""Helpers for the black-box authorization tests: a server with auth on, an SMTP sink, OAuth flows.

Everything goes over HTTP against a real ``passerelle serve`` process (no ``--no-auth``)
with the development Pro Santé Connect provider enabled, a real ``aiosmtpd`` server
receiving the e-mails and the SMS outbox file the dev gateway writes.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller

from bench.harness import ServerProcess
from fhir_server.embedded import free_port
from fhir_server.identifiers import luhn_check_digit

REPO = Path(__file__).resolve().parents[2]
REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the tests read the Location header
FHIR_JSON = "application/fhir+json"
DR_MARTIN = "899700366240"  # médecin généraliste, eligible
DR_DURAND = "899700001011"  # médecine du travail
PHARMACIEN = "899700002027"
INFIRMIER_SANS_ACTIVITE = "899700003033"
TECHNICIEN_LABO = "899700004049"
ASSUREUR = "899700005053"
SAGE_FEMME = (
    "8" + "9970000606" + luhn_check_digit("9970000606")
)  # practises for a private insurer (sector SA99 in the test rules)


class Mailbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def wait_for(self, to: str, subject_part: str, timeout: float = 10) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.messages:
                if msg["To"] == to and subject_part in str(msg["Subject"]):
                    return msg
            time.sleep(0.05)
        raise AssertionError(f"no e-mail to {to} about {subject_part!r}")

    @staticmethod
    def link(msg: Message) -> str:
        body = msg.get_body().get_content()  # type: ignore[union-attr]
        m = re.search(r"https?://\S+", body)
        assert m, body
        return m.group(0)


class SmtpSink:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


_shared: dict[str, Any] = {}


def shared_server() -> tuple[ServerProcess, SmtpSink]:
    """One auth-enabled server (and SMTP sink) for all the auth test modules of a pytest run."""
    if "server" not in _shared:
        smtp = SmtpSink().__enter__()
        tmp = Path(tempfile.mkdtemp(prefix="passerelle-auth-"))
        server = start_server(tmp, smtp.port)
        _shared.update(server=server, smtp=smtp)

        def stop() -> None:
            server.stop()
            smtp.__exit__()
            shutil.rmtree(tmp, ignore_errors=True)

        atexit.register(stop)
    return _shared["server"], _shared["smtp"]


# -- the fixtures of the modules testing against the shared server -------------------------------
# A module takes them by assigning them to its own names (pytest finds a fixture by the name it
# has in the module): ``server, mailbox, http = auth_support.server, auth_support.mailbox,
# auth_support.http``. One server per xdist worker, on free ports, in its own temporary folder.


@pytest.fixture(scope="module")
def server() -> ServerProcess:
    """The shared auth-enabled server (:func:`shared_server`)."""
    return shared_server()[0]


@pytest.fixture(scope="module")
def mailbox() -> Mailbox:
    """What the shared server e-mailed (its SMTP sink)."""
    return shared_server()[1].mailbox


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client that does not follow redirects (the tests read ``Location``)."""
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        yield client


@contextlib.contextmanager
def own_server(tmp: Path, **env: str) -> Iterator[ServerProcess]:
    """An auth-enabled server of a module's own (its own settings ``env``, data nobody else changes)
    with an SMTP sink of its own; ``tmp`` from ``tmp_path_factory``. Stopped on leaving."""
    with SmtpSink() as smtp:
        server = start_server(tmp, smtp.port, **env)
        try:
            yield server
        finally:
            server.stop()


def server_env(smtp_port: int, **env: str) -> dict[str, str]:
    """The environment of a test server with authorization on: a database of its own, the dev PSC
    provider, e-mail to the test's SMTP sink, and the login rate limits out of the way (every test
    logs in from 127.0.0.1: the limits have their own tests, test_security_login)."""
    return {
        "PASSERELLE_DB": f"test_{uuid.uuid4().hex[:12]}",
        "PASSERELLE_DEV_PSC": "1",
        "PASSERELLE_SMTP_PORT": str(smtp_port),
        "PASSERELLE_LOGIN_RATE_IP": "100000",
        "PASSERELLE_LOGIN_RATE_ACCOUNT": "100000",
        **env,
    }


def start_server(tmp: Path, smtp_port: int, **env: str) -> ServerProcess:
    """An auth server for the black-box tests: :func:`server_env`, with the test eligibility rules
    (sector SA99 excluded) and a lockout after 3 wrong passwords."""
    rules = tmp / "rules.json"
    rules.write_text(json.dumps({"excluded_sectors": {"SA99": "d'un assureur privé"}}))
    defaults = {"PASSERELLE_ELIGIBILITY": str(rules), "PASSERELLE_LOCKOUT_THRESHOLD": "3"}
    full = server_env(smtp_port, **(defaults | env))
    return ServerProcess(tmp, mongodb_uri=os.environ.get("MONGODB_URI"), env=full, auth=True).start()


def root(server: ServerProcess) -> str:
    return f"http://127.0.0.1:{server.port}"


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.env}
    if server.mongodb_uri:
        env["MONGODB_URI"] = server.mongodb_uri
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", "clients", "--data-dir", str(server.data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )


def register_client(
    server: ServerProcess, kind: str, scope: str, jwks: dict[str, Any] | None = None, name: str = "app"
) -> dict[str, Any]:
    """Register a client straight in the database (faster than the CLI, which has its own test)."""
    from pymongo import MongoClient

    from fhir_server.auth.clients import create_client as create

    uri = server.mongodb_uri or (server.data_dir / "db.uri").read_text().strip()
    with MongoClient(uri, tz_aware=True) as client:
        doc, secret = create(
            client[server.env["PASSERELLE_DB"]],
            name=name,
            kind=kind,
            scope=scope,
            redirect_uris=[] if kind == "backend" else [REDIRECT],
            jwks=jwks,
        )
    out = {"client_id": doc["_id"], "type": kind, "scope": scope}
    if secret:
        out["client_secret"] = secret
    return out


def create_client(server: ServerProcess, kind: str, scope: str, **kw: str) -> dict[str, Any]:
    args = ["create", "--name", kw.get("name", f"app {kind}"), "--type", kind, "--scope", scope]
    if kind != "backend":
        args += ["--redirect-uri", REDIRECT]
    if "jwks_file" in kw:
        args += ["--jwks-file", kw["jwks_file"]]
    done = cli(server, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(
    server: ServerProcess, client_id: str, scope: str, challenge: str | None, **extra: str
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "aud": f"{root(server)}/fhir",
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra)
    return params


def session_of(page: str) -> str:
    m = re.search(r"session=([A-Za-z0-9_\-]+)", page) or re.search(r'name="session" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def redirect_query(resp: httpx.Response) -> dict[str, str]:
    assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
    location = resp.headers["location"]
    assert location.startswith(REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def professional_login(
    http: httpx.Client,
    server: ServerProcess,
    client_id: str,
    scope: str,
    idnat: str,
    challenge: str,
    decision: str = "autoriser",
    **extra: str,
) -> httpx.Response:
    """Authorize → login page → Pro Santé Connect (dev) → back → consent; returns the final response."""
    page = http.get(
        f"{root(server)}/auth/authorize",
        params=authorize_params(server, client_id, scope, challenge, **extra),
    )
    assert page.status_code == 200, page.text
    resp = http.get(f"{root(server)}/auth/login/psc", params={"session": session_of(page.text)})
    assert resp.status_code == 303, resp.text
    upstream = resp.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(upstream).query).items()}
    assert query["acr_values"] == "eidas1" and query["code_challenge_method"] == "S256" and query["nonce"]
    form = http.get(upstream)
    assert form.status_code == 200 and idnat in form.text
    back = http.post(upstream.split("?")[0], data={**query, "idnat": idnat})
    assert back.status_code == 303
    return approve(http, server, http.get(back.headers["location"]), decision)


def approve(
    http: httpx.Client, server: ServerProcess, resp: httpx.Response, decision: str = "autoriser"
) -> httpx.Response:
    """Answer the consent page when the login led to it (otherwise return the response as is)."""
    if resp.status_code != 200 or 'action="/auth/consent"' not in resp.text:
        return resp
    return http.post(
        f"{root(server)}/auth/consent", data={"session": session_of(resp.text), "decision": decision}
    )


def exchange(
    http: httpx.Client, server: ServerProcess, client: dict[str, Any], code: str, verifier: str | None
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client["client_id"],
    }
    if verifier:
        data["code_verifier"] = verifier
    auth = (client["client_id"], client["client_secret"]) if "client_secret" in client else None
    return http.post(f"{root(server)}/auth/token", data=data, auth=auth)


def professional_token(
    http: httpx.Client, server: ServerProcess, client: dict[str, Any], scope: str, idnat: str = DR_MARTIN
) -> dict[str, Any]:
    verifier, challenge = pkce()
    code = redirect_query(professional_login(http, server, client["client_id"], scope, idnat, challenge))[
        "code"
    ]
    resp = exchange(http, server, client, code, verifier)
    assert resp.status_code == 200, resp.text
    return resp.json()


def sms_codes(server: ServerProcess, phone: str) -> list[str]:
    path = server.data_dir / "auth" / "sms-outbox.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        msg = json.loads(line)
        if msg["to"] == phone:
            out.append(re.search(r"\b(\d{6})\b", msg["text"]).group(1))  # type: ignore[union-attr]
    return out


def _accepted_texts() -> dict[str, str]:
    """The current terms and health-data consent, accepted at sign-up as the portal's form does
    (otherwise the portal asks for them before any patient screen)."""
    from apps.portal.patient.terms import CURRENT_VERSIONS

    return {"terms": CURRENT_VERSIONS["cgu"], "healthConsent": CURRENT_VERSIONS["donnees-sante"]}


def patient_signup(
    http: httpx.Client,
    server: ServerProcess,
    mailbox: Mailbox,
    email: str,
    phone: str,
    password: str = "correct horse battery",
    confirm: bool = True,
    **extra: str,
) -> str:
    body = {
        "email": email,
        "password": password,
        "phone": phone,
        "given": "Alice",
        "family": "Dupont",
        "birthDate": "1980-05-17",
        "gender": "female",
        **_accepted_texts(),
        **extra,
    }
    resp = http.post(f"{root(server)}/auth/patients", json=body)
    assert resp.status_code == 201, resp.text
    if confirm:
        link = Mailbox.link(mailbox.wait_for(email, "Confirmez"))
        assert http.get(link).status_code == 200
    return str(resp.json()["patient"]).split("/")[1]


def patient_password_step(
    http: httpx.Client,
    server: ServerProcess,
    client_id: str,
    scope: str,
    email: str,
    password: str,
    challenge: str,
) -> httpx.Response:
    page = http.get(
        f"{root(server)}/auth/authorize", params=authorize_params(server, client_id, scope, challenge)
    )
    assert page.status_code == 200, page.text
    return http.post(
        f"{root(server)}/auth/login/patient",
        data={"session": session_of(page.text), "email": email, "password": password},
    )


def patient_token(
    http: httpx.Client,
    server: ServerProcess,
    client: dict[str, Any],
    scope: str,
    email: str,
    phone: str,
    password: str = "correct horse battery",
) -> dict[str, Any]:
    verifier, challenge = pkce()
    before = len(sms_codes(server, phone))
    otp_page = patient_password_step(http, server, client["client_id"], scope, email, password, challenge)
    assert otp_page.status_code == 200, otp_page.text
    codes = sms_codes(server, phone)
    assert len(codes) == before + 1
    resp = approve(
        http,
        server,
        http.post(
            f"{root(server)}/auth/login/otp", data={"session": session_of(otp_page.text), "code": codes[-1]}
        ),
    )
    code = redirect_query(resp)["code"]
    token = exchange(http, server, client, code, verifier)
    assert token.status_code == 200, token.text
    return token.json()


def bearer(token: dict[str, Any] | str) -> dict[str, str]:
    value = token if isinstance(token, str) else token["access_token"]
    return {"Authorization": f"Bearer {value}", "Accept": FHIR_JSON}


def backend_client_token(http: httpx.Client, server: ServerProcess, scope: str, name: str = "backend") -> str:
    """A backend-services (client_credentials + private_key_jwt) access token with ``scope``."""
    return str(backend_client(http, server, scope, name)["token"]["access_token"])


def fhir_backend(server: ServerProcess, scope: str, name: str) -> httpx.Client:
    """The FHIR API (``base_url``) as a backend service with ``scope``; the caller closes it."""
    with httpx.Client(timeout=60) as http:
        token = backend_client_token(http, server, scope, name=name)
    return httpx.Client(base_url=server.base, headers={**bearer(token), "Accept": FHIR_JSON}, timeout=60)


def backend_client(
    http: httpx.Client, server: ServerProcess, scope: str, name: str = "backend"
) -> dict[str, Any]:
    """A registered backend-services client (``client_id``...) with its token response under ``token``."""
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet, RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": f"cle-{uuid.uuid4().hex[:6]}", "alg": "RS384"})
    client = register_client(server, "backend", scope, jwks=KeySet([key]).as_dict(private=False), name=name)
    claims = {
        "iss": client["client_id"],
        "sub": client["client_id"],
        "aud": f"{root(server)}/auth/token",
        "jti": uuid.uuid4().hex,
        "exp": int(time.time()) + 240,
    }
    signed = jose_jwt.encode({"alg": "RS384", "kid": key.kid}, claims, key, algorithms=["RS384"])
    resp = http.post(
        f"{root(server)}/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
    )
    assert resp.status_code == 200, resp.text
    return {**client, "token": resp.json()}
