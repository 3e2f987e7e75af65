"""The export itself: stream each type's resources from MongoDB into NDJSON files.

One cursor per type (``batch_size`` documents at a time, only the stored JSON bytes
projected), never the whole set in memory. The state exported is the one at the job's
``transactionTime`` T (the IG: no resource modified after it): a document updated or deleted
since T is replaced by its version current at T, read from the history collection. With
``_since``, resources deleted in (``_since``, T] are listed as ``DELETE`` entries of
transaction Bundles (the manifest's ``deleted``).

Access: the caller's policy (a SMART Backend Services token, or unrestricted for the
command line and ``--no-auth``) is applied to every type (its search filter, ANDed into the
query) and to every resource (``can_read``), exactly as searches apply it.

Used by the background jobs of ``$export`` and by ``passerelle export``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pymongo import DESCENDING

from fhir_server.bulk.request import ExportRequest, bad
from fhir_server.bulk.writer import NdjsonSeries, OutputFile
from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.storage import MongoRepository

BATCH = 1000  # documents per cursor round trip
STEP = 100  # documents between progress reports, rate checks and yields to the event loop
_PROJECTION = {"j": 1, "ts": 1, "d": 1, "v": 1}
Progress = Callable[[str, int], Awaitable[None]]


@dataclass
class TypeResult:
    type: str
    output: list[OutputFile] = field(default_factory=list)
    deleted: list[OutputFile] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # OperationOutcomes

    @property
    def count(self) -> int:
        return sum(f.count for f in self.output)


def compartment_types() -> list[str]:
    from fhir_server.auth.compartment import compartment_params
    from fhir_server.validation import RESOURCE_TYPES

    return sorted(t for t in RESOURCE_TYPES if compartment_params(t) is not None)


def export_types(request: ExportRequest, policy: Any) -> list[str]:
    """The types to export: asked (``_type``) or all the level allows; 403 for an asked type the
    token may not read, silently left out when not asked."""
    from fhir_server.validation import RESOURCE_TYPES

    allowed = sorted(RESOURCE_TYPES) if request.level == "system" else compartment_types()
    if request.types is not None:
        outside = [t for t in request.types if t not in allowed]
        if outside:
            raise bad(
                f"_type : {', '.join(outside)} hors du compartiment Patient (export par patient).", "_type"
            )
        for type_ in request.types:
            _check_readable(policy, type_)
        return list(request.types)
    if policy is None or policy.is_unrestricted:
        return allowed
    return [t for t in allowed if _readable(policy, t)]


def _check_readable(policy: Any, type_: str) -> None:
    if policy is None or policy.is_unrestricted:
        return
    policy.grant(type_, "read")  # 403 without a read scope
    policy.search_filter(type_, "search-type")  # 403 without a search scope (or a role that may not)


def _readable(policy: Any, type_: str) -> bool:
    try:
        _check_readable(policy, type_)
    except FhirError:
        return False
    return True


async def group_members(repository: MongoRepository, group_id: str) -> list[str]:
    """The ids of the Patients a Group lists as active members (404 when the Group does not exist)."""
    doc = await repository.db["Group"].find_one({"_id": group_id}, {"j": 1, "d": 1})
    if doc is None or doc.get("d"):
        raise FhirError(404, "not-found", f"Group/{group_id} introuvable.")
    group = orjson.loads(bytes(doc["j"]))
    out = []
    for member in group.get("member") or []:
        ref = (member.get("entity") or {}).get("reference", "")
        if member.get("inactive") is True or not isinstance(ref, str):
            continue
        type_, _, id_ = ref.rpartition("/")
        if type_.rsplit("/", 1)[-1] == "Patient" and id_:
            out.append(id_)
    return list(dict.fromkeys(out))


async def non_empty(repository: MongoRepository, types: list[str]) -> list[str]:
    """``types`` without those whose collection is empty (most of the 146), counted concurrently."""
    limit = asyncio.Semaphore(16)

    async def count(type_: str) -> int:
        async with limit:
            return int(await repository.db[type_].estimated_document_count())

    counts = await asyncio.gather(*(count(t) for t in types))
    return [t for t, n in zip(types, counts, strict=True) if n]


@dataclass
class Export:
    """One run of an export into ``directory`` (the same for the server's jobs and the CLI)."""

    repository: MongoRepository
    request: ExportRequest
    policy: Any  # AccessPolicy, or None for no restriction
    transaction_time: datetime
    directory: Path
    file_max_bytes: int
    max_rate: float = 0.0
    progress: Progress | None = None
    patients: list[str] | None = None  # patient/group level: the patients (None: all)
    _read: int = 0
    _started: float = field(default_factory=time.monotonic)

    async def base_filter(self, type_: str) -> dict[str, Any]:
        """Everything but the time bounds: access, patients, ``_typeFilter``."""
        from fhir_server.auth.compartment import compartment_filter, compartment_params
        from fhir_server.search import search_query

        parts: list[dict[str, Any]] = []
        if self.policy is not None and not self.policy.is_unrestricted:
            restriction = self.policy.search_filter(type_, "search-type")
            if restriction is not None:
                parts.append(restriction)
        if self.request.level != "system":
            if self.patients is not None:
                compartment = compartment_filter(type_, self.patients)
                if compartment is not None:
                    parts.append(compartment)
            elif type_ != "Patient":
                params = compartment_params(type_) or ()
                parts.append({"$or": [{f"s.{p}": {"$regex": "^Patient/"}} for p in params]})
        queries = self.request.type_filters.get(type_)
        if queries:
            filters = []
            for criteria in queries:
                try:
                    filters.append((await search_query(self.repository, type_, criteria)).filter)
                except FhirError as exc:
                    raise bad(f"_typeFilter {type_} : {exc}", "_typeFilter") from exc
            parts.append(filters[0] if len(filters) == 1 else {"$or": filters})
        if not parts:
            return {}
        return parts[0] if len(parts) == 1 else {"$and": parts}

    async def run_type(self, type_: str) -> TypeResult:
        """Export one type; its files are complete (fsynced) when this returns."""
        result = TypeResult(type_)
        series = NdjsonSeries(self.directory, type_, self.file_max_bytes)
        deleted = NdjsonSeries(self.directory, type_, self.file_max_bytes, prefix="deleted-")
        try:
            try:
                query = await self.base_filter(type_)
            except FhirError as exc:
                result.errors.append(operation_outcome(exc.issues))
                return result
            since = self.request.since
            if since is not None:
                query = {"$and": [query, {"ts": {"$gt": since}}]} if query else {"ts": {"$gt": since}}
            restricted = self.policy is not None and not self.policy.is_unrestricted
            cursor = self.repository.db[type_].find(query, _PROJECTION, batch_size=BATCH)
            pending = 0
            async for doc in cursor:
                pending += 1
                body = await self._as_of(type_, doc)
                if body is None:
                    continue
                if body is _DELETED:
                    if since is not None and await self._may_know_deleted(type_, doc["_id"]):
                        await deleted.add(_deletion_bundle(type_, doc["_id"]))
                    continue
                if restricted and not self.policy.can_read(type_, orjson.loads(body)):
                    continue
                if self.request.elements:
                    body = _subset(body, type_, self.request.elements)
                await series.add(body)
                if pending >= STEP:
                    await self._batch_done(type_, series, pending)
                    pending = 0
            await self._batch_done(type_, series, pending)
            await series.close()
            await deleted.close()
        except BaseException:
            series.discard()
            deleted.discard()
            raise
        result.output = series.files
        result.deleted = deleted.files
        return result

    async def _batch_done(self, type_: str, series: NdjsonSeries, read: int) -> None:
        self._read += read
        if self.progress is not None:
            await self.progress(type_, sum(f.count for f in series.files))
        if self.max_rate > 0:
            ahead = self._read / self.max_rate - (time.monotonic() - self._started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        else:
            await asyncio.sleep(0)  # let requests through between batches

    async def _as_of(self, type_: str, doc: dict[str, Any]) -> bytes | object | None:
        """The JSON of the version current at T; ``_DELETED`` when deleted then; None when absent."""
        if doc["ts"] <= self.transaction_time:
            if doc.get("d"):
                return _DELETED
            return bytes(doc["j"])
        # changed after T: its version at T, from the history
        older = await self.repository.history.find_one(
            {"t": type_, "i": doc["_id"], "ts": {"$lte": self.transaction_time}},
            sort=[("ts", DESCENDING), ("_id", DESCENDING)],
        )
        if older is None:
            return None  # created after T
        since = self.request.since
        if since is not None and older["ts"] <= since:
            return None
        return _DELETED if older.get("d") else bytes(older["j"])

    async def _may_know_deleted(self, type_: str, id_: str) -> bool:
        """A deletion is listed only to callers that could read the last version of the resource."""
        if self.policy is None or self.policy.is_unrestricted:
            return True
        last = await self.repository.history.find_one(
            {"t": type_, "i": id_, "d": False}, sort=[("ts", DESCENDING), ("_id", DESCENDING)]
        )
        return last is not None and bool(self.policy.can_read(type_, orjson.loads(bytes(last["j"]))))

    async def missing_patients(self) -> list[dict[str, Any]]:
        """OperationOutcomes for ``patient`` ids that name no Patient (the export goes on without them)."""
        if not self.request.patients:
            return []
        found = {
            d["_id"]
            async for d in self.repository.db["Patient"].find(
                {"_id": {"$in": self.request.patients}, "d": False}, {"_id": 1}
            )
        }
        return [
            operation_outcome([issue("error", "not-found", f"Patient/{p} introuvable.", ["patient"])])
            for p in self.request.patients
            if p not in found
        ]


_DELETED = object()


def _subset(body: bytes, type_: str, elements: list[str]) -> bytes:
    from fhir_server.search.summary import subset

    return subset(body, type_, None, elements)


def _deletion_bundle(type_: str, id_: str) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "DELETE", "url": f"{type_}/{id_}"}}],
        }
    )
