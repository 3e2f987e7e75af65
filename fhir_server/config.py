"""Server settings, read from the environment (and overridden by command-line flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def _bundle_transactions_env() -> int | None:
    """``PASSERELLE_BUNDLE_TRANSACTIONS``: a count (0: no bound), or ``auto``/unset (None)."""
    raw = (os.environ.get("PASSERELLE_BUNDLE_TRANSACTIONS") or "auto").strip().lower()
    if raw == "auto":
        return None
    if not raw.isdigit():
        raise SystemExit(f"PASSERELLE_BUNDLE_TRANSACTIONS must be auto or a whole number, got {raw!r}")
    return int(raw)


def number_env(name: str, default: float) -> float:
    """A non-negative number from the environment (``default`` when unset); exits with a clear message."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise SystemExit(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass
class Settings:
    """Everything configurable. See the README's configuration table."""

    mongodb_uri: str | None = field(default_factory=lambda: os.environ.get("MONGODB_URI") or None)
    database: str = field(default_factory=lambda: os.environ.get("PASSERELLE_DB", "passerelle"))
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("PASSERELLE_DATA_DIR", "var")))
    base_url: str | None = field(default_factory=lambda: os.environ.get("PASSERELLE_BASE_URL") or None)
    max_body_bytes: int = field(
        default_factory=lambda: _int_env("PASSERELLE_MAX_BODY_BYTES", 16 * 1024 * 1024)
    )
    history_count_default: int = field(default_factory=lambda: _int_env("PASSERELLE_HISTORY_COUNT", 50))
    history_count_max: int = field(default_factory=lambda: _int_env("PASSERELLE_HISTORY_COUNT_MAX", 1000))
    # Search: page size when _count is absent, and the most a client may ask for.
    search_count_default: int = field(default_factory=lambda: _int_env("PASSERELLE_SEARCH_COUNT", 20))
    search_count_max: int = field(default_factory=lambda: _int_env("PASSERELLE_SEARCH_COUNT_MAX", 1000))
    # Transaction/batch Bundles: most entries accepted (the largest Synthea bundle has 959).
    bundle_max_entries: int = field(default_factory=lambda: _int_env("PASSERELLE_BUNDLE_MAX_ENTRIES", 10000))
    # Conditional delete with X-Delete-Multiple: most resources deleted in one interaction.
    conditional_delete_max: int = field(
        default_factory=lambda: _int_env("PASSERELLE_CONDITIONAL_DELETE_MAX", 100)
    )
    # Transaction Bundles one server process writes at once (0: no bound; the Bundles' CPU work is
    # never bounded). ``auto``: one on the embedded SecantusDB, which runs one statement at a time
    # and makes concurrent transactions conflict; no bound on MongoDB (README, "Configuration").
    bundle_transactions: int | None = field(default_factory=lambda: _bundle_transactions_env())
    no_auth: bool = False
