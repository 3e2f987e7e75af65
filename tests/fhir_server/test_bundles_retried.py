"""Transaction Bundles whose body the database runs more than once keep their references right.

Concurrent transactions on the embedded database conflict and are retried (about two attempts
per Bundle with two in flight); an attempt reuses the references rewritten by the previous one
only when it resolved the same ``fullUrl`` and conditional-reference mapping. Each Bundle here
creates its own Patient and Observations pointing at it by ``urn:uuid:`` and by a conditional
reference to a Patient created before: every stored reference must name the right one.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.harness import ServerProcess

JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _bundle(tag: str, anchor_identifier: str) -> dict[str, Any]:
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient_url,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:test:retry", "value": tag}],
                "name": [{"family": f"Essai {tag}"}],
            },
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    for n in range(5):
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": f"{tag}-{n}"},
                    "subject": {"reference": patient_url},
                    "performer": [{"reference": f"Patient?identifier=urn:test:retry|{anchor_identifier}"}],
                },
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_concurrent_transactions_store_the_right_references(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.base, headers=JSON, timeout=120) as http:
        anchor = f"anchor-{uuid.uuid4().hex[:8]}"
        created = http.post(
            "/Patient",
            json={"resourceType": "Patient", "identifier": [{"system": "urn:test:retry", "value": anchor}]},
        )
        assert created.status_code == 201, created.text
        anchor_id = created.json()["id"]
        tags = [f"t{uuid.uuid4().hex[:8]}" for _ in range(12)]

        def post(tag: str) -> httpx.Response:
            return http.post("/", json=_bundle(tag, anchor))

        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(post, tags))
        assert all(r.status_code == 200 for r in replies), [
            r.text[:300] for r in replies if r.status_code != 200
        ]
        for tag in tags:
            patients = http.get("/Patient", params={"identifier": f"urn:test:retry|{tag}"}).json()
            assert len(patients["entry"]) == 1
            patient_id = patients["entry"][0]["resource"]["id"]
            observations = http.get("/Observation", params={"subject": f"Patient/{patient_id}"}).json()
            texts = sorted(e["resource"]["code"]["text"] for e in observations["entry"])
            assert texts == [f"{tag}-{n}" for n in range(5)]
            for e in observations["entry"]:
                assert e["resource"]["performer"] == [{"reference": f"Patient/{anchor_id}"}]
