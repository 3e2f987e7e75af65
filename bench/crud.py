"""CRUD benchmark: the server's read/create/update next to the raw driver on the same database.

Both sides run in the same process run, against the same embedded SecantusDB, so
the ratio is meaningful even on a noisy machine. The raw baseline is the least the
driver must do for the same effect: ``find_one`` by ``_id`` for a read, ``insert_one``
for a create, ``replace_one`` for an update (the server additionally validates,
keeps history in a transaction, and speaks HTTP).

A second baseline writes what the server writes: the same current document (search values
extracted beforehand, outside the timing, by the server's own code) into a collection carrying
the server's indexes, and its history version, in one journaled transaction. Its operation ``i``
writes the Patient the server's operation ``i`` writes, so that both databases receive the same
index keys in the same order (not the server's own collection: keys the server has just written
cost the database less the second time). The ratio to it is the server's own overhead (HTTP,
validation, extraction, the repository).

The server, the plain driver and that baseline take turns in rounds of equal blocks
(:func:`bench.stats.measure_rounds`): the database's cost per write grows with its collections,
and the machine's speed drifts, so one long block each would favour whichever runs first.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pymongo import AsyncMongoClient

from bench.harness import ServerProcess
from bench.http_client import Pool
from bench.proc import cpu_seconds
from bench.stats import Result, measure, measure_rounds
from fhir_server.embedded import EmbeddedMongo

JSON = "application/fhir+json"
ROUNDS = 4


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


async def _same_as_server(
    client: AsyncMongoClient[dict[str, Any]], count: int, database: str = "bench_raw_same"
) -> Any:
    """Create/update operations of the driver writing the server's documents (see the module's doc):
    operation ``i`` writes ``patient(i)`` as the server's operation ``i`` does, ``i < count``."""
    from pymongo.write_concern import WriteConcern

    from fhir_server.search import ensure_search_indexes, index_resource
    from fhir_server.storage import MongoRepository
    from fhir_server.storage.mongo import _stamp, history_key
    from fhir_server.storage.records import now_ms

    repository = MongoRepository(client, database)
    await repository.ensure_indexes()
    await ensure_search_indexes(repository, ["Patient"])
    coll, history = repository.db["Patient"], repository.history
    durable = WriteConcern(w="majority", j=True)
    ids = [str(uuid.uuid4()) for _ in range(50)]
    versions = dict.fromkeys(ids, 0)

    # The search values are extracted beforehand: the server's extraction is not the driver's work.
    # One set per patient written, as the server's: recycling a few sets would write the same index
    # keys again and again, which costs the database less than new ones (about 10 % of a create).
    values = [
        index_resource("Patient", _stamp(patient(i), "Patient", "x", 1, now_ms())) for i in range(count)
    ]

    def documents(id_: str, i: int, version: int) -> tuple[dict[str, Any], dict[str, Any]]:
        ts = now_ms()
        body = orjson.dumps(_stamp(patient(i), "Patient", id_, version, ts))
        fields = {"v": version, "ts": ts, "d": False, "j": body}
        hist = {"_id": history_key("Patient", id_, version), "t": "Patient", "i": id_, "m": "PUT", **fields}
        return {"_id": id_, **fields, "s": values[i % len(values)]}, hist

    async def write(current: dict[str, Any], old: int | None, hist: dict[str, Any]) -> None:
        async def body(session: Any) -> None:
            if old is None:
                await coll.insert_one(current, session=session)
            else:
                await coll.update_one({"_id": current["_id"], "v": old}, {"$set": current}, session=session)
            await history.insert_one(hist, session=session)

        async with client.start_session() as session:
            await session.with_transaction(body, write_concern=durable)

    for id_ in ids:
        current, hist = documents(id_, 0, 1)
        await write(current, None, hist)
        versions[id_] = 1

    async def create(i: int) -> None:
        current, hist = documents(str(uuid.uuid4()), i, 1)
        await write(current, None, hist)

    async def update(i: int) -> None:
        id_ = ids[i % len(ids)]
        old = versions[id_]  # each caller takes its own version number (history keys stay unique)
        versions[id_] = old + 1
        current, hist = documents(id_, i, old + 1)
        await write(current, old, hist)

    return create, update


