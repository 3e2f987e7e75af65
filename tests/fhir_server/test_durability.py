"""Crash safety: SIGKILL the server and its database mid-burst, restart, and check that every
acknowledged write is there and that history agrees with the current versions."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.conftest import make_server

FHIR_JSON = "application/fhir+json"


async def _burst(base: str, acknowledged: list[tuple[str, int, str]], stop_at: float) -> None:
    """Create and update patients from 8 writers until ``stop_at`` or until the server dies."""

    async def writer(w: int, client: httpx.AsyncClient) -> None:
        n = 0
        while time.monotonic() < stop_at:
            pid = f"crash-{w}-{n // 3}"
            body = {"resourceType": "Patient", "id": pid, "name": [{"family": f"F{w}-{n}"}]}
            try:
                r = await client.put(f"/Patient/{pid}", json=body, headers={"Content-Type": FHIR_JSON})
            except httpx.HTTPError:
                return  # the server is gone: this write was never acknowledged
            if r.status_code in (200, 201):
                acknowledged.append((pid, int(r.json()["meta"]["versionId"]), f"F{w}-{n}"))
            n += 1

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(writer(w, client) for w in range(8)))


def test_sigkill_mid_burst_loses_no_acknowledged_write(tmp_path: Path) -> None:
    server = make_server(tmp_path / "crash").start()
    acknowledged: list[tuple[str, int, str]] = []

    async def scenario() -> None:
        task = asyncio.create_task(_burst(server.base, acknowledged, time.monotonic() + 30))
        while len(acknowledged) < 150:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(server.kill_hard)  # writes are still in flight at this moment
        await task

    asyncio.run(scenario())
    assert len(acknowledged) >= 150

    server.port = make_server(tmp_path).port  # a new port, same data dir
    server.start()
    try:
        with httpx.Client(base_url=server.base, timeout=30) as http:
            for pid, version, family in acknowledged:
                r = http.get(f"/Patient/{pid}/_history/{version}")
                assert r.status_code == 200, (pid, version)
                assert r.json()["name"][0]["family"] == family
            for pid in {a[0] for a in acknowledged}:
                current = http.get(f"/Patient/{pid}").json()
                n = int(current["meta"]["versionId"])
                history = http.get(f"/Patient/{pid}/_history", params={"_count": "100"}).json()
                assert [e["response"]["etag"] for e in history["entry"]] == [
                    f'W/"{v}"' for v in range(n, 0, -1)
                ]
                assert history["entry"][0]["resource"] == current
    finally:
        server.stop()


def test_data_survives_a_clean_restart(tmp_path: Path) -> None:
    server = make_server(tmp_path / "restart").start()
    r = httpx.post(
        f"{server.base}/Patient",
        json={"resourceType": "Patient", "gender": "male"},
        headers={"Content-Type": FHIR_JSON},
    )
    pid = r.json()["id"]
    assert server.stop() == 0
    server.start()
    try:
        again = httpx.get(f"{server.base}/Patient/{pid}")
        assert again.status_code == 200 and again.json() == r.json()
    finally:
        server.stop()
