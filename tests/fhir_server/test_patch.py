"""The PATCH interaction over HTTP (R4 http.html#patch): JSON Patch and FHIRPath Patch.

Checked: the patched resource is validated like an update (an invalid result is refused and
nothing is stored), ``If-Match`` is honoured (412 when stale), a patch that does not apply
is 422, an unknown patch format is 415, conditional PATCH designates one resource.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import FHIR_JSON

JSON_HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
JSON_PATCH = {"Content-Type": "application/json-patch+json", "Accept": FHIR_JSON}


def new_patient(http: httpx.Client, **extra: Any) -> str:
    pid = f"patch-{uuid.uuid4().hex[:12]}"
    body = {"resourceType": "Patient", "id": pid, "name": [{"family": "Patch", "given": ["A"]}], **extra}
    assert http.put(f"/Patient/{pid}", json=body, headers=JSON_HEADERS).status_code == 201
    return pid


def test_json_patch_with_if_match(http: httpx.Client) -> None:
    pid = new_patient(http)
    ops = [
        {"op": "add", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/name/0/given/-", "value": "B"},
    ]
    r = http.patch(f"/Patient/{pid}", json=ops, headers={**JSON_PATCH, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == 'W/"2"'
    assert r.json()["gender"] == "female" and r.json()["name"][0]["given"] == ["A", "B"]
    stale = http.patch(f"/Patient/{pid}", json=ops, headers={**JSON_PATCH, "If-Match": 'W/"1"'})
    assert stale.status_code == 412


def test_invalid_patch_result_is_refused_and_nothing_stored(http: httpx.Client) -> None:
    pid = new_patient(http)
    r = http.patch(
        f"/Patient/{pid}", json=[{"op": "add", "path": "/gender", "value": "martian"}], headers=JSON_PATCH
    )
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["Patient.gender"]
    stored = http.get(f"/Patient/{pid}").json()
    assert stored["meta"]["versionId"] == "1" and "gender" not in stored


def test_patch_that_does_not_apply_is_422(http: httpx.Client) -> None:
    pid = new_patient(http)
    r = http.patch(
        f"/Patient/{pid}",
        json=[{"op": "test", "path": "/name/0/family", "value": "Other"}],
        headers=JSON_PATCH,
    )
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Patient.name[0].family"]
    r = http.patch(
        f"/Patient/{pid}", json=[{"op": "replace", "path": "/id", "value": "other"}], headers=JSON_PATCH
    )
    assert r.status_code == 400


def test_patch_errors(http: httpx.Client) -> None:
    pid = new_patient(http)
    assert (
        http.patch(f"/Patient/{pid}", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    )
    assert http.patch(f"/Patient/{pid}", content=b"{", headers=JSON_PATCH).status_code == 400
    assert http.patch(f"/Patient/{pid}", json={"op": "add"}, headers=JSON_PATCH).status_code == 400
    missing = http.patch(f"/Patient/absent-{uuid.uuid4().hex[:8]}", json=[], headers=JSON_PATCH)
    assert missing.status_code == 404


def fhirpath_patch(*operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "operation", "part": op} for op in operations],
    }


def test_fhirpath_patch(http: httpx.Client) -> None:
    pid = new_patient(http, birthDate="1920-01-01")
    body = fhirpath_patch(
        [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.birthDate"},
            {"name": "value", "valueDate": "1930-01-01"},
        ],
        [
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "telecom"},
            {"name": "value", "valueContactPoint": {"system": "phone", "value": "+33612345678"}},
        ],
    )
    r = http.patch(f"/Patient/{pid}", json=body, headers=JSON_HEADERS)
    assert r.status_code == 200, r.text
    assert r.json()["birthDate"] == "1930-01-01"
    assert r.json()["telecom"] == [{"system": "phone", "value": "+33612345678"}]


def test_conditional_patch(http: httpx.Client) -> None:
    value = uuid.uuid4().hex
    pid = new_patient(http, identifier=[{"system": "urn:example", "value": value}])
    r = http.patch(
        f"/Patient?identifier=urn:example|{value}",
        json=[{"op": "add", "path": "/active", "value": True}],
        headers=JSON_PATCH,
    )
    assert r.status_code == 200, r.text
    assert r.json()["id"] == pid and r.json()["active"] is True
    ops = [{"op": "add", "path": "/active", "value": True}]
    none = http.patch(f"/Patient?identifier=urn:example|absent-{value}", json=ops, headers=JSON_PATCH)
    assert none.status_code == 404


def test_concurrent_patches_all_land(base: str, http: httpx.Client) -> None:
    """PATCH is a read-modify-write in one transaction: concurrent patches are serialized, none lost."""
    import asyncio

    pid = new_patient(http)

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            return await asyncio.gather(
                *(
                    client.patch(
                        f"/Patient/{pid}",
                        json=[{"op": "add", "path": "/name/0/given/-", "value": f"G{i}"}],
                        headers=JSON_PATCH,
                    )
                    for i in range(10)
                )
            )

    answers = asyncio.run(run())
    assert [r.status_code for r in answers] == [200] * 10
    stored = http.get(f"/Patient/{pid}").json()
    assert sorted(stored["name"][0]["given"]) == sorted(["A"] + [f"G{i}" for i in range(10)])
    assert stored["meta"]["versionId"] == "11"
