"""MongoDB storage of current versions and full history.

Layout: one collection per resource type holds the current version of each resource
(``_id`` = the FHIR id), and one ``history`` collection holds every version of every
resource (``_id`` = ``Type/id/0000000007``, zero-padded so that string order is
version order). Each document carries the served JSON as bytes (``j``) so that reads
return stored bytes without parsing.

Consistency: every write changes the current document and appends the history
document inside ONE multi-document transaction, so a crash between the two writes
cannot leave them disagreeing: either both are durable or neither is (the driver's
commit is the acknowledgement the client gets). Optimistic concurrency: an update
only applies if the current version is still the one read in the transaction
(``{_id, v}`` filter); a concurrent winner makes the loser retry from a fresh read,
so concurrent updates get consecutive versions and none is lost, while ``If-Match``
losers get :class:`VersionConflict` (HTTP 412).

Known versions: an update or delete needs the current version before it writes (the new
version number is in the stored JSON). The repository remembers the version and deletion
state of the resources it last committed or read (:class:`KnownVersions`) and, when it knows
them, writes straight away with that state in the ``{_id, v, d}`` filter, sparing the read that
otherwise opens the transaction (on SecantusDB a third of an update's database time). A stale
guess (another process wrote since) matches nothing, writes nothing, and the same transaction
then reads the current version as before: the guess changes the cost, never the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import bson
import orjson
from bson.binary import Binary
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from fhir_server.storage.cursor import Cursor
from fhir_server.storage.records import HistoryPage, StoredVersion, VersionConflict, fhir_instant, now_ms

T = TypeVar("T")
# Called with the versions a transaction wrote (of the types it watches) once it has committed.
CommitObserver = Callable[[list[StoredVersion]], Awaitable[None]]
# The versions written by the transaction body running in this task (reset at each attempt).
_WRITTEN: contextvars.ContextVar[list[StoredVersion] | None] = contextvars.ContextVar(
    "passerelle_written", default=None
)
# Set while this task holds one of the repository's write-transaction slots (a nested
# transaction, begun from inside a body, must not wait for a slot its caller holds).
_IN_SLOT: contextvars.ContextVar[bool] = contextvars.ContextVar("passerelle_write_slot", default=False)
_log = logging.getLogger(__name__)
# Given the type and the resource as stored (id and meta set), the values to keep beside it
# for search (written in field ``s`` of the current document, in the same transaction).
Indexer = Callable[[str, dict[str, Any]], dict[str, Any]]
# A business rule run inside the writing transaction before each write of its types:
# (session, type, id, new resource or None for a delete, current body or None) -> raises to refuse.
WriteRule = Callable[
    [AsyncClientSession, str, str, dict[str, Any] | None, dict[str, Any] | None], Awaitable[None]
]

HISTORY = "history"
# What a read needs of a current document: never the search values.
_SERVED = {"v": 1, "ts": 1, "d": 1, "j": 1}
_MAX_ATTEMPTS = 200
# Acknowledge a write only once it is journaled (and, on a replica set, on a majority).
_DURABLE = WriteConcern(w="majority", j=True)


class _Stale(Exception):
    """A write guessed from :class:`KnownVersions` matched nothing: read the current version."""


class KnownVersions:
    """``(type, id) -> (version, deleted)`` of the resources last committed or read by this
    process, bounded (the oldest entries go first). Only a hint: see the module's doc."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._known: dict[tuple[str, str], tuple[int, bool]] = {}

    def get(self, type_: str, id_: str) -> dict[str, Any] | None:
        """The current document's ``{"v", "d"}`` as last seen, or ``None``."""
        known = self._known.get((type_, id_))
        return None if known is None else {"v": known[0], "d": known[1]}

    def remember(self, type_: str, id_: str, version: int, deleted: bool) -> None:
        key = (type_, id_)
        previous = self._known.get(key)
        if previous is not None and previous[0] > version:
            return  # an older version read after a newer one was committed here
        if previous is None and len(self._known) >= self.size:
            del self._known[next(iter(self._known))]
        self._known[key] = (version, deleted)

    def forget(self, type_: str, id_: str) -> None:
        self._known.pop((type_, id_), None)


