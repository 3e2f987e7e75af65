"""The patient's ordonnances: the signed ones (drafts are never shown to patients) and their PDF."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from apps.portal.prescriptions import router
from apps.portal.prescriptions.doctor import pdf_response
from apps.portal.prescriptions.views import group
from apps.portal.web import Fhir, PatientUser, render


@router.get("/mes-ordonnances")
async def mine(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    found = []
    for type_ in ("MedicationRequest", "ServiceRequest"):
        found += await fhir.search_resources(type_, {"subject": user.fhir_user, "_count": "200"})
    ordonnances = [o for o in group(found) if o.status != "draft"]
    return await render(request, "prescriptions/mine.html", {"ordonnances": ordonnances})


@router.get("/mes-ordonnances/{number}.pdf")
async def my_pdf(request: Request, number: str, user: PatientUser, fhir: Fhir) -> Response:
    return await pdf_response(fhir, number)
