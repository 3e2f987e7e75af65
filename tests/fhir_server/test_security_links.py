"""Host-header poisoning of the links sent by e-mail, black-box over HTTP.

Anybody can send any ``Host`` header. The confirmation, password-reset and professional sign-up
e-mails carry single-use tokens: a link built from the request's ``Host`` would hand the token to
the sender's own site when the victim clicks. The links start with the configured public URL
(``PASSERELLE_PUBLIC_URL`` / ``PASSERELLE_ISSUER``; ``passerelle serve`` sets the first to its own
address), whatever ``Host`` the request carried.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.requests import Request

from bench.harness import ServerProcess
from fhir_server.auth.links import public_root
from fhir_server.auth.pro_accounts import TERMS_VERSION
from fhir_server.auth.settings import AuthSettings
from fhir_server.identifiers import luhn_check_digit
from fhir_server.operations.prescription_common import pharmacy_base, root_url
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import Mailbox, patient_signup, root

server, mailbox, http = auth_support.server, auth_support.mailbox, auth_support.http  # the shared fixtures

FORGED = "attaquant.invalid:4443"


def _link_of(mailbox: Mailbox, to: str, subject: str) -> str:
    return Mailbox.link(mailbox.wait_for(to, subject))


def _assert_ours(link: str, server: ServerProcess) -> None:
    assert "attaquant" not in link
    assert urlsplit(link).netloc == f"127.0.0.1:{server.port}", link


def test_the_confirmation_link_ignores_a_forged_host(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox
) -> None:
    email = f"hote-{uuid.uuid4().hex[:8]}@exemple.fr"
    body = {
        "email": email,
        "password": "correct horse battery",
        "phone": f"+336{uuid.uuid4().int % 10**8:08d}",
        "given": "Alice",
        "family": "Dupont",
        "birthDate": "1980-05-17",
        "link": "portal",
    }
    resp = http.post(f"{root(server)}/auth/patients", json=body, headers={"Host": FORGED})
    assert resp.status_code == 201, resp.text
    link = _link_of(mailbox, email, "Confirmez")
    _assert_ours(link, server)
    assert urlsplit(link).path == "/inscription/confirmer"
    # sent again, still from a forged Host
    again = http.post(
        f"{root(server)}/auth/patients/confirm/resend",
        json={"email": email, "link": "portal"},
        headers={"Host": FORGED},
    )
    assert again.status_code == 202, again.text
    deadline = time.monotonic() + 10
    while len(sent := [m for m in mailbox.messages if m["To"] == email]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sent) == 2
    _assert_ours(Mailbox.link(sent[1]), server)


def test_the_password_reset_link_ignores_a_forged_host(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox
) -> None:
    email = f"reset-{uuid.uuid4().hex[:8]}@exemple.fr"
    patient_signup(http, server, mailbox, email, f"+336{uuid.uuid4().int % 10**8:08d}")
    resp = http.post(
        f"{root(server)}/auth/patients/password-reset", json={"email": email}, headers={"Host": FORGED}
    )
    assert resp.status_code == 202, resp.text
    link = _link_of(mailbox, email, "Réinitialisation")
    _assert_ours(link, server)
    assert urlsplit(link).path == "/auth/patients/reset"


def test_the_professional_confirmation_link_ignores_a_forged_host(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox
) -> None:
    body = f"997{uuid.uuid4().int % 10**7:07d}"
    data = {
        "email": f"dr-hote-{uuid.uuid4().hex[:8]}@exemple.fr",
        "password": "un mot de passe sûr",
        "profession": "10",
        "rpps": body + luhn_check_digit(body),
        "given": "Camille",
        "family": "Lefort",
        "phone": f"+336{uuid.uuid4().int % 10**8:08d}",
        "terms": TERMS_VERSION,
    }
    resp = http.post(f"{root(server)}/auth/professionals", json=data, headers={"Host": FORGED})
    assert resp.status_code == 201, resp.text
    _assert_ours(_link_of(mailbox, data["email"], "Confirmez"), server)


def test_a_sign_up_through_the_portal_with_a_forged_host(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox
) -> None:
    """The portal calls the authorization server in-process at the address it was reached at: the
    forged Host travels with the call, and still the link is ours."""
    page = http.get(f"{root(server)}/inscription")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    email = f"portail-{uuid.uuid4().hex[:8]}@exemple.fr"
    form = {
        "csrf": csrf.group(1),
        "adherent": "ADH123456",
        "prenom": "Alice",
        "nom": "Dupont",
        "sexe": "female",
        "naissance": "1980-05-17",
        "code_postal": "75011",
        "ville": "Paris",
        "telephone": f"06{uuid.uuid4().int % 10**8:08d}",
        "email": email,
        "mot_de_passe": "correct horse battery",
        "confirmation": "correct horse battery",
        "cgu": "oui",
        "donnees_sante": "oui",
    }
    resp = http.post(f"{root(server)}/inscription", data=form, headers={"Host": FORGED})
    assert resp.status_code == 303, resp.text
    link = _link_of(mailbox, email, "Confirmez")
    _assert_ours(link, server)
    assert urlsplit(link).path == "/inscription/confirmer"


# -- the rule itself, on requests built by hand -------------------------------------------------


def _request(tmp_path: Path, host: str, server: tuple[str, int] = ("127.0.0.1", 8000)) -> Request:
    state = SimpleNamespace(settings=SimpleNamespace(data_dir=tmp_path), auth_settings=None)
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "query_string": b"",
        "headers": [(b"host", host.encode())],
        "server": server,
        "app": SimpleNamespace(state=state),
    }
    return Request(scope)


@pytest.fixture()
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PASSERELLE_PUBLIC_URL", "PASSERELLE_ISSUER", "PASSERELLE_PHARMACY_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("unconfigured")
def test_without_configuration_the_socket_address_is_used_never_the_host(tmp_path: Path) -> None:
    request = _request(tmp_path, FORGED)
    assert public_root(request, AuthSettings(tmp_path)) == "http://127.0.0.1:8000"
    # the ordonnance's links and QR code follow the same rule
    assert root_url(request) == "http://127.0.0.1:8000"
    assert pharmacy_base(_request(tmp_path, FORGED)) == "http://127.0.0.1:8000/pharmacie/ordonnance"
    assert public_root(_request(tmp_path, FORGED, ("::1", 80)), AuthSettings(tmp_path)) == "http://[::1]"


@pytest.mark.usefixtures("unconfigured")
def test_the_configured_public_url_wins_then_the_issuer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _request(tmp_path, FORGED)
    monkeypatch.setenv("PASSERELLE_ISSUER", "https://auth.passerelle.example/")
    assert public_root(request, AuthSettings(tmp_path)) == "https://auth.passerelle.example"
    monkeypatch.setenv("PASSERELLE_PUBLIC_URL", "https://sante.passerelle.example")
    assert public_root(request, AuthSettings(tmp_path)) == "https://sante.passerelle.example"
