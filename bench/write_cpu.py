"""Server CPU per single create and update: this code against the code of another commit, one run.

``python -m bench.write_cpu [COMMIT] [ROUNDS]``. Two ``passerelle serve`` processes, one serving
the code of ``COMMIT`` (extracted with ``git archive``, the same virtualenv), one this code, each
on its own database of one embedded SecantusDB, take turns in blocks of 150 Patient creates then
150 updates (``PUT`` of one of 50 Patients), one request at a time, ``ROUNDS`` rounds. Each
server process's user+system CPU is read from ``/proc`` around its blocks and divided by the
requests: the server's own cost of a single write, which the CRUD benchmark's ratios mix with
the database's.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.crud import patient
from bench.harness import ServerProcess
from bench.http_client import Pool
from bench.proc import cpu_seconds
from bench.server_cpu import extract_commit
from bench.shared import REPO
from fhir_server.embedded import EmbeddedMongo

JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
BLOCK = 150
# main when this session's work on single writes began (known versions, the FHIR fast path)
BASELINE = "ba6a1c5"


@dataclass
class Tally:
    cpu: float = 0.0
    db: float = 0.0
    seconds: float = 0.0
    requests: int = 0


async def _seed(pool: Pool) -> list[str]:
    ids = []
    for i in range(50):
        reply = await pool.request("POST", "/fhir/Patient", orjson.dumps(patient(i)), JSON)
        assert reply.status == 201, reply.body
        ids.append(orjson.loads(reply.body)["id"])
    return ids


async def _block(pool: Pool, kind: str, ids: list[str]) -> None:
    for i in range(BLOCK):
        if kind == "create":
            reply = await pool.request("POST", "/fhir/Patient", orjson.dumps(patient(i)), JSON)
            assert reply.status == 201, reply.body
        else:
            pid = ids[i % len(ids)]
            body = orjson.dumps({**patient(i), "id": pid})
            reply = await pool.request("PUT", f"/fhir/Patient/{pid}", body, JSON)
            assert reply.status == 200, reply.body


async def run(baseline: str, rounds: int, workdir: Path) -> tuple[dict[tuple[str, str], Tally], str]:
    old = extract_commit(baseline, workdir / "old")
    if old is None:
        raise SystemExit(f"commit {baseline} not available (git archive failed)")
    variants = {f"code of {baseline}": old, "this code": REPO}
    tallies: dict[tuple[str, str], Tally] = {}
    with EmbeddedMongo(workdir / "db") as db:
        servers = {
            name: ServerProcess(
                workdir / f"server-{i}", mongodb_uri=db.uri, env={"PASSERELLE_DB": f"write_cpu_{i}"}, cwd=code
            ).start(timeout=900)
            for i, (name, code) in enumerate(variants.items())
        }
        try:
            pools = {name: Pool("127.0.0.1", server.port, 1) for name, server in servers.items()}
            ids = {name: await _seed(pool) for name, pool in pools.items()}
            for pool_name, pool in pools.items():  # warm-up, not counted
                await _block(pool, "create", ids[pool_name])
                await _block(pool, "update", ids[pool_name])
            for round_ in range(rounds):
                order = list(pools) if round_ % 2 == 0 else list(reversed(pools))
                for kind in ("create", "update"):
                    for name in order:
                        pid = servers[name].process.pid if servers[name].process else None
                        cpu0, db0, t0 = cpu_seconds(pid), cpu_seconds(db.process.pid), time.perf_counter()
                        await _block(pools[name], kind, ids[name])
                        tally = tallies.setdefault((kind, name), Tally())
                        tally.cpu += cpu_seconds(pid) - cpu0
                        tally.db += cpu_seconds(db.process.pid) - db0
                        tally.seconds += time.perf_counter() - t0
                        tally.requests += BLOCK
            for pool in pools.values():
                await pool.close()
        finally:
            for server in servers.values():
                server.stop()
    return tallies, f"code of {baseline}"


def format_tallies(tallies: dict[tuple[str, str], Tally], baseline_name: str, rounds: int) -> str:
    lines = [
        f"server CPU per single write (Patient, one request at a time, blocks of {BLOCK}, {rounds} rounds "
        "alternating; each variant its own server process and database)",
        f"{'write':<8}{'variant':<24} {'requests':>8} {'server ms':>10} {'vs first':>8}"
        f" {'DB ms':>7} {'wall ms':>8}",
        "-" * 78,
    ]
    for kind in ("create", "update"):
        first = tallies[(kind, baseline_name)]
        first_ms = 1000 * first.cpu / first.requests
        for (k, name), t in tallies.items():
            if k != kind:
                continue
            ms = 1000 * t.cpu / t.requests
            lines.append(
                f"{kind:<8}{name:<24} {t.requests:>8} {ms:>10.3f} {ms / first_ms:>7.2f}x"
                f" {1000 * t.db / t.requests:>7.2f} {1000 * t.seconds / t.requests:>8.2f}"
            )
    return "\n".join(lines)


def main(baseline: str = BASELINE, rounds: int = 4) -> str:
    with tempfile.TemporaryDirectory(prefix="passerelle-write-cpu-") as tmp:
        tallies, name = asyncio.run(run(baseline, rounds, Path(tmp)))
    return format_tallies(tallies, name, rounds)


if __name__ == "__main__":
    print(main(*(sys.argv[1:2] or [BASELINE]), *(int(a) for a in sys.argv[2:3])))
