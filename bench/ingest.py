"""Transaction ingest: Synthea Bundles through ``POST /fhir`` next to two raw-driver baselines.

Everything runs in one process run against embedded SecantusDB servers started for the
purpose; CPU is read from ``/proc`` for the server and the database processes separately
(:mod:`bench.proc`), which on a shared 2-core machine is steadier than wall time.

- **server**: each patient Bundle posted as a FHIR transaction (parse, validation of every
  entry, reference rewriting, search-value extraction, history, one multi-document
  transaction per Bundle), ``concurrency`` Bundles in flight. Run once per search-index
  layout given (``layouts``: today's and the previous one, each on a fresh database), so
  the index work per resource of both is measured in the same run.
- **raw, plain**: the physical limit of the database: one ``insert_many`` per resource type
  and Bundle of plain documents (id, version, timestamp, JSON bytes), no index, no transaction.
- **raw, server's documents**: the same Bundles turned beforehand (outside the timing) into
  the documents the server writes (current version with its search values, history version),
  written by the driver into collections carrying the server's indexes, one journaled
  transaction per Bundle with the same ``insert_many`` calls as the server: what is left
  between it and the server is the server's own overhead.

The growth curve compares the first Bundles (1-10) with the last ones (100-117 of 117).

Both transactional sides report the transaction bodies they ran per Bundle: SecantusDB makes
concurrent transactions conflict (the first document with an array in an indexed field sets
that index's multikey flag, one row of its catalog, inside the transaction), and the loser runs
its body again. The driver counts its own; the server, run at ``--log-level info``, logs each
transaction whose body ran more than once, and the bench adds them up from its log.
"""

from __future__ import annotations

import asyncio
import re
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
from bson.binary import Binary
from pymongo import AsyncMongoClient
from pymongo.write_concern import WriteConcern

from bench.harness import ServerProcess
from bench.http_client import Pool
from bench.proc import CpuMeter
from bench.shared import synthea_archive
from fhir_server.embedded import EmbeddedMongo

SYNTHEA = synthea_archive()
JSON = "application/fhir+json"
FIRST = 10  # the growth curve's first Bundles
LAST = 18  # ...and its last ones (100-117 of the 117)
# What the server side runs with: name -> (server environment, SecantusDB patched). The second is
# the state before issue #13: layout v1 (words always indexed, single-field equality indexes) on
# SecantusDB as released (no catalog cache, no limit streaming: fhir_server/secantus_patch.py).
LAYOUTS: dict[str, tuple[dict[str, str], bool]] = {
    "layout v3, patched SecantusDB": ({}, True),
    "before #13: layout v1, SecantusDB as released": ({"PASSERELLE_SEARCH_LAYOUT": "v1"}, False),
}


@dataclass
class Step:
    """One measured step: resources written, wall seconds, CPU seconds of server and database."""

    name: str
    bundles: int
    resources: int
    seconds: float
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    # transaction bodies run: one per Bundle, more when the database made some run again (write
    # conflicts); for the server, counted from its log (``--log-level info``), 0 when unknown
    bodies: int = 0

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0

    def db_ms(self) -> float:
        return 1000 * self.db_cpu / self.resources if self.resources else 0.0

    def server_ms(self) -> float:
        return 1000 * self.server_cpu / self.resources if self.resources else 0.0

    def runs(self) -> float:
        """Transaction bodies run per Bundle (1.0: no write conflict)."""
        return self.bodies / self.bundles if self.bundles else 0.0


@dataclass
class LayoutRun:
    layout: str
    whole: Step
    first: Step
    last: Step


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


def _segments(n: int) -> list[tuple[int, int]]:
    """Consecutive slices of the Bundles: the first ones, the middle, the last ones."""
    first = min(FIRST, n)
    last_start = max(first, n - LAST)
    return [(a, b) for a, b in ((0, first), (first, last_start), (last_start, n)) if b > a]


async def _post_all(http: Pool, bundles: list[bytes], concurrency: int) -> int:
    headers = {"Content-Type": JSON, "Accept": JSON, "Prefer": "return=minimal"}
    queue = list(reversed(bundles))  # pop() takes them in order
    resources = 0

    async def worker() -> None:
        nonlocal resources
        while queue:
            data = queue.pop()
            reply = await http.request("POST", "/fhir/", data, headers)
            assert reply.status == 200, reply.body[:500]
            resources += _count(data)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return resources


