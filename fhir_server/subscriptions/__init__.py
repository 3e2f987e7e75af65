"""FHIR R4 Subscriptions: rest-hook and websocket notifications of created or updated resources.

Public surface: :class:`SubscriptionManager` (``app.state.subscriptions``),
:class:`SubscriptionSettings`, :func:`websocket_endpoint` (the ``[base]/websocket`` route),
:func:`check_endpoint` (the SSRF rules). Modules: ``manager`` (activation, evaluation),
``delivery`` (POSTs with retries, websocket pings), ``endpoints``, ``websocket``, ``settings``.
"""

from __future__ import annotations

from fhir_server.subscriptions.endpoints import EndpointRefused, check_endpoint
from fhir_server.subscriptions.manager import SubscriptionManager
from fhir_server.subscriptions.settings import SubscriptionSettings
from fhir_server.subscriptions.websocket import websocket_endpoint

__all__ = [
    "EndpointRefused",
    "SubscriptionManager",
    "SubscriptionSettings",
    "check_endpoint",
    "websocket_endpoint",
]
