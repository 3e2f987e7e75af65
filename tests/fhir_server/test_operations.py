"""Operations over HTTP: $validate, $meta, $meta-add, $meta-delete, Patient/$everything,
and their listing in the CapabilityStatement (generated from the registry)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import FHIR_JSON

JSON_HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}


def test_capability_statement_lists_registered_operations(http: httpx.Client) -> None:
    statement = http.get("/metadata").json()
    rest = statement["rest"][0]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    names = {o["name"] for o in patient["operation"]}
    assert {"validate", "meta", "meta-add", "meta-delete", "everything"} <= names
    observation = next(r for r in rest["resource"] if r["type"] == "Observation")
    assert "everything" not in {o["name"] for o in observation["operation"]}
    assert "application/json-patch+json" in statement["patchFormat"]
    assert patient["conditionalCreate"] is True and patient["conditionalDelete"] == "multiple"
    assert {"transaction", "batch"} <= {i["code"] for i in rest["interaction"]}
    assert "patch" in {i["code"] for i in patient["interaction"]}


def test_validate(http: httpx.Client) -> None:
    good = http.post(
        "/Patient/$validate", json={"resourceType": "Patient", "gender": "female"}, headers=JSON_HEADERS
    )
    assert good.status_code == 200, good.text
    assert good.json()["issue"][0]["severity"] == "information"
    bad = http.post(
        "/Patient/$validate", json={"resourceType": "Patient", "gender": "martian"}, headers=JSON_HEADERS
    )
    assert bad.status_code == 200
    assert bad.json()["issue"][0]["severity"] == "error"
    assert bad.json()["issue"][0]["expression"] == ["Patient.gender"]
    # Parameters form, mode=update needs an id
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {"resourceType": "Patient"}},
            {"name": "mode", "valueCode": "update"},
        ],
    }
    r = http.post("/Patient/$validate", json=params, headers=JSON_HEADERS)
    assert r.status_code == 400
    wrong_mode = http.post(
        "/Patient/$validate?mode=nope", json={"resourceType": "Patient"}, headers=JSON_HEADERS
    )
    assert wrong_mode.status_code == 400
    assert http.get(f"/Patient/absent-{uuid.uuid4().hex[:8]}/$validate?mode=delete").status_code == 404
    base_profile = "http://hl7.org/fhir/StructureDefinition/Patient"
    ok = http.post(
        f"/Patient/$validate?profile={base_profile}", json={"resourceType": "Patient"}, headers=JSON_HEADERS
    )
    assert ok.status_code == 200
    unknown = http.post(
        "/Patient/$validate?profile=http://example.org/StructureDefinition/x",
        json={"resourceType": "Patient"},
        headers=JSON_HEADERS,
    )
    assert unknown.status_code == 400 and unknown.json()["issue"][0]["expression"] == ["profile"]


def test_unknown_operation_is_404(http: httpx.Client) -> None:
    r = http.get("/Patient/$nothing")
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"
    assert http.get("/Observation/x/$everything").status_code == 400


def _meta(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return r.json()["parameter"][0]["valueMeta"]


def test_meta_add_and_delete(http: httpx.Client) -> None:
    pid = f"meta-{uuid.uuid4().hex[:12]}"
    http.put(f"/Patient/{pid}", json={"resourceType": "Patient", "id": pid}, headers=JSON_HEADERS)
    tag = {"system": "http://example.org/tags", "code": "vip"}
    params = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [tag]}}]}
    added = _meta(http.post(f"/Patient/{pid}/$meta-add", json=params, headers=JSON_HEADERS))
    assert added["tag"] == [tag]
    again = _meta(http.post(f"/Patient/{pid}/$meta-add", json=params, headers=JSON_HEADERS))
    assert again["tag"] == [tag]  # a set: no duplicate
    assert _meta(http.get(f"/Patient/{pid}/$meta"))["tag"] == [tag]
    removed = _meta(http.post(f"/Patient/{pid}/$meta-delete", json=params, headers=JSON_HEADERS))
    assert "tag" not in removed
    assert http.get(f"/Patient/{pid}/$meta-add").status_code == 405


def test_meta_at_type_and_system_level_is_the_union_in_use(http: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:8]
    tag_a = {"system": "http://example.org/tags", "code": f"a-{marker}"}
    tag_b = {"system": "http://example.org/tags", "code": f"b-{marker}"}
    label = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
    for tags, security in (([tag_a], []), ([tag_a, tag_b], [label])):
        body = {"resourceType": "Device", "meta": {"tag": tags, "security": security}}
        if not security:
            del body["meta"]["security"]
        assert http.post("/Device", json=body, headers=JSON_HEADERS).status_code == 201
    gone = http.post(
        "/Device",
        json={"resourceType": "Device", "meta": {"tag": [{"code": f"gone-{marker}"}]}},
        headers=JSON_HEADERS,
    ).json()["id"]
    http.delete(f"/Device/{gone}")
    typed = _meta(http.get("/Device/$meta"))
    codes = [t["code"] for t in typed["tag"] if t["code"].endswith(marker)]
    assert sorted(codes) == [f"a-{marker}", f"b-{marker}"]  # each once, deleted resources left out
    assert label in typed["security"]
    system = _meta(http.get("/$meta"))
    assert tag_b in system["tag"]
    assert not any(t["code"].endswith(marker) for t in _meta(http.get("/Location/$meta")).get("tag", []))


def test_everything(http: httpx.Client) -> None:
    org = http.post(
        "/Organization", json={"resourceType": "Organization", "name": "Clinique"}, headers=JSON_HEADERS
    )
    org_id = org.json()["id"]
    patient = {"resourceType": "Patient", "managingOrganization": {"reference": f"Organization/{org_id}"}}
    pid = http.post("/Patient", json=patient, headers=JSON_HEADERS).json()["id"]
    for i in range(3):
        obs = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": f"o{i}"},
            "subject": {"reference": f"Patient/{pid}"},
        }
        assert http.post("/Observation", json=obs, headers=JSON_HEADERS).status_code == 201
    other = http.post("/Patient", json={"resourceType": "Patient"}, headers=JSON_HEADERS).json()["id"]
    cond = {"resourceType": "Condition", "subject": {"reference": f"Patient/{other}"}}
    http.post("/Condition", json=cond, headers=JSON_HEADERS)

    r = http.get(f"/Patient/{pid}/$everything")
    assert r.status_code == 200, r.text
    bundle = r.json()
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types[0] == "Patient"
    assert sorted(types) == ["Observation"] * 3 + ["Organization", "Patient"]
    assert bundle["total"] == 5

    only = http.get(f"/Patient/{pid}/$everything", params={"_type": "Observation"}).json()
    assert {e["resource"]["resourceType"] for e in only["entry"]} == {"Observation"}

    page = http.get(f"/Patient/{pid}/$everything", params={"_count": "2"}).json()
    assert len(page["entry"]) == 2
    seen = [e["fullUrl"] for e in page["entry"]]
    while next_link := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        page = httpx.get(next_link, headers={"Accept": FHIR_JSON}).json()
        seen += [e["fullUrl"] for e in page["entry"]]
    assert len(seen) == len(set(seen)) == 5

    later = http.get(f"/Patient/{pid}/$everything", params={"_since": "2999-01-01T00:00:00Z"}).json()
    assert later["total"] == 0
    assert http.get(f"/Patient/{pid}/$everything", params={"_since": "yesterday"}).status_code == 400
    assert http.get(f"/Patient/absent-{uuid.uuid4().hex[:8]}/$everything").status_code == 404
