"""Shared fixtures: a real ``passerelle serve`` process on a real wire-protocol database.

With ``MONGODB_URI`` set, the servers use that MongoDB (each in its own database);
otherwise each starts the embedded SecantusDB under a temporary data dir.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness import ServerProcess

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FHIR_JSON = "application/fhir+json"


def make_server(tmp: Path, **env: str) -> ServerProcess:
    env.setdefault("PASSERELLE_DB", f"test_{uuid.uuid4().hex[:12]}")
    return ServerProcess(tmp, mongodb_uri=os.environ.get("MONGODB_URI"), env=env)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = make_server(tmp_path_factory.mktemp("server")).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def base(server: ServerProcess) -> str:
    return server.base


@pytest.fixture()
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, headers={"Accept": FHIR_JSON}, timeout=60) as client:
        yield client
