"""``passerelle serve``: the embedded database's lifecycle and the demo data."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from bench.harness import ServerProcess


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_server_and_embedded_database(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "life").start()
    assert server.process is not None
    children = _descendants(server.process.pid)
    assert children, "the embedded database should run as a child process"
    assert server.stop() == 0
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in children)
    assert (tmp_path / "life" / "db").is_dir()


def test_demo_data_is_loaded_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    for round_ in range(2):
        server = ServerProcess(tmp_path / "demo", env=env, extra_args=["--demo"]).start()
        try:
            r = httpx.get(f"{server.base}/Patient/demo-pat-dupont")
            assert r.status_code == 200
            assert r.json()["name"][0]["given"] == ["Hélène"]
            assert r.json()["meta"]["versionId"] == "1", f"restart {round_} created a new version"
            bp = httpx.get(f"{server.base}/Observation/demo-obs-bp").json()
            assert {c["code"]["coding"][0]["code"] for c in bp["component"]} == {"8480-6", "8462-4"}
        finally:
            server.stop()


def test_fhir_base_without_trailing_slash_is_served(server: ServerProcess) -> None:
    """``POST [base]`` must not be redirected: many clients do not follow a 307 on POST."""
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "metadata"}}],
    }
    r = httpx.post(server.base, json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "batch-response"
