"""Bulk Data settings, read from ``PASSERELLE_BULK_*`` environment variables (README's table)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_server.config import number_env as _number


@dataclass(frozen=True)
class BulkSettings:
    # How long the files of a finished export stay downloadable (then files and job are removed).
    expiry_seconds: float = field(default_factory=lambda: _number("PASSERELLE_BULK_EXPIRY", 6 * 3600))
    # An NDJSON file is closed and the next one of the same type started beyond this size.
    file_max_bytes: int = field(
        default_factory=lambda: int(_number("PASSERELLE_BULK_FILE_MAX_BYTES", 256 * 1024 * 1024))
    )
    # Resources per second one export may read (0: as fast as the database answers); protects
    # the database serving clinical traffic from a large export.
    max_rate: float = field(default_factory=lambda: _number("PASSERELLE_BULK_MAX_RATE", 0))
    # Exports run at once by this server process (more wait, accepted, in the queue).
    concurrency: int = field(default_factory=lambda: max(1, int(_number("PASSERELLE_BULK_CONCURRENCY", 2))))
    # Exports one client may have accepted or running (429 beyond).
    per_client: int = field(default_factory=lambda: max(1, int(_number("PASSERELLE_BULK_PER_CLIENT", 5))))
    # A running job's lease: renewed while it runs; a job whose lease ran out (its server
    # stopped or crashed) is taken over by the next server that looks (at start, then periodically).
    lease_seconds: float = field(default_factory=lambda: max(1.0, _number("PASSERELLE_BULK_LEASE", 30)))
    # Times an interrupted job is resumed before it is failed (a job that crashes its server).
    max_attempts: int = field(default_factory=lambda: max(1, int(_number("PASSERELLE_BULK_MAX_ATTEMPTS", 3))))
    # Polling interval suggested to clients (Retry-After, seconds).
    retry_after: int = field(default_factory=lambda: max(1, int(_number("PASSERELLE_BULK_RETRY_AFTER", 2))))
