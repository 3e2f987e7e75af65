"""Server CPU per written resource: the same Synthea transaction ingest, old and new code, one run.

Issue 13, goal 3 asks for 30 % less server CPU per resource on the write path. Wall time on a
shared 2-core machine mostly measures the neighbours; the CPU the server process itself used
(user + system, from ``/proc/<pid>/stat``, all its threads) is much steadier, so that is what is
compared, per resource, between:

- the code of a baseline commit (default: the last commit before the issue-13 work), extracted
  with ``git archive`` into a temporary folder and served from there with the same virtualenv;
- this code with the validation memos turned off (``PASSERELLE_VALIDATION_MEMO=0``: the element
  models of :mod:`fhir_server.validation.memo` and the walker's clean elements of
  :mod:`fhir_server.validation.clean`), which shows what they alone bring;
- this code as it runs by default.

Each variant runs its own ``passerelle serve`` process against its own database of one embedded
SecantusDB, ingests the same Bundles (each one FHIR transaction), after one warm-up Bundle that
is not counted. One Bundle at a time by default: with two in flight, SecantusDB makes concurrent
transactions conflict and the server runs a Bundle's transaction body again (about 2.2 times per
Bundle, search-value extraction included), a random extra cost that drowns the differences
measured here; ``concurrency`` makes that visible when wanted. The database's CPU over the same
window is printed beside it (not the figure of goal 3: ``bench.ingest`` and ``bench.search``
cover the database side).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ServerProcess
from bench.http_client import Pool
from bench.ingest import SYNTHEA, synthea_bundles
from bench.shared import REPO
from fhir_server.embedded import EmbeddedMongo

# main just before the issue-13 work (validation memos, one-pass limits, cheaper reference rewriting,
# search values of the parameters a resource has elements for)
BASELINE = "2eb1da2afc19ad2bd1f0576414f62883a1587c51"
JSON = "application/fhir+json"
_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass(frozen=True)
class CpuResult:
    name: str
    resources: int
    server_cpu: float
    db_cpu: float
    seconds: float

    @property
    def server_ms(self) -> float:
        return 1000 * self.server_cpu / self.resources if self.resources else 0.0

    @property
    def db_ms(self) -> float:
        return 1000 * self.db_cpu / self.resources if self.resources else 0.0


def _entries(data: bytes) -> int:
    import orjson

    return len(orjson.loads(data).get("entry", []))


async def _post_all(port: int, bundles: list[bytes], concurrency: int) -> None:
    http = Pool("127.0.0.1", port, concurrency)
    headers = {"Content-Type": JSON, "Accept": JSON, "Prefer": "return=minimal"}
    queue = list(reversed(bundles))

    async def worker() -> None:
        while queue:
            data = queue.pop()
            reply = await http.request("POST", "/fhir/", data, headers)
            if reply.status != 200:
                raise RuntimeError(f"transaction refused ({reply.status}): {reply.body[:500]!r}")

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await http.close()


def extract_commit(ref: str, into: Path) -> Path | None:
    """The tree of commit ``ref`` of this repository under ``into``; None when git cannot give it."""
    if shutil.which("git") is None:
        return None
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref], capture_output=True, check=False
    )
    if archive.returncode != 0:
        return None
    archive_path = into.with_suffix(".tar")
    archive_path.write_bytes(archive.stdout)
    with tarfile.open(archive_path) as tar:
        tar.extractall(into, filter="data")
    archive_path.unlink()
    return into


def run_variant(
    name: str,
    workdir: Path,
    db: EmbeddedMongo,
    bundles: list[bytes],
    *,
    concurrency: int,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> CpuResult:
    slug = "".join(c if c.isalnum() else "_" for c in name)[:40]
    server = ServerProcess(
        workdir / slug,
        mongodb_uri=db.uri,
        env={"PASSERELLE_DB": f"bench_cpu_{workdir.name}_{slug}"[:60], **(env or {})},
        cwd=cwd,
    ).start(timeout=600)  # a loaded machine: the first start builds every index
    try:
        assert server.process is not None
        pid = server.process.pid
        # warm-up, not counted: first use of the models, value sets and the database's collections
        asyncio.run(_post_all(server.port, [min(bundles, key=len)], 1))
        db_pid = db.process.pid if db.process is not None else None
        server_before = process_cpu(pid)
        db_before = process_cpu(db_pid) if db_pid else 0.0
        started = time.perf_counter()
        asyncio.run(_post_all(server.port, bundles, concurrency))
        seconds = time.perf_counter() - started
        server_cpu = process_cpu(pid) - server_before
        db_cpu = (process_cpu(db_pid) - db_before) if db_pid else 0.0
    finally:
        server.stop()
    return CpuResult(name, sum(_entries(b) for b in bundles), server_cpu, db_cpu, seconds)


def run_all(
    workdir: Path, limit: int, concurrency: int, baseline: str | None, rounds: int = 1
) -> tuple[list[CpuResult], str]:
    """Every variant ``rounds`` times, in reversed order every other round (drift of a shared machine
    falls on all variants alike); the figures of one variant are summed over its rounds."""
    bundles = synthea_bundles(limit)
    note = ""
    variants: list[tuple[str, dict[str, str], Path | None]] = []
    if baseline:
        tree = extract_commit(baseline, workdir / "baseline")
        if tree is None:
            note = f"baseline {baseline[:10]} not available (git archive failed): not measured"
        else:
            variants.append((f"code of {baseline[:10]} (baseline)", {}, tree))
    variants.append(("this code, validation memo off", {"PASSERELLE_VALIDATION_MEMO": "0"}, None))
    variants.append(("this code", {}, None))
    runs: dict[str, list[CpuResult]] = {name: [] for name, _, _ in variants}
    with EmbeddedMongo(workdir / "db") as db:
        for round_ in range(rounds):
            for name, env, cwd in variants if round_ % 2 == 0 else reversed(variants):
                run_dir = workdir / f"round{round_}"
                runs[name].append(
                    run_variant(name, run_dir, db, bundles, concurrency=concurrency, env=env, cwd=cwd)
                )
    results = [
        CpuResult(
            name,
            sum(r.resources for r in done),
            sum(r.server_cpu for r in done),
            sum(r.db_cpu for r in done),
            sum(r.seconds for r in done),
        )
        for name, done in runs.items()
    ]
    if rounds > 1:
        note = (note + "\n" if note else "") + f"{rounds} rounds, variants in alternating order; sums"
    return results, note


def format_cpu(results: list[CpuResult], limit: int, note: str = "", rounds: int = 1) -> str:
    first = results[0]
    times = f" x {rounds} rounds" if rounds > 1 else ""
    lines = [
        f"server CPU per resource (Synthea transaction ingest: {limit} Bundles{times}, "
        f"{first.resources} resources, each variant its own server process and database)",
        f"{'variant':<42} {'server CPU s':>12} {'ms/resource':>12} {'vs first':>9} "
        f"{'DB ms/res':>10} {'wall s':>7}",
        "-" * 97,
    ]
    for r in results:
        ratio = r.server_ms / first.server_ms if first.server_ms else 0.0
        lines.append(
            f"{r.name:<42} {r.server_cpu:>12.2f} {r.server_ms:>12.3f} {ratio:>8.2f}x "
            f"{r.db_ms:>10.3f} {r.seconds:>7.1f}"
        )
    if len(results) >= 2:
        change = results[-1].server_ms / first.server_ms - 1 if first.server_ms else 0.0
        lines.append(
            f"server CPU per resource, this code vs {first.name}: {change:+.0%} "
            "(issue 13 goal 3: -30 % or better; CPU from /proc, same run, same machine)"
        )
    if note:
        lines.append(note)
    return "\n".join(lines)


def main(limit: int = 10, concurrency: int = 1, baseline: str | None = BASELINE, rounds: int = 1) -> str:
    if not SYNTHEA.exists():
        return f"server CPU bench skipped: {SYNTHEA} is missing (set PASSERELLE_SHARED)"
    with tempfile.TemporaryDirectory(prefix="passerelle-cpu-") as tmp:
        results, note = run_all(Path(tmp), limit, concurrency, baseline, rounds)
    return format_cpu(results, limit, note, rounds)


if __name__ == "__main__":
    import sys

    print(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 10, rounds=int(sys.argv[2]) if len(sys.argv) > 2 else 1
        )
    )
