"""The OIDC client towards Pro Santé Connect (or any provider configured like it).

Authorization code + PKCE S256 with ``acr_values=eidas1`` and a nonce, as the ANS
connector does; the ID token is checked (signature from the provider's JWKS, issuer,
audience, nonce, expiry, acr at least eidas1) before the userinfo is trusted. The
userinfo may come back as JSON or as a signed JWT (``application/jwt``): both are
accepted. Client authentication is client_secret_basic, or mTLS when a client
certificate is configured.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from fhir_server.auth.settings import AuthSettings

with warnings.catch_warnings():
    # Authlib 1.9 warns on import that it falls back to httpx (it prefers the httpx2 fork);
    # httpx is this project's HTTP client, so the warning would only be noise on every start.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

SIGNING_ALGS = ["RS256", "ES256", "RS384", "ES384", "PS256"]  # PSC signs with ES256 or RS256
ACR_LEVELS = {"eidas1": 1, "eidas2": 2, "eidas3": 3}
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


class PscError(Exception):
    """The upstream login failed; the message is shown to the professional (French)."""


@dataclass
class PendingLogin:
    url: str
    state: str
    nonce: str
    code_verifier: str


def discovery_url(settings: AuthSettings, root: str) -> str:
    if settings.psc_discovery_url:
        return settings.psc_discovery_url
    if settings.dev_psc:
        # from configuration only: ``root`` comes from the request (its Host header)
        if not settings.dev_psc_root:
            raise PscError("PSC de développement : PASSERELLE_DEV_PSC_BASE n'est pas configuré.")
        return f"{settings.dev_psc_root}/dev-psc/.well-known/openid-configuration"
    raise PscError("Aucun fournisseur Pro Santé Connect n'est configuré.")


def _client(settings: AuthSettings, redirect_uri: str) -> AsyncOAuth2Client:
    kwargs: dict[str, Any] = {"timeout": 15}
    if settings.psc_mtls_cert:
        kwargs["cert"] = (
            (settings.psc_mtls_cert, settings.psc_mtls_key)
            if settings.psc_mtls_key
            else (settings.psc_mtls_cert)
        )
    return AsyncOAuth2Client(
        client_id=settings.psc_client_id,
        client_secret=settings.psc_client_secret,
        scope=settings.psc_scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if settings.psc_client_secret else "none",
        **kwargs,
    )


async def _get_json(url: str, ttl: float = 300) -> dict[str, Any]:
    hit = _cache.get(url)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    try:
        async with httpx.AsyncClient(timeout=15) as http:
            resp = await http.get(url)
            resp.raise_for_status()
            data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PscError("Pro Santé Connect ne répond pas ; réessayez plus tard.") from exc
    _cache[url] = (time.monotonic() + ttl, data)
    return data


async def start(settings: AuthSettings, root: str, redirect_uri: str) -> PendingLogin:
    meta = await _get_json(discovery_url(settings, root))
    verifier = generate_token(64)
    nonce = generate_token(32)
    async with _client(settings, redirect_uri) as client:
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"],
            code_verifier=verifier,
            nonce=nonce,
            acr_values=settings.psc_acr_values,
        )
    return PendingLogin(url, state, nonce, verifier)


async def finish(
    settings: AuthSettings, root: str, redirect_uri: str, code: str, nonce: str, code_verifier: str
) -> dict[str, Any]:
    """Exchange the code, check the ID token, return the userinfo claims."""
    meta = await _get_json(discovery_url(settings, root))
    keys = KeySet.import_key_set(await _get_json(meta["jwks_uri"]))  # type: ignore[arg-type]
    async with _client(settings, redirect_uri) as client:
        try:
            token = await client.fetch_token(meta["token_endpoint"], code=code, code_verifier=code_verifier)
        except Exception as exc:
            raise PscError("Pro Santé Connect a refusé l'échange du code d'autorisation.") from exc
        id_claims = _check_id_token(token.get("id_token"), keys, meta["issuer"], settings, nonce)
        try:
            resp = await client.get(meta["userinfo_endpoint"])
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise PscError("Impossible d'obtenir l'identité depuis Pro Santé Connect.") from exc
    if resp.headers.get("content-type", "").startswith("application/jwt"):
        try:
            info = dict(jwt.decode(resp.text, keys, algorithms=SIGNING_ALGS).claims)
        except JoseError as exc:
            raise PscError("Réponse userinfo de Pro Santé Connect invalide.") from exc
    else:
        info = resp.json()
    if info.get("sub") != id_claims.get("sub"):
        raise PscError("Identité Pro Santé Connect incohérente (sub).")
    info.setdefault("acr", id_claims.get("acr"))
    return info


def _check_id_token(
    id_token: str | None, keys: KeySet, issuer: str, settings: AuthSettings, nonce: str
) -> dict[str, Any]:
    if not id_token:
        raise PscError("Pro Santé Connect n'a pas renvoyé de jeton d'identité.")
    try:
        head = id_token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        if header.get("alg") == "HS256" and settings.psc_client_secret:
            # PSC may sign ID tokens with the client secret instead of its JWKS.
            decoded = jwt.decode(
                id_token, OctKey.import_key(settings.psc_client_secret), algorithms=["HS256"]
            )
        else:
            decoded = jwt.decode(id_token, keys, algorithms=SIGNING_ALGS)
        registry = jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": settings.psc_client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError, IndexError) as exc:
        raise PscError("Jeton d'identité Pro Santé Connect invalide.") from exc
    wanted = ACR_LEVELS.get(settings.psc_acr_values, 1)
    if ACR_LEVELS.get(str(decoded.claims.get("acr")), 0) < wanted:
        raise PscError("Niveau d'authentification insuffisant (eIDAS substantiel requis).")
    return dict(decoded.claims)
