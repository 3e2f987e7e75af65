"""The objects authlib's grants pass around: the logged-in user, authorization codes, tokens.

They are plain records persisted as Mongo documents; the mixins are what authlib calls.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin

from fhir_server.auth.store import now


@dataclass
class AuthUser:
    """Who authorised the app: a professional (from PSC) or a patient (local account)."""

    kind: str  # "practitioner" | "patient"
    subject: str  # idNat_PS for professionals, the account id for patients
    fhir_user: str | None = None  # "Practitioner/…" or "Patient/…"
    patients: list[str] = field(default_factory=list)  # patient users: self + dependents
    patient: str | None = None  # launch context
    encounter: str | None = None
    acr: str | None = None
    amr: list[str] | None = None
    auth_time: int = field(default_factory=lambda: int(time.time()))
    name: str | None = None
    # Professionals: their eligible practice situations, for the role rules (profession, specialty,
    # structure FINESS/SIRET, sector, medical-regulation access).
    exercices: list[dict[str, str]] = field(default_factory=list)

    def get_user_id(self) -> str:
        return self.subject

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AuthUser:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})


class AuthorizationCode(dict[str, Any], AuthorizationCodeMixin):
    def get_redirect_uri(self) -> str:
        return str(self["redirect_uri"])

    def get_scope(self) -> str:
        return str(self["scope"])

    def get_nonce(self) -> str | None:
        return self.get("nonce")

    def get_auth_time(self) -> int | None:
        return self["user"].get("auth_time")

    def get_acr(self) -> str | None:
        return self["user"].get("acr")

    def get_amr(self) -> list[str] | None:
        return self["user"].get("amr")


class TokenRecord(dict[str, Any], TokenMixin):
    """One issued access token (by ``jti``) and its refresh token, as stored."""

    def check_client(self, client: Any) -> bool:
        return bool(self["client_id"] == client.get_client_id())

    def get_scope(self) -> str:
        return str(self.get("scope") or "")

    def get_expires_in(self) -> int:
        return int(self.get("expires_in") or 0)

    def is_expired(self) -> bool:
        hint = self.get("_hint")
        limit = self.get("refresh_expires") if hint == "refresh_token" else self.get("expires")
        return limit is None or limit <= now()

    def is_revoked(self) -> bool:
        return bool(self.get("revoked"))

    def get_user(self) -> AuthUser | None:
        user = self.get("user")
        return AuthUser.from_doc(user) if user else None
