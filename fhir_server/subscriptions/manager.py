"""Subscriptions (FHIR R4): criteria evaluated after each commit, notifications sent in the background.

- A ``Subscription`` written by a client with status ``requested`` (or ``active``) is checked
  in the background: its ``criteria`` (``Type?search``) must be a search this server runs, its
  channel a ``rest-hook`` to an allowed endpoint (:mod:`.endpoints`) or a ``websocket``; the
  server then sets ``active``, or ``error`` with the reason (``off`` once ``end`` is past).
- The repository calls :meth:`SubscriptionManager.on_commit` after each committed transaction
  (a single write, or a whole Bundle: rolled back, nothing is seen); it only queues the
  versions, so the write is never slowed by a subscriber. A worker evaluates each active
  subscription on the type with the search engine itself (the criteria's filter AND the new
  version's id and version), then each subscription's own queue delivers in order.
- Access: the policy of the token that wrote the Subscription is kept (its claims); a
  resource is sent only when that policy may read it (``can_read``), as a search would.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson

from fhir_server.errors import FhirError
from fhir_server.storage import MongoRepository, StoredVersion, VersionConflict
from fhir_server.subscriptions.delivery import (
    JSON_PAYLOADS,
    XML_PAYLOADS,
    DeliveryFailed,
    WebSocketHub,
    post_with_retries,
)
from fhir_server.subscriptions.endpoints import EndpointRefused, check_endpoint
from fhir_server.subscriptions.settings import SubscriptionSettings

log = logging.getLogger("passerelle.subscriptions")

OWNERS = "subscription_owners"
CHANNELS = ("rest-hook", "websocket")
# Set while the manager itself writes a Subscription (status changes), seen by on_commit.
_SERVER_WRITE: contextvars.ContextVar[bool] = contextvars.ContextVar("passerelle_sub_write", default=False)


class Invalid(ValueError):
    """The subscription cannot be activated; the message (French) becomes its ``error``."""


@dataclass
class Active:
    id: str
    version: int
    type: str
    criteria: list[tuple[str, str]]
    channel: str
    endpoint: str | None
    payload: str | None
    headers: list[tuple[str, str]]
    policy: Any
    queue: asyncio.Queue[StoredVersion] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None


def parse_criteria(raw: Any) -> tuple[str, list[tuple[str, str]]]:
    from fhir_server.validation import RESOURCE_TYPES

    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("criteria manquant (ex. Observation?code=http://loinc.org|8867-4)")
    type_, _, query = raw.strip().partition("?")
    if type_ not in RESOURCE_TYPES:
        raise Invalid(f"criteria : type de ressource inconnu {type_!r}")
    criteria = parse_qsl(query, keep_blank_values=True)
    for name, _ in criteria:
        if name.split(":", 1)[0] in ("_count", "_sort", "_include", "_revinclude", "_summary", "_elements"):
            raise Invalid(f"criteria : {name} n'est pas un critère de recherche")
    return type_, criteria


def _headers(raw: Any) -> list[tuple[str, str]]:
    out = []
    for item in raw or []:
        name, sep, value = str(item).partition(":")
        if not sep or not name.strip() or any(c in name + value for c in "\r\n"):
            raise Invalid(f"channel.header invalide : {item!r} (attendu « Nom: valeur »)")
        if name.strip().lower() in ("host", "content-length", "transfer-encoding"):
            raise Invalid(f"channel.header : {name.strip()} ne peut pas être imposé")
        out.append((name.strip(), value.strip()))
    return out


def _ended(resource: dict[str, Any]) -> bool:
    end = resource.get("end")
    if not isinstance(end, str):
        return False
    try:
        when = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) <= datetime.now(UTC)


class SubscriptionManager:
    """The active subscriptions of one server process (``app.state.subscriptions``)."""

    def __init__(self, repository: MongoRepository, settings: SubscriptionSettings, *, no_auth: bool) -> None:
        self.repository = repository
        self.settings = settings
        self.no_auth = no_auth
        self.hub = WebSocketHub()
        self.active: dict[str, Active] = {}
        self._queue: asyncio.Queue[tuple[list[StoredVersion], Any, bool]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(timeout=settings.timeout, follow_redirects=False, trust_env=False)

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        from fhir_server.validation import RESOURCE_TYPES

        self.repository.observe(frozenset(RESOURCE_TYPES), self.on_commit)
        self._worker = asyncio.create_task(self._evaluate(), name="subscriptions")
        async for doc in self.repository.db["Subscription"].find({"d": False}, {"j": 1, "v": 1}):
            resource = orjson.loads(bytes(doc["j"]))
            if resource.get("status") in ("requested", "active"):
                await self._activate(doc["_id"], int(doc["v"]), resource)

    async def stop(self) -> None:
        tasks = [self._worker, *(a.worker for a in self.active.values())]
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._client.aclose()

    async def on_commit(self, versions: list[StoredVersion]) -> None:
        """Called by the repository after each commit: queue, never wait."""
        from fhir_server.rest.conditional import ACCESS

        self._queue.put_nowait((versions, ACCESS.get(), _SERVER_WRITE.get()))

    # -- evaluation ---------------------------------------------------------------------

    async def _evaluate(self) -> None:
        while True:
            versions, policy, server_write = await self._queue.get()
            for version in versions:
                try:
                    if version.type == "Subscription":
                        await self._changed(version, policy, server_write)
                    elif not version.deleted:
                        await self._match(version)
                except Exception:
                    log.exception("subscription evaluation failed for %s/%s", version.type, version.id)

    async def _changed(self, version: StoredVersion, policy: Any, server_write: bool) -> None:
        current = self.active.get(version.id)
        if server_write and current is not None and current.version == version.version:
            return  # our own activation, already watched
        self.active.pop(version.id, None)
        if current is not None and current.worker is not None:
            current.worker.cancel()
        if version.deleted or version.body is None:
            await self.hub.close_all(version.id)
            await self.repository.db[OWNERS].delete_one({"_id": version.id})
            return
        resource = orjson.loads(version.body)
        if resource.get("status") not in ("requested", "active"):
            await self.hub.close_all(version.id)
            return
        if not server_write:  # a client's write: its token is the subscriber
            claims = None if policy is None or policy.is_unrestricted else dict(policy.claims)
            await self.repository.db[OWNERS].replace_one(
                {"_id": version.id}, {"_id": version.id, "claims": claims}, upsert=True
            )
        await self._activate(version.id, version.version, resource)

    async def _owner_policy(self, subscription_id: str) -> Any:
        from fhir_server.auth.policy import AccessPolicy

        owner = await self.repository.db[OWNERS].find_one({"_id": subscription_id})
        if owner is None:
            if self.no_auth:
                return AccessPolicy.unrestricted()
            raise Invalid("abonné inconnu : recréez l'abonnement avec votre jeton")
        claims = owner.get("claims")
        if claims is None:
            if not self.no_auth:
                raise Invalid("abonnement créé sans autorisation : recréez-le avec un jeton")
            return AccessPolicy.unrestricted()
        return AccessPolicy.from_claims(claims)

    async def _activate(self, id_: str, version: int, resource: dict[str, Any]) -> None:
        """Check a subscription; set it ``active`` (and watch it) or ``error``/``off`` with the reason."""
        try:
            if _ended(resource):
                await self._set_status(id_, version, resource, "off", "abonnement arrivé à échéance (end)")
                return
            active = await self._check(id_, version, resource)
        except Invalid as exc:
            await self._set_status(id_, version, resource, "error", str(exc))
            return
        if resource.get("status") != "active" or "error" in resource:
            version = await self._set_status(id_, version, resource, "active", None)
            if version is None:
                return
            active.version = version
        active.worker = asyncio.create_task(self._deliver(active), name=f"subscription-{id_}")
        self.active[id_] = active

    async def _check(self, id_: str, version: int, resource: dict[str, Any]) -> Active:
        from fhir_server.search import search_query

        type_, criteria = parse_criteria(resource.get("criteria"))
        policy = await self._owner_policy(id_)
        try:
            policy.search_filter(type_, "search-type")
            await search_query(self.repository, type_, criteria)
        except FhirError as exc:
            raise Invalid(f"criteria refusé : {exc}") from exc
        channel = resource.get("channel") or {}
        kind = channel.get("type")
        if kind not in CHANNELS:
            raise Invalid(f"canal {kind!r} non pris en charge (rest-hook ou websocket)")
        payload = channel.get("payload")
        if payload and payload.split(";", 1)[0].strip().lower() not in JSON_PAYLOADS | XML_PAYLOADS:
            raise Invalid(f"payload {payload!r} non pris en charge (application/fhir+json ou +xml)")
        endpoint = channel.get("endpoint")
        if kind == "rest-hook":
            if not isinstance(endpoint, str):
                raise Invalid("channel.endpoint obligatoire pour un rest-hook")
            try:
                await check_endpoint(endpoint, self.settings.allowed_hosts)
            except EndpointRefused as exc:
                raise Invalid(str(exc)) from exc
        return Active(
            id=id_,
            version=version,
            type=type_,
            criteria=criteria,
            channel=kind,
            endpoint=endpoint,
            payload=payload,
            headers=_headers(channel.get("header")),
            policy=policy,
        )

    async def _set_status(
        self, id_: str, version: int, resource: dict[str, Any], status: str, error: str | None
    ) -> int | None:
        """Write the new status (if the client did not change the subscription meanwhile)."""
        updated = {k: v for k, v in resource.items() if k not in ("error", "meta")}
        updated["status"] = status
        if error:
            updated["error"] = error[:1000]
        token = _SERVER_WRITE.set(True)
        try:
            stored, _ = await self.repository.update("Subscription", id_, updated, if_match=version)
        except VersionConflict:
            return None  # the client's newer version is evaluated on its own
        finally:
            _SERVER_WRITE.reset(token)
        if error:
            log.info("subscription %s: %s (%s)", id_, status, error)
        return stored.version

    async def _match(self, version: StoredVersion) -> None:
        from fhir_server.search import search_query

        candidates = [a for a in self.active.values() if a.type == version.type]
        if not candidates or version.body is None:
            return
        resource: dict[str, Any] | None = None
        collection = self.repository.db[version.type]
        for active in candidates:
            try:
                query = (await search_query(self.repository, active.type, active.criteria)).filter
            except FhirError as exc:
                await self._fail(active, f"criteria refusé : {exc}")
                continue
            hit = await collection.find_one(
                {"$and": [query, {"_id": version.id, "v": version.version}]}, {"_id": 1}
            )
            if hit is None:
                continue
            if not active.policy.is_unrestricted:
                resource = resource or orjson.loads(version.body)
                if not active.policy.can_read(version.type, resource):
                    continue
            active.queue.put_nowait(version)

    # -- delivery -------------------------------------------------------------------------

    async def _deliver(self, active: Active) -> None:
        while True:
            version = await active.queue.get()
            if active.channel == "websocket":
                await self.hub.ping(active.id)
                continue
            assert active.endpoint is not None
            try:
                await post_with_retries(
                    self._client,
                    self.settings,
                    active.endpoint,
                    active.headers,
                    active.payload,
                    version.body or b"",
                )
            except DeliveryFailed as exc:
                await self._fail(active, str(exc))
                return

    async def _fail(self, active: Active, reason: str) -> None:
        """Put a subscription in ``error`` with the reason; it stops until the client asks again."""
        if self.active.get(active.id) is active:
            del self.active[active.id]
        doc = await self.repository.db["Subscription"].find_one(
            {"_id": active.id, "d": False}, {"j": 1, "v": 1}
        )
        if doc is not None:
            await self._set_status(active.id, int(doc["v"]), orjson.loads(bytes(doc["j"])), "error", reason)
