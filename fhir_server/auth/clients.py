"""Registered OAuth2 clients: SMART apps (public or confidential) and backend services.

A client record says which grant types, redirect URIs, scopes and authentication
method it may use; authlib asks it through :class:`Client` (its ``ClientMixin``).
Backend services authenticate with ``private_key_jwt`` against the JWKS registered
with them, so no shared secret ever exists for them. Confidential clients' secrets
are stored as SHA-256 digests (they are random 256-bit values, so a slow hash adds nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from pymongo.database import Database

from fhir_server.auth.scopes import ScopeError, ScopeSet, parse_resource_scope
from fhir_server.auth.store import CLIENTS, now

KINDS = {
    # kind: (token endpoint auth method, grant types)
    "public": ("none", ["authorization_code", "refresh_token"]),
    "confidential": ("client_secret_basic", ["authorization_code", "refresh_token"]),
    "backend": ("private_key_jwt", ["client_credentials"]),
}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_allowed(requested: str, registered: ScopeSet) -> bool:
    """Whether one requested scope item is within what the client was registered for."""
    if requested in registered:
        return True
    try:
        want = parse_resource_scope(requested)
    except ScopeError:
        return False
    for have in registered.resources:
        if (
            have.context == want.context
            and have.resource_type in ("*", want.resource_type)
            and want.interactions <= have.interactions
            and (have.query is None or have.query == want.query)
        ):
            return True
    return False


@dataclass
class Client(ClientMixin):
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def revoked(self) -> bool:
        return bool(self.doc.get("revoked"))

    @property
    def jwks(self) -> dict[str, Any] | None:
        return self.doc.get("jwks")

    def get_client_id(self) -> str:
        return str(self.doc["_id"])

    def get_default_redirect_uri(self) -> str | None:
        uris = self.doc.get("redirect_uris") or []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        registered = ScopeSet.parse(self.doc.get("scope", ""))
        items = (scope or "").split()
        return " ".join(i for i in dict.fromkeys(items) if scope_allowed(i, registered))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.doc.get("redirect_uris") or [])

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.doc.get("secret_sha256")
        return isinstance(stored, str) and hmac.compare_digest(stored, _digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.doc.get("auth_method")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.doc.get("grant_types", [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.doc.get("grant_types", [])


def create_client(
    db: Database[dict[str, Any]],
    *,
    name: str,
    kind: str,
    scope: str,
    redirect_uris: list[str] | None = None,
    jwks: dict[str, Any] | None = None,
    client_id: str | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Register a client; returns its record and, for a confidential client, the secret (shown once)."""
    if kind not in KINDS:
        raise ValueError(f"type de client inconnu : {kind} (public, confidential, backend)")
    ScopeSet.parse(scope, strict=True)
    auth_method, grant_types = KINDS[kind]
    if kind == "backend":
        if not jwks or not jwks.get("keys"):
            raise ValueError("un service backend doit fournir son JWKS (clé publique)")
        if any(not s.startswith("system/") for s in scope.split()):
            raise ValueError("un service backend ne reçoit que des portées system/…")
    elif not redirect_uris:
        raise ValueError("une application SMART doit déclarer au moins une redirect_uri")
    secret = secrets.token_urlsafe(32) if kind == "confidential" else None
    doc: dict[str, Any] = {
        "_id": client_id or secrets.token_hex(12),  # hex: never starts with "-" (command lines)
        "name": name,
        "kind": kind,
        "auth_method": auth_method,
        "grant_types": grant_types,
        "scope": scope,
        "redirect_uris": redirect_uris or [],
        "created": now(),
        "revoked": False,
    }
    if jwks:
        doc["jwks"] = {
            "keys": [
                {k: v for k, v in key.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
                for key in jwks["keys"]
            ]
        }
    if secret:
        doc["secret_sha256"] = _digest(secret)
    db[CLIENTS].insert_one(doc)
    return doc, secret


def list_clients(db: Database[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(db[CLIENTS].find({}, {"secret_sha256": 0}).sort("created", 1))


def revoke_client(db: Database[dict[str, Any]], client_id: str) -> bool:
    """Revoke a client and every token issued to it."""
    from fhir_server.auth.store import TOKENS

    result = db[CLIENTS].update_one({"_id": client_id}, {"$set": {"revoked": True, "revoked_at": now()}})
    db[TOKENS].update_many({"client_id": client_id}, {"$set": {"revoked": True}})
    return result.matched_count == 1


def find_client(db: Database[dict[str, Any]], client_id: str) -> Client | None:
    doc = db[CLIENTS].find_one({"_id": client_id})
    if doc is None or doc.get("revoked"):
        return None
    return Client(doc)
