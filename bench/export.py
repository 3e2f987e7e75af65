"""Bulk Data export benchmark: ``$export`` of the Synthea set through a real server vs the raw
driver streaming the same collections into NDJSON files, in the same run, on the same database.

The data set is written once through the repository's own write path (same documents, same
search values as HTTP writes; ``create_many`` per Bundle, so loading takes a minute rather
than the ingest benchmark's minutes). Then:

- server: ``GET /fhir/$export`` (every type) with ``Prefer: respond-async``, polled until the
  manifest is served; resources/s from kick-off to manifest (files written and fsynced);
  the download of the files is timed apart;
- raw driver: for each type the server exported, ``find({}, {j: 1})`` streamed into one NDJSON
  file per type (buffered writes) — the least any exporter must do.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.harness import ServerProcess
from fhir_server.embedded import EmbeddedMongo

SYNTHEA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "synthea-r4" / "bundles.tar.gz"


async def _load(uri: str, database: str, limit: int | None) -> int:
    from fhir_server.search import ensure_search_indexes, index_resource
    from fhir_server.search.reindex import reindex_if_needed
    from fhir_server.search.synthea import read_bundles, resources_of
    from fhir_server.storage import MongoRepository
    from fhir_server.validation import RESOURCE_TYPES

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    repository = MongoRepository(client, database, indexer=index_resource)
    await repository.ensure_indexes()
    # indexes before the data (as a server does at its first start), not built over it at startup
    await ensure_search_indexes(repository, sorted(RESOURCE_TYPES))
    seen: set[tuple[str, str]] = set()
    total = 0
    try:
        for bundle in read_bundles(SYNTHEA, limit):
            items = []
            for type_, id_, resource in resources_of(bundle):
                if (type_, id_) not in seen:  # shared practitioners and organizations: once
                    seen.add((type_, id_))
                    items.append((type_, id_, resource))

            async def body(session: Any, items: list[tuple[str, str, dict[str, Any]]] = items) -> None:
                await repository.create_many(items, session=session)

            await repository.run_transaction(body)
            total += len(items)
        await reindex_if_needed(repository)  # values are current: this only records the marker
    finally:
        await client.close()
    return total


def _server_export(base: str, out: Path) -> tuple[float, float, int, list[str]]:
    """(export seconds, download seconds, resources, types) of one system ``$export``."""
    with httpx.Client(timeout=600) as http:
        started = time.perf_counter()
        kick = http.get(
            f"{base}/$export", headers={"Prefer": "respond-async", "Accept": "application/fhir+json"}
        )
        assert kick.status_code == 202, kick.text
        status = kick.headers["content-location"]
        while True:
            r = http.get(status)
            if r.status_code == 200:
                break
            assert r.status_code == 202, r.text
            time.sleep(0.1)
        exported = time.perf_counter() - started
        manifest = r.json()
        started = time.perf_counter()
        for i, item in enumerate(manifest["output"]):
            with http.stream("GET", item["url"]) as response, open(out / f"{i}.ndjson", "wb") as fh:
                for chunk in response.iter_bytes():
                    fh.write(chunk)
        downloaded = time.perf_counter() - started
    count = sum(o["count"] for o in manifest["output"])
    return exported, downloaded, count, sorted({o["type"] for o in manifest["output"]})


async def _raw_export(uri: str, database: str, types: list[str], out: Path) -> tuple[float, int]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client[database]
    count = 0
    started = time.perf_counter()
    try:
        for type_ in types:
            buffer: list[bytes] = []
            with open(out / f"{type_}.ndjson", "wb") as fh:
                async for doc in db[type_].find({"d": False}, {"j": 1}, batch_size=1000):
                    buffer.append(bytes(doc["j"]))
                    count += 1
                    if len(buffer) >= 1000:
                        fh.write(b"\n".join(buffer) + b"\n")
                        buffer = []
                if buffer:
                    fh.write(b"\n".join(buffer) + b"\n")
    finally:
        await client.close()
    return time.perf_counter() - started, count


def main(bundles: int | None = None) -> str:
    if not SYNTHEA.exists():
        return f"export: skipped (needs {SYNTHEA})"
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-export-") as tmp:
        root = Path(tmp)
        database = f"bench_export_{uuid.uuid4().hex[:8]}"
        with EmbeddedMongo(root / "db") as mongo:
            started = time.perf_counter()
            loaded = asyncio.run(_load(mongo.uri, database, bundles))
            load_s = time.perf_counter() - started
            server = ServerProcess(root / "server", mongodb_uri=mongo.uri, env={"PASSERELLE_DB": database})
            server.start(timeout=900)  # the first start of a loaded database checks its search values
            try:
                (root / "server-out").mkdir()
                exported, downloaded, count, types = _server_export(server.base, root / "server-out")
            finally:
                server.stop()
            (root / "raw-out").mkdir()
            raw_s, raw_count = asyncio.run(_raw_export(mongo.uri, database, types, root / "raw-out"))
    server_rate = count / exported
    raw_rate = raw_count / raw_s
    lines = [
        f"Bulk export of the Synthea set ({loaded} resources loaded in {load_s:.0f} s, {len(types)} types):",
        f"  server $export (kick-off to manifest): {count} resources in {exported:.1f} s"
        f" = {server_rate:,.0f} res/s",
        f"  + download of the files over HTTP: {downloaded:.1f} s "
        f"({count / (exported + downloaded):,.0f} res/s end to end)",
        f"  raw driver find() -> NDJSON: {raw_count} resources in {raw_s:.1f} s = {raw_rate:,.0f} res/s",
        f"  ratio server / raw: {server_rate / raw_rate:.2f} (goal >= 0.50)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
