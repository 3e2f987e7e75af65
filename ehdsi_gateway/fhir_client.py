"""The gateway's only way to FHIR data: the FHIR API, over HTTP or in process (ASGI).

With authorization on, requests carry the access token of a registered SMART Backend
Services client (``client_credentials`` + ``private_key_jwt``): the gateway keeps its key
pair under ``<data-dir>/ehdsi/fhir-client.jwk`` and publishes the public half next to it
(``fhir-client.jwks``) for ``passerelle clients create --type backend --jwks-file``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .errors import EhdsiError

FHIR_JSON = "application/fhir+json"


class BackendToken:
    """Access tokens for one backend-services client, renewed a minute before they expire."""

    #: what the gateway needs: read French data, write Consent/Patient/Bundle, create AuditEvents
    SCOPE = "system/*.cruds system/AuditEvent.c"

    def __init__(self, client_id: str, key_path: Path, scope: str = SCOPE) -> None:
        self.client_id = client_id
        self.key_path = key_path
        self.scope = scope
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    @staticmethod
    def ensure_key(key_path: Path) -> dict[str, Any]:
        """The private JWK (created once) and its public JWKS written beside it."""
        from joserfc.jwk import KeySet, RSAKey

        if not key_path.exists():
            key_path.parent.mkdir(parents=True, exist_ok=True)
            key = RSAKey.generate_key(
                2048, parameters={"kid": f"ehdsi-{uuid.uuid4().hex[:8]}", "alg": "RS384"}
            )
            key_path.write_text(json.dumps(key.as_dict(private=True)))
            key_path.chmod(0o600)
            key_path.with_suffix(".jwks").write_text(json.dumps(KeySet([key]).as_dict(private=False)))
        return json.loads(key_path.read_text())

    async def get(self, client: httpx.AsyncClient, token_url: str, audience: str | None = None) -> str:
        async with self._lock:
            if self._token and time.time() < self._expires - 60:
                return self._token
            from joserfc import jwt
            from joserfc.jwk import RSAKey

            key = RSAKey.import_key(self.ensure_key(self.key_path))
            claims = {
                "iss": self.client_id,
                "sub": self.client_id,
                "aud": audience or token_url,
                "jti": uuid.uuid4().hex,
                "exp": int(time.time()) + 240,
            }
            assertion = jwt.encode({"alg": "RS384", "kid": key.kid}, claims, key, algorithms=["RS384"])
            resp = await client.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "scope": self.scope,
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": assertion,
                },
            )
            if resp.status_code != 200:
                raise EhdsiError(
                    "ERROR_GENERIC",
                    f"jeton FHIR refusé au client {self.client_id} ({resp.status_code}) : "
                    "enregistrer la passerelle (passerelle clients create --type backend)",
                    sender=False,
                )
            body = resp.json()
            self._token = str(body["access_token"])
            self._expires = time.time() + float(body.get("expires_in", 300))
            return self._token


class FhirClient:
    """A small async FHIR REST client (JSON); ``base`` ends with ``/fhir``."""

    def __init__(
        self,
        base: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        token: BackendToken | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.base = base.rstrip("/")
        self.token = token
        # the token endpoint's own URL, the ``aud`` of our client assertions (its public issuer)
        issuer = os.environ.get("PASSERELLE_ISSUER")
        self.token_audience = f"{issuer.rstrip('/')}/auth/token" if issuer else None
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout, headers={"Accept": FHIR_JSON})

    @classmethod
    def in_process(cls, app: Callable[[], Any], *, token: BackendToken | None = None) -> FhirClient:
        """Through the ASGI app ``app()`` (resolved at the first request: the root app may wrap us)."""

        async def forward(scope: Any, receive: Any, send: Any) -> None:
            await app()(scope, receive, send)

        # a loopback host: the authorization server accepts plain HTTP only there (in process: no wire)
        return cls("http://127.0.0.1/fhir", transport=httpx.ASGITransport(app=forward), token=token)

    @property
    def token_url(self) -> str:
        return self.base.removesuffix("/fhir") + "/auth/token"

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.base}/{path.lstrip('/')}"
        headers = dict(kwargs.pop("headers", {}) or {})
        for attempt in range(2):
            if self.token is not None:
                headers["Authorization"] = (
                    f"Bearer {await self.token.get(self._http, self.token_url, self.token_audience)}"
                )
            try:
                resp = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise EhdsiError("ERROR_GENERIC", f"API FHIR injoignable ({exc})", sender=False) from exc
            if resp.status_code == 401 and self.token is not None and attempt == 0:
                self.token._token = None  # revoked or expired early: one fresh token, once
                continue
            return resp
        return resp

    async def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = await self.request(method, path, **kwargs)
        if resp.status_code >= 400:
            raise EhdsiError(
                "ERROR_GENERIC", f"API FHIR : {method} {path} -> {resp.status_code}", sender=False
            )
        return resp.json() if resp.content else {}

    async def search_all(self, path: str, params: dict[str, str], limit: int = 5000) -> list[dict[str, Any]]:
        """Every resource of a search (following ``next`` links), up to ``limit``."""
        bundle = await self.json("GET", path, params=params)
        found = [e["resource"] for e in bundle.get("entry") or [] if "resource" in e]
        while len(found) < limit:
            nxt = next(
                (link["url"] for link in bundle.get("link") or [] if link.get("relation") == "next"), None
            )
            if not nxt:
                break
            bundle = await self.json("GET", nxt)
            found.extend(e["resource"] for e in bundle.get("entry") or [] if "resource" in e)
        return found

    async def create(self, resource: dict[str, Any], *, if_none_exist: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        resp = await self.request(
            "POST", resource["resourceType"], content=json.dumps(resource), headers=headers
        )
        if resp.status_code >= 400:
            raise EhdsiError(
                "ERROR_GENERIC",
                f"API FHIR : création {resource['resourceType']} refusée ({resp.status_code}) "
                f"{resp.text[:300]}",
                sender=False,
            )
        return resp.json()

    async def aclose(self) -> None:
        await self._http.aclose()
