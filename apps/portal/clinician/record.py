"""The patient's record (dossier médical): one page from the FHIR API."""

from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.responses import Response

from apps.portal.clinician.model import entries
from apps.portal.clinician.routing import router
from apps.portal.clinician.vitals import latest
from apps.portal.web import Fhir, Practitioner, render


@router.get("/patients/{patient_id}")
async def patient_record(request: Request, patient_id: str, user: Practitioner, fhir: Fhir) -> Response:
    patient = await fhir.read("Patient", patient_id)  # 404 for a patient out of reach, like a missing one
    subject = f"Patient/{patient_id}"
    conditions, allergies, medications, encounters, compositions, documents, vitals = await asyncio.gather(
        fhir.search("Condition", {"subject": subject, "_count": "100"}),
        fhir.search("AllergyIntolerance", {"patient": subject, "_count": "100"}),
        fhir.search("MedicationRequest", {"subject": subject, "status": "active", "_count": "100"}),
        fhir.search("Encounter", {"subject": subject, "_sort": "-date", "_count": "50"}),
        fhir.search("Composition", {"subject": subject, "_sort": "-date", "_count": "50"}),
        fhir.search(
            "DocumentReference",
            {
                "subject": subject,
                "_sort": "-date",
                "_count": "50",
                "_elements": "type,date,description,content,author",
            },
        ),
        fhir.search(
            "Observation", {"subject": subject, "category": "vital-signs", "_sort": "-date", "_count": "100"}
        ),
    )
    return await render(
        request,
        "clinician/record.html",
        {
            "patient": patient,
            "conditions": entries(conditions, "Condition"),
            "allergies": entries(allergies, "AllergyIntolerance"),
            "medications": entries(medications, "MedicationRequest"),
            "encounters": entries(encounters, "Encounter"),
            "compositions": entries(compositions, "Composition"),
            "documents": entries(documents, "DocumentReference"),
            "vitals": latest(entries(vitals, "Observation")),
        },
    )
