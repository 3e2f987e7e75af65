"""A delete is a write of what it removes: found while building the portal's agenda.

A care practitioner with ``user/*.cruds`` could DELETE resources outside the Patient
compartment (the directory: Organization, Practitioner, PractitionerRole; a colleague's
Schedule and Slots), because the delete check only looked at the patients the deleted
version names. Every door is tried (REST, conditional, batch entry); afterwards the
resource must still be there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fhir_server.roles_data import RoleWorld, ScratchClient, role_world


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


@pytest.fixture()
def http(world: RoleWorld) -> Iterator[httpx.Client]:
    with ScratchClient(world) as client:
        yield client


def _system_post(http: httpx.Client, world: RoleWorld, resource: dict[str, Any]) -> str:
    resp = http.post(
        f"{world.base}/{resource['resourceType']}", json=resource, headers=world.headers("system")
    )
    assert resp.status_code == 201, resp.text
    return f"{resource['resourceType']}/{resp.json()['id']}"


def _still_there(http: httpx.Client, world: RoleWorld, ref: str) -> None:
    assert http.get(f"{world.base}/{ref}", headers=world.headers("system")).status_code == 200


def _garnier_agenda(http: httpx.Client, world: RoleWorld) -> tuple[str, str]:
    schedule = _system_post(
        http, world, {"resourceType": "Schedule", "actor": [{"reference": world.refs["garnier"]}]}
    )
    slot = _system_post(
        http,
        world,
        {
            "resourceType": "Slot",
            "schedule": {"reference": schedule},
            "status": "free",
            "start": "2027-01-04T09:00:00+01:00",
            "end": "2027-01-04T09:15:00+01:00",
        },
    )
    return schedule, slot


@pytest.mark.parametrize("kind", ["Organization", "Practitioner"])
def test_a_practitioner_cannot_delete_the_directory(http: httpx.Client, world: RoleWorld, kind: str) -> None:
    resource = (
        {"resourceType": kind, "name": [{"family": "Annuaire"}]}
        if kind == "Practitioner"
        else {
            "resourceType": kind,
            "name": "Clinique de l'annuaire",
        }
    )
    ref = _system_post(http, world, resource)
    resp = http.delete(f"{world.base}/{ref}", headers=world.headers("martin"))
    assert resp.status_code == 403, resp.text
    assert resp.json()["resourceType"] == "OperationOutcome"
    _still_there(http, world, ref)


def test_a_practitioner_cannot_delete_a_colleagues_agenda(http: httpx.Client, world: RoleWorld) -> None:
    schedule, slot = _garnier_agenda(http, world)
    # Schedule is in the Patient compartment (actor): out of reach, it is not even seen (404).
    for ref, refused in ((slot, {403}), (schedule, {403, 404})):
        assert http.delete(f"{world.base}/{ref}", headers=world.headers("martin")).status_code in refused
        _still_there(http, world, ref)
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "DELETE", "url": slot}}],
    }
    resp = http.post(world.base, json=batch, headers=world.headers("martin"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["entry"][0]["response"]["status"].startswith("403")
    _still_there(http, world, slot)


def test_the_owner_still_deletes_their_own_slot(http: httpx.Client, world: RoleWorld) -> None:
    _, slot = _garnier_agenda(http, world)
    resp = http.delete(f"{world.base}/{slot}", headers=world.headers("garnier"))
    assert resp.status_code in (200, 204), resp.text
    assert http.get(f"{world.base}/{slot}", headers=world.headers("system")).status_code == 410


def test_a_pharmacist_deletes_nothing(http: httpx.Client, world: RoleWorld) -> None:
    ref = f"MedicationRequest/{world.ids['mr1']}"
    assert http.delete(f"{world.base}/{ref}", headers=world.headers("pharmacist")).status_code == 403
    _still_there(http, world, ref)
