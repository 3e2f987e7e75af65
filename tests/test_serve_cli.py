"""``passerelle serve`` as a newcomer meets it: help texts, a port already taken, ``make run PORT=``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _serve(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", "serve", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )


def test_help_gives_each_option_its_meaning_and_default() -> None:
    done = _serve("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--host HOST address to listen on (default: 127.0.0.1)" in text
    assert "--port PORT port to listen on (default: 8000)" in text
    assert "server log level (default: warning)" in text and "debug" in text
    assert "--data-dir" in text and "--demo" in text and "--no-auth" in text


def test_a_taken_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _serve("--no-auth", "--port", str(port), "--data-dir", str(tmp_path / "var"))
    assert done.returncode == 1
    assert f"impossible d'écouter sur 127.0.0.1:{port}" in done.stderr
    assert f"make run PORT={port + 1}" in done.stderr
    assert "prêt" not in done.stderr and "serving" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "var" / "db").exists()  # the database was not even started


def test_make_run_takes_a_port() -> None:
    done = subprocess.run(
        ["make", "-n", "run", "PORT=8123", "HOST=127.0.0.1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "serve --demo --host 127.0.0.1 --port 8123" in done.stdout
