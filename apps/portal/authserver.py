"""The authorization server's account routes (``/auth/patients…``, ``/auth/professionals…``) as the
portal calls them: JSON in, JSON out, through the portal's FHIR transport (in-process or remote)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

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
