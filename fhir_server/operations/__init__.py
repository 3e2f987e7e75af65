"""FHIR operations: each is a plugin registered in :mod:`.registry`.

Public surface: :data:`OPERATIONS` (name → :class:`Operation`), :func:`load_all` (import
every operation module so that it registers itself), :mod:`.dispatch` (route handlers).
To add an operation: write a module that calls ``register(Operation(...))`` and list it
in ``_MODULES``; the routes and the CapabilityStatement pick it up.
"""

from __future__ import annotations

import importlib
from functools import cache

from fhir_server.operations.registry import OPERATIONS, Call, Operation, register

_MODULES = (
    "validate",
    "meta",
    "everything",
    "terminology_ops",
    "prescription_sign",
    "prescription_document",
    "prescription_pharmacy",
    "teleconsultation",
)
# Operations living in their own package (full module names).
_PACKAGES = ("fhir_server.bulk.http",)


@cache
def load_all() -> dict[str, Operation]:
    for name in _MODULES:
        importlib.import_module(f"fhir_server.operations.{name}")
    for module in _PACKAGES:
        importlib.import_module(module)
    return OPERATIONS


__all__ = ["OPERATIONS", "Call", "Operation", "load_all", "register"]
