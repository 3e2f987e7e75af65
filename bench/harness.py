"""Run a real ``passerelle serve`` process for benchmarks and black-box tests.

The server is started exactly as a user would start it (the console script's code
path, a real port, a real database), so what is measured and tested is what runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fhir_server.embedded import free_port


class ServerProcess:
    """``passerelle serve`` (with ``--no-auth`` unless ``auth=True``) on a free loopback port.

    It uses its own data dir, or ``MONGODB_URI`` when given.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        mongodb_uri: str | None = None,
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        auth: bool = False,
        cwd: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.mongodb_uri = mongodb_uri
        self.env = env or {}
        self.extra_args = extra_args or []
        self.auth = auth  # True: enforce authorization (no --no-auth)
        self.cwd = cwd  # another checkout of the code to serve (its own apps/ and fhir_server/)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def start(self, timeout: float | None = None) -> ServerProcess:
        # A loaded machine (parallel test workers on two cores) can take minutes to start a server.
        timeout = timeout or float(os.environ.get("PASSERELLE_START_TIMEOUT", "240"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        env.pop("MONGODB_URI", None)
        if self.mongodb_uri:
            env["MONGODB_URI"] = self.mongodb_uri
        cmd = [
            sys.executable, "-m", "apps.cli", "serve", *([] if self.auth else ["--no-auth"]),
            "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra_args,
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.cwd,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/metadata", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int | None:
        proc, self.process = self.process, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode

    def kill_hard(self) -> None:
        """SIGKILL the server and everything it started (its process group): a crash."""
        proc, self.process = self.process, None
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
