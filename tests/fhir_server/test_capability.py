"""The CapabilityStatement matches what the server really does."""

from __future__ import annotations

import httpx

from fhir_server.validation import RESOURCE_TYPES


def test_metadata_lists_every_type_and_routed_interaction(http: httpx.Client) -> None:
    cs = http.get("/metadata").json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    rest = cs["rest"][0]
    assert {r["type"] for r in rest["resource"]} == set(RESOURCE_TYPES)
    assert "Patient" in RESOURCE_TYPES and "Observation" in RESOURCE_TYPES
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    codes = {i["code"] for i in patient["interaction"]}
    assert codes >= {"read", "vread", "update", "delete", "history-instance", "history-type", "create"}
    assert "search-type" in codes
    assert {i["code"] for i in rest["interaction"]} >= {"history-system", "search-system"}
    assert set(cs["format"]) >= {"application/fhir+json", "application/fhir+xml"}


def test_every_advertised_interaction_answers(http: httpx.Client) -> None:
    """Walk the statement for one type and exercise each interaction it claims."""
    cs = http.get("/metadata").json()
    codes = {
        i["code"] for i in next(r for r in cs["rest"][0]["resource"] if r["type"] == "Basic")["interaction"]
    }
    h = {"Content-Type": "application/fhir+json"}
    body = {"resourceType": "Basic", "code": {"text": "note"}}
    calls = {
        "create": lambda: http.post("/Basic", json=body, headers=h),
        "update": lambda: http.put("/Basic/cap-1", json={**body, "id": "cap-1"}, headers=h),
        "read": lambda: http.get("/Basic/cap-1"),
        "vread": lambda: http.get("/Basic/cap-1/_history/1"),
        "history-instance": lambda: http.get("/Basic/cap-1/_history"),
        "history-type": lambda: http.get("/Basic/_history"),
        "delete": lambda: http.delete("/Basic/cap-1"),
        "search-type": lambda: http.get("/Basic", params={"_id": "cap-1"}),
        "patch": lambda: http.patch(
            "/Basic/cap-1",
            json=[{"op": "add", "path": "/code/text", "value": "patched"}],
            headers={"Content-Type": "application/json-patch+json"},
        ),
    }
    assert codes == set(calls)
    order = ["create", "update", "patch", "read", "vread", "history-instance", "history-type", "search-type"]
    order.append("delete")
    for code in order:
        assert calls[code]().status_code < 300, code


def test_metadata_in_xml(http: httpx.Client) -> None:
    r = http.get("/metadata", headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 200 and r.content.lstrip().startswith(b"<")
