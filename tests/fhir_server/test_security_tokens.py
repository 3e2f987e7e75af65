"""Issue 12, findings 2, 6 and 10: launches, codes, refresh tokens and backend assertions.

Black-box over HTTP against the shared auth-enabled server. Expected behaviour from the
specifications: SMART App Launch (a launch context belongs to the EHR session that created it),
RFC 6749 §4.1.2 (a code used twice: deny, and revoke the tokens it issued), RFC 6749 §6 (a refresh
may ask for a narrower scope), SMART Backend Services (assertion ``exp`` no more than five
minutes in the future).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.fhir_server.auth_support import (
    DR_MARTIN,
    bearer,
    exchange,
    patient_signup,
    pkce,
    professional_login,
    professional_token,
    redirect_query,
    register_client,
    root,
    shared_server,
)
from tests.fhir_server.patient_flow import patient_authorize, sync_db
from tests.fhir_server.roles_data import DR_BONNET, RoleWorld, role_world

LAUNCH_SCOPE = "launch openid fhirUser patient/*.rs"


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        yield client


def _launch(http: httpx.Client, world: RoleWorld, client_id: str, key: str = "enc") -> str:
    resp = http.post(
        f"{root(world.server)}/auth/launch",
        headers=bearer(world.tokens["martin"]),
        json={"patient": world.patients[key], "client_id": client_id},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["launch"])


def _pro_launch(
    http: httpx.Client, world: RoleWorld, app: dict[str, Any], launch: str, idnat: str
) -> dict[str, str]:
    _, challenge = pkce()
    resp = professional_login(
        http, world.server, app["client_id"], LAUNCH_SCOPE, idnat, challenge, launch=launch
    )
    return redirect_query(resp)


# -- finding 2: EHR launches ----------------------------------------------------------------------


def test_a_patient_user_cannot_use_a_professionals_launch(http: httpx.Client, world: RoleWorld) -> None:
    server, mailbox = world.server, shared_server()[1].mailbox
    scope = "openid fhirUser launch launch/patient patient/*.rs"
    app = register_client(server, "public", scope, name="Appli patient (lancement)")
    email, phone = f"launch-{uuid.uuid4().hex[:8]}@example.fr", "+33612340001"
    patient_signup(http, server, mailbox, email, phone)
    launch = _launch(http, world, app["client_id"])
    resp, _ = patient_authorize(http, server, app, scope, email, phone, launch=launch)
    query = redirect_query(resp)
    assert query.get("error") == "invalid_request" and "code" not in query, query


def test_a_launch_is_bound_to_its_professional_its_app_and_used_once(
    http: httpx.Client, world: RoleWorld
) -> None:
    app = register_client(world.server, "public", LAUNCH_SCOPE, name="App lancée")
    other_app = register_client(world.server, "public", LAUNCH_SCOPE, name="Autre app")
    launch = _launch(http, world, app["client_id"])
    # another professional, then another app: refused, and the launch is not consumed by them
    assert _pro_launch(http, world, app, launch, DR_BONNET).get("error") == "invalid_request"
    assert _pro_launch(http, world, other_app, launch, DR_MARTIN).get("error") == "invalid_request"
    verifier, challenge = pkce()
    resp = professional_login(
        http, world.server, app["client_id"], LAUNCH_SCOPE, DR_MARTIN, challenge, launch=launch
    )
    token = exchange(http, world.server, app, redirect_query(resp)["code"], verifier)
    assert token.status_code == 200 and token.json()["patient"] == world.patients["enc"]
    # used once
    assert _pro_launch(http, world, app, launch, DR_MARTIN).get("error") == "invalid_request"
    # expired (10 minutes): made old in the database
    stale = _launch(http, world, app["client_id"])
    with sync_db(world.server) as db:
        db["auth_launches"].update_one({"_id": stale}, {"$set": {"expires": db_now(-1)}})
    assert _pro_launch(http, world, app, stale, DR_MARTIN).get("error") == "invalid_request"


def db_now(minutes: int = 0) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_a_launch_expires_after_ten_minutes(http: httpx.Client, world: RoleWorld) -> None:
    app = register_client(world.server, "public", LAUNCH_SCOPE, name="App (durée)")
    launch = _launch(http, world, app["client_id"])
    with sync_db(world.server) as db:
        doc = db["auth_launches"].find_one({"_id": launch})
    assert doc is not None
    lifetime = (doc["expires"] - db_now()).total_seconds()
    assert 9 * 60 < lifetime <= 10 * 60


# -- finding 6 (sequential part): a replayed code ---------------------------------------------------


def test_a_replayed_code_is_refused_and_revokes_its_tokens(http: httpx.Client, world: RoleWorld) -> None:
    app = register_client(
        world.server, "confidential", "openid fhirUser user/*.rs offline_access", name="Rejeu"
    )
    verifier, challenge = pkce()
    resp = professional_login(
        http, world.server, app["client_id"], "openid fhirUser user/*.rs offline_access", DR_MARTIN, challenge
    )
    code = redirect_query(resp)["code"]
    first = exchange(http, world.server, app, code, verifier)
    assert first.status_code == 200, first.text
    token = first.json()
    me = f"{world.base}/{token['fhirUser']}"
    assert http.get(me, headers=bearer(token)).status_code == 200
    again = exchange(http, world.server, app, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert http.get(me, headers=bearer(token)).status_code == 401
    refreshed = http.post(
        f"{root(world.server)}/auth/token",
        auth=(app["client_id"], app["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    )
    assert refreshed.status_code == 400


# -- finding 10: narrower refresh, assertion lifetime ---------------------------------------------------


def test_refresh_with_a_narrower_scope(http: httpx.Client, world: RoleWorld) -> None:
    scope = "openid fhirUser offline_access user/*.rs"
    app = register_client(world.server, "confidential", scope, name="Rafraîchissement étroit")
    token = professional_token(http, world.server, app, scope)
    auth = (app["client_id"], app["client_secret"])
    url = f"{root(world.server)}/auth/token"
    wider = http.post(
        url,
        auth=auth,
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "scope": "openid offline_access user/*.cruds",
        },
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    narrow = http.post(
        url,
        auth=auth,
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "scope": "offline_access user/Patient.rs",
        },
    )
    assert narrow.status_code == 200, narrow.text
    new = narrow.json()
    assert new["scope"].split() == ["offline_access", "user/Patient.rs"]
    patient = world.patients["enc"]
    assert http.get(f"{world.base}/Patient/{patient}", headers=bearer(new)).status_code == 200
    assert (
        http.get(f"{world.base}/Observation/{world.observations['enc']}", headers=bearer(new)).status_code
        == 403
    )


def test_backend_assertion_expiring_more_than_five_minutes_ahead_is_refused(
    http: httpx.Client, world: RoleWorld
) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "cle-exp", "alg": "RS384"})
    client = register_client(
        world.server, "backend", "system/Patient.rs", jwks=KeySet([key]).as_dict(private=False), name="exp"
    )

    def token(exp: float | None) -> httpx.Response:
        claims = {
            "iss": client["client_id"],
            "sub": client["client_id"],
            "aud": f"{root(world.server)}/auth/token",
            "jti": uuid.uuid4().hex,
        }
        if exp is not None:
            claims["exp"] = int(exp)
        signed = jwt.encode({"alg": "RS384", "kid": key.kid}, claims, key, algorithms=["RS384"])
        return http.post(
            f"{root(world.server)}/auth/token",
            data={
                "grant_type": "client_credentials",
                "scope": "system/Patient.rs",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": signed,
            },
        )

    for exp in (time.time() + 10**8, time.time() + 3600, time.time() + 400, None):
        refused = token(exp)
        assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client", exp
    assert token(time.time() + 290).status_code == 200
