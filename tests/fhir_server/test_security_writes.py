"""Issue 12, findings 1 and 4: no write may name a patient outside the caller's reach, in any door.

The attacks of the outside probe, replayed black-box over HTTP against the shared auth-enabled
server (:mod:`tests.fhir_server.roles_data`): Dr Martin creates a decoy Patient of his own, then an
Appointment (or a Communication addressed to himself) naming the decoy and a victim, which the
care-relationship look-up used to count as a relationship with the victim; Alice writes an
Observation about Bob. Each door is tried: REST create, update, PATCH, conditional update,
DELETE, and batch / transaction entries. After every refused attempt, the victim's record must
still be closed (read, compartment search, ``$everything``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fhir_server.roles_data import RoleWorld, ScratchClient, role_world

JSON_PATCH = {"Content-Type": "application/json-patch+json"}


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


@pytest.fixture()
def http(world: RoleWorld) -> Iterator[httpx.Client]:
    with ScratchClient(world) as client:
        yield client


def _appointment(*actors: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"actor": {"reference": a}, "status": "accepted"} for a in actors],
    }


def _decoy(http: httpx.Client, world: RoleWorld) -> str:
    """A Patient of Dr Martin's own making (a new record reveals nothing: allowed)."""
    resp = http.post(
        f"{world.base}/Patient",
        json={
            "resourceType": "Patient",
            "name": [{"family": "Leurre"}],
            "generalPractitioner": [{"reference": world.refs["martin"]}],
        },
        headers=world.headers("martin"),
    )
    assert resp.status_code == 201, resp.text
    return f"Patient/{resp.json()['id']}"


def _victim_closed(http: httpx.Client, world: RoleWorld, who: str, key: str = "other") -> None:
    pid = world.patients[key]
    assert world.get(http, who, f"Patient/{pid}").status_code == 404
    assert world.get(http, who, f"Observation/{world.observations[key]}").status_code == 404
    found = world.get(http, who, "Observation", params={"patient": pid})
    assert found.status_code in (200, 404)
    assert not found.json().get("entry")
    assert world.get(http, who, f"Patient/{pid}/$everything").status_code in (403, 404)


def _refused(resp: httpx.Response, ref: str | None = None) -> None:
    assert resp.status_code == 403, resp.text
    if ref is not None:
        assert ref in resp.json()["issue"][0]["diagnostics"]


def test_decoy_appointment_does_not_open_the_victim(http: httpx.Client, world: RoleWorld) -> None:
    victim = f"Patient/{world.patients['other']}"
    decoy = _decoy(http, world)
    me = f"PractitionerRole/{world.ids['martin_role']}"
    resp = http.post(
        f"{world.base}/Appointment",
        json=_appointment(decoy, victim, me),
        headers=world.headers("martin"),
    )
    _refused(resp, victim)
    assert resp.json()["issue"][0]["expression"] == ["Appointment.participant[1].actor"]
    _victim_closed(http, world, "martin")
    # his own decoy's appointment is fine
    ok = http.post(f"{world.base}/Appointment", json=_appointment(decoy, me), headers=world.headers("martin"))
    assert ok.status_code == 201, ok.text


def test_communication_about_the_victim_to_oneself_is_refused(http: httpx.Client, world: RoleWorld) -> None:
    victim = f"Patient/{world.patients['other']}"
    decoy = _decoy(http, world)
    message = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": victim},
        "sender": {"reference": world.refs["martin"]},
        "recipient": [{"reference": world.refs["martin"]}, {"reference": decoy}],
        "payload": [{"contentString": "Je m'ouvre le dossier."}],
    }
    _refused(http.post(f"{world.base}/Communication", json=message, headers=world.headers("martin")), victim)
    _victim_closed(http, world, "martin")


def test_a_patient_cannot_write_into_another_patients_record(http: httpx.Client, world: RoleWorld) -> None:
    alice, bob = world.refs["alice"], world.refs["bob"]
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Poids"},
        "subject": {"reference": bob},
        "performer": [{"reference": alice}],
        "valueQuantity": {"value": 80, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }
    _refused(http.post(f"{world.base}/Observation", json=obs, headers=world.headers("alice")), bob)
    # the same reference inside a contained resource
    hidden = {
        **obs,
        "subject": {"reference": alice},
        "contained": [{**obs, "id": "c1", "performer": [{"reference": alice}]}],
        "hasMember": [{"reference": "#c1"}],
    }
    resp = http.post(f"{world.base}/Observation", json=hidden, headers=world.headers("alice"))
    _refused(resp, bob)
    assert resp.json()["issue"][0]["expression"] == ["Observation.contained[0].subject"]
    assert not world.get(http, "bob", "Observation", params={"performer": alice}).json().get("entry")
    # an update of her own Observation moving it into Bob's record: refused too
    own = http.post(
        f"{world.base}/Observation",
        json={**obs, "subject": {"reference": alice}},
        headers=world.headers("alice"),
    )
    assert own.status_code == 201, own.text
    oid = own.json()["id"]
    moved = http.put(
        f"{world.base}/Observation/{oid}", json={**obs, "id": oid}, headers=world.headers("alice")
    )
    _refused(moved, bob)
    patched = http.patch(
        f"{world.base}/Observation/{oid}",
        json=[{"op": "add", "path": "/performer/-", "value": {"reference": bob}}],
        headers=world.headers("alice", **JSON_PATCH),
    )
    _refused(patched, bob)


