"""Subscription settings, read from ``PASSERELLE_SUBSCRIPTION_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fhir_server.config import number_env as _number


def _hosts() -> tuple[str, ...]:
    raw = os.environ.get("PASSERELLE_SUBSCRIPTION_ALLOWED_HOSTS", "")
    return tuple(h.strip().lower() for h in raw.split(",") if h.strip())


@dataclass(frozen=True)
class SubscriptionSettings:
    # Hosts rest-hook endpoints may name ("hooks.example.fr", "*.example.fr", "127.0.0.1"); empty:
    # any public host. Internal addresses (loopback, private, link-local...) only when listed.
    allowed_hosts: tuple[str, ...] = field(default_factory=_hosts)
    # Delivery attempts of one notification before the subscription is put in error.
    attempts: int = field(default_factory=lambda: max(1, int(_number("PASSERELLE_SUBSCRIPTION_ATTEMPTS", 5))))
    # First retry delay (s), doubled at each attempt.
    backoff: float = field(default_factory=lambda: _number("PASSERELLE_SUBSCRIPTION_BACKOFF", 1.0))
    # Time allowed to one POST to an endpoint (s).
    timeout: float = field(default_factory=lambda: max(0.1, _number("PASSERELLE_SUBSCRIPTION_TIMEOUT", 10.0)))
