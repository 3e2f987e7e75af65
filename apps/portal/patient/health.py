"""FHIR resources of the patient's profile: what the patient declares about themselves (height,
weight, profession, allergies, history), each recorded as the patient's statement."""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
HEIGHT = ("8302-2", "Body height", "Taille", "cm")
WEIGHT = ("29463-7", "Body weight", "Poids", "kg")
OCCUPATION = ("11341-5", "History of Occupation", "Profession")


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBS_CATEGORY, "code": code, "display": display}]}]


def measure(
    patient_id: str, author: str, kind: tuple[str, str, str, str], value: float, when: str
) -> dict[str, Any]:
    """A vital-signs Observation (FHIR vital signs profile: LOINC code, UCUM quantity)."""
    code, display, text, unit = kind
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": _category("vital-signs", "Vital Signs"),
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": text},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
        "performer": [{"reference": author}],
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def occupation(patient_id: str, author: str, text: str, when: str) -> dict[str, Any]:
    code, display, label = OCCUPATION
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": _category("social-history", "Social History"),
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": label},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
        "performer": [{"reference": author}],
        "valueString": text,
    }


def allergy(patient_id: str, author: str, substance: str, reaction: str, when: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "code": "unconfirmed",
                }
            ]
        },
        "code": {"text": substance},
        "patient": {"reference": f"Patient/{patient_id}"},
        "recordedDate": when,
        "recorder": {"reference": author},
        "asserter": {"reference": author},
    }
    if reaction:
        resource["reaction"] = [{"manifestation": [{"text": reaction}]}]
    return resource


def condition(patient_id: str, author: str, text: str, onset_year: str, when: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "unconfirmed",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                        "display": "Problem List Item",
                    }
                ]
            }
        ],
        "code": {"text": text},
        "subject": {"reference": f"Patient/{patient_id}"},
        "recordedDate": when,
        "asserter": {"reference": author},
    }
    if onset_year:
        resource["onsetDateTime"] = onset_year
    return resource


def latest(observations: list[dict[str, Any]], code: str) -> dict[str, Any] | None:
    found = [
        o for o in observations
        if any(c.get("code") == code for c in (o.get("code") or {}).get("coding", []))
        and o.get("status") not in ("entered-in-error", "cancelled")
    ]  # fmt: skip
    return max(found, key=lambda o: str(o.get("effectiveDateTime") or ""), default=None)
