"""Issue 12: every single-use or counted secret, hit by N parallel requests, yields exactly one success.

The harness (:func:`tests.fhir_server.patient_flow.race`) releases N threads together against the
shared auth-enabled server, each with its own HTTP connection (and cookie jar where the login
session is bound to the browser). Secrets covered: authorization codes, refresh tokens, EHR
launches, SMS codes, consent approvals, password-reset and e-mail confirmation links, and the
lockout counter (at most ``PASSERELLE_LOCKOUT_THRESHOLD`` passwords ever checked per window).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fhir_server.auth_support import (
    DR_MARTIN,
    REDIRECT,
    Mailbox,
    authorize_params,
    bearer,
    exchange,
    patient_signup,
    pkce,
    professional_login,
    professional_token,
    redirect_query,
    register_client,
    root,
    session_of,
    shared_server,
    sms_codes,
)
from tests.fhir_server.patient_flow import race, start_patient_login
from tests.fhir_server.roles_data import RoleWorld, role_world

N = 12
LAUNCH_SCOPE = "launch openid fhirUser patient/*.rs"
PATIENT_SCOPE = "openid fhirUser patient/*.rs"


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        yield client


def _client(cookies: httpx.Cookies | None = None) -> httpx.Client:
    return httpx.Client(timeout=120, follow_redirects=False, cookies=cookies)


def _new_patient(http: httpx.Client, world: RoleWorld, phone: str) -> tuple[str, dict[str, Any]]:
    email = f"course-{uuid.uuid4().hex[:8]}@example.fr"
    patient_signup(http, world.server, shared_server()[1].mailbox, email, phone)
    app = register_client(world.server, "public", PATIENT_SCOPE, name="Appli (course)")
    return email, app


def test_one_code_one_token(http: httpx.Client, world: RoleWorld) -> None:
    app = register_client(world.server, "confidential", "openid fhirUser user/*.rs", name="Course code")
    verifier, challenge = pkce()
    resp = professional_login(
        http, world.server, app["client_id"], "openid fhirUser user/*.rs", DR_MARTIN, challenge
    )
    code = redirect_query(resp)["code"]

    def attempt(_: int) -> int:
        with _client() as c:
            return exchange(c, world.server, app, code, verifier).status_code

    statuses = race(N, attempt)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) == {200, 400}


def test_one_refresh_token_one_successor(http: httpx.Client, world: RoleWorld) -> None:
    scope = "openid fhirUser user/*.rs offline_access"
    app = register_client(world.server, "confidential", scope, name="Course refresh")
    token = professional_token(http, world.server, app, scope)

    def attempt(_: int) -> httpx.Response:
        with _client() as c:
            return c.post(
                f"{root(world.server)}/auth/token",
                auth=(app["client_id"], app["client_secret"]),
                data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            )

    answers = race(N, attempt)
    won = [a for a in answers if a.status_code == 200]
    assert len(won) == 1, [a.status_code for a in answers]
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code != 200)
    # exactly one live token pair: the winner's
    me = f"{world.base}/{won[0].json()['fhirUser']}"
    assert http.get(me, headers=bearer(won[0].json())).status_code == 200
    assert http.get(me, headers=bearer(token)).status_code == 401


def _consent_page(c: httpx.Client, world: RoleWorld, app: dict[str, Any], scope: str, **extra: str) -> str:
    """A professional login up to the consent page; the session id to approve."""
    _, challenge = pkce()
    page = c.get(
        f"{root(world.server)}/auth/authorize",
        params=authorize_params(world.server, app["client_id"], scope, challenge, **extra),
    )
    assert page.status_code == 200, page.text
    resp = c.get(f"{root(world.server)}/auth/login/psc", params={"session": session_of(page.text)})
    upstream = resp.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(upstream).query).items()}
    back = c.post(upstream.split("?")[0], data={**query, "idnat": DR_MARTIN})
    consent = c.get(back.headers["location"])
    assert consent.status_code == 200 and 'action="/auth/consent"' in consent.text, consent.text
    return session_of(consent.text)


def _redirect(resp: httpx.Response) -> dict[str, str]:
    location = resp.headers.get("location", "")
    if resp.status_code not in (302, 303) or not location.startswith(REDIRECT):
        return {}
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_one_launch_one_use(world: RoleWorld) -> None:
    app = register_client(world.server, "public", LAUNCH_SCOPE, name="Course lancement")
    with _client() as c:
        launch = c.post(
            f"{root(world.server)}/auth/launch",
            headers=bearer(world.tokens["martin"]),
            json={"patient": world.patients["enc"], "client_id": app["client_id"]},
        ).json()["launch"]
    clients = [_client() for _ in range(N // 2)]
    try:
        sessions = [_consent_page(c, world, app, LAUNCH_SCOPE, launch=launch) for c in clients]

        def attempt(i: int) -> dict[str, str]:
            resp = clients[i].post(
                f"{root(world.server)}/auth/consent", data={"session": sessions[i], "decision": "autoriser"}
            )
            return _redirect(resp)

        results = race(len(clients), attempt)
    finally:
        for c in clients:
            c.close()
    assert sum("code" in r for r in results) == 1, results
    assert all(r.get("error") == "invalid_request" for r in results if "code" not in r), results


def test_one_consent_one_code(world: RoleWorld) -> None:
    app = register_client(world.server, "public", "openid fhirUser user/*.rs", name="Course consentement")
    with _client() as first:
        session = _consent_page(first, world, app, "openid fhirUser user/*.rs")
        cookies = first.cookies

        def attempt(_: int) -> dict[str, str]:
            with _client(cookies) as c:
                resp = c.post(
                    f"{root(world.server)}/auth/consent", data={"session": session, "decision": "autoriser"}
                )
                return _redirect(resp)

        results = race(N, attempt)
    assert sum("code" in r for r in results) == 1, results


def test_one_sms_code_one_login(http: httpx.Client, world: RoleWorld) -> None:
    phone = "+33612349001"
    email, app = _new_patient(http, world, phone)
    with _client() as first:
        otp_page, _ = start_patient_login(first, world.server, app, PATIENT_SCOPE, email)
        assert otp_page.status_code == 200, otp_page.text
        session, code, cookies = session_of(otp_page.text), sms_codes(world.server, phone)[-1], first.cookies

        def attempt(_: int) -> int:
            with _client(cookies) as c:
                return c.post(
                    f"{root(world.server)}/auth/login/otp", data={"session": session, "code": code}
                ).status_code

        statuses = race(N, attempt)
    assert statuses.count(200) == 1, statuses  # the consent page, once


def test_wrong_sms_codes_are_counted_atomically(http: httpx.Client, world: RoleWorld) -> None:
    phone = "+33612349002"
    email, app = _new_patient(http, world, phone)
    with _client() as first:
        otp_page, _ = start_patient_login(first, world.server, app, PATIENT_SCOPE, email)
        session, right, cookies = session_of(otp_page.text), sms_codes(world.server, phone)[-1], first.cookies
        wrong = f"{(int(right) + 1) % 10**6:06d}"

        def attempt(_: int) -> int:
            with _client(cookies) as c:
                return c.post(
                    f"{root(world.server)}/auth/login/otp", data={"session": session, "code": wrong}
                ).status_code

        statuses = race(N, attempt)
        assert statuses.count(401) <= 3, statuses  # OTP_TRIES guesses at most
        # the right code no longer opens anything: the tries are spent
        late = first.post(f"{root(world.server)}/auth/login/otp", data={"session": session, "code": right})
        assert late.status_code == 400


def test_lockout_checks_at_most_the_threshold(http: httpx.Client, world: RoleWorld) -> None:
    """The shared server runs with PASSERELLE_LOCKOUT_THRESHOLD=3: of N parallel wrong passwords,
    two are answered "incorrect" (checked), the third checked one sets the lock, all others
    are refused as locked without being checked; the right password is then refused too."""
    email, app = _new_patient(http, world, "+33612349003")
    with _client() as first:
        _, challenge = pkce()
        page = first.get(
            f"{root(world.server)}/auth/authorize",
            params=authorize_params(world.server, app["client_id"], PATIENT_SCOPE, challenge),
        )
        session, cookies = session_of(page.text), first.cookies

        def attempt(i: int) -> str:
            with _client(cookies) as c:
                resp = c.post(
                    f"{root(world.server)}/auth/login/patient",
                    data={"session": session, "email": email, "password": f"mauvais mot de passe {i}"},
                )
                assert resp.status_code == 401, resp.text
                return "verrouillé" if "verrouillé" in resp.text else "incorrect"

        answers = race(20, attempt)
        assert answers.count("incorrect") == 2, answers
        right = first.post(
            f"{root(world.server)}/auth/login/patient",
            data={"session": session, "email": email, "password": "correct horse battery"},
        )
        assert right.status_code == 401 and "verrouillé" in right.text


def test_one_reset_link_one_new_password(http: httpx.Client, world: RoleWorld) -> None:
    email, _ = _new_patient(http, world, "+33612349004")
    mailbox = shared_server()[1].mailbox
    assert (
        http.post(f"{root(world.server)}/auth/patients/password-reset", json={"email": email}).status_code
        == 202
    )
    link = Mailbox.link(mailbox.wait_for(email, "Réinitialisation"))
    token = re.search(r'name="token" value="([^"]+)"', http.get(link).text).group(1)  # type: ignore[union-attr]

    def attempt(i: int) -> int:
        with _client() as c:
            return c.post(
                f"{root(world.server)}/auth/patients/reset",
                data={"token": token, "password": f"nouveau mot de passe {i}"},
            ).status_code

    statuses = race(N, attempt)
    assert statuses.count(200) == 1, statuses


def test_one_confirmation_link_one_confirmation(http: httpx.Client, world: RoleWorld) -> None:
    email = f"confirme-{uuid.uuid4().hex[:8]}@example.fr"
    patient_signup(http, world.server, shared_server()[1].mailbox, email, "+33612349005", confirm=False)
    link = Mailbox.link(shared_server()[1].mailbox.wait_for(email, "Confirmez"))

    def attempt(_: int) -> int:
        with _client() as c:
            return c.get(link).status_code

    statuses = race(N, attempt)
    assert statuses.count(200) == 1, statuses


def test_the_harness_finds_a_race(world: RoleWorld) -> None:
    """The harness itself: N parallel reads of one public resource all succeed (it does run them)."""

    def attempt(_: int) -> int:
        with _client() as c:
            return c.get(f"{root(world.server)}/.well-known/smart-configuration").status_code

    assert race(N, attempt) == [200] * N
