"""Shared steps of the tests that upgrade a database of an older search layout at server start."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest


def on_database(data_dir: Path, uri: str | None, run: Callable[[str], Awaitable[None]]) -> None:
    """``run(uri)`` on ``MONGODB_URI`` when given, else on the embedded database of ``data_dir``."""
    from fhir_server import EmbeddedMongo

    if uri:
        asyncio.run(run(uri))
        return
    with EmbeddedMongo(data_dir / "db") as db:  # where ``serve --data-dir`` keeps it
        asyncio.run(run(db.uri))


def written_with_layout(
    monkeypatch: pytest.MonkeyPatch, name: str, data_dir: Path, uri: str | None, write: Any
) -> None:
    """``write`` run by this process as a deployment of search layout ``name``."""
    from fhir_server.search import layout

    monkeypatch.setenv("PASSERELLE_SEARCH_LAYOUT", name)
    layout.reset()
    try:
        on_database(data_dir, uri, write)
    finally:
        monkeypatch.delenv("PASSERELLE_SEARCH_LAYOUT")
        layout.reset()


def started_twice(
    data_dir: Path, uri: str | None, database: str, type_: str, total: int, requests: Callable[[Any], None]
) -> str:
    """Start a server twice on the database: the first start recomputes the ``total`` stored
    resources of ``type_`` and rebuilds its indexes, with its progress on the console, before
    ``requests`` (given an HTTP client) run; the second start does nothing. The first log."""
    import httpx

    from bench.harness import ServerProcess

    first = ""
    for start in (1, 2):
        server = ServerProcess(data_dir, mongodb_uri=uri, env={"PASSERELLE_DB": database})
        seen = server.log_path.stat().st_size if server.log_path.exists() else 0  # the log is appended to
        server.start()
        try:
            with httpx.Client(base_url=server.base, timeout=30) as http:
                requests(http)
        finally:
            server.stop()
        log = server.log_path.read_bytes()[seen:].decode(errors="replace")
        upgraded = f"search values of {type_}: recomputing {total} resources" in log
        assert upgraded == (start == 1), log  # once: the second start finds the marker up to date
        if start == 1:
            assert f"search values of {type_}: {total}/{total} done" in log
            assert f"search indexes of {type_}:" in log
            first = log
    return first
