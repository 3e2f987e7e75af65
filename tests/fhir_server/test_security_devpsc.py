"""The development Pro Santé Connect look-alike never takes its address from the request's ``Host``.

Not probed by the outside audit, tested now (issue 12): the login through PSC fetches the
provider's metadata, then sends the browser to its authorization endpoint and trusts its tokens.
Built from the ``Host`` header, a client could point all of that at a provider of its own and log
in as any professional. The address comes from configuration (``PASSERELLE_DEV_PSC_BASE``, set
by ``passerelle serve`` to its own loopback address); the look-alike never runs on a non-loopback
address.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.harness import ServerProcess
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    REPO,
    authorize_params,
    pkce,
    register_client,
    root,
    session_of,
)

FORGED = "attaquant.invalid:4443"


server = auth_support.server  # the shared fixtures


def test_dev_psc_metadata_ignores_the_host_header(server: ServerProcess) -> None:
    with httpx.Client(timeout=30) as http:
        meta = http.get(
            f"{root(server)}/dev-psc/.well-known/openid-configuration", headers={"Host": FORGED}
        ).json()
    expected = f"http://127.0.0.1:{server.port}/dev-psc"
    assert meta["issuer"] == expected
    assert meta["authorization_endpoint"].startswith(expected)
    assert all(FORGED not in str(v) for v in meta.values())


def test_login_never_goes_to_a_provider_named_by_the_host_header(server: ServerProcess) -> None:
    app = register_client(server, "public", "openid fhirUser user/*.rs", name="Appli (Host)")
    _, challenge = pkce()
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        page = http.get(
            f"{root(server)}/auth/authorize",
            params=authorize_params(server, app["client_id"], "openid fhirUser user/*.rs", challenge),
        )
        assert page.status_code == 200, page.text
        resp = http.get(
            f"{root(server)}/auth/login/psc",
            params={"session": session_of(page.text)},
            headers={"Host": FORGED},
        )
    assert resp.status_code == 303, resp.text
    target = urlsplit(resp.headers["location"])
    assert target.netloc == f"127.0.0.1:{server.port}" and target.path == "/dev-psc/auth"


def test_dev_psc_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "apps.cli", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "PASSERELLE_DEV_PSC": "1"},
    )
    assert done.returncode == 2, done.stderr
    assert "PASSERELLE_DEV_PSC" in done.stderr and "loopback" in done.stderr
