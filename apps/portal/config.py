"""The portal's settings, read from the environment (``PASSERELLE_PORTAL_*``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_server.auth.settings import env, env_int


@dataclass
class PortalConfig:
    # Where the FHIR API is: unset = this process, in-process (ASGI transport); otherwise the
    # base URL of a remote Passerelle ("https://fhir.example.fr/fhir"), whose root also serves
    # the authorization server (/auth/...).
    fhir_url: str | None = field(default_factory=lambda: env("PASSERELLE_PORTAL_FHIR_URL"))
    # The portal's SMART confidential client. Unset: it registers itself in this server's
    # authorization server (client id "passerelle-portal", secret kept under the data dir).
    client_id: str | None = field(default_factory=lambda: env("PASSERELLE_PORTAL_CLIENT_ID"))
    client_secret: str | None = field(default_factory=lambda: env("PASSERELLE_PORTAL_CLIENT_SECRET"))
    # Session lifetimes (minutes): without activity, and in all.
    idle_minutes: int = field(default_factory=lambda: env_int("PASSERELLE_PORTAL_IDLE_MINUTES", 30))
    max_hours: int = field(default_factory=lambda: env_int("PASSERELLE_PORTAL_MAX_HOURS", 12))
    # Secure cookies always (1), or only when the request came over https (auto, the default).
    secure_cookies: str = field(default_factory=lambda: env("PASSERELLE_PORTAL_SECURE_COOKIES") or "auto")

    @property
    def remote_root(self) -> str | None:
        if not self.fhir_url:
            return None
        return self.fhir_url.rstrip("/").removesuffix("/fhir")
