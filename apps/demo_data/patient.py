"""Demo of the patient's account: Hélène Dupont and Thomas Nguyen have accepted the current terms
and consent to the processing of health data (so they land on their services page), Hélène has
a membership number and a teleconsultation report; her son Jules (a minor) a vaccination record."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Any

from fhir_server.auth.accounts import consent_resource


def _consents(patient: str, day: str) -> list[dict[str, Any]]:
    from apps.portal.patient.terms import CURRENT_VERSIONS

    out = []
    for kind, version in CURRENT_VERSIONS.items():
        consent = consent_resource(patient, kind, version, f"{day}T09:00:00+01:00")
        consent["id"] = f"demo-consent-{patient.removeprefix('demo-pat-')}-{kind}"
        out.append(consent)
    return out


def resources(today: date) -> list[dict[str, Any]]:
    day = (today - timedelta(days=30)).isoformat()
    report_day = (today - timedelta(days=12)).isoformat()
    vaccines = (
        "Carnet de vaccination de Jules Dupont\n"
        "DTCaP-Hib-HepB : 2 mois, 4 mois, 11 mois\nROR : 12 mois, 16 mois\nMéningocoque C : 5 mois, 12 mois\n"
    )
    return [
        *_consents("demo-pat-dupont", day),
        *_consents("demo-pat-nguyen", day),
        {
            "resourceType": "Composition",
            "id": "demo-cr-dupont-teleconsultation",
            "status": "final",
            "type": {
                "coding": [{"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}]
            },
            "subject": {"reference": "Patient/demo-pat-dupont"},
            "date": f"{report_day}T10:30:00+01:00",
            "author": [{"reference": "Practitioner/demo-pra-martin"}],
            "title": "Compte rendu de téléconsultation",
            "section": [
                {
                    "title": "Motif",
                    "text": {
                        "status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Gêne respiratoire à l\'effort '
                        "depuis trois jours, asthme connu.</p></div>",
                    },
                },
                {
                    "title": "Conclusion",
                    "text": {
                        "status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Exacerbation légère. '
                        "Traitement de fond poursuivi, consultation si aggravation.</p></div>",
                    },
                },
            ],
        },
        {
            "resourceType": "DocumentReference",
            "id": "demo-doc-jules-vaccins",
            "status": "current",
            "type": {
                "coding": [
                    {"system": "http://loinc.org", "code": "11369-6", "display": "History of Immunization"}
                ]
            },
            "subject": {"reference": "Patient/demo-pat-jules-dupont"},
            "date": f"{day}T11:00:00+01:00",
            "description": "Carnet de vaccination",
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "title": "carnet-vaccination-jules.txt",
                        "data": base64.b64encode(vaccines.encode()).decode(),
                    }
                }
            ],
        },
    ]
