"""Concurrent writers: If-Match races have exactly one winner; blind updates all land, in order."""

from __future__ import annotations

import asyncio

import httpx

FHIR_JSON = "application/fhir+json"


async def _put(
    client: httpx.AsyncClient, pid: str, family: str, if_match: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": FHIR_JSON}
    if if_match:
        headers["If-Match"] = if_match
    body = {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}
    return await client.put(f"/Patient/{pid}", json=body, headers=headers)


async def test_same_if_match_has_exactly_one_winner(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for round_ in range(5):
            pid = f"race-{round_}"
            assert (await _put(client, pid, "start")).status_code == 201
            a, b = await asyncio.gather(_put(client, pid, "A", 'W/"1"'), _put(client, pid, "B", 'W/"1"'))
            assert sorted([a.status_code, b.status_code]) == [200, 412]
            current = (await client.get(f"/Patient/{pid}")).json()
            assert current["meta"]["versionId"] == "2"
            winner = a if a.status_code == 200 else b
            assert current["name"] == winner.json()["name"]


async def test_concurrent_blind_updates_all_land_with_consecutive_versions(base: str) -> None:
    n = 40
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        assert (await _put(client, "blind", "v1")).status_code == 201
        results = await asyncio.gather(*(_put(client, "blind", f"w{i}") for i in range(n)))
        assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
        versions = sorted(int(r.json()["meta"]["versionId"]) for r in results)
        assert versions == list(range(2, n + 2))
        history = (await client.get("/Patient/blind/_history", params={"_count": "100"})).json()
        assert history["total"] == n + 1
        families = {e["resource"]["name"][0]["family"] for e in history["entry"]}
        assert families == {f"w{i}" for i in range(n)} | {"v1"}
        current = (await client.get("/Patient/blind")).json()
        assert current["meta"]["versionId"] == str(n + 1)
