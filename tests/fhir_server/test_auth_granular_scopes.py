"""SMART v2 granular scopes (``system/Observation.rs?category=…``): a narrowed scope reaches only
the resources matching its query, for reads, searches, includes and writes; a query the
server cannot enforce is refused when the client is registered or the scope requested."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from fhir_server.auth.clients import create_client
from fhir_server.auth.scopes import ScopeError, ScopeSet
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import FHIR_JSON, backend_client_token, bearer, shared_server

CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LAB = f"system/Observation.rs?category={CATEGORY}|laboratory"
MARK = f"granular-{uuid.uuid4().hex[:8]}"


http = auth_support.http  # the shared fixtures


@pytest.fixture(scope="module")
def data(http: httpx.Client) -> dict[str, Any]:
    server = shared_server()[0]
    admin = backend_client_token(http, server, "system/*.cruds", name="granular admin")
    headers = {**bearer(admin), "Content-Type": FHIR_JSON}
    tag = {"tag": [{"system": "urn:test", "code": MARK}]}

    def post(resource: dict[str, Any]) -> str:
        r = http.post(
            f"{server.base}/{resource['resourceType']}", json={**resource, "meta": tag}, headers=headers
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    patient = post({"resourceType": "Patient", "name": [{"family": "Granulaire"}]})
    ids = {"patient": patient}
    for key, category in (("lab1", "laboratory"), ("lab2", "laboratory"), ("vital", "vital-signs")):
        ids[key] = post(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
                "code": {"text": key},
                "subject": {"reference": f"Patient/{patient}"},
            }
        )
    return {"server": server, "ids": ids}


def _ids(resp: httpx.Response, type_: str) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {
        e["resource"]["id"] for e in resp.json().get("entry", []) if e["resource"]["resourceType"] == type_
    }


def test_a_narrowed_scope_reads_and_searches_only_what_matches(
    http: httpx.Client, data: dict[str, Any]
) -> None:
    server, ids = data["server"], data["ids"]
    token = backend_client_token(http, server, f"{LAB} system/Patient.rs", name="granular lab")
    h = bearer(token)
    found = http.get(f"{server.base}/Observation", params={"_tag": MARK, "_total": "accurate"}, headers=h)
    assert _ids(found, "Observation") == {ids["lab1"], ids["lab2"]}
    assert found.json()["total"] == 2
    assert http.get(f"{server.base}/Observation/{ids['lab1']}", headers=h).status_code == 200
    assert http.get(f"{server.base}/Observation/{ids['vital']}", headers=h).status_code == 404
    # includes and reverse chains never reach past the narrowing
    rev = http.get(
        f"{server.base}/Patient",
        params={"_id": ids["patient"], "_revinclude": "Observation:subject"},
        headers=h,
    )
    assert _ids(rev, "Observation") == {ids["lab1"], ids["lab2"]}
    has = http.get(
        f"{server.base}/Patient",
        params={"_id": ids["patient"], "_has:Observation:subject:code:text": "vital"},
        headers=h,
    )
    assert _ids(has, "Patient") == set()  # the only Observation that would match is out of reach
    # another category in the search itself: nothing, not an error
    vitals = http.get(
        f"{server.base}/Observation", params={"_tag": MARK, "category": "vital-signs"}, headers=h
    )
    assert _ids(vitals, "Observation") == set()


def test_an_unnarrowed_scope_beside_it_widens_again(http: httpx.Client, data: dict[str, Any]) -> None:
    server, ids = data["server"], data["ids"]
    token = backend_client_token(http, server, f"{LAB} system/Observation.rs", name="granular both")
    found = http.get(f"{server.base}/Observation", params={"_tag": MARK}, headers=bearer(token))
    assert _ids(found, "Observation") == {ids["lab1"], ids["lab2"], ids["vital"]}


def test_two_narrowed_scopes_reach_either(http: httpx.Client, data: dict[str, Any]) -> None:
    server, ids = data["server"], data["ids"]
    scope = f"{LAB} system/Observation.rs?category=vital-signs"
    token = backend_client_token(http, server, scope, name="granular either")
    found = http.get(f"{server.base}/Observation", params={"_tag": MARK}, headers=bearer(token))
    assert _ids(found, "Observation") == {ids["lab1"], ids["lab2"], ids["vital"]}


def test_a_narrowed_write_scope_writes_only_what_matches(http: httpx.Client, data: dict[str, Any]) -> None:
    server, ids = data["server"], data["ids"]
    scope = f"system/Observation.cru?category={CATEGORY}|laboratory"
    headers = {
        **bearer(backend_client_token(http, server, scope, name="granular writer")),
        "Content-Type": FHIR_JSON,
    }

    def observation(category: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
            "code": {"text": "écrit"},
            "subject": {"reference": f"Patient/{ids['patient']}"},
        }

    refused = http.post(f"{server.base}/Observation", json=observation("vital-signs"), headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"
    created = http.post(f"{server.base}/Observation", json=observation("laboratory"), headers=headers)
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    # an update may not move it out of the scope's reach
    moved = http.put(
        f"{server.base}/Observation/{new_id}",
        json={**observation("vital-signs"), "id": new_id},
        headers=headers,
    )
    assert moved.status_code == 403, moved.text
    # nor touch one outside it (404: its existence is not revealed)
    outside = http.put(
        f"{server.base}/Observation/{ids['vital']}",
        json={**observation("laboratory"), "id": ids["vital"]},
        headers=headers,
    )
    assert outside.status_code == 404, outside.text


@pytest.mark.parametrize(
    "scope",
    [
        "system/Observation.rs?subject=Patient/1",  # a reference: not enforced, so never granted
        "system/*.rs?category=laboratory",  # which type's category?
        "system/Observation.rs?category=",
        "system/Observation.rs?category:not=laboratory",
        "patient/Observation.rs?unknown=1",
    ],
)
def test_a_query_the_server_cannot_enforce_is_refused(scope: str) -> None:
    with pytest.raises(ScopeError):
        ScopeSet.parse(scope, strict=True)
    server = shared_server()[0]
    from pymongo import MongoClient

    uri = server.mongodb_uri or (server.data_dir / "db.uri").read_text().strip()
    with MongoClient(uri) as client, pytest.raises(ScopeError):
        create_client(
            client[server.env["PASSERELLE_DB"]], name="x", kind="backend", scope=scope, jwks={"keys": []}
        )


def test_the_token_endpoint_refuses_an_unenforceable_narrowing(http: httpx.Client) -> None:
    server = shared_server()[0]
    from tests.fhir_server.auth_support import root

    resp = http.post(
        f"{root(server)}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/Observation.rs?subject=Patient/1"},
    )
    assert resp.status_code in (400, 401), resp.text  # no client assertion either: never a token
    assert "access_token" not in resp.text


def test_a_patient_token_is_narrowed_inside_its_own_record() -> None:
    """Compartment and narrowing both hold: the patient's laboratory results only."""
    from fhir_server.auth.policy import AccessPolicy

    policy = AccessPolicy.from_claims(
        {
            "kind": "patient",
            "patients": ["p1"],
            "scope": f"patient/Observation.rs?category={CATEGORY}|laboratory",
        }
    )

    def observation(patient: str, category: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
            "code": {"text": "x"},
            "subject": {"reference": f"Patient/{patient}"},
        }

    assert policy.can_read("Observation", observation("p1", "laboratory"))
    assert not policy.can_read("Observation", observation("p1", "vital-signs"))
    assert not policy.can_read("Observation", observation("p2", "laboratory"))
    restriction = policy.search_filter("Observation")
    assert restriction is not None
    # every alternative keeps both the compartment link and the category
    for alternative in restriction.get("$or", [restriction]):
        assert alternative["s.category"] == f"{CATEGORY}|laboratory"
        assert any(v == {"$in": ["Patient/p1"]} for k, v in alternative.items() if k != "s.category")
