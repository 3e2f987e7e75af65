"""Issue 12, finding 8: logins cannot stall the server (argon2 off the event loop, rate limits).

- black-box: a server with small limits answers 429 with ``Retry-After`` once an account, then
  a client IP, has tried too often (before any password is hashed), and keeps serving the API;
- in-process, on the same real database: password checks and hashing run in the bounded hashing
  pool, never on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import (
    REDIRECT,
    authorize_params,
    pkce,
    register_client,
    root,
    session_of,
    shared_server,
    start_server,
)

SCOPE = "openid fhirUser patient/*.rs"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("limits"),
        shared_server()[1].port,
        PASSERELLE_LOGIN_RATE_IP="8",
        PASSERELLE_LOGIN_RATE_ACCOUNT="3",
        PASSERELLE_LOGIN_RATE_WINDOW="60",
        PASSERELLE_LOCKOUT_THRESHOLD="100",
    )
    yield server
    server.stop()


def _login_page(http: httpx.Client, server: ServerProcess, app: dict[str, Any]) -> str:
    _, challenge = pkce()
    page = http.get(
        f"{root(server)}/auth/authorize", params=authorize_params(server, app["client_id"], SCOPE, challenge)
    )
    assert page.status_code == 200, page.text
    return session_of(page.text)


def test_logins_are_rate_limited_per_account_then_per_ip(limited: ServerProcess) -> None:
    app = register_client(limited, "public", SCOPE, name="Appli (limites)")
    assert app["client_id"] and REDIRECT
    with httpx.Client(timeout=60, follow_redirects=False) as http:
        session = _login_page(http, limited, app)

        def attempt(email: str) -> httpx.Response:
            return http.post(
                f"{root(limited)}/auth/login/patient",
                data={"session": session, "email": email, "password": "mauvais mot de passe"},
            )

        victim = f"cible-{uuid.uuid4().hex[:6]}@example.fr"
        statuses = [attempt(victim).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        refused = attempt(victim.upper())  # the same account, however it is spelt
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "Trop de tentatives" in refused.text
        # other accounts from the same address: the per-IP limit (8 attempts in the window)
        others = [attempt(f"autre-{i}@example.fr").status_code for i in range(6)]
        assert others.count(429) >= 1 and others[-1] == 429, others
        late = attempt(f"encore-{uuid.uuid4().hex[:6]}@example.fr")
        assert late.status_code == 429 and int(late.headers["Retry-After"]) >= 1
        # the API itself is not limited
        assert http.get(f"{limited.base}/metadata").status_code == 200


def test_password_hashing_runs_off_the_event_loop(limited: ServerProcess) -> None:
    """On the server's database: check_password and hash_password run on a pool thread."""
    from pymongo import AsyncMongoClient

    from fhir_server.auth import accounts as accounts_module
    from fhir_server.auth.accounts import Accounts

    seen: list[int] = []
    real = accounts_module._hasher

    class Recording:
        def hash(self, password: str) -> str:
            seen.append(threading.get_ident())
            return real.hash(password)

        def verify(self, hashed: str, password: str) -> bool:
            seen.append(threading.get_ident())
            return real.verify(hashed, password)

    async def run() -> int:
        uri = limited.mongodb_uri or (limited.data_dir / "db.uri").read_text().strip()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        try:
            accounts = Accounts(client[limited.env["PASSERELLE_DB"]], threshold=5, lock_seconds=60)
            email = f"fil-{uuid.uuid4().hex[:6]}@example.fr"
            data = {"email": email, "password": "correct horse battery", "phone": "+33600000099"}
            await accounts.register({**data, "given": "Fil", "family": "Test"}, "p-fil")
            await accounts.check_password(email, "correct horse battery")
            await accounts.check_password(email, "mauvais mot de passe")
            await accounts.check_password("inconnu@example.fr", "peu importe")
        finally:
            await client.close()
        return threading.get_ident()

    original = accounts_module._hasher
    accounts_module._hasher = Recording()  # type: ignore[assignment]
    try:
        loop_thread = asyncio.run(run())
    finally:
        accounts_module._hasher = original
    assert len(seen) == 4  # hash (sign-up), verify, verify, hash (unknown e-mail: same cost)
    assert loop_thread not in seen


def test_the_hash_pool_is_bounded() -> None:
    from fhir_server.auth.ratelimit import hash_pool

    assert hash_pool()._max_workers <= 4
