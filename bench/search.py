"""Search benchmark: a mix of the searches clients run, over loaded Synthea patients.

Each search is timed alternating request by request with a read-by-id, against the same
server and database, and reported as a multiple of that read's p50: on a shared, noisy
machine the ratio of two things measured in the same moments is the figure that means
something (target: every search within 10x a read).

The patients are written in-process through the server's repository (the same write
path and indexer as HTTP writes) so that loading takes seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from bench.harness import ServerProcess
from bench.http_client import Pool
from bench.proc import CpuMeter, cpu_seconds
from bench.shared import synthea_archive
from bench.stats import Result, measure_alternating
from fhir_server.embedded import EmbeddedMongo

ARCHIVE = synthea_archive()
JSON = "application/fhir+json"
READ = "read Patient by id"


async def _load(uri: str, database: str, bundles: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Write ``bundles`` through the repository; the Patient/Observation/Condition/Encounter now stored."""
    from fhir_server.search import ensure_search_indexes, index_resource
    from fhir_server.search.synthea import load
    from fhir_server.storage import MongoRepository

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    repository = MongoRepository(client, database, indexer=index_resource)
    await repository.ensure_indexes()
    types = sorted({e["resource"]["resourceType"] for b in bundles for e in b["entry"]})
    await ensure_search_indexes(repository, types)
    await load(repository, bundles)
    data: dict[str, list[dict[str, Any]]] = {}
    for type_ in ("Patient", "Observation", "Condition", "Encounter"):
        docs = repository.db[type_].find({"d": False}, {"j": 1})
        data[type_] = [orjson.loads(d["j"]) async for d in docs]
    await client.close()
    return data


def _queries(data: dict[str, list[dict[str, Any]]], rng: random.Random) -> dict[str, list[str]]:
    """For each search of the mix, a list of concrete URLs built from real values."""
    patients = data["Patient"]
    observations = data["Observation"]
    conditions = data["Condition"]

    def many(
        make: Callable[[], dict[str, str] | list[tuple[str, str]]], type_: str, n: int = 50
    ) -> list[str]:
        out = []
        for _ in range(n):
            params = make()
            items = list(params.items()) if isinstance(params, dict) else list(params)
            if not any(k == "_count" for k, _ in items):
                items.append(("_count", "20"))  # every search of the mix asks for one page of 20
            out.append(f"/fhir/{type_}?{urlencode(items)}")
        return out

    def patient() -> dict[str, Any]:
        return rng.choice(patients)

    def obs() -> dict[str, Any]:
        return rng.choice(observations)

    def loinc(o: dict[str, Any]) -> str:
        coding = o["code"]["coding"][0]
        return f"{coding['system']}|{coding['code']}"

    def identifier() -> dict[str, str]:
        ident = next(i for i in patient()["identifier"] if i.get("system", "").endswith("us-ssn") or True)
        return {"identifier": f"{ident['system']}|{ident['value']}"}

    def decade() -> list[tuple[str, str]]:
        year = int(patient()["birthDate"][:4]) // 10 * 10
        return [("birthdate", f"ge{year}"), ("birthdate", f"lt{year + 10}")]

    def patient_code_date() -> list[tuple[str, str]]:
        o = obs()
        return [
            ("subject", o["subject"]["reference"]),
            ("code", loinc(o)),
            ("date", "ge2000"),
            ("_sort", "-date"),
        ]

    return {
        READ: [f"/fhir/Patient/{patient()['id']}" for _ in range(50)],
        "Patient?name=<prefix>": many(lambda: {"name": patient()["name"][0]["family"][:4]}, "Patient"),
        "Patient?identifier=<system|value>": many(identifier, "Patient"),
        "Patient?birthdate=ge..&birthdate=lt.. (a decade)": many(decade, "Patient"),
        "Observation?subject&code&date=ge&_sort=-date": many(patient_code_date, "Observation"),
        "Observation?subject&_sort=-date&_count=20": many(
            lambda: [("subject", obs()["subject"]["reference"]), ("_sort", "-date"), ("_count", "20")],
            "Observation",
        ),
        "Observation?code&_include=Observation:subject&_count=20": many(
            lambda: [("code", loinc(obs())), ("_include", "Observation:subject"), ("_count", "20")],
            "Observation",
        ),
        "Patient?_id&_revinclude=Condition:subject": many(
            lambda: [("_id", patient()["id"]), ("_revinclude", "Condition:subject")], "Patient"
        ),
        "Observation?subject:Patient.name&code (chained)": many(
            lambda: (lambda o: [("subject:Patient.name", _family_of(patients, o)), ("code", loinc(o))])(
                obs()
            ),
            "Observation",
        ),
        "Patient?_has:Condition:subject:code (reverse chain)": many(
            lambda: {"_has:Condition:subject:code": rng.choice(conditions)["code"]["coding"][0]["code"]},
            "Patient",
        ),
        "Encounter?subject&_total=accurate": many(
            lambda: {"subject": f"Patient/{patient()['id']}", "_total": "accurate"}, "Encounter"
        ),
    }


