"""Timing helpers: run an operation N times at a given concurrency, report throughput and percentiles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]

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
    name: str, op: Callable[[int], Awaitable[object]], requests: int, concurrency: int
) -> Result:
    """Call ``op(i)`` for i in range(requests) from ``concurrency`` workers."""
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await op(i)
            latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, concurrency, requests, time.perf_counter() - start, latencies)
