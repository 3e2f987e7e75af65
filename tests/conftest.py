"""Shared fixtures: a real ``passerelle serve`` process on a real wire-protocol database.

With ``MONGODB_URI`` set, the servers use that MongoDB (each in its own database);
otherwise each starts the embedded SecantusDB under a temporary data dir.

The shared data set (official R4 package, HL7 test cases, eHDSI samples, Synthea bundles) is
read from ``PASSERELLE_SHARED`` (default ``../shared`` beside the repository). Tests that need it
skip with a one-line reason naming what is missing when it is absent, so that ``make test``
passes on any clone; with ``PASSERELLE_REQUIRE_SHARED=1`` (set by ``.ci/run``) such a skip is a
failure instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness import ServerProcess
from bench.shared import shared_dir

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_dir()
REQUIRE_SHARED = os.environ.get("PASSERELLE_REQUIRE_SHARED", "") not in ("", "0")
FHIR_JSON = "application/fhir+json"
# Every skip for missing shared data starts with this, so that CI can turn them into failures.
SHARED_SKIP_PREFIX = "needs the shared data set:"


def shared_reason(*parts: str) -> str:
    """The one-line skip reason for a missing part of the shared data set."""
    return f"{SHARED_SKIP_PREFIX} {SHARED.joinpath(*parts)} is missing (set PASSERELLE_SHARED)"


def needs_shared(*parts: str) -> pytest.MarkDecorator:
    """``@needs_shared("ehdsi", "samples")``: skip (with the reason) when that path is absent."""
    return pytest.mark.skipif(not SHARED.joinpath(*parts).exists(), reason=shared_reason(*parts))


def shared_path(*parts: str) -> Path:
    """The path under the shared data set, or skip the calling test/fixture when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(shared_reason(*parts))
    return path


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_SHARED and not SHARED.is_dir():
        raise pytest.UsageError(
            f"PASSERELLE_REQUIRE_SHARED is set but the shared data set {SHARED} is missing "
            "(clone it beside the repository or set PASSERELLE_SHARED)"
        )


def _missing_shared(report: pytest.CollectReport | pytest.TestReport) -> bool:
    return bool(report.skipped and SHARED_SKIP_PREFIX in str(report.longrepr))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_SHARED and _missing_shared(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_SHARED and _missing_shared(report):
        report.outcome = "failed"


def make_server(tmp: Path, **env: str) -> ServerProcess:
    env.setdefault("PASSERELLE_DB", f"test_{uuid.uuid4().hex[:12]}")
    return ServerProcess(tmp, mongodb_uri=os.environ.get("MONGODB_URI"), env=env)


@pytest.fixture(scope="module")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database for in-process repositories of one test module: ``MONGODB_URI``, or an embedded
    SecantusDB of its own (each test names its own database on it)."""
    from fhir_server import EmbeddedMongo

    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri
        return
    with EmbeddedMongo(Path(tmp_path_factory.mktemp("db")) / "db") as embedded:
        yield embedded.uri


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