def _family_of(patients: list[dict[str, Any]], o: dict[str, Any]) -> str:
    pid = o["subject"]["reference"].split("/", 1)[1]
    match = next((p for p in patients if p["id"] == pid), patients[0])
    return str(match["name"][0]["family"])


async def _settle(uri: str, db_pid: int, *, idle: float = 0.05, longest: float = 60.0) -> float:
    """After a load, before measuring: checkpoint the database (``fsync``) and wait until its
    process is idle (under ``idle`` of a core over half a second, at most ``longest`` seconds).
    A load leaves the storage engine flushing and evicting for a while; without this, whichever
    searches run first after it carry that work in their database CPU (the same settle for both
    sizes of the growth table). Returns the seconds waited."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    start = time.monotonic()
    try:
        await client.admin.command("fsync")
    except PyMongoError:
        pass  # a database without fsync: the idle wait alone
    finally:
        await client.close()
    while time.monotonic() - start < longest:
        before = cpu_seconds(db_pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(db_pid) - before < idle * 0.5:
            break
    return time.monotonic() - start


@dataclass
class _Side:
    """One size of the growth table: its own database process and server."""

    patients: int
    loaded: int
    db_uri: str
    server_pid: int
    db_pid: int
    pool: Pool


@dataclass
class MixRun:
    patients: int
    loaded: int
    results: list[tuple[Result, Result]]
    server_ms: float  # CPU per request (searches and reads alike)
    db_ms: float
    line_cpu: dict[str, float]  # per search of the mix: server + DB CPU ms (with its read-by-id)


async def _measure_sides(
    sides: list[_Side], urls: dict[str, list[str]], requests: int, rounds: int
) -> list[MixRun]:
    """Each search of the mix alternating with a read-by-id on every side, the sides taking
    turns in ``rounds`` blocks (A B, B A, A B...): the two sizes are measured in the same minutes
    of a noisy machine rather than one after the other. Per side: the latencies, and the server
    and DB CPU ms per request and per search of the mix (server + DB, its read-by-id included)."""
    headers = {"Accept": JSON}
    urls = dict(urls)
    reads = urls.pop(READ)

    def caller(side: _Side, paths: list[str], first: int) -> Callable[[int], Awaitable[None]]:
        async def op(i: int) -> None:
            r = await side.pool.request("GET", paths[(first + i) % len(paths)], headers=headers)
            assert r.status == 200, r.body[:300]

        return op

    blocks = [requests // rounds + (1 if r < requests % rounds else 0) for r in range(rounds)]
    results: list[list[tuple[Result, Result]]] = [[] for _ in sides]
    lines: list[dict[str, float]] = [{} for _ in sides]
    spent = [[0.0, 0.0] for _ in sides]  # server, DB CPU seconds over every measured block
    for name, paths in urls.items():
        for side in sides:  # warm-up: connections, caches, lazy indexes
            for i in range(min(10, len(paths))):
                await caller(side, reads, 0)(i)
                await caller(side, paths, 0)(i)
        lat: list[tuple[list[float], list[float], list[float]]] = [([], [], []) for _ in sides]
        cpu = [0.0 for _ in sides]
        done = 0
        for r, block in enumerate(blocks):
            order = list(enumerate(sides)) if r % 2 == 0 else list(reversed(list(enumerate(sides))))
            for k, side in order:
                meter = CpuMeter(side.server_pid, side.db_pid).start()
                ops = (caller(side, reads, done), caller(side, paths, done))
                read, search = await measure_alternating((READ, name), ops, block)
                meter.stop()
                lat[k][0].extend(read.latencies_ms)
                lat[k][1].extend(search.latencies_ms)
                lat[k][2].append(read.seconds)
                cpu[k] += meter.server + meter.db
                spent[k][0] += meter.server
                spent[k][1] += meter.db
            done += block
        for k in range(len(sides)):
            seconds = sum(lat[k][2])
            results[k].append(
                (Result(READ, 1, requests, seconds, lat[k][0]), Result(name, 1, requests, seconds, lat[k][1]))
            )
            lines[k][name] = 1000 * cpu[k] / requests  # per search, its read-by-id included
    per_request = 1000 / (2 * requests * len(urls))
    return [
        MixRun(side.patients, side.loaded, results[k], server * per_request, db * per_request, lines[k])
        for k, (side, (server, db)) in enumerate(zip(sides, spent, strict=True))
    ]


async def run_search(
    requests: int, sizes: tuple[int, ...], workdir: Path, env: dict[str, str] | None = None, rounds: int = 4
) -> list[MixRun]:
    """The mix at each number of patients (the same URLs, built from the smallest size's data),
    each size with its own database and server, measured taking turns (:func:`_measure_sides`)."""
    database = f"bench_search_{uuid.uuid4().hex[:8]}"
    from fhir_server.search.synthea import read_bundles

    bundles = list(read_bundles(ARCHIVE, max(sizes)))
    with contextlib.ExitStack() as stack:
        sides: list[_Side] = []
        first_data: dict[str, list[dict[str, Any]]] | None = None
        for size in sorted(sizes):
            db = stack.enter_context(EmbeddedMongo(workdir / f"db-{size}"))
            server = ServerProcess(
                workdir / f"server-{size}", mongodb_uri=db.uri, env={"PASSERELLE_DB": database, **(env or {})}
            ).start(timeout=900)  # a shared, loaded machine starts slowly
            stack.callback(server.stop)
            assert server.process is not None and db.process is not None
            data = await _load(db.uri, database, bundles[:size])
            first_data = first_data or data
            pool = Pool("127.0.0.1", server.port, 1)
            loaded = sum(len(v) for v in data.values())
            sides.append(_Side(size, loaded, db.uri, server.process.pid, db.process.pid, pool))
        for side in sides:
            await _settle(side.db_uri, side.db_pid)
        assert first_data is not None
        urls = _queries(first_data, random.Random(7))
        try:
            return await _measure_sides(sides, urls, requests, rounds)
        finally:
            for side in sides:
                await side.pool.close()


def format_growth(runs: list[MixRun]) -> str:
    """Goal 1 of issue #13: a page costs a page (p50 at the largest size / at the smallest, aim 2x)."""
    small, large = runs[0], runs[-1]
    lines = [
        f"Search mix, every search with _count=20: p50 ms at {small.patients} and {large.patients} Synthea "
        "patients (same URLs; each size its own database and server, the two taking turns in rounds)",
        f"{'query':58} {f'p50 @{small.patients}':>9} {f'p50 @{large.patients}':>10} {'growth':>7}"
        f" {f'CPU @{small.patients}':>9} {f'CPU @{large.patients}':>10} {'growth':>7}",
    ]
    worst = worst_cpu = 0.0
    for (_, a), (_, b) in zip(small.results, large.results, strict=True):
        growth = b.percentile(50) / (a.percentile(50) or 1.0)
        worst = max(worst, growth)
        ca, cb = small.line_cpu[a.name], large.line_cpu[a.name]
        worst_cpu = max(worst_cpu, cb / (ca or 1.0))
        lines.append(
            f"{a.name:58} {a.percentile(50):9.2f} {b.percentile(50):10.2f} {growth:6.2f}x"
            f" {ca:9.2f} {cb:10.2f} {cb / (ca or 1.0):6.2f}x"
        )
    lines.append(
        "CPU: server + database CPU ms per search, its alternating read-by-id included (steadier than "
        "wall time on a shared machine)"
    )
    lines.append(
        f"worst growth {small.patients} -> {large.patients} patients: p50 {worst:.2f}x, CPU {worst_cpu:.2f}x "
        "(aim: at most 2x); "
        f"CPU per request (searches and reads): server {small.server_ms:.2f} -> {large.server_ms:.2f} ms, "
        f"DB {small.db_ms:.2f} -> {large.db_ms:.2f} ms"
    )
    return "\n".join(lines)


def format_table(results: list[tuple[Result, Result]], patients: int, loaded: int) -> str:
    lines = [
        f"Search mix: {patients} Synthea patients ({loaded} Patient/Observation/Condition/Encounter), "
        "one client, times in ms; each search alternates request by request with a read-by-id,",
        "and x is its p50 as a multiple of that read-by-id p50",
        f"{'query':58} {'p50':>8} {'p95':>8} {'read p50':>9} {'x read':>7}",
    ]
    ratios = []
    for read, r in results:
        p50, p95, base = r.percentile(50), r.percentile(95), read.percentile(50) or 1.0
        ratios.append(p50 / base)
        lines.append(f"{r.name:58} {p50:8.2f} {p95:8.2f} {base:9.2f} {p50 / base:7.1f}")
    all_reads = Result(READ, 1, 0, 0.0, [ms for read, _ in results for ms in read.latencies_ms])
    lines.append(f"{READ}, all lines: p50 {all_reads.percentile(50):.2f}, p95 {all_reads.percentile(95):.2f}")
    lines.append(f"worst search: {max(ratios):.1f}x a read-by-id (aim: 10x)")
    return "\n".join(lines)


def main(requests: int = 200, patients: int = 11, growth: tuple[int, ...] = (11, 117)) -> str:
    """The mix at ``patients`` (each search against a read-by-id) and its growth across ``growth``."""
    if not ARCHIVE.exists():
        return f"search bench skipped: {ARCHIVE} is missing (set PASSERELLE_SHARED)"
    out = []
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-search-") as tmp:
        sizes = tuple(sorted({patients, *growth}))
        runs = asyncio.run(run_search(requests, sizes, Path(tmp)))
    by_size = {r.patients: r for r in runs}
    mix = by_size[patients]
    out.append(format_table(mix.results, patients, mix.loaded))
    if len(growth) > 1:
        out.append("")
        out.append(format_growth([by_size[min(growth)], by_size[max(growth)]]))
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    sizes = tuple(int(a) for a in sys.argv[2:]) or (11, 117)
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, min(sizes), sizes))
