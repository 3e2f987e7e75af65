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
import random
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from pymongo import AsyncMongoClient

from bench.harness import ServerProcess
from bench.http_client import Pool
from bench.shared import synthea_archive
from bench.stats import Result, measure_alternating
from fhir_server.embedded import EmbeddedMongo

ARCHIVE = synthea_archive()
JSON = "application/fhir+json"
READ = "read Patient by id"


async def _load(uri: str, database: str, patients: int) -> dict[str, list[dict[str, Any]]]:
    from fhir_server.search import ensure_search_indexes, index_resource
    from fhir_server.search.synthea import load, read_bundles
    from fhir_server.storage import MongoRepository

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    repository = MongoRepository(client, database, indexer=index_resource)
    await repository.ensure_indexes()
    bundles = list(read_bundles(ARCHIVE, patients))
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
        return [f"/fhir/{type_}?{urlencode(make())}" for _ in range(n)]

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


async def run_search(requests: int, patients: int, workdir: Path) -> tuple[list[tuple[Result, Result]], int]:
    """Each search of the mix, alternating request by request with a read-by-id (its baseline)."""
    database = f"bench_search_{uuid.uuid4().hex[:8]}"
    with EmbeddedMongo(workdir / "db") as db:
        data = await _load(db.uri, database, patients)
        loaded = sum(len(v) for v in data.values())
        server = ServerProcess(
            workdir / "server", mongodb_uri=db.uri, env={"PASSERELLE_DB": database}
        ).start()
        try:
            pool = Pool("127.0.0.1", server.port, 1)
            headers = {"Accept": JSON}
            urls = _queries(data, random.Random(7))
            reads = urls.pop(READ)

            def caller(paths: list[str]) -> Callable[[int], Awaitable[None]]:
                async def op(i: int) -> None:
                    r = await pool.request("GET", paths[i % len(paths)], headers=headers)
                    assert r.status == 200, r.body[:300]

                return op

            read = caller(reads)
            results = []
            for name, paths in urls.items():
                op = caller(paths)
                for i in range(min(10, len(paths))):  # warm-up: connections, caches, lazy indexes
                    await read(i)
                    await op(i)
                results.append(await measure_alternating((READ, name), (read, op), requests))
            await pool.close()
            return results, loaded
        finally:
            server.stop()


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


def main(requests: int = 200, patients: int = 20) -> str:
    if not ARCHIVE.exists():
        return f"search bench skipped: {ARCHIVE} is missing (set PASSERELLE_SHARED)"
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-search-") as tmp:
        results, loaded = asyncio.run(run_search(requests, patients, Path(tmp)))
    return format_table(results, patients, loaded)
