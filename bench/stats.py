"""Timing helpers: run an operation N times at a given concurrency, report throughput and percentiles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Result:
    name: str
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process over the runs

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return 0.0
        k = min(len(data) - 1, max(0, round(p / 100 * (len(data) - 1))))
        return data[k]


async def measure(
    name: str, op: Callable[[int], Awaitable[object]], requests: int, concurrency: int, *, first: int = 0
) -> Result:
    """Call ``op(i)`` for i in range(first, first + requests) from ``concurrency`` workers."""
    latencies: list[float] = []
    counter = iter(range(first, first + requests))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await op(i)
            latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, concurrency, requests, time.perf_counter() - start, latencies)


Op = Callable[[int], Awaitable[object]]


async def measure_rounds(
    ops: list[tuple[str, Op]],
    requests: int,
    concurrency: int,
    rounds: int,
    cpu: Callable[[], dict[str, float]] | None = None,
    before_block: Callable[[], Awaitable[object]] | None = None,
) -> list[Result]:
    """Each operation ``requests`` times at ``concurrency``, in ``rounds`` turns of equal blocks
    (A, B, C, A, B, C...): when the cost drifts during a run (a collection growing, a neighbour on
    the machine), the operations compared see it alike instead of the last one seeing the most.
    ``cpu``: cumulative CPU seconds per process, read around each block (``Result.cpu``);
    ``before_block``: awaited before each block, outside its timing (e.g. a database checkpoint, so
    that the flushing of earlier writes is not counted in whichever block it happens to fall)."""
    blocks = [requests // rounds + (1 if r < requests % rounds else 0) for r in range(rounds)]
    parts: list[list[Result]] = [[] for _ in ops]
    done = 0
    for block in blocks:
        for (name, op), out in zip(ops, parts, strict=True):
            if before_block is not None:
                await before_block()
            before = cpu() if cpu else {}
            result = await measure(name, op, block, concurrency, first=done)
            after = cpu() if cpu else {}
            used = {k: after[k] - before[k] for k in after}
            out.append(Result(result.name, concurrency, block, result.seconds, result.latencies_ms, used))
        done += block
    return [
        Result(
            name,
            concurrency,
            sum(r.requests for r in results),
            sum(r.seconds for r in results),
            [ms for r in results for ms in r.latencies_ms],
            {k: sum(r.cpu.get(k, 0.0) for r in results) for k in results[0].cpu},
        )
        for (name, _), results in zip(ops, parts, strict=True)
    ]


async def measure_alternating(
    names: tuple[str, str], ops: tuple[Op, Op], requests: int
) -> tuple[Result, Result]:
    """Call the two operations in turn, ``requests`` times each, one at a time: a baseline and the
    operation compared with it see the same state of a noisy machine."""
    latencies: tuple[list[float], list[float]] = ([], [])
    start = time.perf_counter()
    for i in range(requests):
        for op, out in zip(ops, latencies, strict=True):
            t0 = time.perf_counter()
            await op(i)
            out.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - start
    first, second = (Result(n, 1, requests, seconds, lat) for n, lat in zip(names, latencies, strict=True))
    return first, second