@dataclass
class TransactionStats:
    """Write transactions this repository committed, and how many times their bodies ran: a body
    runs again after a write conflict, so ``bodies / transactions`` is 1.0 without conflicts."""

    transactions: int = 0
    bodies: int = 0


@dataclass
class PreparedCreates:
    """Documents of new resources built before their transaction (:meth:`MongoRepository.prepare_creates`):
    ``(type, id) -> (the resource they were built from, current and history documents as BSON, version)``."""

    ts: datetime
    built: dict[tuple[str, str], tuple[dict[str, Any], Any, Any, StoredVersion]] = field(default_factory=dict)


class _Retry(Exception):
    """A concurrent writer won the race: run the transaction again from a fresh read."""


def history_key(type_: str, id_: str, version: int) -> str:
    return f"{type_}/{id_}/{version:010d}"


def _stamp(resource: dict[str, Any], type_: str, id_: str, version: int, ts: datetime) -> dict[str, Any]:
    """The resource with id and meta set by the server, whatever the client sent."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = fhir_instant(ts)
    out: dict[str, Any] = {"resourceType": type_, "id": id_, "meta": meta}
    for key, value in resource.items():
        if key not in out:
            out[key] = value
    return out


def version_from_doc(doc: dict[str, Any], type_: str, id_: str) -> StoredVersion:
    """A stored version from a current or history document."""
    body = doc.get("j")
    return StoredVersion(
        type=type_,
        id=id_,
        version=int(doc["v"]),
        last_updated=doc["ts"],
        deleted=bool(doc.get("d")),
        body=bytes(body) if body is not None else None,
        method=doc.get("m", "PUT"),
    )


class MongoRepository:
    """The repository interface of the server, implemented on MongoDB."""

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        database: str,
        *,
        indexer: Indexer | None = None,
        bounded_transactions: int = 0,
    ) -> None:
        """``bounded_transactions``: how many of the transactions run with ``bounded=True`` (those
        of transaction Bundles) are open at once (0: no bound); see :meth:`run_transaction`."""
        self.client = client
        self.db = client[database]
        self.history = self.db[HISTORY]
        self.indexer = indexer
        self.bounded_transactions = bounded_transactions
        self.stats = TransactionStats()
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._observers: list[tuple[frozenset[str], CommitObserver]] = []
        self._rules: list[tuple[frozenset[str], WriteRule]] = []
        self.known = KnownVersions()
        self._collections: dict[str, AsyncCollection[dict[str, Any]]] = {}

    def collection(self, type_: str) -> AsyncCollection[dict[str, Any]]:
        """The collection of ``type_``'s current versions (one object per type: the driver builds
        a new one, options and all, at each ``db[name]``)."""
        coll = self._collections.get(type_)
        if coll is None:
            coll = self._collections[type_] = self.db[type_]
        return coll

    def add_rule(self, types: frozenset[str], rule: WriteRule) -> None:
        """Run ``rule`` before every write of ``types``, inside its transaction (REST, Bundles,
        PATCH, operations alike): a refusal rolls the whole transaction back."""
        self._rules.append((types, rule))

    def add_db_rule(self, types: frozenset[str], rule: Callable[..., Awaitable[None]]) -> None:
        """:meth:`add_rule` for a rule that also needs the database: ``rule(db, session, type, id,
        new, current)``."""

        async def bound(
            session: AsyncClientSession,
            type_: str,
            id_: str,
            new: dict[str, Any] | None,
            current: dict[str, Any] | None,
        ) -> None:
            await rule(self.db, session, type_, id_, new, current)

        self.add_rule(types, bound)

    async def _check_rules(
        self,
        session: AsyncClientSession,
        type_: str,
        id_: str,
        resource: dict[str, Any] | None,
        current: dict[str, Any] | None,
    ) -> None:
        rules = self._rules_for(type_)
        if not rules:
            return
        body = None
        if current is not None and not current.get("d"):
            doc = await self.collection(type_).find_one({"_id": id_}, {"j": 1}, session=session)
            body = orjson.loads(bytes(doc["j"])) if doc and doc.get("j") else None
        for rule in rules:
            await rule(session, type_, id_, resource, body)

    def observe(self, types: frozenset[str], observer: CommitObserver) -> None:
        """Call ``observer`` with the versions of ``types`` each transaction wrote, after its commit.

        After, not during: a rolled-back transaction (a failed Bundle entry, a retried conflict)
        must not be seen by caches built from stored resources (the terminology service).
        """
        self._observers.append((types, observer))

    def _record(self, version: StoredVersion) -> StoredVersion:
        written = _WRITTEN.get()
        if written is not None:
            written.append(version)
        return version

    async def _notify(self, written: list[StoredVersion]) -> None:
        for types, observer in self._observers:
            versions = [v for v in written if v.type in types]
            if versions:
                try:
                    await observer(versions)
                except Exception:  # the write is committed: report, never turn it into an error
                    _log.exception("commit observer failed")

    async def ensure_indexes(self) -> None:
        """Create the history indexes; idempotent (createIndexes on an existing index is a no-op)."""
        await self.history.create_index(
            [("t", ASCENDING), ("i", ASCENDING), ("ts", DESCENDING), ("_id", DESCENDING)], name="instance_ts"
        )
        await self.history.create_index(
            [("t", ASCENDING), ("ts", DESCENDING), ("_id", DESCENDING)], name="type_ts"
        )
        await self.history.create_index([("ts", DESCENDING), ("_id", DESCENDING)], name="system_ts")

    # -- transactions -------------------------------------------------------------------

    async def run_transaction(
        self, body: Callable[[AsyncClientSession], Awaitable[T]], *, bounded: bool = False
    ) -> T:
        """Run ``body(session)`` in one transaction, retrying it whole on write conflicts.

        Several repository writes can share it by passing ``session=`` (e.g. a FHIR
        transaction Bundle): they then commit or roll back together.

        ``bounded``: a large transaction (a transaction Bundle's) that waits, before it opens,
        for one of the ``bounded_transactions`` slots. On the embedded SecantusDB, which runs
        one statement at a time, two large transactions open together only take turns at the
        database and conflict (an index's multikey flag, set inside the transaction that first
        stores an array in it, is one row of its catalog): one slot keeps the database busy with
        one while the server prepares the next, and spares the conflicts. The slot is held by
        each attempt only, never while the commit observers run.
        """
        written: list[StoredVersion] = []
        runs = 0

        async def attempt_body(session: AsyncClientSession) -> T:
            nonlocal runs
            runs += 1
            self.stats.bodies += 1
            written.clear()  # with_transaction may run the body again
            return await body(session)

        for attempt in range(_MAX_ATTEMPTS):
            token = _WRITTEN.set(written)
            try:
                async with self._slot(bounded), self.client.start_session() as session:
                    result = await session.with_transaction(attempt_body, write_concern=_DURABLE)
                self.stats.transactions += 1
                if runs > 1:
                    _log.info("write transaction committed after %d runs of its body (write conflicts)", runs)
                for version in written:
                    self.known.remember(version.type, version.id, version.version, version.deleted)
                if written and self._observers:
                    await self._notify(list(written))
                return result
            except (_Retry, DuplicateKeyError):
                for version in written:  # what this process remembers of them may be stale
                    self.known.forget(version.type, version.id)
            except PyMongoError as exc:
                if not exc.has_error_label("TransientTransactionError"):
                    raise
            finally:
                _WRITTEN.reset(token)
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))
        raise RuntimeError("write did not settle after repeated conflicts")

    @contextlib.asynccontextmanager
    async def _slot(self, bounded: bool) -> AsyncIterator[None]:
        """Hold one of the ``bounded_transactions`` slots (nothing when unbounded, or nested)."""
        if not bounded or self.bounded_transactions <= 0 or _IN_SLOT.get():
            yield
            return
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(self.bounded_transactions), loop
        async with self._slots:
            token = _IN_SLOT.set(True)
            try:
                yield
            finally:
                _IN_SLOT.reset(token)

    async def _run(
        self, body: Callable[[AsyncClientSession], Awaitable[T]], session: AsyncClientSession | None
    ) -> T:
        return await body(session) if session is not None else await self.run_transaction(body)

    # -- reads ----------------------------------------------------------------------------

    async def read(
        self, type_: str, id_: str, *, session: AsyncClientSession | None = None
    ) -> StoredVersion | None:
        """The current version (a deletion included); inside ``session``, as that transaction sees it."""
        doc = await self.collection(type_).find_one({"_id": id_}, _SERVED, session=session)
        if doc is None:
            return None
        version = version_from_doc(doc, type_, id_)
        if session is None:  # committed state (inside a transaction it may be its own, uncommitted)
            self.known.remember(type_, id_, version.version, version.deleted)
        return version

    async def vread(self, type_: str, id_: str, version: int) -> StoredVersion | None:
        doc = await self.history.find_one({"_id": history_key(type_, id_, version)})
        return None if doc is None else version_from_doc(doc, type_, id_)

    # -- writes ---------------------------------------------------------------------------

    async def create(
        self,
        type_: str,
        resource: dict[str, Any],
        *,
        id_: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> StoredVersion:
        """Store a new resource (history method POST) under a server-assigned id, or ``id_``.

        ``id_`` is for ids chosen beforehand by the server, e.g. a transaction's ``urn:uuid``
        entries whose references must be rewritten before anything is written.
        """
        id_ = id_ or str(uuid.uuid4())

        async def body(session: AsyncClientSession) -> StoredVersion:
            return await self._write(session, type_, id_, resource, None, "POST")

        return await self._run(body, session)

    def _new_documents(
        self, type_: str, id_: str, resource: dict[str, Any], ts: datetime
    ) -> tuple[dict[str, Any], dict[str, Any], StoredVersion]:
        """The current and history documents of a new resource (version 1), and its version."""
        stored = _stamp(resource, type_, id_, 1, ts)
        data = orjson.dumps(stored)
        fields: dict[str, Any] = {"v": 1, "ts": ts, "d": False, "j": Binary(data)}
        doc: dict[str, Any] = {"_id": id_, **fields}
        if self.indexer is not None:
            doc["s"] = self.indexer(type_, stored)
        history = {"_id": history_key(type_, id_, 1), "t": type_, "i": id_, "m": "POST", **fields}
        return doc, history, StoredVersion(type_, id_, 1, ts, False, data, "POST")

    def prepare_creates(self, items: list[tuple[str, str, dict[str, Any]]]) -> PreparedCreates:
        """Build beforehand, outside any transaction, what :meth:`create_many` writes for ``items``.

        The CPU of a create (the stored JSON, the search values) is then spent once, not once per
        run of a transaction body the database makes run again after a write conflict. Resources
        of types a write rule watches are left out: a rule may amend the resource inside the
        transaction (:meth:`add_rule`), so theirs are built there, after it ran. The timestamp
        (``meta.lastUpdated``, history order) is the one taken here, shared by every resource of
        the transaction whatever the number of runs.
        """
        prepared = PreparedCreates(now_ms())
        options = self.db.codec_options
        for type_, id_, resource in items:
            if not self._rules_for(type_):
                doc, hist, version = self._new_documents(type_, id_, resource, prepared.ts)
                # as BSON already: the driver sends these bytes as they are, at every run
                raw, raw_hist = (RawBSONDocument(bson.encode(d, codec_options=options)) for d in (doc, hist))
                prepared.built[(type_, id_)] = (resource, raw, raw_hist, version)
        return prepared

    def _rules_for(self, type_: str) -> list[WriteRule]:
        return [rule for types, rule in self._rules if type_ in types]

    async def create_many(
        self,
        items: list[tuple[str, str, dict[str, Any]]],
        *,
        session: AsyncClientSession,
        prepared: PreparedCreates | None = None,
    ) -> list[StoredVersion]:
        """Store new resources ``(type, id, resource)`` as version 1 with one ``insert_many`` per collection.

        For the creates of a transaction Bundle: each single create costs two round trips
        (current and history documents), which dominated ingest time. Same documents as
        :meth:`create` writes, inside the caller's ``session`` (all or nothing). ``prepared``
        (:meth:`prepare_creates`) holds documents built beforehand for some of the items (the
        same resource objects); the others are built here, after the write rules ran.
        """
        ts = prepared.ts if prepared is not None else now_ms()
        current: dict[str, list[dict[str, Any]]] = {}
        history: list[dict[str, Any]] = []
        out: list[StoredVersion] = []
        for type_, id_, resource in items:
            built = prepared.built.get((type_, id_)) if prepared is not None else None
            if built is not None and built[0] is resource:
                doc, hist, version = built[1:]
            else:
                await self._check_rules(session, type_, id_, resource, None)
                doc, hist, version = self._new_documents(type_, id_, resource, ts)
            current.setdefault(type_, []).append(doc)
            history.append(hist)
            out.append(self._record(version))
        for type_, docs in current.items():
            await self.collection(type_).insert_many(docs, ordered=True, session=session)
        if history:
            await self.history.insert_many(history, ordered=True, session=session)
        return out

    async def update(
        self,
        type_: str,
        id_: str,
        resource: dict[str, Any],
        *,
        if_match: int | None = None,
        session: AsyncClientSession | None = None,
    ) -> tuple[StoredVersion, bool]:
        """Store a new version; returns it and whether the resource was (re)created."""

        async def body(session: AsyncClientSession) -> tuple[StoredVersion, bool]:
            guess = self._guess(type_, id_, if_match)
            if guess is not None:
                try:
                    version = await self._write(session, type_, id_, resource, guess, "PUT", guessed=True)
                    return version, bool(guess["d"])
                except _Stale:
                    self.known.forget(type_, id_)
            current = await self.collection(type_).find_one({"_id": id_}, {"v": 1, "d": 1}, session=session)
            if if_match is not None and (current is None or current["v"] != if_match):
                raise VersionConflict(None if current is None else current["v"])
            created = current is None or bool(current.get("d"))
            return await self._write(session, type_, id_, resource, current, "PUT"), created

        return await self._run(body, session)

    async def delete(
        self, type_: str, id_: str, *, if_match: int | None = None, session: AsyncClientSession | None = None
    ) -> StoredVersion | None:
        """Logically delete; ``None`` when there was nothing to delete (already gone or never there)."""

        async def body(session: AsyncClientSession) -> StoredVersion | None:
            guess = self._guess(type_, id_, if_match)
            if guess is not None and not guess["d"]:
                try:
                    return await self._write(session, type_, id_, None, guess, "DELETE", guessed=True)
                except _Stale:
                    self.known.forget(type_, id_)
            current = await self.collection(type_).find_one({"_id": id_}, {"v": 1, "d": 1}, session=session)
            if if_match is not None and (current is None or current["v"] != if_match):
                raise VersionConflict(None if current is None else current["v"])
            if current is None or current.get("d"):
                return None
            return await self._write(session, type_, id_, None, current, "DELETE")

        return await self._run(body, session)

    def _guess(self, type_: str, id_: str, if_match: int | None) -> dict[str, Any] | None:
        """The current ``{"v", "d"}`` this process knows, to write without reading first; ``None``
        to read: unknown, not the version ``If-Match`` names, or a type whose write rules read the
        current body (they would read it before the guess is checked)."""
        guess = self.known.get(type_, id_)
        if guess is None or (if_match is not None and guess["v"] != if_match) or self._rules_for(type_):
            return None
        return guess

    async def _write(
        self,
        session: AsyncClientSession,
        type_: str,
        id_: str,
        resource: dict[str, Any] | None,
        current: dict[str, Any] | None,
        method: str,
        *,
        guessed: bool = False,
    ) -> StoredVersion:
        """Write version ``current.v + 1`` (1 without ``current``). ``guessed``: ``current`` comes
        from :class:`KnownVersions`, not from a read in this transaction; :class:`_Stale` when the
        document is no longer in that state (nothing written)."""
        await self._check_rules(session, type_, id_, resource, current)
        version = 1 if current is None else int(current["v"]) + 1
        ts = now_ms()
        stored = None if resource is None else _stamp(resource, type_, id_, version, ts)
        data = None if stored is None else orjson.dumps(stored)
        fields: dict[str, Any] = {
            "v": version,
            "ts": ts,
            "d": resource is None,
            "j": None if data is None else Binary(data),
        }
        current_fields = dict(fields)
        coll = self.collection(type_)
        history_doc = {"_id": history_key(type_, id_, version), "t": type_, "i": id_, "m": method, **fields}
        if current is None and stored is not None and self.indexer is not None:
            # A new resource: its history version is written first, and its search values are
            # extracted while the database works on it (CPU here, overlapping the wait there).
            pending = asyncio.ensure_future(self._insert_history(history_doc, session))
            try:
                await asyncio.sleep(0)  # the insert goes out before the extraction holds the loop
                current_fields["s"] = self.indexer(type_, stored)
            finally:
                await pending  # never left running: the session is this transaction's
            await coll.insert_one({"_id": id_, **current_fields}, session=session)
            return self._record(StoredVersion(type_, id_, version, ts, False, data, method))
        if self.indexer is not None:
            current_fields["s"] = None if stored is None else self.indexer(type_, stored)
        if current is None:
            await coll.insert_one({"_id": id_, **current_fields}, session=session)
        else:
            match = {"_id": id_, "v": current["v"]}
            if guessed:
                match["d"] = bool(current["d"])
            result = await coll.update_one(match, {"$set": current_fields}, session=session)
            if result.matched_count != 1:
                raise _Stale if guessed else _Retry
        await self._insert_history(history_doc, session)
        return self._record(StoredVersion(type_, id_, version, ts, resource is None, data, method))

    async def _insert_history(self, doc: dict[str, Any], session: AsyncClientSession) -> None:
        """Write one history version (a coroutine of this module, also when run as its own task)."""
        await self.history.insert_one(doc, session=session)

    # -- history --------------------------------------------------------------------------

    async def history_page(
        self,
        type_: str | None = None,
        id_: str | None = None,
        *,
        since: datetime | None = None,
        at: tuple[datetime, datetime] | None = None,
        count: int = 50,
        cursor: Cursor | None = None,
    ) -> HistoryPage:
        """One page of versions, newest first, at system, type or instance level."""
        base: dict[str, Any] = {}
        if type_ is not None:
            base["t"] = type_
        if id_ is not None:
            base["i"] = id_
        if since is not None:
            base["ts"] = {"$gte": since}
        if at is not None:
            base["_id"] = {"$in": await self._current_during(base, *at)}
        total = await self.history.count_documents(base)
        if count == 0:
            return HistoryPage([], total, None, None)

        forward = cursor is None or cursor.forward
        query = dict(base)
        if cursor is not None:
            op = "$lt" if forward else "$gt"
            position = {"$or": [{"ts": {op: cursor.ts}}, {"ts": cursor.ts, "_id": {op: cursor.key}}]}
            query = {"$and": [base, position]} if base else position
        direction = DESCENDING if forward else ASCENDING
        docs = await self.history.find(query).sort([("ts", direction), ("_id", direction)]).to_list(count + 1)
        more = len(docs) > count
        docs = docs[:count]
        if not forward:
            docs.reverse()
        entries = [version_from_doc(d, d["t"], d["i"]) for d in docs]
        next_cursor = prev_cursor = None
        if docs:
            first, last = docs[0], docs[-1]
            if (forward and more) or (not forward):
                next_cursor = Cursor(last["ts"], last["_id"], True).encode()
            if (cursor is not None and forward) or (not forward and more):
                prev_cursor = Cursor(first["ts"], first["_id"], False).encode()
        return HistoryPage(entries, total, next_cursor, prev_cursor)

    async def _current_during(self, base: dict[str, Any], start: datetime, end: datetime) -> list[str]:
        """Keys of the versions that were current at some point in ``[start, end)``.

        Those written inside the period, plus for each resource the last version written
        before it (it was current when the period began).
        """
        inside = self.history.find({**base, "ts": {"$gte": start, "$lt": end}}, {"_id": 1})
        keys = [d["_id"] async for d in inside]
        before_filter = {**base, "ts": {"$lt": start}}
        if "ts" in base:  # _since also given: keep its lower bound
            before_filter = {"$and": [base, {"ts": {"$lt": start}}]}
        pipeline: list[dict[str, Any]] = [
            {"$match": before_filter},
            {"$sort": {"t": 1, "i": 1, "ts": -1, "_id": -1}},
            {"$group": {"_id": {"t": "$t", "i": "$i"}, "k": {"$first": "$_id"}}},
        ]
        async for row in await self.history.aggregate(pipeline):
            keys.append(row["k"])
        return keys
