"""The authorization server's patient-account routes, called by the portal (sign-up, confirmation,
dependents, mobile phone validation), and who the logged-in patient may act for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

from apps.portal.oauth import jwt_claims
from apps.portal.web import live_session, portal_of


@dataclass
class AccountAnswer:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def message(self) -> str:
        return str(self.body.get("error_description") or self.body.get("message") or "")


async def call(request: Request, path: str, body: dict[str, Any], *, token: bool = False) -> AccountAnswer:
    """POST ``body`` to the authorization server's ``path`` (with the user's token when ``token``)."""
    portal = portal_of(request)
    root = portal.root_of(request)
    headers = {"Accept": "application/json"}
    if token:
        session = await live_session(request)
        assert session.tokens is not None
        headers["Authorization"] = f"Bearer {session.tokens.access_token}"
        root = session.root
    try:
        response = await portal.http.post(f"{portal.auth.auth_root(root)}{path}", json=body, headers=headers)
    except httpx.HTTPError:
        return AccountAnswer(503, {"error_description": "Le serveur de comptes ne répond pas : réessayez."})
    try:
        data = response.json()
    except ValueError:
        data = {}
    return AccountAnswer(response.status_code, data if isinstance(data, dict) else {})


async def my_patients(request: Request) -> list[str]:
    """The records this patient may act for, from their access token: theirs first, then their
    dependents' (ayants droit). The FHIR server enforces the same list on every request."""
    session = await live_session(request)
    assert session.tokens is not None
    claims = jwt_claims(session.tokens.access_token)
    own = session.user.id
    others = [str(p) for p in claims.get("patients") or [] if str(p) != own]
    return [own, *others]


async def refresh_now(request: Request) -> bool:
    """A new access token at once (after adding a dependent: the refresh reads the account again)."""
    portal = portal_of(request)
    session = await live_session(request)
    if session.tokens is None or not session.tokens.refresh_token:
        return False
    fresh = await portal.auth.refresh(session.root, session.tokens.refresh_token)
    if fresh is None:
        return False
    await portal.store.set_tokens(session, fresh)
    return True
