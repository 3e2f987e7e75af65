"""Opaque keyset-paging cursors: a position (timestamp, key) and a direction.

Keyset paging (rather than skip) keeps pages stable while writes happen: a new
version lands before the first page of a newest-first listing and shifts nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson


@dataclass(frozen=True)
class Cursor:
    ts: datetime
    key: str
    forward: bool  # True: older entries (the "next" page); False: newer ones ("previous")

    def encode(self) -> str:
        raw = orjson.dumps([int(self.ts.timestamp() * 1000), self.key, 1 if self.forward else 0])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token; ``ValueError`` for anything that is not one we issued."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            ms, key, forward = orjson.loads(raw)
            if not isinstance(ms, int) or not isinstance(key, str) or forward not in (0, 1):
                raise ValueError("malformed cursor")
            return cls(datetime.fromtimestamp(ms / 1000, UTC), key, bool(forward))
        except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
            raise ValueError(f"invalid paging cursor {token!r}") from exc
