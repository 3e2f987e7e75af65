"""Regulation, black-box over HTTP: a regulated patient's request is routed to the regulating doctor
whatever door it comes through (REST create, transaction Bundle), and only that doctor passes it on.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    FHIR_JSON,
    Mailbox,
    backend_client_token,
    bearer,
    patient_signup,
    patient_token,
    professional_token,
    register_client,
    root,
)

DR_GARNIER = "899700008081"
PRO_SCOPE = "openid fhirUser user/*.cruds"
PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.cruds"
TASKS = "https://passerelle.fr/fhir/CodeSystem/portal-task"
CARETEAM = "https://passerelle.fr/fhir/CodeSystem/portal-careteam"
WRITE = {"Content-Type": FHIR_JSON}


server, mailbox, http = auth_support.server, auth_support.mailbox, auth_support.http  # the shared fixtures


@pytest.fixture(scope="module")
def world(http: httpx.Client, server: ServerProcess, mailbox: Mailbox) -> dict[str, Any]:
    """Dr Martin regulates a patient whose GP is Dr Garnier; a second patient is not regulated."""
    pro_app = register_client(server, "confidential", PRO_SCOPE, name="cabinet")
    pat_app = register_client(server, "public", PATIENT_SCOPE, name="espace patient")
    martin = professional_token(http, server, pro_app, PRO_SCOPE, DR_MARTIN)
    garnier = professional_token(http, server, pro_app, PRO_SCOPE, DR_GARNIER)
    admin = bearer(backend_client_token(http, server, "system/*.cruds", name="régulation"))
    out: dict[str, Any] = {"martin": martin, "garnier": garnier, "admin": admin}
    for key, regulated in (("regulated", True), ("free", False)):
        email, phone = f"p-{uuid.uuid4().hex[:8]}@exemple.fr", f"+336{uuid.uuid4().int % 10**8:08d}"
        pid = patient_signup(http, server, mailbox, email, phone)
        token = patient_token(http, server, pat_app, PATIENT_SCOPE, email, phone)
        patient = http.get(f"{root(server)}/fhir/Patient/{pid}", headers=admin).json()
        patient["generalPractitioner"] = [{"reference": garnier["fhirUser"]}]
        assert (
            http.put(f"{root(server)}/fhir/Patient/{pid}", json=patient, headers=admin | WRITE).status_code
            == 200
        )
        if regulated:
            team = {
                "resourceType": "CareTeam",
                "status": "active",
                "category": [{"coding": [{"system": CARETEAM, "code": "regulation"}]}],
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [
                    {
                        "role": [{"coding": [{"system": CARETEAM, "code": "regulateur"}]}],
                        "member": {"reference": martin["fhirUser"]},
                    }
                ],
            }
            assert (
                http.post(f"{root(server)}/fhir/CareTeam", json=team, headers=admin | WRITE).status_code
                == 201
            )
        out[key] = {"id": pid, "token": token}
    return out


def request_for(pid: str, owner: str) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASKS, "code": "demande-avis"}]},
        "description": "Toux persistante depuis deux semaines.",
        "for": {"reference": f"Patient/{pid}"},
        "requester": {"reference": f"Patient/{pid}"},
        "owner": {"reference": owner},
    }


def test_a_regulated_patients_request_goes_to_the_regulator_first(
    http: httpx.Client, server: ServerProcess, world: dict[str, Any]
) -> None:
    me, martin, garnier = world["regulated"], world["martin"]["fhirUser"], world["garnier"]["fhirUser"]
    url = f"{root(server)}/fhir/Task"
    created = http.post(url, json=request_for(me["id"], garnier), headers=bearer(me["token"]) | WRITE)
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["owner"]["reference"] == martin
    assert task["restriction"]["recipient"] == [{"reference": garnier}]
    assert task["businessStatus"]["coding"][0]["code"] == "en-regulation"
    # the same through a transaction Bundle
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": request_for(me["id"], garnier), "request": {"method": "POST", "url": "Task"}}],
    }
    done = http.post(f"{root(server)}/fhir", json=bundle, headers=bearer(me["token"]) | WRITE)
    assert done.status_code == 200, done.text
    location = done.json()["entry"][0]["response"]["location"].split("/_history")[0]
    routed = http.get(f"{root(server)}/fhir/{location}", headers=world["admin"]).json()
    assert routed["owner"]["reference"] == martin
    # the patient cannot take it back, nor can the chosen doctor take it over
    for who in (me["token"], world["garnier"]):
        grab = {**task, "owner": {"reference": garnier}}
        refused = http.put(f"{url}/{task['id']}", json=grab, headers=bearer(who) | WRITE)
        assert refused.status_code == 403, refused.text
        issue = refused.json()["issue"][0]
        assert "régulateur" in issue["diagnostics"] and issue["expression"] == ["Task.owner"]
    assert http.get(f"{url}/{task['id']}", headers=world["admin"]).json()["owner"]["reference"] == martin
    # the regulator orders an exam, then passes the request on
    exam = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://loinc.org", "code": "36643-5"}]},
        "subject": {"reference": f"Patient/{me['id']}"},
        "requester": {"reference": martin},
    }
    assert (
        http.post(
            f"{root(server)}/fhir/ServiceRequest", json=exam, headers=bearer(world["martin"]) | WRITE
        ).status_code
        == 201
    )
    current = http.get(f"{url}/{task['id']}", headers=bearer(world["martin"])).json()
    passed = http.put(
        f"{url}/{task['id']}",
        json={**current, "owner": {"reference": garnier}},
        headers=bearer(world["martin"]) | WRITE,
    )
    assert passed.status_code == 200, passed.text
    assert passed.json()["owner"]["reference"] == garnier
    assert passed.json()["businessStatus"]["coding"][0]["code"] == "transmise"


def test_requests_of_a_patient_without_regulation_are_not_routed(
    http: httpx.Client, server: ServerProcess, world: dict[str, Any]
) -> None:
    me, garnier = world["free"], world["garnier"]["fhirUser"]
    created = http.post(
        f"{root(server)}/fhir/Task", json=request_for(me["id"], garnier), headers=bearer(me["token"]) | WRITE
    )
    assert created.status_code == 201, created.text
    assert created.json()["owner"]["reference"] == garnier
    assert "businessStatus" not in created.json()
