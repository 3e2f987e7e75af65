"""Authorization settings, read from the environment (``PASSERELLE_*``).

Kept apart from :class:`fhir_server.config.Settings` because they only matter when the
server enforces authorization, and so that switching from the built-in Pro Santé
Connect look-alike to the real PSC sandbox is a matter of environment only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def env(name: str, default: str | None = None) -> str | None:
    """The variable's value; ``default`` when it is unset or empty."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    """An integer variable; a value that is not one stops the server with a clear message."""
    raw = env(name)
    try:
        return default if raw is None else int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool = False) -> bool:
    raw = env(name)
    return default if raw is None else raw.lower() in ("1", "true", "yes", "on")


@dataclass
class AuthSettings:
    data_dir: Path
    # Public root URL of the server (scheme://host[:port]); derived from each request when unset.
    issuer: str | None = field(default_factory=lambda: env("PASSERELLE_ISSUER"))
    # Public root URL the links sent by e-mail (and the ordonnance's QR code) start with: never from
    # a request's Host header (host-header poisoning). PASSERELLE_ISSUER when unset; ``passerelle
    # serve`` sets it to its own address when neither is configured.
    public_url: str | None = field(default_factory=lambda: env("PASSERELLE_PUBLIC_URL"))
    access_token_ttl: int = field(default_factory=lambda: env_int("PASSERELLE_ACCESS_TOKEN_TTL", 3600))
    refresh_token_ttl: int = field(
        default_factory=lambda: env_int("PASSERELLE_REFRESH_TOKEN_TTL", 30 * 86400)
    )
    # Upstream OIDC provider for professionals (Pro Santé Connect or the dev look-alike).
    psc_discovery_url: str | None = field(default_factory=lambda: env("PASSERELLE_PSC_DISCOVERY_URL"))
    psc_client_id: str = field(
        default_factory=lambda: env("PASSERELLE_PSC_CLIENT_ID", "passerelle-dev") or ""
    )
    psc_client_secret: str | None = field(
        default_factory=lambda: env("PASSERELLE_PSC_CLIENT_SECRET", "passerelle-dev-secret")
    )
    psc_mtls_cert: str | None = field(default_factory=lambda: env("PASSERELLE_PSC_MTLS_CERT"))
    psc_mtls_key: str | None = field(default_factory=lambda: env("PASSERELLE_PSC_MTLS_KEY"))
    psc_acr_values: str = field(default_factory=lambda: env("PASSERELLE_PSC_ACR", "eidas1") or "eidas1")
    psc_scope: str = field(default_factory=lambda: env("PASSERELLE_PSC_SCOPE", "openid scope_all") or "")
    # The built-in PSC look-alike (``/dev-psc``): never enable it in production.
    dev_psc: bool = field(default_factory=lambda: env_bool("PASSERELLE_DEV_PSC"))
    dev_psc_users: str | None = field(default_factory=lambda: env("PASSERELLE_DEV_PSC_USERS"))
    # Where the look-alike is reached (scheme://host:port): from configuration only, never from the
    # request's Host header (which would let a client point the login at a provider of its own).
    # ``passerelle serve`` sets it to its own loopback address; PASSERELLE_ISSUER is the fallback.
    dev_psc_base: str | None = field(default_factory=lambda: env("PASSERELLE_DEV_PSC_BASE"))
    # Eligibility rules (JSON file); the Sesali rules when unset.
    eligibility_file: str | None = field(default_factory=lambda: env("PASSERELLE_ELIGIBILITY"))
    # Patients: mail, SMS, lockout.
    smtp_host: str = field(default_factory=lambda: env("PASSERELLE_SMTP_HOST", "127.0.0.1") or "")
    smtp_port: int = field(default_factory=lambda: env_int("PASSERELLE_SMTP_PORT", 25))
    mail_from: str = field(
        default_factory=lambda: env("PASSERELLE_MAIL_FROM", "ne-pas-repondre@passerelle.local") or ""
    )
    sms_gateway: str = field(default_factory=lambda: env("PASSERELLE_SMS_GATEWAY", "outbox") or "outbox")
    lockout_threshold: int = field(default_factory=lambda: env_int("PASSERELLE_LOCKOUT_THRESHOLD", 5))
    lockout_seconds: int = field(default_factory=lambda: env_int("PASSERELLE_LOCKOUT_SECONDS", 900))
    # Login throttling (fhir_server.auth.ratelimit): attempts per window, per client IP and per account.
    login_rate_ip: int = field(default_factory=lambda: env_int("PASSERELLE_LOGIN_RATE_IP", 60))
    login_rate_account: int = field(default_factory=lambda: env_int("PASSERELLE_LOGIN_RATE_ACCOUNT", 10))
    login_rate_window: int = field(default_factory=lambda: env_int("PASSERELLE_LOGIN_RATE_WINDOW", 60))
    # AuditEvents for every interaction (on whenever authorization is enforced).
    audit: bool = True

    @property
    def dev_psc_root(self) -> str | None:
        """The configured root URL of the development PSC look-alike (None: not configured)."""
        root = self.dev_psc_base or self.issuer
        return root.rstrip("/") if root else None

    @property
    def links_root(self) -> str | None:
        """The configured root URL of the links sent outside an answer (None: not configured)."""
        root = self.public_url or self.issuer
        return root.rstrip("/") if root else None

    @property
    def keys_file(self) -> Path:
        return self.data_dir / "auth" / "jwks.json"

    @property
    def sms_outbox(self) -> Path:
        return self.data_dir / "auth" / "sms-outbox.jsonl"


def auth_settings(data_dir: Path) -> AuthSettings:
    return AuthSettings(data_dir=Path(data_dir))