async def _server_side(
    workdir: Path, layout: str, env: dict[str, str], patched: bool, bundles: list[bytes], concurrency: int
) -> LayoutRun:
    """All Bundles through a server with ``env`` on a fresh database, step by step."""
    with EmbeddedMongo(workdir / "db", patched=patched) as db:
        # at level info the server logs each transaction whose body ran more than once
        server = ServerProcess(
            workdir / "server", mongodb_uri=db.uri, env=env, extra_args=["--log-level", "info"]
        ).start(timeout=900)
        try:
            steps: list[Step] = []
            assert server.process is not None and db.process is not None
            for a, b in _segments(len(bundles)):
                # fresh connections per step: the server closes those left idle by the step before
                http = Pool("127.0.0.1", server.port, concurrency)
                meter = CpuMeter(server.process.pid, db.process.pid).start()
                started = time.perf_counter()
                resources = await _post_all(http, bundles[a:b], concurrency)
                seconds = time.perf_counter() - started
                meter.stop()
                await http.close()
                steps.append(Step(f"bundles {a + 1}-{b}", b - a, resources, seconds, meter.server, meter.db))
        finally:
            server.stop()
    bundle_count = sum(s.bundles for s in steps)
    whole = Step(
        f"server, {layout}",
        bundle_count,
        sum(s.resources for s in steps),
        sum(s.seconds for s in steps),
        sum(s.server_cpu for s in steps),
        sum(s.db_cpu for s in steps),
        bundle_count + _extra_runs(server.log_path),
    )
    return LayoutRun(layout, whole, steps[0], steps[-1])


_RUNS = re.compile(r"write transaction committed after (\d+) runs of its body")


