"""The teleconsultation tests' own server: the portal's, plus a movable teleconsultation clock.

``tc_clock(seconds)`` moves the server's teleconsultation clock (``PASSERELLE_TC_CLOCK_FILE``)
forward; it is put back after each test. Every other fixture is the portal tests' (Chromium,
SMTP sink, logged-in doctors).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.harness import ServerProcess
from tests.portal.conftest import *  # noqa: F403
from tests.portal.conftest import SmtpSink


@pytest.fixture(scope="session")
def clock_file() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="passerelle-tc-clock-"))
    path = tmp / "offset"
    path.write_text("0")
    yield path
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def portal_server(smtp: SmtpSink, clock_file: Path) -> Iterator[ServerProcess]:
    tmp = Path(tempfile.mkdtemp(prefix="passerelle-tc-"))
    env = {
        "PASSERELLE_DB": f"test_{uuid.uuid4().hex[:12]}",
        "PASSERELLE_DEV_PSC": "1",
        "PASSERELLE_SMTP_PORT": str(smtp.port),
        "PASSERELLE_LOGIN_RATE_IP": "100000",
        "PASSERELLE_LOGIN_RATE_ACCOUNT": "100000",
        "PASSERELLE_TC_CLOCK_FILE": str(clock_file),
    }
    server = ServerProcess(
        tmp, mongodb_uri=os.environ.get("MONGODB_URI"), env=env, extra_args=["--demo"], auth=True
    ).start(timeout=180)
    yield server
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture()
def tc_clock(clock_file: Path) -> Iterator[Callable[[float], None]]:
    def move(seconds: float) -> None:
        clock_file.write_text(str(seconds))

    yield move
    clock_file.write_text("0")
