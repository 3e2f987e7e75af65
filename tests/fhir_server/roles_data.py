"""One small world of users and records for the access-control tests, built once per test server.

Use :func:`role_world` (``world = role_world(http, server)``, with ``server`` from
``auth_support.shared_server()``): it logs every user in (Pro Santé Connect dev provider,
patient accounts with SMS codes), stores the records through a backend client with
``system/*.cruds``, and returns a :class:`RoleWorld` (cached per server: later calls are free).

Users (``world.tokens[name]``, access-token responses; ``world.refs[name]`` their fhirUser):

- ``martin``   Dr Martin, GP at the health centre FINESS 750712184 (``Organization centre``);
- ``bonnet``   Dr Bonnet, her colleague in the same centre (shares the centre's patients);
- ``garnier``  Dr Garnier, GP elsewhere: only the accepted tele-expertise (``tele``) and the
  explicit grant (``consent``) link him to patients;
- ``conseil_a`` / ``conseil_b``  médecins conseils of ELSM Paris (``elsm_a``) / ELSM Lyon
  (``elsm_b``), declared by PractitionerRoles coded ``medecin-conseil``;
- ``pharmacist``  Claire Petit, pharmacist (PSC profession 21);
- ``alice``    a patient with a dependent child (``alice_child``); ``bob`` another patient;
- ``system``   a backend client with ``system/*.cruds`` (a raw token string, not a dict).

Practitioners use ``user/*.cruds`` scopes; patients ``patient/*.cruds``.

Patients (``world.patients[key]`` → id) and how Dr Martin's centre / Dr Garnier reach them:

============== ===========================================================================
``enc``        Encounter, participant.individual = Practitioner/martin (finished)
``appt``       Appointment, participant.actor = Dr Martin's PractitionerRole (booked)
``team``       CareTeam, participant.member = Practitioner/martin (active)
``gp``         Patient.generalPractitioner = Practitioner/martin
``managed``    Patient.managingOrganization = Organization/centre
``ended``      Encounter with Dr Martin entered-in-error: no relationship
``tele``       Task owner Dr Garnier, status accepted, focus a tele-expertise ServiceRequest
``tele_pending`` the same Task still ``requested``: no relationship
``consent``    active Consent, provision permit, actor Practitioner/garnier
``consent_deny`` active Consent, provision deny, actor Practitioner/garnier: no relationship
``other``      nobody's patient
``thread_a`` / ``thread_b``  subjects of the secure-messaging threads to ELSM Paris / Lyon
``rx``         subject of prescription ORD-0001 (two active MedicationRequests)
============== ===========================================================================

Every patient has one Observation (``world.observations[key]``). Other records in
``world.ids``: ``centre``, ``elsm_a``, ``elsm_b``, ``martin_role``, ``header_a``,
``message_a``, ``draft_a`` (a draft by Dr Martin in thread A), ``header_b``, ``message_b``,
``task_a``, ``task_b``, ``medication``, ``mr1``, ``mr2`` (ORD-0001, active), ``mr_draft``
(ORD-0002, draft), ``mr_other`` (active, for patient ``other``, ORD-0003), ``sr_tele``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.harness import ServerProcess
from fhir_server.identifiers import luhn_check_digit
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    FHIR_JSON,
    PHARMACIEN,
    Mailbox,
    backend_client_token,
    bearer,
    patient_signup,
    patient_token,
    professional_token,
    register_client,
    root,
    shared_server,
)


def _idnat(body: str) -> str:
    return "8" + body + luhn_check_digit(body)


DR_BONNET = _idnat("9970000707")
DR_GARNIER = _idnat("9970000808")
CONSEIL_A = _idnat("9970000909")
CONSEIL_B = _idnat("9970001010")
PRO_SCOPE = "openid fhirUser user/*.cruds"
PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.cruds"
ROLE_SYSTEM = "urn:passerelle:practitioner-role"
FINESS = "https://finess.esante.gouv.fr"
PRESCRIPTION_SYSTEM = "urn:passerelle:prescription"
PATIENT_KEYS = (
    "enc", "appt", "team", "gp", "managed", "ended", "tele", "tele_pending", "consent", "consent_deny",
    "other", "thread_a", "thread_b", "rx",
)  # fmt: skip


@dataclass
class RoleWorld:
    server: ServerProcess
    tokens: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    observations: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.server.base

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {**bearer(self.tokens[who]), "Content-Type": FHIR_JSON, **extra}

    def get(self, http: httpx.Client, who: str, path: str, **kw: Any) -> httpx.Response:
        return http.get(f"{self.base}/{path}", headers=self.headers(who), **kw)


_worlds: dict[int, RoleWorld] = {}


def role_world(http: httpx.Client, server: ServerProcess | None = None) -> RoleWorld:
    server = server or shared_server()[0]
    if server.port not in _worlds:
        _worlds[server.port] = _build(http, server, shared_server()[1].mailbox)
    return _worlds[server.port]


def _post(http: httpx.Client, world: RoleWorld, resource: dict[str, Any]) -> str:
    resp = http.post(
        f"{world.base}/{resource['resourceType']}", json=resource, headers=world.headers("system")
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _observation(pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }


def _build(http: httpx.Client, server: ServerProcess, mailbox: Mailbox) -> RoleWorld:
    world = RoleWorld(server)
    world.tokens["system"] = backend_client_token(http, server, "system/*.cruds", name="Assurance Maladie")
    pro_app = register_client(server, "confidential", PRO_SCOPE + " offline_access", name="Logiciel rôles")
    for name, idnat in (
        ("martin", DR_MARTIN),
        ("bonnet", DR_BONNET),
        ("garnier", DR_GARNIER),
        ("conseil_a", CONSEIL_A),
        ("conseil_b", CONSEIL_B),
        ("pharmacist", PHARMACIEN),
    ):
        world.tokens[name] = professional_token(http, server, pro_app, PRO_SCOPE, idnat)
        world.refs[name] = world.tokens[name]["fhirUser"]
    tag = uuid.uuid4().hex[:6]
    patient_app = register_client(server, "public", PATIENT_SCOPE, name="Mon espace (rôles)")
    for name, phone in (("alice", "+33611110001"), ("bob", "+33611110002")):
        email = f"roles-{name}-{tag}@example.fr"
        pid = patient_signup(http, server, mailbox, email, phone)
        world.refs[name] = f"Patient/{pid}"
        if name == "alice":
            holder = patient_token(http, server, patient_app, PATIENT_SCOPE, email, phone)
            child = http.post(
                f"{root(server)}/auth/patients/dependents",
                headers=bearer(holder),
                json={"given": "Léo", "family": "Dupont", "birthDate": "2015-03-02", "relationship": "PRN"},
            )
            assert child.status_code == 201, child.text
            world.refs["alice_child"] = child.json()["patient"]
        world.tokens[name] = patient_token(http, server, patient_app, PATIENT_SCOPE, email, phone)

    ids = world.ids
    ids["centre"] = _post(
        http,
        world,
        {
            "resourceType": "Organization",
            "name": "CENTRE DE SANTE PARIS 15",
            "identifier": [{"system": FINESS, "value": "750712184"}],
        },
    )
    ids["elsm_a"] = _post(http, world, {"resourceType": "Organization", "name": "ELSM Paris"})
    ids["elsm_b"] = _post(http, world, {"resourceType": "Organization", "name": "ELSM Lyon"})
    for who, elsm in (("conseil_a", "elsm_a"), ("conseil_b", "elsm_b")):
        _post(
            http,
            world,
            {
                "resourceType": "PractitionerRole",
                "practitioner": {"reference": world.refs[who]},
                "organization": {"reference": f"Organization/{ids[elsm]}"},
                "code": [{"coding": [{"system": ROLE_SYSTEM, "code": "medecin-conseil"}]}],
            },
        )
    roles = http.get(
        f"{world.base}/PractitionerRole",
        params={"practitioner": world.refs["martin"]},
        headers=world.headers("system"),
    ).json()
    ids["martin_role"] = roles["entry"][0]["resource"]["id"]

    martin, garnier = world.refs["martin"], world.refs["garnier"]
    for key in PATIENT_KEYS:
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "name": [{"family": f"Rôle-{key}", "given": ["Test"]}],
        }
        patient["birthDate"] = "1970-01-01"
        if key == "gp":
            patient["generalPractitioner"] = [{"reference": martin}]
        if key == "managed":
            patient["managingOrganization"] = {"reference": f"Organization/{ids['centre']}"}
        world.patients[key] = pid = _post(http, world, patient)
        world.observations[key] = _post(http, world, _observation(pid))
    p = {k: f"Patient/{v}" for k, v in world.patients.items()}

    for key, status in (("enc", "finished"), ("ended", "entered-in-error")):
        _post(
            http,
            world,
            {
                "resourceType": "Encounter",
                "status": status,
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": p[key]},
                "participant": [{"individual": {"reference": martin}}],
            },
        )
    _post(
        http,
        world,
        {
            "resourceType": "Appointment",
            "status": "booked",
            "participant": [
                {"actor": {"reference": p["appt"]}, "status": "accepted"},
                {"actor": {"reference": f"PractitionerRole/{ids['martin_role']}"}, "status": "accepted"},
            ],
        },
    )
    _post(
        http,
        world,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": p["team"]},
            "participant": [{"member": {"reference": martin}}],
        },
    )
    ids["sr_tele"] = _post(
        http,
        world,
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "proposal",
            "subject": {"reference": p["tele"]},
            "requester": {"reference": martin},
            "performer": [{"reference": garnier}],
            "code": {"text": "Télé-expertise dermatologie"},
        },
    )
    for key, status in (("tele", "accepted"), ("tele_pending", "requested")):
        _post(
            http,
            world,
            {
                "resourceType": "Task",
                "status": status,
                "intent": "order",
                "focus": {"reference": f"ServiceRequest/{ids['sr_tele']}"},
                "for": {"reference": p[key]},
                "owner": {"reference": garnier},
            },
        )
    for key, kind in (("consent", "permit"), ("consent_deny", "deny")):
        _post(
            http,
            world,
            {
                "resourceType": "Consent",
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
                "patient": {"reference": p[key]},
                "policyRule": {"text": "Accès accordé par le patient"},
                "provision": {
                    "type": kind,
                    "actor": [{"role": {"text": "grantee"}, "reference": {"reference": garnier}}],
                },
            },
        )

    for side in ("a", "b"):
        header = {
            "resourceType": "Communication",
            "status": "in-progress",
            "subject": {"reference": p[f"thread_{side}"]},
            "topic": {"text": f"Arrêt de travail ({side})"},
            "sender": {"reference": martin},
            "recipient": [{"reference": f"Organization/{ids[f'elsm_{side}']}"}],
        }
        ids[f"header_{side}"] = hid = _post(http, world, header)
        message = {
            "resourceType": "Communication",
            "status": "completed",
            "partOf": [{"reference": f"Communication/{hid}"}],
            "subject": {"reference": p[f"thread_{side}"]},
            "sender": {"reference": martin},
            "payload": [{"contentString": "Bonjour, voici le dossier."}],
        }
        ids[f"message_{side}"] = _post(http, world, message)
        ids[f"task_{side}"] = _post(
            http,
            world,
            {
                "resourceType": "Task",
                "status": "requested",
                "intent": "order",
                "focus": {"reference": f"Communication/{hid}"},
                "owner": {"reference": f"Organization/{ids[f'elsm_{side}']}"},
            },
        )
    ids["draft_a"] = _post(
        http,
        world,
        {
            "resourceType": "Communication",
            "status": "preparation",
            "partOf": [{"reference": f"Communication/{ids['header_a']}"}],
            "subject": {"reference": p["thread_a"]},
            "sender": {"reference": martin},
            "payload": [{"contentString": "Brouillon"}],
        },
    )

    ids["medication"] = _post(
        http, world, {"resourceType": "Medication", "code": {"text": "Amoxicilline 500 mg gélule"}}
    )
    for key, number, status, subject in (
        ("mr1", "ORD-0001", "active", "rx"),
        ("mr2", "ORD-0001", "active", "rx"),
        ("mr_draft", "ORD-0002", "draft", "rx"),
        ("mr_other", "ORD-0003", "active", "other"),
    ):
        ids[key] = _post(
            http,
            world,
            {
                "resourceType": "MedicationRequest",
                "status": status,
                "intent": "order",
                "groupIdentifier": {"system": PRESCRIPTION_SYSTEM, "value": number},
                # the number is also each line's identifier: pharmacists may search by either
                "identifier": [{"system": PRESCRIPTION_SYSTEM, "value": number}],
                "medicationReference": {"reference": f"Medication/{ids['medication']}"},
                "subject": {"reference": p[subject]},
                "requester": {"reference": martin},
            },
        )
    return world


class ScratchClient(httpx.Client):
    """An HTTP client that remembers every resource its requests create, to delete them afterwards.

    Tests that write through the world's users share the world with other modules: what they
    create (an Encounter with Dr Martin, a reply in thread A...) would change what those users
    reach. Use it as ``with ScratchClient(world) as http: ...``; on exit every resource created
    (201 answers, and 201 entries of batch/transaction responses) is deleted with the system token.
    Updates of world records are not undone: restore them in the test.
    """

    def __init__(self, world: RoleWorld, **kw: Any) -> None:
        super().__init__(timeout=60, follow_redirects=False, event_hooks={"response": [self._record]}, **kw)
        self.world = world
        self.created: list[str] = []

    def _record(self, response: httpx.Response) -> None:
        if response.request.method not in ("POST", "PUT"):
            return
        response.read()
        if response.status_code == 201 and "location" in response.headers:
            self.created.append(response.headers["location"].split("/_history")[0].split("/fhir/")[-1])
        elif response.status_code == 200 and response.headers.get("content-type", "").startswith(FHIR_JSON):
            body = response.json()
            if body.get("resourceType") == "Bundle" and str(body.get("type", "")).endswith("-response"):
                for entry in body.get("entry", []):
                    answer = entry.get("response", {})
                    if str(answer.get("status", "")).startswith("201") and answer.get("location"):
                        self.created.append(answer["location"].split("/_history")[0])

    def __exit__(self, *exc: Any) -> None:
        system = self.world.headers("system")
        for ref in reversed(self.created):
            httpx.delete(f"{self.world.base}/{ref}", headers=system, timeout=60)
        super().__exit__(*exc)
