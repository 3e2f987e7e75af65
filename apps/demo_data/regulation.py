"""Demo: a regulated patient. Dr Marie Martin regulates Claire Vidal (GP: Dr Henri Garnier); her
request addressed to Dr Garnier waits in Dr Martin's regulation (as the FHIR layer routes it:
``fhir_server.operations.regulation_rules``), for her to order an exam and pass it on.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from fhir_server.operations.regulation_rules import CARETEAM_SYSTEM, ROUTED, TASK_SYSTEM

MARTIN = {"reference": "Practitioner/demo-pra-martin"}
GARNIER = {"reference": "Practitioner/demo-pra-garnier"}
PATIENT = "demo-pt-vidal"


def _at(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour, 0)).isoformat() + "+01:00"


def resources(today: date) -> list[dict[str, Any]]:
    yesterday = today - timedelta(days=1)
    return [
        {
            "resourceType": "Patient",
            "id": PATIENT,
            "active": True,
            "name": [{"use": "official", "family": "Vidal", "given": ["Claire"]}],
            "gender": "female",
            "birthDate": "1962-10-12",
            "generalPractitioner": [GARNIER],
        },
        {
            "resourceType": "CareTeam",
            "id": "demo-ct-vidal-regulation",
            "status": "active",
            "category": [
                {"coding": [{"system": CARETEAM_SYSTEM, "code": "regulation", "display": "Patient régulé"}]}
            ],
            "subject": {"reference": f"Patient/{PATIENT}"},
            "participant": [
                {
                    "role": [
                        {
                            "coding": [
                                {
                                    "system": CARETEAM_SYSTEM,
                                    "code": "regulateur",
                                    "display": "Médecin régulateur",
                                }
                            ]
                        }
                    ],
                    "member": MARTIN,
                }
            ],
        },
        {
            "resourceType": "Encounter",
            "id": "demo-enc-vidal-avis",
            "status": "planned",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
            "subject": {"reference": f"Patient/{PATIENT}"},
            "participant": [{"individual": GARNIER}],
            "period": {"start": _at(yesterday, 17)},
            "reasonCode": [{"text": "Essoufflement à l'effort"}],
        },
        {
            "resourceType": "Task",
            "id": "demo-task-vidal-avis",
            "identifier": [{"system": "urn:passerelle:demande", "value": "DA-2026-0003"}],
            "status": "requested",
            "intent": "order",
            "businessStatus": ROUTED,
            "code": {
                "coding": [{"system": TASK_SYSTEM, "code": "demande-avis", "display": "Demande d'avis"}]
            },
            "description": "Je suis essoufflée en montant les escaliers depuis un mois.",
            "focus": {"reference": "Encounter/demo-enc-vidal-avis"},
            "for": {"reference": f"Patient/{PATIENT}"},
            "authoredOn": _at(yesterday, 17),
            "requester": {"reference": f"Patient/{PATIENT}"},
            "owner": MARTIN,
            "restriction": {"recipient": [GARNIER]},
        },
    ]
