"""CRUD benchmark: the server's read/create/update next to the raw driver on the same database.

Both sides run in the same process run, against the same embedded SecantusDB, so
the ratio is meaningful even on a noisy machine. The raw baseline is the least the
driver must do for the same effect: ``find_one`` by ``_id`` for a read, ``insert_one``
for a create, ``replace_one`` for an update (the server additionally validates,
keeps history in a transaction, and speaks HTTP).
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pymongo import AsyncMongoClient

from bench.harness import ServerProcess
from bench.http_client import Pool
from bench.stats import Result, measure
from fhir_server.embedded import EmbeddedMongo

JSON = "application/fhir+json"


def patient(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": f"{1800000000000 + i}"}],
        "name": [{"use": "official", "family": f"Martin{i}", "given": ["Hélène", "Marie"]}],
        "gender": "female",
        "birthDate": "1984-03-12",
        "telecom": [{"system": "phone", "value": "+33612345678", "use": "mobile"}],
        "address": [{"line": ["12 rue de la Paix"], "city": "Paris", "postalCode": "75002", "country": "FR"}],
    }


async def run_crud(requests: int, concurrencies: list[int], workdir: Path) -> list[tuple[Result, Result]]:
    pairs: list[tuple[Result, Result]] = []
    with EmbeddedMongo(workdir / "db") as db:
        server = ServerProcess(workdir / "server", mongodb_uri=db.uri).start()
        try:
            mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(db.uri, tz_aware=True)
            raw = mongo["bench_raw"]["Patient"]
            http = Pool("127.0.0.1", server.port, max(concurrencies))
            prefix = "/fhir"
            headers = {"Content-Type": JSON, "Accept": JSON}
            # seed resources to read and update, on both sides
            ids: list[str] = []
            for i in range(50):
                r = await http.request("POST", f"{prefix}/Patient", orjson.dumps(patient(i)), headers)
                assert r.status == 201, r.body
                body = orjson.loads(r.body)
                ids.append(body["id"])
                await raw.replace_one({"_id": body["id"]}, _raw_doc(body), upsert=True)

            for c in concurrencies:

                async def s_read(i: int) -> None:
                    r = await http.request(
                        "GET", f"{prefix}/Patient/{ids[i % len(ids)]}", b"", {"Accept": JSON}
                    )
                    assert r.status == 200, r.body

                async def r_read(i: int) -> None:
                    assert await raw.find_one({"_id": ids[i % len(ids)]}) is not None

                async def s_create(i: int) -> None:
                    r = await http.request("POST", f"{prefix}/Patient", orjson.dumps(patient(i)), headers)
                    assert r.status == 201, r.body

                async def r_create(i: int) -> None:
                    doc = {**patient(i), "id": str(uuid.uuid4())}
                    await raw.insert_one(_raw_doc(doc))

                async def s_update(i: int) -> None:
                    pid = ids[i % len(ids)]
                    body = orjson.dumps({**patient(i), "id": pid})
                    r = await http.request("PUT", f"{prefix}/Patient/{pid}", body, headers)
                    assert r.status == 200, r.body

                async def r_update(i: int) -> None:
                    pid = ids[i % len(ids)]
                    await raw.replace_one({"_id": pid}, _raw_doc({**patient(i), "id": pid}))

                for name, s_op, r_op in (
                    ("read", s_read, r_read),
                    ("create", s_create, r_create),
                    ("update", s_update, r_update),
                ):
                    await measure("warmup", s_op, min(50, requests), c)
                    server_result = await measure(name, s_op, requests, c)
                    raw_result = await measure(name, r_op, requests, c)
                    pairs.append((server_result, raw_result))
            await http.close()
            await mongo.close()
        finally:
            server.stop()
    return pairs


def _raw_doc(resource: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"_id": resource["id"], "v": 1, "ts": now, "d": False, "j": orjson.dumps(resource)}


def format_table(pairs: list[tuple[Result, Result]]) -> str:
    lines = [
        f"{'operation':<10}{'conc':>5} | {'server req/s':>12} {'p50':>7} {'p95':>7} {'p99':>7} |"
        f" {'driver req/s':>12} {'p50':>7} {'p95':>7} {'p99':>7} | {'ratio':>6}",
        "-" * 104,
    ]
    for s, r in pairs:
        lines.append(
            f"{s.name:<10}{s.concurrency:>5} | {s.rps:>12.0f} {s.percentile(50):>7.2f}"
            f" {s.percentile(95):>7.2f}"
            f" {s.percentile(99):>7.2f} | {r.rps:>12.0f} {r.percentile(50):>7.2f} {r.percentile(95):>7.2f}"
            f" {r.percentile(99):>7.2f} | {s.rps / r.rps if r.rps else 0:>6.2f}"
        )
    lines.append("latencies in ms; ratio = server req/s / driver req/s (same run, same database)")
    return "\n".join(lines)


def main(requests: int = 1000, concurrencies: list[int] | None = None) -> str:
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as tmp:
        pairs = asyncio.run(run_crud(requests, concurrencies or [1, 16], Path(tmp)))
    return format_table(pairs)
