"""The portal's side of SMART App Launch: authorization code with PKCE, refresh, revocation."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx

from apps.portal.client import SCOPE, ClientSetupError, Credentials, PortalClient
from apps.portal.sessions import Tokens

log = logging.getLogger("passerelle.portal")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def jwt_claims(token: str) -> dict[str, Any]:
    """Claims of a JWT received straight from the token endpoint (a trusted channel: not re-verified)."""
    try:
        part = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class LoginError(Exception):
    """The login could not complete (French message)."""


class PortalAuth:
    def __init__(self, http: httpx.AsyncClient, client: PortalClient, remote_root: str | None) -> None:
        self.http = http
        self.client = client
        self.remote_root = remote_root

    def auth_root(self, portal_root: str) -> str:
        return self.remote_root or portal_root

    @staticmethod
    def redirect_uri(portal_root: str) -> str:
        return f"{portal_root}/connexion/retour"

    async def credentials(self, portal_root: str) -> Credentials:
        try:
            return await self.client.credentials(self.redirect_uri(portal_root))
        except ClientSetupError as exc:
            raise LoginError(str(exc)) from exc

    async def authorize_url(self, portal_root: str, state: str, challenge: str) -> str:
        creds = await self.credentials(portal_root)
        root = self.auth_root(portal_root)
        params = {
            "response_type": "code",
            "client_id": creds.client_id,
            "redirect_uri": self.redirect_uri(portal_root),
            "scope": SCOPE,
            "state": state,
            "aud": f"{root}/fhir",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{root}/auth/authorize?{urlencode(params)}"

    async def _token(self, portal_root: str, data: dict[str, str]) -> httpx.Response:
        creds = await self.credentials(portal_root)
        return await self.http.post(
            f"{self.auth_root(portal_root)}/auth/token",
            data=data,
            auth=(creds.client_id, creds.secret),
            headers={"Accept": "application/json"},
        )

    async def exchange(self, portal_root: str, code: str, verifier: str) -> tuple[Tokens, dict[str, Any]]:
        """Tokens for an authorization code, and who logged in (kind, fhirUser, name)."""
        try:
            response = await self._token(
                portal_root,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri(portal_root),
                    "code_verifier": verifier,
                },
            )
        except httpx.HTTPError as exc:
            raise LoginError("Le serveur d'autorisation ne répond pas : réessayez.") from exc
        if response.status_code != 200:
            log.warning("portal token exchange refused: %s %s", response.status_code, response.text[:300])
            raise LoginError("La connexion n'a pas abouti (code expiré ou déjà utilisé) : recommencez.")
        body = response.json()
        access = jwt_claims(body["access_token"])
        identity = jwt_claims(body.get("id_token", ""))
        who = {
            "kind": access.get("kind", ""),
            "fhir_user": body.get("fhirUser") or access.get("fhirUser") or "",
            "name": identity.get("name") or "",
        }
        if who["kind"] not in ("practitioner", "patient") or "/" not in who["fhir_user"]:
            raise LoginError("Ce compte ne donne pas accès au portail.")
        return Tokens.from_response(body), who

    async def refresh(self, root: str, refresh_token: str) -> Tokens | None:
        try:
            response = await self._token(
                root, {"grant_type": "refresh_token", "refresh_token": refresh_token}
            )
        except (httpx.HTTPError, LoginError):
            return None
        if response.status_code != 200:
            return None
        return Tokens.from_response(response.json())

    async def revoke(self, root: str, token: str | None, hint: str) -> None:
        if not token:
            return
        try:
            creds = await self.credentials(root)
            await self.http.post(
                f"{self.auth_root(root)}/auth/revoke",
                data={"token": token, "token_type_hint": hint},
                auth=(creds.client_id, creds.secret),
            )
        except (httpx.HTTPError, LoginError):
            log.warning("portal: token revocation failed", exc_info=True)
