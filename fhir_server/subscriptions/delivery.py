"""Sending notifications: rest-hook POSTs (with retries and backoff) and websocket pings.

A rest-hook notification is a POST to the endpoint with the channel's headers: empty when
the channel has no ``payload``, else the resource in the payload's format (R4
``Subscription.channel.payload``). 2xx is delivered; anything else (or no answer) is retried
after ``backoff``, ``2 × backoff``… up to ``attempts`` times, then the subscription goes to
``error`` with the reason. Websocket subscribers bound with ``bind [id]`` get ``ping [id]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from fhir_server.subscriptions.endpoints import EndpointRefused, check_endpoint
from fhir_server.subscriptions.settings import SubscriptionSettings

log = logging.getLogger("passerelle.subscriptions")

JSON_PAYLOADS = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
XML_PAYLOADS = frozenset({"application/fhir+xml", "application/xml", "application/xml+fhir"})


class DeliveryFailed(Exception):
    """Every attempt failed; the message (French) is the subscription's ``error``."""


def payload_bytes(payload: str | None, body: bytes) -> tuple[bytes, str | None]:
    if not payload:
        return b"", None
    mime = payload.split(";", 1)[0].strip().lower()
    if mime in XML_PAYLOADS:
        from fhir_server.rest.formats import Format, render

        return render(body, Format(xml=True)), "application/fhir+xml"
    return body, "application/fhir+json"


async def post_with_retries(
    client: httpx.AsyncClient,
    settings: SubscriptionSettings,
    endpoint: str,
    headers: list[tuple[str, str]],
    payload: str | None,
    body: bytes,
) -> None:
    data, content_type = payload_bytes(payload, body)
    sent = httpx.Headers(headers)
    if content_type:
        sent["Content-Type"] = content_type
    reason = ""
    for attempt in range(settings.attempts):
        if attempt:
            await asyncio.sleep(settings.backoff * 2 ** (attempt - 1))
        try:
            await check_endpoint(endpoint, settings.allowed_hosts)
        except EndpointRefused as exc:
            raise DeliveryFailed(f"notification refusée : {exc}") from exc
        try:
            response = await client.post(endpoint, content=data, headers=sent)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__} {exc}".strip()
            continue
        if 200 <= response.status_code < 300:
            return
        reason = f"réponse HTTP {response.status_code}"
    raise DeliveryFailed(
        f"échec de la notification vers {endpoint} après {settings.attempts} essais : {reason}"
    )


class WebSocketHub:
    """Websocket connections bound to subscriptions (R4: ``bind``/``bound``/``ping``)."""

    def __init__(self) -> None:
        self._bound: dict[str, set[Any]] = {}

    def bind(self, subscription_id: str, websocket: Any) -> None:
        self._bound.setdefault(subscription_id, set()).add(websocket)

    def unbind(self, websocket: Any) -> None:
        for sockets in self._bound.values():
            sockets.discard(websocket)

    async def ping(self, subscription_id: str) -> None:
        for websocket in list(self._bound.get(subscription_id, ())):
            try:
                await websocket.send_text(f"ping {subscription_id}")
            except Exception:  # a closed connection: forget it
                self._bound[subscription_id].discard(websocket)

    async def close_all(self, subscription_id: str) -> None:
        for websocket in list(self._bound.pop(subscription_id, ())):
            with contextlib.suppress(Exception):
                await websocket.close(code=1000)
