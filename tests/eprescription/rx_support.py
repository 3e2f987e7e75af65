"""Builders for the e-prescription tests: a practice (patient, prescriber, encounter) and ordonnances."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from eprescription import PRESCRIPTION_SYSTEM, REIMBURSABLE_URL, new_number

FHIR_JSON = "application/fhir+json"
ATC = "http://www.whocc.no/atc"
R38 = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"


def post(
    http: httpx.Client, resource: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    resp = http.post(f"/{resource['resourceType']}", json=resource, headers=headers or {})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def practice(
    http: httpx.Client, *, phone: str, teleconsultation: bool = False, headers: Any = None
) -> dict[str, str]:
    """A patient with an e-mail and a weight, a GP with RPPS and mobile phone, an encounter."""
    patient = post(http, {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "Dupont", "given": ["Alice"]}],
        "birthDate": "1980-05-17",
        "gender": "female",
        "telecom": [{"system": "email", "value": "alice.dupont@example.org"}],
    }, headers)  # fmt: skip
    practitioner = post(http, {
        "resourceType": "Practitioner",
        "identifier": [{"system": "https://rpps.esante.gouv.fr", "value": "99700366240"}],
        "name": [{"family": "Martin", "given": ["Marie"]}],
        "telecom": [{"system": "sms", "value": phone}],
        "address": [{"line": ["12 rue de Vaugirard"], "postalCode": "75015", "city": "Paris"}],
    }, headers)  # fmt: skip
    post(http, {
        "resourceType": "PractitionerRole",
        "practitioner": {"reference": f"Practitioner/{practitioner['id']}"},
        "specialty": [{"coding": [{"system": R38, "code": "SM26"}]}],
        "organization": {"identifier": {"system": "https://finess.esante.gouv.fr", "value": "750712184"},
                         "display": "CENTRE DE SANTE PARIS 15"},
    }, headers)  # fmt: skip
    post(http, {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": f"Patient/{patient['id']}"},
        "effectiveDateTime": "2026-11-30",
        "valueQuantity": {"value": 62, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    }, headers)  # fmt: skip
    encounter = post(http, {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "VR" if teleconsultation else "AMB"},
        "subject": {"reference": f"Patient/{patient['id']}"},
        "participant": [{"individual": {"reference": f"Practitioner/{practitioner['id']}"}}],
    }, headers)  # fmt: skip
    return {"patient": patient["id"], "practitioner": practitioner["id"], "encounter": encounter["id"]}


def medication_line(
    ids: dict[str, str], number: str, text: str = "Amoxicilline 1 g, comprimé", **extra: Any
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "groupIdentifier": {"system": PRESCRIPTION_SYSTEM, "value": number},
        "medicationCodeableConcept": {"text": text},
        "subject": {"reference": f"Patient/{ids['patient']}"},
        "encounter": {"reference": f"Encounter/{ids['encounter']}"},
        "requester": {"reference": f"Practitioner/{ids['practitioner']}"},
        "dosageInstruction": [{"text": "1 comprimé matin et soir pendant 6 jours"}],
        "dispenseRequest": {
            "quantity": {"value": 12, "unit": "comprimé(s)"},
            "expectedSupplyDuration": {
                "value": 6,
                "unit": "jours",
                "system": "http://unitsofmeasure.org",
                "code": "d",
            },
            "numberOfRepeatsAllowed": 0,
        },
        "substitution": {"allowedBoolean": True},
        "extension": [{"url": REIMBURSABLE_URL, "valueBoolean": True}],
    }
    line.update(extra)
    return line


def lab_line(ids: dict[str, str], number: str, text: str = "NFS, ionogramme sanguin") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "requisition": {"system": PRESCRIPTION_SYSTEM, "value": number},
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "108252007"}]}],
        "code": {"text": text},
        "subject": {"reference": f"Patient/{ids['patient']}"},
        "encounter": {"reference": f"Encounter/{ids['encounter']}"},
        "requester": {"reference": f"Practitioner/{ids['practitioner']}"},
    }


def sms_code(data_dir: Path, phone: str) -> str:
    """The last code sent to ``phone`` by the dev SMS gateway."""
    lines = (data_dir / "auth" / "sms-outbox.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines if json.loads(line)["to"] == phone]
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match, texts[-1]
    return match.group(1)


def params(*items: tuple[str, Any]) -> dict[str, Any]:
    out = []
    for name, value in items:
        if isinstance(value, dict) and "part" in value:
            out.append({"name": name, **value})
        elif isinstance(value, bool):
            out.append({"name": name, "valueBoolean": value})
        else:
            out.append({"name": name, "valueString": str(value)})
    return {"resourceType": "Parameters", "parameter": out}


def value(parameters: dict[str, Any], name: str) -> Any:
    for p in parameters.get("parameter", []):
        if p["name"] == name:
            for k, v in p.items():
                if k.startswith("value"):
                    return v
            return p
    return None


__all__ = ["ATC", "FHIR_JSON", "new_number"]
