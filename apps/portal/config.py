"""The portal's settings, read from the environment (``PASSERELLE_PORTAL_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _int(name: str, default: int) -> int:
    raw = _env(name)
    try:
        return default if raw is None else int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


@dataclass
class PortalConfig:
    # Where the FHIR API is: unset = this process, in-process (ASGI transport); otherwise the
    # base URL of a remote Passerelle ("https://fhir.example.fr/fhir"), whose root also serves
    # the authorization server (/auth/...).
    fhir_url: str | None = field(default_factory=lambda: _env("PASSERELLE_PORTAL_FHIR_URL"))
    # The portal's SMART confidential client. Unset: it registers itself in this server's
    # authorization server (client id "passerelle-portal", secret kept under the data dir).
    client_id: str | None = field(default_factory=lambda: _env("PASSERELLE_PORTAL_CLIENT_ID"))
    client_secret: str | None = field(default_factory=lambda: _env("PASSERELLE_PORTAL_CLIENT_SECRET"))
    # Session lifetimes (minutes): without activity, and in all.
    idle_minutes: int = field(default_factory=lambda: _int("PASSERELLE_PORTAL_IDLE_MINUTES", 30))
    max_hours: int = field(default_factory=lambda: _int("PASSERELLE_PORTAL_MAX_HOURS", 12))
    # Secure cookies always (1), or only when the request came over https (auto, the default).
    secure_cookies: str = field(default_factory=lambda: _env("PASSERELLE_PORTAL_SECURE_COOKIES") or "auto")

    @property
    def remote_root(self) -> str | None:
        if not self.fhir_url:
            return None
        return self.fhir_url.rstrip("/").removesuffix("/fhir")
