"""CodeSystem / ValueSet / ConceptMap written through REST feed the terminology operations at once.

Create, update, delete, PATCH and transactions (committed or rolled back); terminology
resources the engine could not serve are refused on write with the location of the fault.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.fhir_server.test_terminology_operations import JSON, assert_outcome, create, one, triage_codesystem

GENDER = "http://hl7.org/fhir/administrative-gender"


def unique(kind: str) -> str:
    return f"https://example.org/{kind}/{uuid.uuid4().hex}"


def gender_vs(url: str, *codes: str) -> dict[str, Any]:
    concepts = [{"code": c} for c in codes]
    return {
        "resourceType": "ValueSet",
        "url": url,
        "status": "active",
        "compose": {"include": [{"system": GENDER, "concept": concepts}]},
    }


def expanded(http: httpx.Client, url: str) -> list[str]:
    r = http.get("/ValueSet/$expand", params={"url": url})
    assert r.status_code == 200, r.text
    return [c["code"] for c in r.json()["expansion"]["contains"]]


def test_create_update_delete_value_set(http: httpx.Client) -> None:
    url = unique("vs")
    id_ = create(http, gender_vs(url, "male"))
    assert expanded(http, url) == ["male"]
    r = http.put(f"/ValueSet/{id_}", json={**gender_vs(url, "female", "other"), "id": id_}, headers=JSON)
    assert r.status_code == 200, r.text
    assert expanded(http, url) == ["female", "other"]  # the old content is gone, not merged
    found = http.get("/ValueSet", params={"url": url}).json()
    assert [e["resource"]["meta"]["versionId"] for e in found["entry"]] == ["2"]  # versioned, searchable
    assert http.delete(f"/ValueSet/{id_}").status_code in (200, 204)
    assert_outcome(http.get("/ValueSet/$expand", params={"url": url}), 404, "not-found", "url")
    assert http.get(f"/ValueSet/{id_}/$expand").status_code == 410


def test_code_system_update_and_delete_change_lookup(http: httpx.Client) -> None:
    url = unique("cs")
    cs = triage_codesystem(url)
    id_ = create(http, cs)
    assert (
        one(http.get("/CodeSystem/$lookup", params={"system": url, "code": "routine"}).json(), "display")
        == "Routine"
    )
    cs["concept"][1]["display"] = "Non urgent"
    assert http.put(f"/CodeSystem/{id_}", json={**cs, "id": id_}, headers=JSON).status_code == 200
    assert (
        one(http.get("/CodeSystem/$lookup", params={"system": url, "code": "routine"}).json(), "display")
        == "Non urgent"
    )
    patch = [{"op": "remove", "path": "/concept/1"}]
    r = http.patch(f"/CodeSystem/{id_}", json=patch, headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    assert_outcome(
        http.get("/CodeSystem/$lookup", params={"system": url, "code": "routine"}), 404, "not-found", "code"
    )
    assert http.delete(f"/CodeSystem/{id_}").status_code in (200, 204)
    assert_outcome(
        http.get("/CodeSystem/$lookup", params={"system": url, "code": "urgent"}), 404, "not-found", "system"
    )


def test_deleting_an_override_restores_the_built_in_value_set(http: httpx.Client) -> None:
    builtin = "http://hl7.org/fhir/ValueSet/administrative-gender"
    before = expanded(http, builtin)
    id_ = create(http, gender_vs(builtin, "male"))
    assert expanded(http, builtin) == ["male"]  # a stored resource overrides the built-in one
    assert http.delete(f"/ValueSet/{id_}").status_code in (200, 204)
    assert expanded(http, builtin) == before


def test_transaction_feeds_the_service_and_a_rolled_back_one_does_not(http: httpx.Client) -> None:
    cs_url, vs_url = unique("cs"), unique("vs")
    vs = {
        "resourceType": "ValueSet",
        "url": vs_url,
        "status": "active",
        "compose": {
            "include": [
                {"system": cs_url, "filter": [{"property": "concept", "op": "is-a", "value": "urgent"}]}
            ]
        },
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "POST", "url": "CodeSystem"}, "resource": triage_codesystem(cs_url)},
            {"request": {"method": "POST", "url": "ValueSet"}, "resource": vs},
        ],
    }
    r = http.post("/", json=bundle, headers=JSON)
    assert r.status_code == 200, r.text
    assert sorted(expanded(http, vs_url)) == ["urgent", "very-urgent"]

    other = unique("cs")
    failing = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "POST", "url": "CodeSystem"}, "resource": triage_codesystem(other)},
            {
                "request": {"method": "PUT", "url": f"Patient/{uuid.uuid4()}"},
                "resource": {"resourceType": "Patient", "gender": "banana"},
            },
        ],
    }
    assert http.post("/", json=failing, headers=JSON).status_code >= 400
    assert http.get("/CodeSystem", params={"url": other}).json().get("total", 0) == 0
    assert_outcome(
        http.get("/CodeSystem/$lookup", params={"system": other, "code": "urgent"}),
        404,
        "not-found",
        "system",
    )


def test_terminology_resources_the_engine_cannot_serve_are_refused(http: httpx.Client) -> None:
    url = unique("cs")
    duplicate = triage_codesystem(url)
    duplicate["concept"][0]["concept"].append({"code": "routine"})  # also defined at the top level
    r = http.post("/CodeSystem", json=duplicate, headers=JSON)
    assert r.status_code == 400, r.text
    issue = next(i for i in r.json()["issue"] if i["code"] == "invalid" and "csd-1" in i["diagnostics"])
    assert issue["expression"] == ["CodeSystem.concept[1].code"]

    supplement = {
        "resourceType": "CodeSystem",
        "url": unique("cs"),
        "status": "active",
        "content": "supplement",
        "concept": [{"code": "x", "designation": [{"language": "fr", "value": "X"}]}],
    }
    r = http.post("/CodeSystem", json=supplement, headers=JSON)
    assert r.status_code == 400 and any(
        i["expression"] == ["CodeSystem.supplements"] for i in r.json()["issue"]
    )

    vs_url = unique("vs")
    malformed = {
        "resourceType": "ValueSet",
        "url": vs_url,
        "status": "active",
        "compose": {"include": [{"filter": [{"property": "concept", "op": "is-a", "value": "x"}]}]},
    }
    r = http.post("/ValueSet", json=malformed, headers=JSON)
    assert r.status_code == 400 and any(
        i["expression"] == ["ValueSet.compose.include[0]"] for i in r.json()["issue"]
    )
    itself = {
        "resourceType": "ValueSet",
        "url": vs_url,
        "status": "active",
        "compose": {"include": [{"valueSet": [vs_url]}]},
    }
    r = http.post("/ValueSet", json=itself, headers=JSON)
    assert r.status_code == 400
    assert any(
        i["code"] == "business-rule" and i["expression"] == ["ValueSet.compose.include[0].valueSet[0]"]
        for i in r.json()["issue"]
    )
    for rtype, refused in (("CodeSystem", url), ("ValueSet", vs_url)):
        assert http.get(f"/{rtype}", params={"url": refused}).json().get("total", 0) == 0  # nothing stored
    # $validate tells the same before writing.
    r = http.post("/CodeSystem/$validate", json=duplicate, headers=JSON)
    assert r.status_code == 200 and any("csd-1" in i["diagnostics"] for i in r.json()["issue"])
