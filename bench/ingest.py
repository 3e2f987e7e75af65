"""Transaction ingest: Synthea Bundles through ``POST /fhir`` vs the raw driver's ``insert_many``.

Both sides run in the same process run against the same embedded SecantusDB, as in
:mod:`bench.crud`. The server side posts each patient Bundle as a FHIR transaction (parse,
validation of every entry, reference rewriting, search-index extraction, history, one
multi-document transaction per Bundle). The raw baseline is the least the driver must do
to store the same resources: one ``insert_many`` per resource type and Bundle of documents
shaped like the server's (id, version, timestamp, JSON bytes), with no transaction.
"""

from __future__ import annotations

import asyncio
import tarfile
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pymongo import AsyncMongoClient

from bench.harness import ServerProcess
from bench.http_client import Pool
from bench.shared import synthea_archive
from fhir_server.embedded import EmbeddedMongo

SYNTHEA = synthea_archive()
JSON = "application/fhir+json"


@dataclass(frozen=True)
class IngestResult:
    name: str
    bundles: int
    resources: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


def synthea_bundles(limit: int | None = None, archive: Path = SYNTHEA) -> list[bytes]:
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")),
                         key=lambda m: m.name)  # fmt: skip
        out = []
        for member in members[:limit]:
            handle = tar.extractfile(member)
            if handle is not None:
                out.append(handle.read())
    return out


def _count(data: bytes) -> int:
    return len(orjson.loads(data).get("entry", []))


async def _server_side(port: int, bundles: list[bytes], concurrency: int) -> IngestResult:
    http = Pool("127.0.0.1", port, concurrency)
    headers = {"Content-Type": JSON, "Accept": JSON, "Prefer": "return=minimal"}
    # warm-up: the server builds its search indexes right after start; wait for one Bundle to pass
    smallest = min(bundles, key=len)
    r = await http.request("POST", "/fhir/", smallest, headers)
    assert r.status == 200, r.body[:500]
    queue = list(bundles)
    resources = 0

    async def worker() -> None:
        nonlocal resources
        while queue:
            data = queue.pop()
            reply = await http.request("POST", "/fhir/", data, headers)
            assert reply.status == 200, reply.body[:500]
            resources += _count(data)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    await http.close()
    return IngestResult(
        f"server, transaction Bundles (concurrency {concurrency})", len(bundles), resources, seconds
    )


async def _driver_side(uri: str, bundles: list[bytes]) -> IngestResult:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = mongo["bench_raw_ingest"]
    resources = 0
    started = time.perf_counter()
    for data in bundles:
        by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        now = datetime.now(UTC)
        for entry in orjson.loads(data).get("entry", []):
            resource = entry["resource"]
            id_ = str(uuid.uuid4())
            doc = {"_id": id_, "v": 1, "ts": now, "d": False, "j": orjson.dumps({**resource, "id": id_})}
            by_type[resource["resourceType"]].append(doc)
            resources += 1
        for type_, docs in by_type.items():
            await db[type_].insert_many(docs, ordered=False)
    seconds = time.perf_counter() - started
    await mongo.close()
    return IngestResult("raw driver, insert_many per type and Bundle", len(bundles), resources, seconds)


async def run_ingest(workdir: Path, limit: int | None, concurrency: int) -> tuple[IngestResult, IngestResult]:
    bundles = synthea_bundles(limit)
    with EmbeddedMongo(workdir / "db") as db:
        server = ServerProcess(workdir / "server", mongodb_uri=db.uri).start()
        try:
            served = await _server_side(server.port, bundles, concurrency)
        finally:
            server.stop()
        raw = await _driver_side(db.uri, bundles)
    return served, raw


def format_ingest(served: IngestResult, raw: IngestResult) -> str:
    lines = [
        f"{'ingest (Synthea)':<55} {'bundles':>8} {'resources':>10} {'seconds':>9} {'res/s':>8}",
        "-" * 94,
    ]
    for r in (served, raw):
        lines.append(f"{r.name:<55} {r.bundles:>8} {r.resources:>10} {r.seconds:>9.1f} {r.rate:>8.0f}")
    ratio = served.rate / raw.rate if raw.rate else 0.0
    lines.append(f"ratio server/driver: {ratio:.3f} (same run, same database)")
    return "\n".join(lines)


def main(limit: int | None = None, concurrency: int = 2) -> str:
    if not SYNTHEA.exists():
        return f"ingest bench skipped: {SYNTHEA} is missing (set PASSERELLE_SHARED)"
    with tempfile.TemporaryDirectory(prefix="passerelle-ingest-") as tmp:
        served, raw = asyncio.run(run_ingest(Path(tmp), limit, concurrency))
    return format_ingest(served, raw)
