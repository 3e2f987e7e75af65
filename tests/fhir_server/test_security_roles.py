"""Issue 12, findings 3 and 5 (pharmacist) and the médecin conseil role, black-box over HTTP.

A pharmacist finds a prescription by its exact number only (``value`` or ``system|value``, a
non-empty value, no modifier: GET, POST ``_search`` and Bundle entries alike), and may only move
its status forward — nothing else of it changes. A médecin conseil sees only their échelon's
threads and the patients those threads are about, and writes nothing that names anyone else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fhir_server.roles_data import PRESCRIPTION_SYSTEM, RoleWorld, ScratchClient, role_world


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


@pytest.fixture()
def http(world: RoleWorld) -> Iterator[httpx.Client]:
    with ScratchClient(world) as client:
        yield client


def _ids(resp: httpx.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {
        e["resource"]["id"]
        for e in resp.json().get("entry", [])
        if e["resource"]["resourceType"] != "OperationOutcome"
    }


# -- pharmacist: search by number only ----------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"group-identifier": f"{PRESCRIPTION_SYSTEM}|"},
        {"identifier": f"{PRESCRIPTION_SYSTEM}|"},
        {"group-identifier": "|"},
        {"identifier": " "},
        {"group-identifier:missing": "false"},
        {"identifier:not": f"{PRESCRIPTION_SYSTEM}|ORD-0001"},
        {"identifier:of-type": f"{PRESCRIPTION_SYSTEM}|ORD|x"},
        {"group-identifier": f"{PRESCRIPTION_SYSTEM}|ORD-0001,{PRESCRIPTION_SYSTEM}|ORD-0003"},
    ],
)
def test_pharmacist_cannot_list_prescriptions(
    http: httpx.Client, world: RoleWorld, params: dict[str, str]
) -> None:
    h = world.headers("pharmacist")
    url = f"{world.base}/MedicationRequest"
    assert http.get(url, params=params, headers=h).status_code == 403
    form = {**h, "Content-Type": "application/x-www-form-urlencoded"}
    assert http.post(f"{url}/_search", data=params, headers=form).status_code == 403
    query = "&".join(f"{k}={v}" for k, v in params.items())
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"MedicationRequest?{query}"}}],
    }
    resp = http.post(world.base, json=bundle, headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["entry"][0]["response"]["status"].startswith("403")


def test_pharmacist_finds_one_number_in_every_form(http: httpx.Client, world: RoleWorld) -> None:
    ids, h = world.ids, world.headers("pharmacist")
    url = f"{world.base}/MedicationRequest"
    for params in (
        {"group-identifier": f"{PRESCRIPTION_SYSTEM}|ORD-0001"},
        {"group-identifier": "ORD-0001"},
        {"identifier": f"{PRESCRIPTION_SYSTEM}|ORD-0001"},
    ):
        assert _ids(http.get(url, params=params, headers=h)) == {ids["mr1"], ids["mr2"]}, params
    form = {**h, "Content-Type": "application/x-www-form-urlencoded"}
    posted = http.post(f"{url}/_search", data={"identifier": f"{PRESCRIPTION_SYSTEM}|ORD-0003"}, headers=form)
    assert _ids(posted) == {ids["mr_other"]}


# -- pharmacist: status forward only, nothing else ------------------------------------------------------


def test_pharmacist_moves_the_status_forward_only(http: httpx.Client, world: RoleWorld) -> None:
    ids, h, system = world.ids, world.headers("pharmacist"), world.headers("system")
    url = f"{world.base}/MedicationRequest/{ids['mr1']}"
    original = http.get(url, headers=system).json()

    def put(body: dict[str, Any], who: dict[str, str] = h) -> httpx.Response:
        return http.put(url, json=body, headers=who)

    try:
        current = http.get(url, headers=h).json()
        for changed in (
            {
                **current,
                "text": {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml">Rien</div>',
                },
            },
            {
                **current,
                "meta": {
                    **current["meta"],
                    "security": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
                    ],
                },
            },
            {**current, "meta": {**current["meta"], "tag": [{"system": "urn:test", "code": "x"}]}},
            {**current, "status": "completed", "note": [{"text": "rien"}]},
        ):
            assert put(changed).status_code == 403, changed
        done = put({**current, "status": "completed"})
        assert done.status_code == 200, done.text
        # completed → active would make it dispensable again: refused, by PUT and by PATCH
        reopened = {**done.json(), "status": "active"}
        assert put(reopened).status_code == 403
        patch = http.patch(
            url,
            json=[{"op": "replace", "path": "/status", "value": "active"}],
            headers={**h, "Content-Type": "application/json-patch+json"},
        )
        assert patch.status_code == 403
        assert http.get(url, headers=system).json()["status"] == "completed"
    finally:
        restored = {k: v for k, v in original.items() if k != "meta"}
        assert put(restored, system).status_code == 200


def test_pharmacist_cannot_create_a_prescription_by_update(http: httpx.Client, world: RoleWorld) -> None:
    body = {
        "resourceType": "MedicationRequest",
        "id": "ordonnance-inventee",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": f"Medication/{world.ids['medication']}"},
        "subject": {"reference": f"Patient/{world.patients['rx']}"},
    }
    resp = http.put(
        f"{world.base}/MedicationRequest/ordonnance-inventee", json=body, headers=world.headers("pharmacist")
    )
    assert resp.status_code == 403, resp.text


# -- médecin conseil ---------------------------------------------------------------------------------


def test_medecin_conseil_sees_only_their_echelon(http: httpx.Client, world: RoleWorld) -> None:
    ids, p = world.ids, world.patients
    for who, mine, theirs in (("conseil_a", "a", "b"), ("conseil_b", "b", "a")):
        get = lambda path, who=who: world.get(http, who, path).status_code  # noqa: E731
        assert get(f"Communication/{ids[f'header_{mine}']}") == 200
        assert get(f"Communication/{ids[f'message_{mine}']}") == 200
        assert get(f"Task/{ids[f'task_{mine}']}") == 200
        assert get(f"Patient/{p[f'thread_{mine}']}") == 200
        assert get(f"Communication/{ids[f'header_{theirs}']}") == 404
        assert get(f"Communication/{ids[f'message_{theirs}']}") == 404
        assert get(f"Task/{ids[f'task_{theirs}']}") == 404
        assert get(f"Patient/{p[f'thread_{theirs}']}") == 404
        assert get(f"Patient/{p['other']}") == 404
        assert get(f"Observation/{world.observations[f'thread_{mine}']}") == 403  # not their role's data
        searched = _ids(world.get(http, who, "Communication", params={"_count": "200"}))
        assert ids[f"header_{mine}"] in searched and ids[f"header_{theirs}"] not in searched
        assert ids["draft_a"] not in searched  # someone else's draft
        # no listing of patients (the insured of their funds are found one NIR at a time)
        assert world.get(http, who, "Patient", params={"_count": "200"}).status_code == 403
        every = ",".join(p.values())
        patients = _ids(world.get(http, who, "Patient", params={"_id": every, "_count": "200"}))
        assert patients == {p[f"thread_{mine}"]}


def test_medecin_conseil_writes_only_within_their_threads(http: httpx.Client, world: RoleWorld) -> None:
    ids, p = world.ids, world.patients
    h = world.headers("conseil_a")

    def reply(header: str, subject: str, **extra: Any) -> httpx.Response:
        body = {
            "resourceType": "Communication",
            "status": "completed",
            "partOf": [{"reference": f"Communication/{ids[header]}"}],
            "subject": {"reference": f"Patient/{p[subject]}"},
            "sender": {"reference": world.refs["conseil_a"]},
            "payload": [{"contentString": "Avis du service médical."}],
            **extra,
        }
        return http.post(f"{world.base}/Communication", json=body, headers=h)

    assert reply("header_a", "thread_a").status_code == 201
    assert reply("header_b", "thread_b").status_code == 403  # another échelon's thread
    assert reply("header_a", "other").status_code == 403  # a patient outside their threads
    # a patient outside their threads named anywhere else in the message
    other = {"reference": f"Patient/{p['other']}"}
    assert reply("header_a", "thread_a", recipient=[other]).status_code == 403
    assert reply("header_a", "thread_a", about=[other]).status_code == 403
