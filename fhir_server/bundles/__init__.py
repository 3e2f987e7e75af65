"""Batch and transaction Bundles posted to the base URL.

Public surface: :func:`handle` (the ``POST /`` handler), :class:`BundleProcessor`
(batch/transaction processing, usable without HTTP, e.g. by loaders; given the caller's
access policy, it checks each entry: :mod:`.access`).
"""

from fhir_server.bundles.handler import handle
from fhir_server.bundles.processor import BundleProcessor

__all__ = ["BundleProcessor", "handle"]
