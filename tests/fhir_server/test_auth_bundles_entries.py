"""Batches, transactions, conditional interactions and operations under the access policy (issue #7).

Each Bundle entry is checked like the equivalent single interaction; conditional searches
only see what the caller may see; ``$everything`` is a patient's "download my data" and a
practitioner's view of a patient they care for. Users and records: :mod:`roles_data`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fhir_server.auth_support import backend_client_token, bearer
from tests.fhir_server.roles_data import RoleWorld, ScratchClient, role_world

TAG = "urn:passerelle:test-bundles"


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


@pytest.fixture(scope="module")
def http(world: RoleWorld) -> Iterator[httpx.Client]:
    # what the tests create is deleted afterwards: the world is shared with other modules
    with ScratchClient(world) as client:
        yield client


def observation(subject: str, marker: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Tension"},
        "subject": {"reference": subject},
    }
    if marker:
        out["identifier"] = [{"system": TAG, "value": marker}]
    return out


def post_bundle(
    http: httpx.Client, world: RoleWorld, who: str, kind: str, entries: list[Any]
) -> httpx.Response:
    bundle = {"resourceType": "Bundle", "type": kind, "entry": entries}
    return http.post(world.base, json=bundle, headers=world.headers(who))


def system_find(http: httpx.Client, world: RoleWorld, marker: str) -> list[dict[str, Any]]:
    found = http.get(
        f"{world.base}/Observation", params={"identifier": f"{TAG}|{marker}"}, headers=world.headers("system")
    ).json()
    return [e["resource"] for e in found.get("entry", [])]


def hidden_observation(http: httpx.Client, world: RoleWorld) -> tuple[str, str]:
    """An Observation in the record of a patient nobody cares for, with a unique identifier."""
    marker = uuid.uuid4().hex
    created = http.post(
        f"{world.base}/Observation",
        json=observation(f"Patient/{world.patients['other']}", marker),
        headers=world.headers("system"),
    )
    assert created.status_code == 201
    return created.json()["id"], marker


def codes(response: httpx.Response) -> list[str]:
    return [e["response"]["status"].split()[0] for e in response.json()["entry"]]


# -- batch and transaction ------------------------------------------------------------------------


def test_batch_entries_are_refused_one_by_one(http: httpx.Client, world: RoleWorld) -> None:
    enc, other = f"Patient/{world.patients['enc']}", f"Patient/{world.patients['other']}"
    hidden_id, _ = hidden_observation(http, world)
    resp = post_bundle(
        http,
        world,
        "martin",
        "batch",
        [
            {"request": {"method": "GET", "url": enc}},
            {"request": {"method": "GET", "url": other}},
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(enc)},
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(other)},
            {"request": {"method": "DELETE", "url": f"Observation/{hidden_id}"}},
            {"request": {"method": "GET", "url": f"Observation/{hidden_id}/_history/1"}},
            {"request": {"method": "GET", "url": f"Observation?subject={other}"}},
            {"request": {"method": "GET", "url": "AuditEvent/x"}},
        ],
    )
    assert resp.status_code == 200, resp.text
    assert codes(resp) == ["200", "404", "201", "403", "404", "404", "200", "403"]
    assert resp.json()["entry"][6]["resource"]["total"] == 0  # the search behind sees nothing of it
    # the batch is audited with the resources its entries touched
    created = resp.json()["entry"][2]["response"]["location"].split("/_history")[0]
    auditor = backend_client_token(http, world.server, "system/AuditEvent.rs")
    events = http.get(f"{world.base}/AuditEvent", params={"entity": created}, headers=bearer(auditor)).json()
    assert {e["resource"]["subtype"][0]["code"] for e in events.get("entry", [])} == {"batch"}
    assert (
        http.get(f"{world.base}/Observation/{hidden_id}", headers=world.headers("system")).status_code == 200
    )


def test_a_transaction_with_one_refused_entry_is_refused_whole(http: httpx.Client, world: RoleWorld) -> None:
    enc, other = f"Patient/{world.patients['enc']}", f"Patient/{world.patients['other']}"
    marker = uuid.uuid4().hex
    resp = post_bundle(
        http,
        world,
        "martin",
        "transaction",
        [
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(enc, marker)},
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(other, marker)},
        ],
    )
    assert resp.status_code == 403, resp.text
    assert "Bundle.entry[1]" in resp.json()["issue"][0]["diagnostics"]
    assert system_find(http, world, marker) == []  # the allowed entry was not written either
    hidden_id, hidden_marker = hidden_observation(http, world)
    resp = post_bundle(
        http,
        world,
        "martin",
        "transaction",
        [
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(enc, marker)},
            {"request": {"method": "DELETE", "url": f"Observation/{hidden_id}"}},
        ],
    )
    assert resp.status_code == 404 and "Bundle.entry[1]" in resp.json()["issue"][0]["diagnostics"]
    assert system_find(http, world, marker) == [] and len(system_find(http, world, hidden_marker)) == 1
    ok = post_bundle(
        http,
        world,
        "martin",
        "transaction",
        [{"request": {"method": "POST", "url": "Observation"}, "resource": observation(enc, marker)}],
    )
    assert ok.status_code == 200 and codes(ok) == ["201"]


def test_a_practitioner_registers_a_new_patient_and_their_visit_in_one_transaction(
    http: httpx.Client, world: RoleWorld
) -> None:
    patient = "urn:uuid:" + str(uuid.uuid4())
    visit = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": patient},
        "participant": [{"individual": {"reference": world.refs["martin"]}}],
    }
    resp = post_bundle(
        http,
        world,
        "martin",
        "transaction",
        [
            {
                "fullUrl": patient,
                "request": {"method": "POST", "url": "Patient"},
                "resource": {"resourceType": "Patient"},
            },
            {"request": {"method": "POST", "url": "Encounter"}, "resource": visit},
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(patient)},
        ],
    )
    assert resp.status_code == 200, resp.text
    pid = resp.json()["entry"][0]["response"]["location"].split("/_history")[0]
    assert (
        http.get(f"{world.base}/{pid}", headers=world.headers("martin")).status_code == 200
    )  # her patient now
    assert http.get(f"{world.base}/{pid}", headers=world.headers("garnier")).status_code == 404
    # an existing patient's record is not opened that way
    other = f"Patient/{world.patients['other']}"
    resp = post_bundle(
        http,
        world,
        "garnier",
        "transaction",
        [
            {
                "fullUrl": patient,
                "request": {"method": "POST", "url": "Patient"},
                "resource": {"resourceType": "Patient"},
            },
            {"request": {"method": "POST", "url": "Observation"}, "resource": observation(other)},
        ],
    )
    assert resp.status_code == 403 and "Bundle.entry[1]" in resp.json()["issue"][0]["diagnostics"]


def test_transaction_patch_cannot_move_a_resource_out_of_reach(http: httpx.Client, world: RoleWorld) -> None:
    enc, other = f"Patient/{world.patients['enc']}", f"Patient/{world.patients['other']}"
    created = http.post(f"{world.base}/Observation", json=observation(enc), headers=world.headers("martin"))
    oid = created.json()["id"]
    patch = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "Observation.subject"},
                    {"name": "value", "valueReference": {"reference": other}},
                ],
            }
        ],
    }
    resp = post_bundle(
        http,
        world,
        "martin",
        "transaction",
        [{"request": {"method": "PATCH", "url": f"Observation/{oid}"}, "resource": patch}],
    )
    assert resp.status_code == 403, resp.text
    stored = http.get(f"{world.base}/Observation/{oid}", headers=world.headers("martin")).json()
    assert stored["subject"]["reference"] == enc and stored["meta"]["versionId"] == "1"


def test_patient_transaction_in_their_own_and_their_dependents_records(
    http: httpx.Client, world: RoleWorld
) -> None:
    resp = post_bundle(
        http,
        world,
        "alice",
        "transaction",
        [
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": observation(world.refs["alice"]),
            },
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": observation(world.refs["alice_child"]),
            },
            {"request": {"method": "GET", "url": world.refs["alice_child"]}},
        ],
    )
    assert resp.status_code == 200, resp.text
    assert codes(resp) == ["201", "201", "200"]
    refused = post_bundle(
        http,
        world,
        "alice",
        "transaction",
        [{"request": {"method": "GET", "url": world.refs["bob"]}}],
    )
    assert refused.status_code == 404


def test_roles_are_applied_to_bundle_entries(http: httpx.Client, world: RoleWorld) -> None:
    ids = world.ids
    resp = post_bundle(
        http,
        world,
        "conseil_a",
        "batch",
        [
            {"request": {"method": "GET", "url": f"Communication/{ids['header_a']}"}},
            {"request": {"method": "GET", "url": f"Communication/{ids['header_b']}"}},
            {"request": {"method": "GET", "url": f"Observation/{world.observations['thread_a']}"}},
        ],
    )
    assert codes(resp) == ["200", "404", "403"]
    resp = post_bundle(
        http,
        world,
        "pharmacist",
        "batch",
        [
            {
                "request": {
                    "method": "GET",
                    "url": "MedicationRequest?identifier=urn:passerelle:prescription|ORD-0001",
                }
            },
            {"request": {"method": "GET", "url": "MedicationRequest?status=active"}},
            {"request": {"method": "GET", "url": f"Patient/{world.patients['rx']}"}},
        ],
    )
    assert codes(resp) == ["200", "403", "403"]
    assert resp.json()["entry"][0]["resource"]["total"] == 2


# -- conditional interactions ---------------------------------------------------------------------


def test_conditional_create_does_not_match_or_reveal_a_hidden_resource(
    http: httpx.Client, world: RoleWorld
) -> None:
    enc = f"Patient/{world.patients['enc']}"
    hidden_id, marker = hidden_observation(http, world)
    resp = http.post(
        f"{world.base}/Observation",
        json=observation(enc, marker),
        headers=world.headers("martin", **{"If-None-Exist": f"identifier={TAG}|{marker}"}),
    )
    assert resp.status_code == 201 and resp.json()["id"] != hidden_id  # not the other patient's body
    again = http.post(
        f"{world.base}/Observation",
        json=observation(enc, marker),
        headers=world.headers("martin", **{"If-None-Exist": f"identifier={TAG}|{marker}"}),
    )
    assert again.status_code == 200 and again.json()["id"] == resp.json()["id"]


def test_conditional_update_and_delete_only_touch_what_the_caller_sees(
    http: httpx.Client, world: RoleWorld
) -> None:
    enc = f"Patient/{world.patients['enc']}"
    hidden_id, marker = hidden_observation(http, world)
    url = f"{world.base}/Observation?identifier={TAG}|{marker}"
    updated = http.put(url, json=observation(enc, marker), headers=world.headers("martin"))
    assert updated.status_code == 201  # no visible match: created, the hidden one untouched
    assert len(system_find(http, world, marker)) == 2
    body = {**observation(enc, uuid.uuid4().hex), "id": hidden_id}
    taken = http.put(
        f"{world.base}/Observation?identifier={TAG}|{uuid.uuid4().hex}",
        json=body,
        headers=world.headers("martin"),
    )
    assert taken.status_code == 404  # update-as-create on the id of a hidden resource
    other_marker = uuid.uuid4().hex
    assert (
        http.put(
            f"{world.base}/Observation?identifier={TAG}|{other_marker}",
            json=observation(f"Patient/{world.patients['other']}", other_marker),
            headers=world.headers("martin"),
        ).status_code
        == 403
    )
    deleted = http.delete(url, headers=world.headers("martin", **{"X-Delete-Multiple": "true"}))
    assert deleted.status_code in (200, 204)
    left = system_find(http, world, marker)
    assert [r["id"] for r in left] == [hidden_id]
    # a role without conditional interactions
    assert http.delete(url, headers=world.headers("conseil_a")).status_code == 403


def test_conditional_patch_finds_and_writes_within_reach(http: httpx.Client, world: RoleWorld) -> None:
    enc, other = f"Patient/{world.patients['enc']}", f"Patient/{world.patients['other']}"
    _, hidden_marker = hidden_observation(http, world)
    marker = uuid.uuid4().hex
    assert (
        http.post(
            f"{world.base}/Observation", json=observation(enc, marker), headers=world.headers("martin")
        ).status_code
        == 201
    )
    json_patch = {"Content-Type": "application/json-patch+json"}

    def patch(which: str, ops: list[dict[str, Any]]) -> httpx.Response:
        url = f"{world.base}/Observation?identifier={TAG}|{which}"
        return http.patch(url, json=ops, headers=world.headers("martin", **json_patch))

    note = [{"op": "add", "path": "/note", "value": [{"text": "revu"}]}]
    assert patch(marker, note).status_code == 200
    assert patch(hidden_marker, note).status_code == 404  # the hidden one is not a match
    assert "note" not in system_find(http, world, hidden_marker)[0]
    move = [{"op": "replace", "path": "/subject/reference", "value": other}]
    assert patch(marker, move).status_code == 403
    assert system_find(http, world, marker)[0]["subject"]["reference"] == enc


# -- operations --------------------------------------------------------------------------------------


def everything(http: httpx.Client, world: RoleWorld, who: str, patient: str) -> httpx.Response:
    return http.get(f"{world.base}/{patient}/$everything", headers=world.headers(who))


def test_everything_is_a_patients_own_record(http: httpx.Client, world: RoleWorld) -> None:
    alice = world.refs["alice"]
    mine = http.post(f"{world.base}/Observation", json=observation(alice), headers=world.headers("alice"))
    resp = everything(http, world, "alice", alice)
    assert resp.status_code == 200, resp.text
    found = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in resp.json()["entry"]}
    assert {alice, f"Observation/{mine.json()['id']}"} <= found
    for entry in resp.json()["entry"]:
        subject = entry["resource"].get("subject", {}).get("reference")
        assert subject in (None, alice, world.refs["alice_child"])
    assert everything(http, world, "alice", world.refs["bob"]).status_code == 404
    assert everything(http, world, "bob", world.refs["alice_child"]).status_code == 404


def test_everything_for_practitioners_follows_their_reach(http: httpx.Client, world: RoleWorld) -> None:
    enc = f"Patient/{world.patients['enc']}"
    resp = everything(http, world, "martin", enc)
    assert resp.status_code == 200
    found = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in resp.json()["entry"]}
    assert f"Observation/{world.observations['enc']}" in found and world.refs["martin"] in found
    assert everything(http, world, "martin", f"Patient/{world.patients['other']}").status_code == 404
    assert everything(http, world, "garnier", enc).status_code == 404
    assert everything(http, world, "pharmacist", f"Patient/{world.patients['rx']}").status_code == 403


def test_meta_and_validate_under_the_policy(http: httpx.Client, world: RoleWorld) -> None:
    tag = {
        "resourceType": "Parameters",
        "parameter": [{"name": "meta", "valueMeta": {"tag": [{"system": TAG, "code": "vu"}]}}],
    }
    mine = f"Observation/{world.observations['enc']}"
    hidden = f"Observation/{world.observations['other']}"
    assert (
        http.post(f"{world.base}/{mine}/$meta-add", json=tag, headers=world.headers("martin")).status_code
        == 200
    )
    removed = http.post(f"{world.base}/{mine}/$meta-delete", json=tag, headers=world.headers("martin"))
    assert removed.status_code == 200 and "tag" not in removed.json()["parameter"][0]["valueMeta"]
    assert (
        http.post(f"{world.base}/{hidden}/$meta-add", json=tag, headers=world.headers("martin")).status_code
        == 404
    )
    assert http.get(f"{world.base}/{hidden}/$meta", headers=world.headers("martin")).status_code == 404
    assert http.get(f"{world.base}/$meta", headers=world.headers("martin")).status_code == 403
    assert http.get(f"{world.base}/$meta", headers=bearer(world.tokens["system"])).status_code == 200
    valid = http.post(
        f"{world.base}/Observation/$validate",
        json=observation(world.refs["bob"]),
        headers=world.headers("alice"),
    )
    assert valid.status_code == 200  # nothing stored, nothing read: harmless
    assert http.post(f"{world.base}/{hidden}/$validate", headers=world.headers("alice")).status_code == 404


def test_terminology_operations_are_reference_data(http: httpx.Client, world: RoleWorld) -> None:
    params = {"url": "http://hl7.org/fhir/ValueSet/administrative-gender"}
    for who in ("martin", "pharmacist", "conseil_a", "alice"):
        resp = http.get(f"{world.base}/ValueSet/$expand", params=params, headers=world.headers(who))
        assert resp.status_code == 200, (who, resp.text)
        assert {"male", "female"} <= {c["code"] for c in resp.json()["expansion"]["contains"]}
    narrow = backend_client_token(http, world.server, "system/Patient.rs")
    resp = http.get(f"{world.base}/ValueSet/$expand", params=params, headers=bearer(narrow))
    assert resp.status_code == 403  # no scope on ValueSet
