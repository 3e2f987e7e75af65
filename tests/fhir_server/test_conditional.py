"""Conditional create, update and delete (R4 http.html 3.1.0.4.3, 3.1.0.7.1, 3.1.0.8.1), over HTTP.

Expected statuses from the specification: If-None-Exist with no match creates (201), with
one match does nothing and answers 200, with several 412; conditional update with no match
creates, with one match updates it, with several 412; conditional delete removes the match.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx

from tests.conftest import FHIR_JSON

JSON_HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"


def patient(value: str, family: str = "Cond") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYSTEM, "value": value}],
        "name": [{"family": family}],
    }


def count(http: httpx.Client, value: str) -> int:
    r = http.get("/Patient", params={"identifier": f"{SYSTEM}|{value}"})
    assert r.status_code == 200, r.text
    return len(r.json().get("entry", []))


def test_if_none_exist_creates_then_finds(http: httpx.Client) -> None:
    value = uuid.uuid4().hex
    headers = {**JSON_HEADERS, "If-None-Exist": f"identifier={SYSTEM}|{value}"}
    first = http.post("/Patient", json=patient(value), headers=headers)
    assert first.status_code == 201, first.text
    second = http.post("/Patient", json=patient(value), headers=headers)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert count(http, value) == 1


def test_if_none_exist_several_matches_is_412(http: httpx.Client) -> None:
    value = uuid.uuid4().hex
    for _ in range(2):
        http.post("/Patient", json=patient(value), headers=JSON_HEADERS)
    r = http.post(
        "/Patient", json=patient(value), headers={**JSON_HEADERS, "If-None-Exist": f"identifier={value}"}
    )
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome"


def test_concurrent_identical_conditional_creates_make_one_resource(base: str, http: httpx.Client) -> None:
    value = uuid.uuid4().hex
    headers = {**JSON_HEADERS, "If-None-Exist": f"identifier={SYSTEM}|{value}"}
    body = json.dumps(patient(value))

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            return await asyncio.gather(
                *(client.post("/Patient", content=body, headers=headers) for _ in range(20))
            )

    answers = asyncio.run(run())
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 19 + [201], [r.text for r in answers if r.status_code not in (200, 201)]
    assert len({r.json()["id"] for r in answers}) == 1
    assert count(http, value) == 1


def test_conditional_update(http: httpx.Client) -> None:
    value = uuid.uuid4().hex
    url = f"/Patient?identifier={SYSTEM}|{value}"
    created = http.put(url, json=patient(value, "First"), headers=JSON_HEADERS)
    assert created.status_code == 201, created.text
    updated = http.put(url, json=patient(value, "Second"), headers=JSON_HEADERS)
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["meta"]["versionId"] == "2"
    # an id in the body that is not the match's is refused
    wrong = http.put(url, json={**patient(value), "id": "someone-else"}, headers=JSON_HEADERS)
    assert wrong.status_code == 400
    http.post("/Patient", json=patient(value), headers=JSON_HEADERS)
    assert http.put(url, json=patient(value), headers=JSON_HEADERS).status_code == 412


def test_conditional_delete_single_and_multiple(http: httpx.Client) -> None:
    value = uuid.uuid4().hex
    url = f"/Patient?identifier={SYSTEM}|{value}"
    for _ in range(3):
        http.post("/Patient", json=patient(value), headers=JSON_HEADERS)
    refused = http.delete(url)
    assert refused.status_code == 412
    assert count(http, value) == 3
    done = http.delete(url, headers={"X-Delete-Multiple": "true"})
    assert done.status_code == 204, done.text
    assert count(http, value) == 0
    # nothing matches any more: an ordinary no-op delete
    assert http.delete(url).status_code == 204


def test_conditional_interactions_need_criteria(http: httpx.Client) -> None:
    r = http.put("/Patient", json=patient("x"), headers=JSON_HEADERS)
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["url"]
    r = http.post("/Patient", json=patient("x"), headers={**JSON_HEADERS, "If-None-Exist": ""})
    assert r.status_code == 400


def test_conditional_reference_in_transaction(http: httpx.Client) -> None:
    value = uuid.uuid4().hex
    pid = http.post("/Patient", json=patient(value), headers=JSON_HEADERS).json()["id"]
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient?identifier={SYSTEM}|{value}"},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": obs, "request": {"method": "POST", "url": "Observation"}}],
    }
    r = http.post("/", json=bundle, headers=JSON_HEADERS)
    assert r.status_code == 200, r.text
    location = r.json()["entry"][0]["response"]["location"]
    stored = http.get("/" + "/".join(location.split("/")[:2])).json()
    assert stored["subject"]["reference"] == f"Patient/{pid}"
    obs["subject"]["reference"] = f"Patient?identifier={SYSTEM}|absent-{value}"
    r = http.post("/", json=bundle, headers=JSON_HEADERS)
    assert r.status_code == 412
    assert "Bundle.entry[0]" in r.json()["issue"][0]["diagnostics"]


def test_if_none_exist_in_transaction(http: httpx.Client) -> None:
    value = uuid.uuid4().hex
    full_url = f"urn:uuid:{uuid.uuid4()}"
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": full_url},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": full_url,
                "resource": patient(value),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={SYSTEM}|{value}",
                },
            },
            {"resource": obs, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    first = http.post("/", json=bundle, headers=JSON_HEADERS)
    assert first.status_code == 200, first.text
    second = http.post("/", json=bundle, headers=JSON_HEADERS)
    assert second.status_code == 200, second.text
    assert first.json()["entry"][0]["response"]["status"].startswith("201")
    assert second.json()["entry"][0]["response"]["status"].startswith("200")
    assert first.json()["entry"][0]["fullUrl"] == second.json()["entry"][0]["fullUrl"]
    # the second Observation points at the patient found, not at a new one
    location = second.json()["entry"][1]["response"]["location"]
    stored = http.get("/" + "/".join(location.split("/")[:2])).json()
    assert stored["subject"]["reference"] == "/".join(first.json()["entry"][0]["fullUrl"].split("/")[-2:])
    assert count(http, value) == 1
