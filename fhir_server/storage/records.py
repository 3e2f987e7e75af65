"""What the repository hands back: stored versions as bytes, never re-parsed on the read path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version of a resource as stored.

    ``body`` is the resource JSON exactly as it will be served (meta already set), or
    ``None`` for a deletion. ``method`` is the interaction that produced the version.
    """

    type: str
    id: str
    version: int
    last_updated: datetime
    deleted: bool
    body: bytes | None
    method: str = "PUT"

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[StoredVersion]
    total: int
    next_cursor: str | None
    prev_cursor: str | None


class VersionConflict(Exception):
    """The version the client based its change on (``If-Match``) is no longer current."""

    def __init__(self, current: int | None) -> None:
        super().__init__(f"current version is {current}")
        self.current = current


def now_ms() -> datetime:
    """The current UTC time truncated to milliseconds, the precision MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def fhir_instant(ts: datetime) -> str:
    """Format as a FHIR ``instant`` with millisecond precision and an explicit UTC offset."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+00:00"
