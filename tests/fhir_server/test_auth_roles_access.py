"""Role by role, what each user may read and write through instance interactions (issue #7).

Black-box over HTTP against the shared auth-enabled server, with the users and records of
:mod:`tests.fhir_server.roles_data`. 403 = the role or scope can never do this; 404 = an
instance out of the caller's reach, answered exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.fhir_server.auth_support import (
    backend_client_token,
    bearer,
    exchange,
    pkce,
    professional_login,
    redirect_query,
    register_client,
    root,
)
from tests.fhir_server.roles_data import DR_GARNIER, RoleWorld, ScratchClient, role_world

REASON = quote("Urgence vitale : patient inconscient aux urgences")


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


@pytest.fixture(scope="module")
def http(world: RoleWorld) -> Iterator[httpx.Client]:
    # what the tests create is deleted afterwards: the world is shared with other modules
    with ScratchClient(world) as client:
        yield client


def status(http: httpx.Client, world: RoleWorld, who: str, path: str, **headers: str) -> int:
    return http.get(f"{world.base}/{path}", headers=world.headers(who, **headers)).status_code


def observation(subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Poids"},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 80, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        **extra,
    }


# -- patients ------------------------------------------------------------------------------------


def test_patient_sees_their_record_and_their_dependents_only(http: httpx.Client, world: RoleWorld) -> None:
    alice, child, bob = world.refs["alice"], world.refs["alice_child"], world.refs["bob"]
    assert status(http, world, "alice", alice) == 200
    assert status(http, world, "alice", child) == 200
    assert status(http, world, "alice", bob) == 404
    assert status(http, world, "bob", child) == 404
    assert status(http, world, "alice", f"Patient/{world.patients['enc']}") == 404
    assert status(http, world, "alice", f"Observation/{world.observations['enc']}") == 404
    created = http.post(f"{world.base}/Observation", json=observation(child), headers=world.headers("alice"))
    assert created.status_code == 201, created.text
    oid = created.json()["id"]
    assert status(http, world, "alice", f"Observation/{oid}") == 200
    assert status(http, world, "alice", f"Observation/{oid}/_history/1") == 200
    assert status(http, world, "bob", f"Observation/{oid}") == 404
    # writing into someone else's record: 403; their instances: 404
    assert (
        http.post(
            f"{world.base}/Observation", json=observation(bob), headers=world.headers("alice")
        ).status_code
        == 403
    )
    moved = {**created.json(), "subject": {"reference": bob}}
    assert (
        http.put(f"{world.base}/Observation/{oid}", json=moved, headers=world.headers("alice")).status_code
        == 403
    )
    assert http.delete(f"{world.base}/Observation/{oid}", headers=world.headers("bob")).status_code == 404
    assert http.delete(f"{world.base}/Observation/{oid}", headers=world.headers("alice")).status_code == 204
    # reference data is readable; audit records are not (403, the scope can never reach them)
    assert status(http, world, "alice", world.refs["martin"]) == 200
    assert status(http, world, "alice", "AuditEvent/x") == 403


def test_patient_patch_cannot_move_a_resource_out_of_their_record(
    http: httpx.Client, world: RoleWorld
) -> None:
    alice, bob = world.refs["alice"], world.refs["bob"]
    created = http.post(f"{world.base}/Observation", json=observation(alice), headers=world.headers("alice"))
    oid = created.json()["id"]
    patch = [{"op": "replace", "path": "/subject/reference", "value": bob}]
    resp = http.patch(
        f"{world.base}/Observation/{oid}",
        json=patch,
        headers=world.headers("alice", **{"Content-Type": "application/json-patch+json"}),
    )
    assert resp.status_code == 403, resp.text
    assert http.get(f"{world.base}/Observation/{oid}", headers=world.headers("alice")).json()["subject"] == {
        "reference": alice
    }


def test_patient_data_outside_the_compartment_is_not_reference_data(
    http: httpx.Client, world: RoleWorld
) -> None:
    system = world.headers("system")

    def create(resource: dict[str, Any]) -> str:
        resp = http.post(f"{world.base}/{resource['resourceType']}", json=resource, headers=system)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    docs = {
        who: create(
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "subject": {"reference": world.refs[who]},
                "content": [{"attachment": {"contentType": "application/pdf", "title": "Ordonnance"}}],
            }
        )
        for who in ("alice", "bob")
    }
    pdf = {"resourceType": "Binary", "contentType": "application/pdf", "data": "JVBERi0xLjQ="}
    mine = create({**pdf, "securityContext": {"reference": f"DocumentReference/{docs['alice']}"}})
    theirs = create({**pdf, "securityContext": {"reference": f"DocumentReference/{docs['bob']}"}})
    loose = create(pdf)
    assert status(http, world, "alice", f"Binary/{mine}") == 200
    assert status(http, world, "alice", f"Binary/{theirs}") == 404
    assert status(http, world, "alice", f"Binary/{loose}") == 404
    assert status(http, world, "bob", f"Binary/{theirs}") == 200
    assert status(http, world, "alice", "Binary") == 403
    assert status(http, world, "alice", "Bundle") == 403
    pump = create({"resourceType": "Device", "patient": {"reference": world.refs["bob"]}})
    scale = create({"resourceType": "Device", "manufacturer": "Balances SA"})
    assert status(http, world, "alice", f"Device/{pump}") == 404
    assert status(http, world, "bob", f"Device/{pump}") == 200
    assert status(http, world, "alice", f"Device/{scale}") == 200
    assert status(http, world, "system", f"Binary/{loose}") == 200


# -- practitioners: care relationships ----------------------------------------------------------------

REACH = {
    # Dr Martin: encounter, appointment (through her PractitionerRole), care team, GP, her centre's patient
    "martin": {"enc", "appt", "team", "gp", "managed"},
    # her colleague of the same FINESS shares the centre's patients
    "bonnet": {"enc", "appt", "team", "gp", "managed"},
    # Dr Garnier: an accepted tele-expertise and an explicit grant, nothing else
    "garnier": {"tele", "consent"},
}
OUT_OF_REACH = ("ended", "tele_pending", "consent_deny", "other", "thread_a", "rx")


@pytest.mark.parametrize("who", sorted(REACH))
def test_practitioners_reach_the_patients_they_care_for(
    http: httpx.Client, world: RoleWorld, who: str
) -> None:
    for key in world.patients:
        expected = 200 if key in REACH[who] else 404
        assert status(http, world, who, f"Patient/{world.patients[key]}") == expected, (who, key)
        assert status(http, world, who, f"Observation/{world.observations[key]}") == expected, (who, key)
        assert status(http, world, who, f"Observation/{world.observations[key]}/_history/1") == expected
        assert status(http, world, who, f"Observation/{world.observations[key]}/_history") == expected
    for key in OUT_OF_REACH:
        assert key not in REACH[who]


def test_practitioner_writes_only_in_their_patients_records(http: httpx.Client, world: RoleWorld) -> None:
    enc, other = f"Patient/{world.patients['enc']}", f"Patient/{world.patients['other']}"
    h = world.headers("martin")
    created = http.post(f"{world.base}/Observation", json=observation(enc), headers=h)
    assert created.status_code == 201, created.text
    assert http.post(f"{world.base}/Observation", json=observation(other), headers=h).status_code == 403
    moved = {**created.json(), "subject": {"reference": other}}
    assert (
        http.put(f"{world.base}/Observation/{created.json()['id']}", json=moved, headers=h).status_code == 403
    )
    hidden_obs = world.observations["other"]
    body = observation(enc, id=hidden_obs)
    assert http.put(f"{world.base}/Observation/{hidden_obs}", json=body, headers=h).status_code == 404
    assert http.delete(f"{world.base}/Observation/{hidden_obs}", headers=h).status_code == 404
    # the hidden Observation is intact
    system = bearer(world.tokens["system"])
    assert (
        http.get(f"{world.base}/Observation/{hidden_obs}", headers=system).json()["subject"]["reference"]
        == other
    )
    # a new patient record reveals nothing: allowed; it is hers once it names her
    mine = http.post(
        f"{world.base}/Patient",
        json={"resourceType": "Patient", "generalPractitioner": [{"reference": world.refs["martin"]}]},
        headers=h,
    )
    assert mine.status_code == 201 and status(http, world, "martin", f"Patient/{mine.json()['id']}") == 200
    assert status(http, world, "garnier", f"Patient/{mine.json()['id']}") == 404


def test_practitioners_own_agenda_and_messages_outside_any_record(
    http: httpx.Client, world: RoleWorld
) -> None:
    martin, garnier = world.refs["martin"], world.refs["garnier"]
    h = world.headers("martin")
    agenda = {"resourceType": "Schedule", "actor": [{"reference": martin}], "comment": "Consultations"}
    created = http.post(f"{world.base}/Schedule", json=agenda, headers=h)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert status(http, world, "martin", f"Schedule/{sid}") == 200
    assert status(http, world, "garnier", f"Schedule/{sid}") == 404
    found = http.get(f"{world.base}/Schedule", params={"_id": sid}, headers=h).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [sid]
    theirs = {**agenda, "actor": [{"reference": garnier}]}
    assert http.post(f"{world.base}/Schedule", json=theirs, headers=h).status_code == 403
    note = {
        "resourceType": "Communication",
        "status": "completed",
        "sender": {"reference": martin},
        "recipient": [{"reference": garnier}],
        "payload": [{"contentString": "Réunion de pôle jeudi"}],
    }
    sent = http.post(f"{world.base}/Communication", json=note, headers=h)
    assert sent.status_code == 201, sent.text
    assert status(http, world, "garnier", f"Communication/{sent.json()['id']}") == 200
    assert status(http, world, "bonnet", f"Communication/{sent.json()['id']}") == 404
    # the health centre's shared inbox is its staff's
    memo = {**note, "recipient": [{"reference": f"Organization/{world.ids['centre']}"}]}
    shared = http.post(f"{world.base}/Communication", json=memo, headers=world.headers("system"))
    assert shared.status_code == 201
    for who, expected in (("martin", 200), ("bonnet", 200), ("garnier", 404)):
        assert status(http, world, who, f"Communication/{shared.json()['id']}") == expected, who
    # naming a patient makes it part of that patient's record: the usual rule applies
    about = {**note, "subject": {"reference": f"Patient/{world.patients['other']}"}}
    assert http.post(f"{world.base}/Communication", json=about, headers=h).status_code == 403


def test_relationships_are_computed_at_each_request(http: httpx.Client, world: RoleWorld) -> None:
    patient = http.post(
        f"{world.base}/Patient", json={"resourceType": "Patient"}, headers=world.headers("system")
    ).json()["id"]
    assert status(http, world, "garnier", f"Patient/{patient}") == 404
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "policyRule": {"text": "Accès accordé"},
        "provision": {
            "type": "permit",
            "actor": [{"role": {"text": "grantee"}, "reference": {"reference": world.refs["garnier"]}}],
        },
    }
    created = http.post(f"{world.base}/Consent", json=consent, headers=world.headers("system"))
    assert created.status_code == 201, created.text
    assert status(http, world, "garnier", f"Patient/{patient}") == 200  # same token, new grant
    revoked = {**created.json(), "status": "inactive"}
    assert (
        http.put(
            f"{world.base}/Consent/{revoked['id']}", json=revoked, headers=world.headers("system")
        ).status_code
        == 200
    )
    assert status(http, world, "garnier", f"Patient/{patient}") == 404


def test_a_referral_message_is_a_care_relationship(http: httpx.Client, world: RoleWorld) -> None:
    patient = http.post(
        f"{world.base}/Patient",
        json={"resourceType": "Patient", "generalPractitioner": [{"reference": world.refs["martin"]}]},
        headers=world.headers("system"),
    ).json()["id"]
    assert status(http, world, "garnier", f"Patient/{patient}") == 404
    letter = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "sender": {"reference": world.refs["martin"]},
        "recipient": [{"reference": world.refs["garnier"]}],
        "payload": [{"contentString": "Cher confrère, je vous adresse..."}],
    }
    # only someone who may write in the record can address it
    assert (
        http.post(f"{world.base}/Communication", json=letter, headers=world.headers("bob")).status_code == 403
    )
    sent = http.post(f"{world.base}/Communication", json=letter, headers=world.headers("martin"))
    assert sent.status_code == 201, sent.text
    assert status(http, world, "garnier", f"Patient/{patient}") == 200
    withdrawn = {**sent.json(), "status": "entered-in-error"}
    put = http.put(
        f"{world.base}/Communication/{withdrawn['id']}", json=withdrawn, headers=world.headers("martin")
    )
    assert put.status_code == 200
    assert status(http, world, "garnier", f"Patient/{patient}") == 404


def test_break_the_glass_lifts_the_care_restriction_and_is_audited(
    http: httpx.Client, world: RoleWorld
) -> None:
    other = f"Patient/{world.patients['other']}"
    assert status(http, world, "garnier", other) == 404
    assert status(http, world, "garnier", other, **{"X-Break-Glass-Reason": "court"}) == 400
    assert status(http, world, "garnier", other, **{"X-Break-Glass-Reason": REASON}) == 200
    assert (
        status(
            http,
            world,
            "garnier",
            f"Observation/{world.observations['other']}",
            **{"X-Break-Glass-Reason": REASON},
        )
        == 200
    )
    # it opens records, not the directory: no self-declared médecin conseil role
    role = {
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": world.refs["garnier"]},
        "organization": {"reference": f"Organization/{world.ids['elsm_a']}"},
        "code": [{"coding": [{"system": "urn:passerelle:practitioner-role", "code": "medecin-conseil"}]}],
    }
    glass = world.headers("garnier", **{"X-Break-Glass-Reason": REASON})
    assert http.post(f"{world.base}/PractitionerRole", json=role, headers=glass).status_code == 403
    conditional = f"{world.base}/PractitionerRole?practitioner={world.refs['garnier']}&role=x"
    assert http.put(conditional, json=role, headers=glass).status_code == 403
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "POST", "url": "PractitionerRole"}, "resource": role}],
    }
    assert http.post(world.base, json=bundle, headers=glass).status_code == 403
    assert status(http, world, "garnier", f"Communication/{world.ids['header_a']}") == 404
    # not for médecins conseils, pharmacists or patients
    for who in ("conseil_a", "pharmacist", "alice"):
        assert status(http, world, who, other, **{"X-Break-Glass-Reason": REASON}) == 403, who
    auditor = backend_client_token(http, world.server, "system/AuditEvent.rs")
    events = http.get(
        f"{world.base}/AuditEvent", params={"entity": other, "_count": "100"}, headers=bearer(auditor)
    ).json()
    btg = [e["resource"] for e in events.get("entry", []) if e["resource"].get("purposeOfEvent")]
    granted = [e for e in btg if e["outcome"] == "0"]
    assert len(granted) == 1 and all(
        e["agent"][0]["who"]["reference"] == world.refs["garnier"] for e in granted
    )
    # the refused attempts are on record too
    refused = {e["agent"][0]["who"]["reference"] for e in btg if e["outcome"] != "0"}
    assert refused == {world.refs["conseil_a"], world.refs["pharmacist"]}
    assert {e["purposeOfEvent"][0]["coding"][0]["code"] for e in btg} == {"BTG"}


def test_launch_context_is_limited_to_the_patients_they_care_for(
    http: httpx.Client, world: RoleWorld
) -> None:
    launch = f"{root(world.server)}/auth/launch"
    h = bearer(world.tokens["garnier"])
    assert http.post(launch, headers=h, json={"patient": world.patients["other"]}).status_code == 404
    app = register_client(world.server, "public", "launch openid fhirUser patient/*.rs")
    # the launch names the app it is for (issue 12: bound to its professional and app)
    ok = http.post(launch, headers=h, json={"patient": world.patients["tele"], "client_id": app["client_id"]})
    assert ok.status_code == 201, ok.text
    verifier, challenge = pkce()
    scope = "launch openid fhirUser patient/*.rs"
    resp = professional_login(
        http, world.server, app["client_id"], scope, DR_GARNIER, challenge, launch=ok.json()["launch"]
    )
    token = exchange(http, world.server, app, redirect_query(resp)["code"], verifier).json()
    assert token["patient"] == world.patients["tele"]
    url = f"{world.base}/Observation/{world.observations['tele']}"
    assert http.get(url, headers=bearer(token)).status_code == 200
    # the launch context counts only while the relationship lasts: end the tele-expertise
    system = world.headers("system")
    tasks = http.get(
        f"{world.base}/Task", params={"patient": f"Patient/{world.patients['tele']}"}, headers=system
    ).json()["entry"]
    task = tasks[0]["resource"]
    assert (
        http.put(
            f"{world.base}/Task/{task['id']}", json={**task, "status": "cancelled"}, headers=system
        ).status_code
        == 200
    )
    try:
        assert http.get(url, headers=bearer(token)).status_code == 403
        assert status(http, world, "garnier", f"Patient/{world.patients['tele']}") == 404
    finally:
        restored = {**task, "status": "accepted"}
        assert http.put(f"{world.base}/Task/{task['id']}", json=restored, headers=system).status_code == 200


# -- médecin conseil -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "mine", "theirs"), [("conseil_a", "a", "b"), ("conseil_b", "b", "a")])
def test_medecin_conseil_sees_only_the_threads_of_their_echelon(
    http: httpx.Client, world: RoleWorld, who: str, mine: str, theirs: str
) -> None:
    ids = world.ids
    for key in (f"header_{mine}", f"message_{mine}"):
        assert status(http, world, who, f"Communication/{ids[key]}") == 200, key
    assert status(http, world, who, f"Task/{ids[f'task_{mine}']}") == 200
    assert status(http, world, who, f"Patient/{world.patients[f'thread_{mine}']}") == 200
    for key in (f"header_{theirs}", f"message_{theirs}"):
        assert status(http, world, who, f"Communication/{ids[key]}") == 404, key
    assert status(http, world, who, f"Task/{ids[f'task_{theirs}']}") == 404
    assert status(http, world, who, f"Patient/{world.patients[f'thread_{theirs}']}") == 404
    assert status(http, world, who, f"Patient/{world.patients['enc']}") == 404
    # nothing else of the record: the type is out of the role (403)
    assert status(http, world, who, f"Observation/{world.observations[f'thread_{mine}']}") == 403
    assert status(http, world, who, f"MedicationRequest/{ids['mr1']}") == 403
    # the author's drafts stay the author's
    assert status(http, world, "conseil_a", f"Communication/{ids['draft_a']}") == 404


def test_medecin_conseil_replies_in_their_threads_only(http: httpx.Client, world: RoleWorld) -> None:
    ids, h = world.ids, world.headers("conseil_a")
    subject = {"reference": f"Patient/{world.patients['thread_a']}"}

    def reply(header: str, **extra: Any) -> int:
        message = {
            "resourceType": "Communication",
            "status": "completed",
            "partOf": [{"reference": f"Communication/{header}"}],
            "subject": subject,
            "sender": {"reference": world.refs["conseil_a"]},
            "payload": [{"contentString": "Bien reçu."}],
            **extra,
        }
        return http.post(f"{world.base}/Communication", json=message, headers=h).status_code

    assert reply(ids["header_a"]) == 201
    assert reply(ids["header_b"]) == 403  # another échelon's thread
    assert reply(ids["header_a"], subject={"reference": f"Patient/{world.patients['enc']}"}) == 403
    opened = {"resourceType": "Communication", "status": "in-progress", "subject": subject}
    assert http.post(f"{world.base}/Communication", json=opened, headers=h).status_code == 403
    task = http.get(f"{world.base}/Task/{ids['task_a']}", headers=h).json()
    assert (
        http.put(
            f"{world.base}/Task/{task['id']}", json={**task, "status": "in-progress"}, headers=h
        ).status_code
        == 200
    )
    restored = http.put(f"{world.base}/Task/{task['id']}", json=task, headers=world.headers("system"))
    assert restored.status_code == 200  # back to "requested" for the other modules
    assert http.delete(f"{world.base}/Communication/{ids['message_a']}", headers=h).status_code == 403
    # a médecin without the Assurance Maladie's role is an ordinary practitioner: no thread
    assert status(http, world, "garnier", f"Communication/{ids['header_a']}") == 404


# -- pharmacist ------------------------------------------------------------------------------------------


def test_pharmacist_sees_what_the_prescription_check_needs(http: httpx.Client, world: RoleWorld) -> None:
    ids, h = world.ids, world.headers("pharmacist")
    rx = world.patients["rx"]
    assert status(http, world, "pharmacist", f"MedicationRequest/{ids['mr1']}") == 200
    assert status(http, world, "pharmacist", f"MedicationRequest/{ids['mr_draft']}") == 404
    assert status(http, world, "pharmacist", f"Medication/{ids['medication']}") == 200
    patient = http.get(f"{world.base}/Patient/{rx}", headers=h)
    assert patient.status_code == 200
    assert set(patient.json()) <= {"resourceType", "id", "meta", "name", "birthDate", "gender"}
    assert patient.json()["birthDate"] == "1970-01-01"
    assert status(http, world, "pharmacist", f"Patient/{rx}/_history/1") == 403
    assert status(http, world, "pharmacist", f"Patient/{world.patients['enc']}") == 404  # no prescription
    assert status(http, world, "pharmacist", f"Observation/{world.observations['rx']}") == 403
    assert status(http, world, "pharmacist", "Patient?name=Rôle") == 403
    assert status(http, world, "pharmacist", "MedicationRequest?status=active") == 403
    assert status(http, world, "pharmacist", "?_type=MedicationRequest&status=active") == 403
    assert status(http, world, "pharmacist", f"Patient/{rx}/MedicationRequest") == 404
    found = http.get(
        f"{world.base}/MedicationRequest",
        params={"identifier": "urn:passerelle:prescription|ORD-0001"},
        headers=h,
    )
    assert found.status_code == 200, found.text
    assert {e["resource"]["id"] for e in found.json().get("entry", [])} == {ids["mr1"], ids["mr2"]}
    # the ordonnance's number (groupIdentifier, Passerelle's group-identifier parameter): every
    # dispensable line of it, whoever the patient; a draft ordonnance is not dispensable
    for number, expected in (
        ("ORD-0001", {ids["mr1"], ids["mr2"]}),
        ("ORD-0002", set()),
        ("ORD-0003", {ids["mr_other"]}),
    ):
        found = http.get(
            f"{world.base}/MedicationRequest",
            params={"group-identifier": f"urn:passerelle:prescription|{number}"},
            headers=h,
        )
        assert found.status_code == 200, found.text
        assert {e["resource"]["id"] for e in found.json().get("entry", [])} == expected, number


def test_pharmacist_records_the_dispense_and_the_status(http: httpx.Client, world: RoleWorld) -> None:
    ids, h = world.ids, world.headers("pharmacist")
    rx = f"Patient/{world.patients['rx']}"

    def dispense(prescription: str, performer: str, subject: str = rx) -> int:
        body = {
            "resourceType": "MedicationDispense",
            "status": "completed",
            "medicationReference": {"reference": f"Medication/{ids['medication']}"},
            "subject": {"reference": subject},
            "performer": [{"actor": {"reference": performer}}],
            "authorizingPrescription": [{"reference": f"MedicationRequest/{prescription}"}],
        }
        return http.post(f"{world.base}/MedicationDispense", json=body, headers=h).status_code

    me = world.refs["pharmacist"]
    assert dispense(ids["mr_draft"], me) == 404  # not dispensable
    assert dispense(ids["mr2"], world.refs["martin"]) == 403  # recorded in someone else's name
    assert dispense(ids["mr2"], me, subject=f"Patient/{world.patients['other']}") == 403
    assert dispense(ids["mr2"], me) == 201
    current = http.get(f"{world.base}/MedicationRequest/{ids['mr2']}", headers=h).json()
    changed = {**current, "note": [{"text": "substitution"}]}
    assert (
        http.put(f"{world.base}/MedicationRequest/{ids['mr2']}", json=changed, headers=h).status_code == 403
    )
    done = {**current, "status": "completed"}
    assert http.put(f"{world.base}/MedicationRequest/{ids['mr2']}", json=done, headers=h).status_code == 200
    system = world.headers("system")
    back = http.put(f"{world.base}/MedicationRequest/{ids['mr2']}", json=current, headers=system)
    assert back.status_code == 200  # active again for the other modules
    assert http.delete(f"{world.base}/MedicationRequest/{ids['mr2']}", headers=h).status_code == 403


# -- backend services ------------------------------------------------------------------------------------


def test_backend_system_client_reaches_every_record_its_scopes_name(
    http: httpx.Client, world: RoleWorld
) -> None:
    for key in ("other", "thread_b", "rx"):
        assert status(http, world, "system", f"Patient/{world.patients[key]}") == 200
    assert status(http, world, "system", f"Communication/{world.ids['draft_a']}") == 200
    narrow = backend_client_token(http, world.server, "system/Patient.rs")
    assert (
        http.get(
            f"{world.base}/Observation/{world.observations['other']}", headers=bearer(narrow)
        ).status_code
        == 403
    )