def test_every_door_applies_the_rule(http: httpx.Client, world: RoleWorld) -> None:
    victim = f"Patient/{world.patients['other']}"
    mine = f"Patient/{world.patients['appt']}"
    me = f"PractitionerRole/{world.ids['martin_role']}"
    h = world.headers("martin")
    # conditional update that would create
    cond = http.put(
        f"{world.base}/Appointment",
        params={"identifier": "urn:test|rdv-leurre"},
        json={
            **_appointment(mine, victim, me),
            "identifier": [{"system": "urn:test", "value": "rdv-leurre"}],
        },
        headers=h,
    )
    _refused(cond, victim)
    # PATCH result of an appointment he reaches
    appt = http.post(f"{world.base}/Appointment", json=_appointment(mine, me), headers=h)
    assert appt.status_code == 201, appt.text
    url = f"{world.base}/Appointment/{appt.json()['id']}"
    add_victim = [
        {
            "op": "add",
            "path": "/participant/-",
            "value": {"actor": {"reference": victim}, "status": "accepted"},
        }
    ]
    _refused(http.patch(url, json=add_victim, headers=world.headers("martin", **JSON_PATCH)), victim)
    # transaction (refused whole) and batch (the entry refused)
    for kind in ("transaction", "batch"):
        bundle = {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [
                {
                    "fullUrl": "urn:uuid:6a0d1c8e-0d47-4c43-9d8e-4c0f3c1c0001",
                    "resource": _appointment(mine, victim, me),
                    "request": {"method": "POST", "url": "Appointment"},
                }
            ],
        }
        resp = http.post(world.base, json=bundle, headers=h)
        if kind == "transaction":
            _refused(resp, victim)
        else:
            assert resp.status_code == 200, resp.text
            assert resp.json()["entry"][0]["response"]["status"].startswith("403")
    _victim_closed(http, world, "martin")


def test_the_version_replaced_must_be_within_reach_too(http: httpx.Client, world: RoleWorld) -> None:
    """A resource in his patient's record that also names a patient out of his reach (here as a
    performer, which opens no relationship) can be neither rewritten nor deleted by him."""
    victim = f"Patient/{world.patients['other']}"
    mine = f"Patient/{world.patients['appt']}"
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Poids"},
        "subject": {"reference": mine},
        "performer": [{"reference": victim}],
    }
    shared = http.post(f"{world.base}/Observation", json=obs, headers=world.headers("system"))
    assert shared.status_code == 201, shared.text
    oid = shared.json()["id"]
    url = f"{world.base}/Observation/{oid}"
    assert http.get(url, headers=world.headers("martin")).status_code == 200
    body = {**obs, "id": oid, "performer": [{"reference": world.refs["martin"]}]}
    _refused(http.put(url, json=body, headers=world.headers("martin")), victim)
    _refused(http.delete(url, headers=world.headers("martin")), victim)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": f"Observation/{oid}"}}],
    }
    _refused(http.post(world.base, json=bundle, headers=world.headers("martin")), victim)
    # conditional delete: each match deleted obeys the rule too
    tag = {"system": "urn:test:securite", "value": oid}
    assert (
        http.put(
            url, json={**obs, "id": oid, "identifier": [tag]}, headers=world.headers("system")
        ).status_code
        == 200
    )
    cond = http.delete(
        f"{world.base}/Observation",
        params={"identifier": f"urn:test:securite|{oid}"},
        headers=world.headers("martin"),
    )
    _refused(cond, victim)
    assert http.get(url, headers=world.headers("system")).json()["performer"] == obs["performer"]


def test_a_new_patient_may_not_link_to_a_record_out_of_reach(http: httpx.Client, world: RoleWorld) -> None:
    victim = f"Patient/{world.patients['other']}"
    body = {
        "resourceType": "Patient",
        "name": [{"family": "Lien"}],
        "link": [{"other": {"reference": victim}, "type": "seealso"}],
    }
    _refused(http.post(f"{world.base}/Patient", json=body, headers=world.headers("martin")), victim)
