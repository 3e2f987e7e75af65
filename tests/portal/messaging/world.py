"""The people and records of the secure-messaging tests, on a real auth-enabled server.

Users (the dev Pro Santé Connect's default professionals, tokens through the real login):

- ``martin`` and ``bonnet``: salaried doctors of the health centre "CENTRE DE SANTE PARIS 15"
  (FINESS 750712184, its practice situation in PSC) — they write as the centre, share its inbox;
- ``garnier``: a liberal doctor (cabinet in Lyon, N° AM declared by the Assurance Maladie);
- ``conseil_paris`` / ``conseil_lyon``: médecins conseils of the ELSM de Paris / du Rhône
  (PractitionerRole coded medecin-conseil, declared by the Assurance Maladie's backend);
- ``patient``: a signed-up patient, who is also the subject of the centre's threads.

Patients: ``centre_patient`` (the signed-up patient; managed by the centre, Dr Martin her
médecin traitant, CPAM de Paris → ELSM de Paris), ``lyon_patient`` (Dr Garnier's, CPAM du
Rhône → ELSM du Rhône), ``no_cover`` (Dr Garnier's, no coverage), ``paris_insured`` (CPAM de
Paris, no médecin traitant, in no thread).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from apps.portal.messaging import ELSM_SYSTEM, FUND_SYSTEM
from apps.portal.messaging.model import NAM_SYSTEM
from bench.harness import ServerProcess
from fhir_server.identifiers import FINESS_SYSTEM, NIR_SYSTEM, luhn_check_digit
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    FHIR_JSON,
    SmtpSink,
    backend_client_token,
    bearer,
    patient_signup,
    patient_token,
    professional_token,
    register_client,
    start_server,
)


def _idnat(body: str) -> str:
    return "8" + body + luhn_check_digit(body)


IDNAT = {
    "martin": DR_MARTIN,
    "bonnet": _idnat("9970000707"),
    "garnier": _idnat("9970000808"),
    "conseil_paris": _idnat("9970000909"),
    "conseil_lyon": _idnat("9970001010"),
}
PRO_SCOPE = "openid fhirUser user/*.cruds"
PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.cruds"
ROLE_SYSTEM = "urn:passerelle:practitioner-role"
NIR = {  # valid keys (docs/france.md §2.2 test vectors and the mod-97 rule)
    "centre_patient": "255081416802538",
    "lyon_patient": "295109912611193",
    "no_cover": "253072B07300470",
    "paris_insured": "253072A07300443",
}
CENTRE_EMAIL = "secretariat@centre-paris15.test"
GARNIER_NAM = "691234567"
REGIME_SYSTEM = "urn:passerelle:regime-assurance-maladie"


@dataclass
class World:
    server: ServerProcess
    smtp: SmtpSink
    tmp: Path
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    patient_email: str = ""
    patient_phone: str = ""

    @property
    def base(self) -> str:
        return self.server.base

    def client(self, who: str) -> httpx.AsyncClient:
        """An async client on the FHIR base carrying ``who``'s token (what the portal does)."""
        return httpx.AsyncClient(base_url=self.base + "/", headers=bearer(self.tokens[who]), timeout=60)

    def get(self, who: str, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.base}/{path}", params=params, headers=bearer(self.tokens[who]), timeout=60)

    def stop(self) -> None:
        self.server.stop()
        self.smtp.__exit__()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _post(http: httpx.Client, world: World, resource: dict[str, Any]) -> str:
    resp = http.post(
        f"{world.base}/{resource['resourceType']}",
        json=resource,
        headers={**bearer(world.tokens["system"]), "Content-Type": FHIR_JSON},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _put(http: httpx.Client, world: World, resource: dict[str, Any]) -> None:
    resp = http.put(
        f"{world.base}/{resource['resourceType']}/{resource['id']}",
        json=resource,
        headers={**bearer(world.tokens["system"]), "Content-Type": FHIR_JSON},
    )
    assert resp.status_code in (200, 201), resp.text


def build_world(**env: str) -> World:
    tmp = Path(tempfile.mkdtemp(prefix="passerelle-msg-"))
    smtp = SmtpSink().__enter__()
    server = start_server(tmp, smtp.port, **env)
    world = World(server, smtp, tmp)
    try:
        with httpx.Client(timeout=60, follow_redirects=False) as http:
            _populate(http, world)
    except BaseException:
        world.stop()
        raise
    return world


def login_all(http: httpx.Client, world: World) -> None:
    app = register_client(world.server, "confidential", PRO_SCOPE, name="Portail (messagerie)")
    for who, idnat in IDNAT.items():
        world.tokens[who] = professional_token(http, world.server, app, PRO_SCOPE, idnat)
        world.refs[who] = world.tokens[who]["fhirUser"]


def _populate(http: httpx.Client, world: World) -> None:
    world.tokens["system"] = {
        "access_token": backend_client_token(http, world.server, "system/*.cruds", name="Assurance Maladie")
    }
    login_all(http, world)
    ids = world.ids
    ids["centre"] = _post(http, world, {
        "resourceType": "Organization", "name": "CENTRE DE SANTE PARIS 15",
        "identifier": [{"system": FINESS_SYSTEM, "value": "750712184"}],
        "telecom": [{"system": "email", "value": CENTRE_EMAIL}],
        "address": [{"line": ["12 rue de Vaugirard"], "postalCode": "75015", "city": "Paris"}],
    })  # fmt: skip
    for code, name in (("ELSM-75", "ELSM de Paris"), ("ELSM-69", "ELSM du Rhône")):
        ids[code] = _post(http, world, {
            "resourceType": "Organization", "name": name,
            "identifier": [{"system": ELSM_SYSTEM, "value": code}],
        })  # fmt: skip
    for who, code in (("conseil_paris", "ELSM-75"), ("conseil_lyon", "ELSM-69")):
        _post(http, world, {
            "resourceType": "PractitionerRole", "practitioner": {"reference": world.refs[who]},
            "organization": {"reference": f"Organization/{ids[code]}"},
            "code": [{"coding": [{"system": ROLE_SYSTEM, "code": "medecin-conseil"}]}],
        })  # fmt: skip
    for code, name in (("01-751", "CPAM de Paris"), ("01-691", "CPAM du Rhône")):
        ids[code] = _post(http, world, {
            "resourceType": "Organization", "name": name,
            "identifier": [{"system": FUND_SYSTEM, "value": code}],
        })  # fmt: skip
    ids["cabinet_garnier"] = _post(http, world, {
        "resourceType": "Organization", "name": "CABINET GARNIER",
        "address": [{"line": ["4 place Bellecour"], "postalCode": "69002", "city": "Lyon"}],
    })  # fmt: skip
    _post(http, world, {  # the Assurance Maladie's record of Dr Garnier's practice (N° AM)
        "resourceType": "PractitionerRole", "practitioner": {"reference": world.refs["garnier"]},
        "identifier": [{"system": NAM_SYSTEM, "value": GARNIER_NAM}],
        "organization": {"reference": f"Organization/{ids['cabinet_garnier']}"},
    })  # fmt: skip

    tag = uuid.uuid4().hex[:6]
    world.patient_email, world.patient_phone = f"patient-msg-{tag}@example.fr", "+33611119999"
    pid = patient_signup(http, world.server, world.smtp.mailbox, world.patient_email, world.patient_phone)
    world.refs["patient"] = f"Patient/{pid}"
    patient = httpx.get(f"{world.base}/Patient/{pid}", headers=bearer(world.tokens["system"])).json()
    patient["identifier"] = [
        *patient.get("identifier", []),
        {"system": NIR_SYSTEM, "value": NIR["centre_patient"]},
    ]
    patient["managingOrganization"] = {"reference": f"Organization/{ids['centre']}"}
    patient["generalPractitioner"] = [{"reference": world.refs["martin"]}]  # salaried at the centre
    _put(http, world, patient)
    ids["centre_patient"] = pid
    for key, family, given in (("lyon_patient", "Moreau", "Lucie"), ("no_cover", "Blanc", "Jules")):
        ids[key] = _post(http, world, {
            "resourceType": "Patient", "name": [{"use": "official", "family": family, "given": [given]}],
            "birthDate": "1995-10-12", "identifier": [{"system": NIR_SYSTEM, "value": NIR[key]}],
            "generalPractitioner": [{"reference": world.refs["garnier"]}],
        })  # fmt: skip
    ids["paris_insured"] = _post(http, world, {  # insured at the CPAM de Paris, no thread, no GP
        "resourceType": "Patient", "name": [{"use": "official", "family": "Petit", "given": ["Léa"]}],
        "birthDate": "1953-07-02", "identifier": [{"system": NIR_SYSTEM, "value": NIR["paris_insured"]}],
    })  # fmt: skip
    for key, fund in (("centre_patient", "01-751"), ("lyon_patient", "01-691"), ("paris_insured", "01-751")):
        _post(http, world, {
            "resourceType": "Coverage", "status": "active",
            "type": {"coding": [{"system": REGIME_SYSTEM, "code": "01", "display": "Régime général"}]},
            "beneficiary": {"reference": f"Patient/{ids[key]}"}, "dependent": "01",
            "payor": [{"reference": f"Organization/{ids[fund]}"}],
        })  # fmt: skip
    world.tokens["patient"] = patient_token(
        http,
        world.server,
        register_client(world.server, "public", PATIENT_SCOPE, name="Mon espace (messagerie)"),
        PATIENT_SCOPE,
        world.patient_email,
        world.patient_phone,
    )
