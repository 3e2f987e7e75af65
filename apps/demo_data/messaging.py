"""Demo content of the secure messaging with the médecin conseil (issue 18).

Échelons (ELSM) and funds matching ``fhir_server/auth/echelons.json``; the two dev PSC
médecins conseils (Dr Nadia Roux, ELSM de Paris; Dr Olivier Faure, ELSM du Rhône; their
Practitioners are those of ``logins.json``) with the PractitionerRole the Assurance Maladie
declares; two insured patients
(one of the health centre Paris 15, one of Dr Garnier) with a valid NIR and a coverage; and one
conversation between the health centre and the ELSM de Paris, answered by Dr Roux.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from apps.portal.messaging.model import CATEGORY, NAM_SYSTEM, NOPAT_CODING
from apps.portal.messaging.routing import ELSM_SYSTEM, FUND_SYSTEM
from fhir_server.auth.roles import CONSEIL_CODE, ROLE_SYSTEM
from fhir_server.identifiers import NIR_SYSTEM

HEALTH_CENTRE = "demo-org-centre-paris15"  # apps/demo_data/resources.json
CONSEILS = {
    "899700009097": ("demo-pra-roux", "demo-org-elsm-paris"),  # Dr Nadia Roux
    "899700010103": ("demo-pra-faure", "demo-org-elsm-69"),  # Dr Olivier Faure
}
REGIME = {"system": "urn:passerelle:regime-assurance-maladie", "code": "01", "display": "Régime général"}
THREAD = "demo-msg-thread-1"
# the ELSM de Paris keeps the id the other demo files name
ELSM_IDS = {"ELSM-75": "demo-org-elsm-paris"}


def _meta() -> dict[str, Any]:
    return {"security": [NOPAT_CODING]}


def _stamp(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour, 0)).isoformat() + "+01:00"


def _organisations() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for code, name, city in (
        ("ELSM-75", "ELSM de Paris", "Paris"),
        ("ELSM-92", "ELSM des Hauts-de-Seine", "Nanterre"),
        ("ELSM-69", "ELSM du Rhône", "Lyon"),
    ):
        out.append(
            {
                "resourceType": "Organization",
                "id": ELSM_IDS.get(code, f"demo-org-{code.lower()}"),
                "active": True,
                "name": name,
                "identifier": [{"system": ELSM_SYSTEM, "value": code}],
                "address": [{"city": city}],
            }
        )
    for code, name in (("01-751", "CPAM de Paris"), ("01-691", "CPAM du Rhône")):
        out.append(
            {
                "resourceType": "Organization",
                "id": f"demo-org-cpam-{code[3:]}",
                "active": True,
                "name": name,
                "identifier": [{"system": FUND_SYSTEM, "value": code}],
            }
        )
    out.append(
        {
            "resourceType": "Organization",
            "id": "demo-org-cabinet-garnier",
            "active": True,
            "name": "Cabinet du Dr Garnier",
            "address": [{"line": ["4 place Bellecour"], "postalCode": "69002", "city": "Lyon"}],
        }
    )
    return out


def _people() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for pid, elsm in CONSEILS.values():
        out.append(
            {
                "resourceType": "PractitionerRole",
                "id": f"{pid}-conseil",
                "active": True,
                "practitioner": {"reference": f"Practitioner/{pid}"},
                "organization": {"reference": f"Organization/{elsm}"},
                "code": [
                    {"coding": [{"system": ROLE_SYSTEM, "code": CONSEIL_CODE, "display": "Médecin conseil"}]}
                ],
            }
        )
    out.append(
        {  # the Assurance Maladie's record of Dr Garnier's practice: his N° AM
            "resourceType": "PractitionerRole",
            "id": "demo-pra-garnier-am",
            "active": True,
            "practitioner": {"reference": "Practitioner/demo-pra-garnier"},
            "organization": {"reference": "Organization/demo-org-cabinet-garnier"},
            "identifier": [{"system": NAM_SYSTEM, "value": "691234567"}],
        }
    )
    patients = (
        (
            "demo-msg-pat-lambert",
            "Lambert",
            "Sophie",
            "285036912312301",
            "1985-03-14",
            {  # her médecin traitant is Dr Martin, salaried at the centre: the échelon writes to the centre
                "managingOrganization": {"reference": f"Organization/{HEALTH_CENTRE}"},
                "generalPractitioner": [{"reference": "Practitioner/demo-pra-martin"}],
            },
            "demo-org-cpam-751",
        ),
        (
            "demo-msg-pat-roussel",
            "Roussel",
            "Marc",
            "192017505604253",
            "1992-01-07",
            {"generalPractitioner": [{"reference": "Practitioner/demo-pra-garnier"}]},
            "demo-org-cpam-691",
        ),
    )
    for pid, family, given, nir, born, link, fund in patients:
        out.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"use": "official", "family": family, "given": [given]}],
                "identifier": [{"system": NIR_SYSTEM, "value": nir}],
                "birthDate": born,
                **link,
            }
        )
        out.append(
            {
                "resourceType": "Coverage",
                "id": f"{pid}-amo",
                "status": "active",
                "type": {"coding": [REGIME]},
                "beneficiary": {"reference": f"Patient/{pid}"},
                "dependent": "01",
                "payor": [{"reference": f"Organization/{fund}"}],
            }
        )
    return out


def _thread(today: date) -> list[dict[str, Any]]:
    sent, answered = today - timedelta(days=3), today - timedelta(days=1)
    subject = {"reference": "Patient/demo-msg-pat-lambert"}
    centre, elsm = (
        {"reference": f"Organization/{HEALTH_CENTRE}"},
        {"reference": "Organization/demo-org-elsm-paris"},
    )
    header = {"reference": f"Communication/{THREAD}"}
    category = [{"coding": [CATEGORY]}]
    return [
        {
            "resourceType": "Communication",
            "id": THREAD,
            "meta": _meta(),
            "status": "in-progress",
            "category": category,
            "subject": subject,
            "topic": {"text": "Reprise du travail à temps partiel"},
            "sender": centre,
            "recipient": [elsm],
            "sent": _stamp(sent, 9),
        },
        {
            "resourceType": "Communication",
            "id": f"{THREAD}-1",
            "meta": _meta(),
            "status": "completed",
            "category": category,
            "partOf": [header],
            "subject": subject,
            "sender": centre,
            "recipient": [elsm],
            "sent": _stamp(sent, 9),
            "received": _stamp(sent, 14),
            "payload": [
                {
                    "contentString": "Bonjour, Mme Lambert souhaite reprendre à mi-temps thérapeutique "
                    "à partir du 1er du mois prochain. Pouvez-vous nous indiquer les pièces utiles ?"
                }
            ],
        },
        {
            "resourceType": "Communication",
            "id": f"{THREAD}-2",
            "meta": _meta(),
            "status": "completed",
            "category": category,
            "partOf": [header],
            "inResponseTo": [{"reference": f"Communication/{THREAD}-1"}],
            "subject": subject,
            "sender": {"reference": "Practitioner/demo-pra-roux"},
            "recipient": [centre],
            "sent": _stamp(answered, 11),
            "payload": [
                {
                    "contentString": "Bonjour, merci d'adresser le certificat de reprise et le dernier "
                    "compte rendu de consultation."
                }
            ],
        },
        {
            "resourceType": "Task",
            "id": f"{THREAD}-suivi",
            "meta": _meta(),
            "status": "in-progress",
            "intent": "order",
            "code": {"coding": [CATEGORY]},
            "focus": header,
            "for": subject,
            "owner": elsm,
            "requester": centre,
            "authoredOn": _stamp(sent, 9),
            "lastModified": _stamp(answered, 11),
            "description": "Échange avec le médecin conseil",
        },
    ]


def resources(today: date) -> list[dict[str, Any]]:
    return [*_organisations(), *_people(), *_thread(today)]
