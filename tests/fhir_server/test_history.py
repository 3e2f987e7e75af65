"""history at instance, type and system level: order, deletions, _since, _at, _count and paging."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

FHIR_JSON = "application/fhir+json"


def _put(http: httpx.Client, type_: str, id_: str, **fields: object) -> httpx.Response:
    r = http.put(
        f"/{type_}/{id_}",
        json={"resourceType": type_, "id": id_, **fields},
        headers={"Content-Type": FHIR_JSON},
    )
    assert r.status_code in (200, 201), r.text
    return r


def _versions(bundle: dict) -> list[str]:
    return [e["response"]["etag"] for e in bundle.get("entry", [])]


def test_instance_history_newest_first_with_entries_per_spec(http: httpx.Client, base: str) -> None:
    for gender in ("male", "female", "other"):
        _put(http, "Patient", "hist-a", gender=gender)
    http.delete("/Patient/hist-a")
    bundle = http.get("/Patient/hist-a/_history").json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "history"
    assert bundle["total"] == 4
    assert _versions(bundle) == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    deletion = bundle["entry"][0]
    assert "resource" not in deletion
    assert deletion["request"] == {"method": "DELETE", "url": "Patient/hist-a"}
    assert bundle["entry"][1]["resource"]["gender"] == "other"
    assert bundle["entry"][3]["request"]["method"] == "PUT"
    assert bundle["entry"][3]["response"]["status"].startswith("201")
    assert all(e["fullUrl"] == f"{base}/Patient/hist-a" for e in bundle["entry"])


def test_type_and_system_history(http: httpx.Client) -> None:
    _put(http, "Practitioner", "hist-pr", name=[{"family": "Martin"}])
    _put(http, "Organization", "hist-org", name="CHU de Rennes")
    types = {
        e["resource"]["resourceType"]
        for e in http.get("/Practitioner/_history").json()["entry"]
        if "resource" in e
    }
    assert types == {"Practitioner"}
    system = http.get("/_history", params={"_count": "5"}).json()
    stamps = [e["response"]["lastModified"] for e in system["entry"]]
    assert stamps == sorted(stamps, reverse=True)
    assert "hist-org" in {e["resource"]["id"] for e in system["entry"] if "resource" in e}


def test_since(http: httpx.Client) -> None:
    _put(http, "Device", "hist-since", status="active")
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    _put(http, "Device", "hist-since", status="inactive")
    since = cut.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    bundle = http.get("/Device/hist-since/_history", params={"_since": since}).json()
    assert _versions(bundle) == ['W/"2"']
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert http.get("/Device/_history", params={"_since": future}).json()["total"] == 0


def test_at_returns_versions_current_then(http: httpx.Client) -> None:
    _put(http, "Location", "hist-at", name="Cabinet A")
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    _put(http, "Location", "hist-at", name="Cabinet B")
    at = between.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    bundle = http.get("/Location/hist-at/_history", params={"_at": at}).json()
    assert _versions(bundle) == ['W/"1"']  # version 1 was current at that instant
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert _versions(http.get("/Location/hist-at/_history", params={"_at": today}).json()) == [
        'W/"2"',
        'W/"1"',
    ]
    assert http.get("/Location/hist-at/_history", params={"_at": "1999"}).json()["total"] == 0


def test_count_and_paging_links_walk_everything_once(http: httpx.Client) -> None:
    for i in range(7):
        _put(http, "Medication", "hist-page", status="active" if i % 2 else "inactive")
    url: str | None = "/Medication/hist-page/_history?_count=3"
    seen: list[str] = []
    pages = []
    while url:
        bundle = http.get(url).json()
        pages.append(bundle)
        seen += _versions(bundle)
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0] if nxt else None
    assert seen == [f'W/"{v}"' for v in range(7, 0, -1)]
    assert [len(p.get("entry", [])) for p in pages] == [3, 3, 1]
    # a write between pages does not shift later pages (keyset paging)
    first = http.get("/Medication/hist-page/_history?_count=3").json()
    _put(http, "Medication", "hist-page", status="active")
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = http.get(nxt).json()
    assert _versions(second) == ['W/"4"', 'W/"3"', 'W/"2"']
    prev = next(link["url"] for link in second["link"] if link["relation"] == "previous")
    assert _versions(http.get(prev).json()) == ['W/"7"', 'W/"6"', 'W/"5"']
    assert http.get("/Medication/hist-page/_history?_count=0").json()["total"] == 8


def test_history_bad_parameters(http: httpx.Client) -> None:
    for params in (
        {"_since": "yesterday"},
        {"_count": "-1"},
        {"_at": "2024-13"},
        {"_cursor": "zzz"},
        {"foo": "1"},
    ):
        r = http.get("/Patient/_history", params=params)
        assert r.status_code == 400, params
        outcome = r.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["expression"] == [next(iter(params))]
