"""Pluggable payment providers for paid acts (tele-expertise): ``PASSERELLE_PAYMENT_PROVIDER``.

``dev`` (the default, for ``make run`` and tests) accepts every payment and gives it a
reference; a real provider implements :class:`PaymentProvider` and is named by its import
path (``package.module:Class``).
"""

from __future__ import annotations

import importlib
import os
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


class PaymentError(Exception):
    """The payment was refused (French message)."""


@dataclass(frozen=True)
class Payment:
    reference: str
    amount: Decimal
    currency: str
    provider: str


class PaymentProvider(Protocol):
    name: str

    async def charge(self, amount: Decimal, currency: str, description: str, payer: str) -> Payment: ...

    async def refund(self, payment: Payment) -> None: ...


class DevPaymentProvider:
    """Accepts every payment at once (development only): the reference says so."""

    name = "dev"

    def __init__(self) -> None:
        self.refunded: set[str] = set()

    async def charge(self, amount: Decimal, currency: str, description: str, payer: str) -> Payment:
        if amount <= 0:
            raise PaymentError("Montant invalide.")
        return Payment(f"DEV-{secrets.token_hex(6).upper()}", amount, currency, self.name)

    async def refund(self, payment: Payment) -> None:
        self.refunded.add(payment.reference)


_provider: PaymentProvider | None = None


def payment_provider() -> PaymentProvider:
    global _provider
    if _provider is None:
        spec = os.environ.get("PASSERELLE_PAYMENT_PROVIDER", "dev")
        if spec == "dev":
            _provider = DevPaymentProvider()
        else:
            module, _, name = spec.partition(":")
            _provider = getattr(importlib.import_module(module), name)()
    assert _provider is not None
    return _provider
