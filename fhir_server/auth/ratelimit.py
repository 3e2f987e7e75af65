"""Login throttling and password hashing off the event loop.

Two defences against the "unauthenticated logins stall the server" attack (issue 12, finding 8):

- :func:`hash_in_pool` / :func:`verify_in_pool` run argon2 (deliberately slow: ~50 ms and 64 MiB
  each) in a small dedicated thread pool (``PASSERELLE_HASH_WORKERS``, default 2), never on the
  event loop, so a burst of logins queues there while every other request keeps being served;
- :class:`RateLimiter` counts attempts per client IP and per account over a sliding window and
  refuses the excess with 429 and ``Retry-After`` *before* any hashing. The counters live in the
  server process (one process serves everything); the client IP is the TCP peer
  (``request.client.host``): behind a reverse proxy, configure the proxy to limit as well.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
MAX_KEYS = 100_000  # counters kept (least recently used dropped first): bounded memory

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> int:
    raw = os.environ.get("PASSERELLE_HASH_WORKERS", "")
    return max(1, int(raw)) if raw.isdigit() else 2


def hash_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="argon2")
        return _pool


async def in_hash_pool(fn: Callable[..., T], *args: Any) -> T:
    """Run a CPU-bound credential function in the bounded hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(hash_pool(), fn, *args)


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds for each key (sliding window)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count one event for ``key``; 0 when allowed, else the seconds to wait (not counted)."""
        if self.limit <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                events = self._events[key] = deque()
                if len(self._events) > MAX_KEYS:
                    self._events.popitem(last=False)
            else:
                self._events.move_to_end(key)
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(1.0, events[0] + self.window - now)
            events.append(now)
            return 0.0


class LoginThrottle:
    """The per-IP and per-account limiters of the patient login and account flows."""

    def __init__(self, per_ip: int, per_account: int, window: float) -> None:
        self.ip = RateLimiter(per_ip, window)
        self.account = RateLimiter(per_account, window)

    def check(self, ip: str | None, account: str | None = None) -> int:
        """0 when the attempt may go on, else the ``Retry-After`` seconds (the attempt is refused)."""
        wait = self.ip.hit(f"ip:{ip or '?'}")
        if not wait and account:
            wait = self.account.hit(f"account:{account.strip().lower()}")
        return math.ceil(wait)