async def run_crud(
    requests: int, concurrencies: list[int], workdir: Path
) -> list[tuple[Result, Result, Result | None]]:
    pairs: list[tuple[Result, Result, Result | None]] = []
    with EmbeddedMongo(workdir / "db") as db:
        server = ServerProcess(workdir / "server", mongodb_uri=db.uri).start(timeout=900)
        try:
            mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(db.uri, tz_aware=True)
            raw = mongo["bench_raw"]["Patient"]
            http = Pool("127.0.0.1", server.port, max(concurrencies))
            pids = {"server": server.process.pid if server.process else None, "db": db.process.pid}

            def meter() -> dict[str, float]:
                own = resource.getrusage(resource.RUSAGE_SELF)
                return {
                    **{k: cpu_seconds(pid) for k, pid in pids.items()},
                    "bench": own.ru_utime + own.ru_stime,
                }

            async def checkpoint() -> None:
                # the storage engine's periodic flush of earlier writes, counted in whichever block it
                # fell, moved the database's CPU per write by a millisecond either way
                await mongo.admin.command("fsync")

            same_create, same_update = await _same_as_server(mongo, max(requests, 50))
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

                for name, s_op, r_op, same_op in (
                    ("read", s_read, r_read, None),
                    ("create", s_create, r_create, same_create),
                    ("update", s_update, r_update, same_update),
                ):
                    await measure("warmup", s_op, min(50, requests), c)
                    ops = [(name, s_op), (name, r_op)] + ([] if same_op is None else [(name, same_op)])
                    results = await measure_rounds(
                        ops, requests, c, ROUNDS, cpu=meter, before_block=checkpoint
                    )
                    pairs.append((results[0], results[1], results[2] if same_op is not None else None))
            await http.close()
            await mongo.close()
        finally:
            server.stop()
    return pairs


def _raw_doc(resource: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"_id": resource["id"], "v": 1, "ts": now, "d": False, "j": orjson.dumps(resource)}


def format_table(pairs: list[tuple[Result, Result, Result | None]]) -> str:
    lines = [
        f"{'operation':<10}{'conc':>5} | {'server req/s':>12} {'p50':>7} {'p95':>7} {'p99':>7} |"
        f" {'driver req/s':>12} {'p50':>7} | {'ratio':>6} | {'same docs/s':>11} {'p50':>7} | {'ratio':>6}",
        "-" * 114,
    ]
    for s, r, same in pairs:
        line = (
            f"{s.name:<10}{s.concurrency:>5} | {s.rps:>12.0f} {s.percentile(50):>7.2f}"
            f" {s.percentile(95):>7.2f} {s.percentile(99):>7.2f} | {r.rps:>12.0f} {r.percentile(50):>7.2f} |"
            f" {s.rps / r.rps if r.rps else 0:>6.2f} |"
        )
        if same is not None:
            ratio = s.rps / same.rps if same.rps else 0
            line += f" {same.rps:>11.0f} {same.percentile(50):>7.2f} | {ratio:>6.2f}"
        lines.append(line)
    lines.append(
        "latencies in ms; ratio = server req/s / driver req/s (same run, same database); driver: plain "
        "document, no index, no transaction; same docs: the server's documents and indexes, current + "
        "history in one journaled transaction (aim: server at least 0.8x of it); the three take turns in "
        f"{ROUNDS} rounds"
    )
    lines += ["", "CPU per operation, ms (from /proc; bench = this process: HTTP client or driver)"]
    lines.append(f"{'operation':<10}{'conc':>5} | {'server: srv':>11} {'db':>6} {'bench':>6} {'sum':>6} |"
                 f" {'same docs: db':>13} {'bench':>6} {'sum':>6} | {'sum ratio':>9}")  # fmt: skip
    for s, _, same in pairs:
        if same is None or not s.cpu:
            continue
        mine = [1000 * s.cpu[k] / s.requests for k in ("server", "db", "bench")]
        theirs = [1000 * same.cpu[k] / same.requests for k in ("db", "bench")]
        server_part = " ".join(f"{v:>6.2f}" for v in mine[1:])
        lines.append(
            f"{s.name:<10}{s.concurrency:>5} | {mine[0]:>11.2f} {server_part} {sum(mine):>6.2f} |"
            f" {theirs[0]:>13.2f} {theirs[1]:>6.2f} {sum(theirs):>6.2f} | {sum(theirs) / sum(mine):>9.2f}"
        )
    return "\n".join(lines)


def main(requests: int = 1000, concurrencies: list[int] | None = None) -> str:
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as tmp:
        pairs = asyncio.run(run_crud(requests, concurrencies or [1, 16], Path(tmp)))
    return format_table(pairs)
