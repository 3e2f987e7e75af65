"""Issue 12, "make the class impossible": no write widens what its author may read.

A property test (hypothesis) over HTTP against the shared auth-enabled server and its role world
(:mod:`tests.fhir_server.roles_data`): a random caller (care practitioners of two structures, a
tele-expert, patients, a médecin conseil) writes a random resource of the Patient compartment
(Observation, Condition, Appointment, Communication, Encounter, CareTeam, Task, Consent, Patient)
whose patient references — at random paths, contained resources included — are drawn from every
patient of the world. Whatever the server answers, the set of patients the caller can read
afterwards must equal the set before (a Patient the write itself creates excepted), and an accepted
write names only patients the caller already reached. Each accepted write is deleted afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fhir_server.roles_data import RoleWorld, role_world

CALLERS = ("martin", "bonnet", "garnier", "alice", "bob", "conseil_a")
KINDS = (
    "Observation",
    "Condition",
    "Appointment",
    "Communication",
    "Encounter",
    "CareTeam",
    "Task",
    "Consent",
    "Patient",
)


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


def _refs(world: RoleWorld) -> list[str]:
    refs = [f"Patient/{pid}" for pid in world.patients.values()]
    return [*refs, world.refs["alice"], world.refs["bob"], world.refs["alice_child"]]


def read_set(http: httpx.Client, world: RoleWorld, who: str) -> set[str]:
    """The patients of the world ``who`` can read: a Patient search by their ids (restricted by the
    caller's policy; a médecin conseil may not list patients without naming them), every page."""
    out: set[str] = set()
    every = ",".join(sorted(world.patients.values()))
    url: str | None = f"{world.base}/Patient?_id={every}&_count=500&_elements=id"
    while url:
        resp = http.get(url, headers=world.headers(who))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        out |= {
            e["resource"]["id"] for e in body.get("entry", []) if e.get("search", {}).get("mode") != "outcome"
        }
        url = next((link["url"] for link in body.get("link", []) if link["relation"] == "next"), None)
    return out


def _coded(text: str) -> dict[str, Any]:
    return {"text": text}


def build(kind: str, me: str, pats: list[str], world: RoleWorld, contained: bool) -> dict[str, Any]:
    """A valid minimal resource of ``kind`` naming ``pats`` (the first as its subject), by ``me``."""
    p = [{"reference": r} for r in pats]
    first, rest = p[0], p[1:]
    body: dict[str, Any]
    if kind == "Observation":
        body = {
            "status": "final",
            "code": _coded("Poids"),
            "subject": first,
            "performer": rest or [{"reference": me}],
        }
    elif kind == "Condition":
        body = {"subject": first, "code": _coded("Asthme"), **({"asserter": rest[0]} if rest else {})}
    elif kind == "Appointment":
        body = {
            "status": "booked",
            "participant": [{"actor": a, "status": "accepted"} for a in [*p, {"reference": me}]],
        }
    elif kind == "Communication":
        body = {
            "status": "completed",
            "subject": first,
            "sender": {"reference": me},
            "recipient": [{"reference": me}, *rest],
        }
    elif kind == "Encounter":
        body = {
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": first,
            "participant": [{"individual": {"reference": me}}] if not me.startswith("Patient/") else [],
        }
    elif kind == "CareTeam":
        body = {
            "status": "active",
            "subject": first,
            "participant": [{"member": {"reference": me}}, *({"member": r} for r in rest)],
        }
    elif kind == "Task":
        body = {
            "status": "accepted",
            "intent": "order",
            "focus": {"reference": f"ServiceRequest/{world.ids['sr_tele']}"},
            "for": first,
            "owner": {"reference": me},
        }
    elif kind == "Consent":
        body = {
            "status": "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": first,
            "policyRule": _coded("Accès accordé"),
            "provision": {
                "type": "permit",
                "actor": [{"role": _coded("grantee"), "reference": {"reference": me}}],
            },
        }
    else:  # a new Patient, cared for by the caller, linked to the others
        body = {
            "name": [{"family": "Propriété"}],
            "link": [{"other": r, "type": "seealso"} for r in p],
            **({"generalPractitioner": [{"reference": me}]} if not me.startswith("Patient/") else {}),
        }
    body = {"resourceType": kind, **body}
    if contained and kind != "Patient":
        body["contained"] = [
            {
                "resourceType": "Observation",
                "id": "c1",
                "status": "final",
                "code": _coded("Taille"),
                "subject": p[-1],
            }
        ]
        body["extension"] = [{"url": "urn:test:contenu", "valueReference": {"reference": "#c1"}}]
    return body


@pytest.fixture(scope="module")
def before(world: RoleWorld) -> Callable[[str], set[str]]:
    cache: dict[str, set[str]] = {}

    def get(who: str) -> set[str]:
        if who not in cache:
            with httpx.Client(timeout=60) as http:
                cache[who] = read_set(http, world, who)
        return cache[who]

    return get


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_write_widens_the_callers_reach(
    world: RoleWorld, before: Callable[[str], set[str]], data: st.DataObject
) -> None:
    who = data.draw(st.sampled_from(CALLERS), label="caller")
    kind = data.draw(st.sampled_from(KINDS), label="type")
    pats = data.draw(
        st.lists(st.sampled_from(_refs(world)), min_size=1, max_size=3, unique=True), label="patients"
    )
    contained = data.draw(st.booleans(), label="contained")
    me = world.refs[who]
    resource = build(kind, me, pats, world, contained)
    reach = before(who)
    with httpx.Client(timeout=60) as http:
        resp = http.post(f"{world.base}/{kind}", json=resource, headers=world.headers(who))
        created = resp.json().get("id") if resp.status_code == 201 else None
        try:
            assert resp.status_code in (201, 400, 403), resp.text
            if resp.status_code == 201:
                named = {r.split("/", 1)[1] for r in pats if r in str(resource)}
                assert named <= reach, (who, kind, named - reach)
            after = read_set(http, world, who)
            new_patient = {created} if kind == "Patient" and created else set()
            assert after - new_patient == reach, (who, kind, pats, after ^ reach)
        finally:
            if created:
                gone = http.delete(f"{world.base}/{kind}/{created}", headers=world.headers("system"))
                assert gone.status_code in (200, 204), gone.text
