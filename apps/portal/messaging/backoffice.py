"""The médecin conseil's back office (``/service-medical…``): bins, reading, replies, closing.

The bins list what the FHIR API returns for this médecin conseil — their échelon's threads only,
enforced by the FHIR layer (:mod:`fhir_server.auth.roles`); nothing here filters for access.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.messaging import router
from apps.portal.messaging.fhir import MessagingError
from apps.portal.messaging.model import A_TRAITER, BINS
from apps.portal.messaging.screens import _show, post_draft, post_reply, service_for
from apps.portal.messaging.service import MessagingService
from apps.portal.web import Fhir, FormState, Practitioner, flash, redirect, render

CRITERIA = ("patient", "professional", "postal_code", "town", "name", "agent")


async def _agent(request: Request, fhir: Fhir, fhir_user: str) -> MessagingService:
    svc = service_for(request, fhir, fhir_user)
    if not await svc.is_echelon():
        raise HTTPException(403, "Le back-office est réservé aux médecins conseils de l'Assurance Maladie.")
    return svc


@router.get("/service-medical")
async def bins(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    svc = await _agent(request, fhir, user.fhir_user)
    current = request.query_params.get("bac", A_TRAITER)
    if current not in BINS:
        current = A_TRAITER
    criteria = {k: request.query_params.get(k, "").strip() for k in CRITERIA}
    threads = await svc.threads(**criteria)
    counts = {b: sum(1 for t in threads if t.bin == b) for b in BINS}
    _, _, echelon, _ = await svc.whoami()
    return await render(
        request,
        "messaging/bins.html",
        {
            "bins": BINS, "current": current, "counts": counts, "echelon": echelon,
            "threads": [t for t in threads if t.bin == current], "criteria": criteria,
            "searching": any(criteria.values()),
        },
    )  # fmt: skip


@router.get("/service-medical/{thread_id}")
async def show(request: Request, thread_id: str, user: Practitioner, fhir: Fhir) -> Response:
    svc = await _agent(request, fhir, user.fhir_user)
    return await _show(request, svc, thread_id, FormState(), 200, base="/service-medical")


@router.post("/service-medical/{thread_id}/repondre")
async def reply(request: Request, thread_id: str, user: Practitioner, fhir: Fhir) -> Response:
    svc = await _agent(request, fhir, user.fhir_user)
    return await post_reply(request, svc, thread_id, "/service-medical")


@router.post("/service-medical/{thread_id}/brouillon/{message_id}")
async def edit_draft(
    request: Request, thread_id: str, message_id: str, user: Practitioner, fhir: Fhir
) -> Response:
    svc = await _agent(request, fhir, user.fhir_user)
    return await post_draft(request, svc, thread_id, message_id, "/service-medical")


@router.post("/service-medical/{thread_id}/cloturer")
async def close(request: Request, thread_id: str, user: Practitioner, fhir: Fhir) -> Response:
    svc = await _agent(request, fhir, user.fhir_user)
    try:
        await svc.close(thread_id)
    except MessagingError as exc:
        await flash(request, str(exc), "erreur")
        return redirect(f"/service-medical/{thread_id}")
    await flash(request, "Conversation close.", "succes")
    return redirect("/service-medical?bac=clos")