def _extra_runs(log: Path) -> int:
    """Transaction bodies the server ran beyond one per transaction (its log at level info)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(int(n) - 1 for n in _RUNS.findall(text))


def _plain_docs(data: bytes) -> dict[str, list[dict[str, Any]]]:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    now = datetime.now(UTC)
    for entry in orjson.loads(data).get("entry", []):
        resource = entry["resource"]
        id_ = str(uuid.uuid4())
        doc = {"_id": id_, "v": 1, "ts": now, "d": False, "j": orjson.dumps({**resource, "id": id_})}
        by_type[resource["resourceType"]].append(doc)
    return by_type


def server_documents(data: bytes) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """The current and history documents the server writes for a transaction Bundle of creates
    (new ids, ``urn:uuid:`` references rewritten, search values extracted by the server's code)."""
    from fhir_server.search import index_resource
    from fhir_server.storage.mongo import _stamp, history_key
    from fhir_server.storage.records import now_ms

    bundle = orjson.loads(data)
    raw = data.decode()
    ids: list[tuple[str, str]] = []
    for entry in bundle.get("entry", []):
        type_ = entry["resource"]["resourceType"]
        id_ = str(uuid.uuid4())
        ids.append((type_, id_))
        if entry.get("fullUrl", "").startswith("urn:uuid:"):
            raw = raw.replace(f'"{entry["fullUrl"]}"', f'"{type_}/{id_}"')
    current: dict[str, list[dict[str, Any]]] = defaultdict(list)
    history: list[dict[str, Any]] = []
    ts = now_ms()
    for (type_, id_), entry in zip(ids, orjson.loads(raw).get("entry", []), strict=True):
        stored = _stamp(entry["resource"], type_, id_, 1, ts)
        fields = {"v": 1, "ts": ts, "d": False, "j": Binary(orjson.dumps(stored))}
        current[type_].append({"_id": id_, **fields, "s": index_resource(type_, stored)})
        history.append({"_id": history_key(type_, id_, 1), "t": type_, "i": id_, "m": "POST", **fields})
    return current, history


async def _raw_side(
    db: EmbeddedMongo, bundles: list[bytes], concurrency: int, *, same_as_server: bool
) -> Step:
    """The raw driver writing ``bundles`` into a fresh database of ``db`` (see the module's doc)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(db.uri, tz_aware=True)
    name = f"bench_raw_{'server' if same_as_server else 'plain'}"
    database = client[name]
    if same_as_server:
        from fhir_server.search import ensure_search_indexes
        from fhir_server.storage import MongoRepository

        repository = MongoRepository(client, name)
        await repository.ensure_indexes()
        types = sorted({e["resource"]["resourceType"] for b in bundles for e in orjson.loads(b)["entry"]})
        await ensure_search_indexes(repository, types)
        prepared: list[Any] = [server_documents(b) for b in bundles]
    else:
        prepared = [_plain_docs(b) for b in bundles]
    durable = WriteConcern(w="majority", j=True)
    queue = list(reversed(prepared))
    resources = 0
    bodies = 0

    async def write(item: Any) -> int:
        if not same_as_server:
            for type_, docs in item.items():
                await database[type_].insert_many(docs, ordered=False)
            return sum(len(d) for d in item.values())
        current, history = item

        async def body(session: Any) -> None:
            nonlocal bodies
            bodies += 1  # with_transaction runs it again after a write conflict
            for type_, docs in current.items():
                await database[type_].insert_many(docs, ordered=True, session=session)
            await database["history"].insert_many(history, ordered=True, session=session)

        async with client.start_session() as session:
            await session.with_transaction(body, write_concern=durable)
        return len(history)

    async def worker() -> None:
        nonlocal resources
        while queue:
            written = await write(queue.pop())
            resources += written  # after the await: ``+=`` across it would lose the other worker's

    assert db.process is not None
    meter = CpuMeter(None, db.process.pid).start()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    meter.stop()
    await client.close()
    label = (
        "raw driver, server's documents + indexes, 1 transaction/Bundle"
        if same_as_server
        else "raw driver, plain documents, no index (insert_many)"
    )
    return Step(label, len(bundles), resources, seconds, 0.0, meter.db, bodies if same_as_server else 0)


async def run_ingest(
    workdir: Path,
    limit: int | None,
    concurrency: int,
    layouts: dict[str, tuple[dict[str, str], bool]] | None = None,
    before_limit: int | None = None,
) -> tuple[list[LayoutRun], Step, Step]:
    """``before_limit``: the runs after the first take only that many Bundles (a shorter run; the
    comparison is then made on the Bundles both took, 1-10)."""
    bundles = synthea_bundles(limit)
    runs = []
    for n, (layout, (env, patched)) in enumerate((layouts or LAYOUTS).items()):
        taken = bundles if n == 0 or before_limit is None else bundles[:before_limit]
        runs.append(await _server_side(workdir / f"layout{n}", layout, env, patched, taken, concurrency))
    with EmbeddedMongo(workdir / "raw" / "db") as db:
        plain = await _raw_side(db, bundles, concurrency, same_as_server=False)
        same = await _raw_side(db, bundles, concurrency, same_as_server=True)
    return runs, plain, same


def format_ingest(runs: list[LayoutRun], plain: Step, same: Step) -> str:
    head = (
        f"{'ingest (Synthea transaction Bundles)':<62} {'bundles':>7} {'resources':>9} {'s':>7} {'res/s':>7}"
    )
    lines = [head + f" {'DB ms/res':>9} {'srv ms/res':>10}", "-" * 117]
    for r in (*[run.whole for run in runs], plain, same):
        lines.append(
            f"{r.name:<62} {r.bundles:>7} {r.resources:>9} {r.seconds:>7.1f} {r.rate:>7.0f}"
            f" {r.db_ms():>9.2f} {r.server_ms() if r.server_cpu else float('nan'):>10.2f}"
        )
    server = runs[0].whole
    lines.append(
        f"ingest ratio server/raw plain: {server.rate / plain.rate:.3f}; "
        f"server/raw with the server's documents and indexes: {server.rate / same.rate:.2f} (aim 0.8)"
    )
    if server.bodies and same.bodies:
        lines.append(
            f"transaction bodies run per Bundle (1.00: no write conflict): server {server.runs():.2f} "
            f"({server.bodies} for {server.bundles}), raw driver with the server's documents "
            f"{same.runs():.2f} ({same.bodies} for {same.bundles})"
        )
    cpu = server.db_ms() + server.server_ms()
    lines.append(
        "the same in CPU per resource (server + DB for the server; DB for the driver, its own process "
        f"left out): {cpu:.2f} ms against {plain.db_ms():.2f} ms plain ({plain.db_ms() / cpu:.3f}) "
        f"and {same.db_ms():.2f} ms with the server's documents and indexes ({same.db_ms() / cpu:.2f})"
    )
    if len(runs) > 1:
        new, old = runs[0].whole, runs[1].whole
        if new.bundles != old.bundles:  # a shorter "before" run: compare the Bundles both took
            new, old = runs[0].first, runs[1].first
        lines.append(
            f"index work ({new.name if new.name.startswith('bundles') else 'all bundles'}): DB CPU per "
            f"ingested resource {new.db_ms():.2f} ms ({runs[0].layout}) against {old.db_ms():.2f} ms "
            f"({runs[1].layout}): "
            f"{new.db_ms() / old.db_ms():.2f}x (aim 0.5x); server CPU {new.server_ms():.2f} against "
            f"{old.server_ms():.2f} ms ({new.server_ms() / old.server_ms():.2f}x)"
        )
    for run in runs:
        f, la = run.first, run.last
        lines.append(
            f"growth ({run.layout}): {f.name} {f.rate:.0f} res/s, DB {f.db_ms():.2f} ms/res; "
            f"{la.name} {la.rate:.0f} res/s, DB {la.db_ms():.2f} ms/res; "
            f"last/first: rate {la.rate / f.rate:.2f}x, DB CPU {la.db_ms() / f.db_ms():.2f}x"
        )
    return "\n".join(lines)


Layouts = dict[str, tuple[dict[str, str], bool]]


def main(
    limit: int | None = None,
    concurrency: int = 2,
    layouts: Layouts | None = None,
    before_limit: int | None = None,
) -> str:
    if not SYNTHEA.exists():
        return f"ingest bench skipped: {SYNTHEA} is missing (set PASSERELLE_SHARED)"
    with tempfile.TemporaryDirectory(prefix="passerelle-ingest-") as tmp:
        runs, plain, same = asyncio.run(run_ingest(Path(tmp), limit, concurrency, layouts, before_limit))
    return format_ingest(runs, plain, same)


if __name__ == "__main__":
    import sys

    limit = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "all" else None
    print(main(limit, before_limit=int(sys.argv[2]) if len(sys.argv) > 2 else None))
