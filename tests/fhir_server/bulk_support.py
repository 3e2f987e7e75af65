"""Helpers for the Bulk Data tests: seed resources, kick off, poll as a client following the IG would."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

FHIR_JSON = "application/fhir+json"
ASYNC = {"Prefer": "respond-async", "Accept": FHIR_JSON}


def seed(http: httpx.Client, patients: int = 4, observations: int = 3, tag: str = "") -> list[str]:
    """Patients with heart-rate Observations (LOINC 8867-4) and one body-weight (29463-7) each."""
    ids = []
    for i in range(patients):
        r = http.post(
            "/Patient",
            json={"resourceType": "Patient", "name": [{"family": f"Martin{tag}{i}", "given": ["Léa"]}]},
            headers={"Content-Type": FHIR_JSON},
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        ids.append(pid)
        for j in range(observations + 1):
            code = "8867-4" if j < observations else "29463-7"
            r = http.post(
                "/Observation",
                json={
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "valueQuantity": {"value": 60 + j, "unit": "/min"},
                },
                headers={"Content-Type": FHIR_JSON},
            )
            assert r.status_code == 201, r.text
    return ids


def kick_off(http: httpx.Client, url: str, **kw: Any) -> str:
    headers = {**ASYNC, **kw.pop("headers", {})}
    r = http.request(kw.pop("method", "GET"), url, headers=headers, **kw)
    assert r.status_code == 202, r.text
    location = r.headers["content-location"]
    assert location.startswith("http")
    return location


def wait(http: httpx.Client, status_url: str, timeout: float = 90, **kw: Any) -> tuple[httpx.Response, list]:
    """Poll until the export is done, as the IG says (202 + Retry-After while in progress)."""
    deadline = time.monotonic() + timeout
    polls = []
    while time.monotonic() < deadline:
        r = http.get(status_url, **kw)
        if r.status_code != 202:
            return r, polls
        assert r.headers.get("retry-after", "").isdigit(), r.headers
        assert "x-progress" in r.headers
        polls.append(r.headers["x-progress"])
        time.sleep(0.2)
    raise AssertionError(f"export not finished after {timeout} s")


def download(http: httpx.Client, manifest: dict[str, Any], **kw: Any) -> dict[str, list[dict[str, Any]]]:
    """Every output file, parsed line by line, checked against the manifest's type and count."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        r = http.get(item["url"], **kw)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [orjson.loads(line) for line in r.content.splitlines() if line.strip()]
        assert len(lines) == item["count"]
        assert {x["resourceType"] for x in lines} <= {item["type"]}
        out.setdefault(item["type"], []).extend(lines)
    return out
