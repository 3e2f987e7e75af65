"""CPU time of a process from ``/proc`` (Linux): steadier than wall time on a shared machine.

The benchmarks read the server's and the database's CPU separately, before and after a
measured step, and report CPU milliseconds per item for each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds used so far by ``pid`` (its threads included; 0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


@dataclass
class CpuMeter:
    """CPU of the server and of the database processes over a step (``start()`` then ``stop()``)."""

    server_pid: int | None
    db_pid: int | None
    server: float = 0.0
    db: float = 0.0

    def start(self) -> CpuMeter:
        self._s0, self._d0 = cpu_seconds(self.server_pid), cpu_seconds(self.db_pid)
        return self

    def stop(self) -> CpuMeter:
        self.server = cpu_seconds(self.server_pid) - self._s0
        self.db = cpu_seconds(self.db_pid) - self._d0
        return self
