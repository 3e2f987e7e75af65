"""The embedded database: SecantusDB (a MongoDB wire-protocol server) run as a child process.

Used when ``MONGODB_URI`` is not set, so that ``make run`` and the tests need nothing but
Python. It runs with ``--sync-on-commit`` so that an acknowledged write survives a
crash of either process. The child gets ``PR_SET_PDEATHSIG`` on Linux: if the server is killed hard, the
database is told to shut down instead of being orphaned with its storage locked.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedMongo:
    """Start, wait for and stop a SecantusDB server whose data lives in ``storage_dir``."""

    def __init__(
        self,
        storage_dir: Path,
        port: int | None = None,
        log_file: Path | None = None,
        *,
        patched: bool = True,
    ) -> None:
        """``patched=False`` runs SecantusDB as released, without :mod:`fhir_server.secantus_patch`
        (the benchmark's "before" figures)."""
        self.storage_dir = storage_dir
        self.patched = patched
        self.port = port or free_port()
        self.log_file = log_file or storage_dir.parent / "secantusdb.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 60.0) -> str:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self._log = log
        cmd = [
            # SecantusDB's own command line, with the pinned patch applied first (run as a file:
            # the database process does not import the server's package)
            sys.executable,
            *([str(Path(__file__).with_name("secantus_patch.py"))] if self.patched else ["-m", "secantus"]),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self.storage_dir),
            "--log-level", "WARNING",
            # Without it, commits sit in WiredTiger's log buffer for a while and a SIGKILL
            # loses acknowledged writes (seen in tests/fhir_server/test_durability.py).
            "--sync-on-commit",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._wait_ready(timeout)
        return self.uri

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"SecantusDB exited with code {self.process.returncode} while starting;"
                    f" see {self.log_file}"
                )
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except PyMongoError as exc:
                last_error = exc
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"SecantusDB did not answer within {timeout:.0f} s: {last_error}")

    def stop(self, timeout: float = 20.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()

    def __enter__(self) -> EmbeddedMongo:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
