"""The médecin conseil's back office (``/service-medical…``): bins, new conversations, reading,
replies, closing.

The bins list what the FHIR API returns for this médecin conseil — their échelon's threads only,
enforced by the FHIR layer (:mod:`fhir_server.auth.roles`); nothing here filters for access. A
new conversation ("Écrire à un médecin", "Écrire à un centre de santé / établissement") finds
the patient by NIR among the insured the FHIR layer lets the échelon reach, and its addressee
from the directory; the FHIR layer checks the addressee again when the thread is written.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.messaging import router
from apps.portal.messaging.fhir import MessagingError
from apps.portal.messaging.model import A_TRAITER, BINS, ThreadPage
from apps.portal.messaging.screens import _show, common, files_of, post_draft, post_reply, service_for
from apps.portal.messaging.search import CRITERIA
from apps.portal.messaging.service import MessagingService
from apps.portal.web import Fhir, FormState, Practitioner, flash, form_data, form_dict, redirect, render

TARGETS = {"medecin": "Écrire à un médecin", "structure": "Écrire à un centre de santé / établissement"}
WAYS = {
    "medecin": (("nir", "Par le NIR du patient (son médecin traitant)"), ("nam", "Par le N° AM du médecin")),
    "structure": (
        ("nir", "Par le NIR du patient (le centre où exerce son médecin traitant)"),
        ("finess", "Par le FINESS de la structure"),
    ),
}


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
    form = FormState(dict(criteria))
    cursor = request.query_params.get("curseur") or None
    try:
        page = await svc.threads(bin=current, cursor=cursor, **criteria)
        counts = await svc.bin_counts(**criteria)
    except MessagingError as exc:
        form.error(exc.field or "patient", str(exc))
        page, counts = ThreadPage([]), dict.fromkeys(BINS, 0)
    _, _, echelon, _ = await svc.whoami()
    query = "&".join(f"{k}={quote(v)}" for k, v in criteria.items() if v)
    return await render(
        request,
        "messaging/bins.html",
        {
            "bins": BINS, "current": current, "counts": counts, "echelon": echelon, "page": page,
            "threads": page.threads, "criteria": criteria, "searching": any(criteria.values()),
            "query": query, "targets": TARGETS,
        },
        status_code=422 if form else 200,
        form=form,
    )  # fmt: skip


async def _compose(
    request: Request, svc: MessagingService, target: str, form: FormState, *, status: int = 200,
    card: Any = None, addressee: Any = None,
) -> Response:  # fmt: skip
    ctx = common({"target": target, "title": TARGETS[target], "ways": WAYS[target], "card": card,
                  "addressee": addressee, "echelon": (await svc.whoami())[2]})  # fmt: skip
    return await render(request, "messaging/compose.html", ctx, status_code=status, form=form)


@router.get("/service-medical/ecrire/{target}")
async def compose(request: Request, target: str, user: Practitioner, fhir: Fhir) -> Response:
    """Step 1 (and 2): the patient by NIR and the addressee; once both are found, the message form."""
    svc = await _agent(request, fhir, user.fhir_user)
    if target not in TARGETS:
        raise HTTPException(404, "Page introuvable.")
    values = {k: request.query_params.get(k, "").strip() for k in ("par", "nir", "nam", "finess")}
    values["par"] = values["par"] or "nir"
    form = FormState(values)
    card = addressee = None
    if values["nir"] or values["nam"] or values["finess"]:
        try:
            card, addressee = await svc.addressee(target, values["par"], values)
        except MessagingError as exc:
            form.error(exc.field or "nir", str(exc))
    return await _compose(
        request, svc, target, form, status=422 if form else 200, card=card, addressee=addressee
    )


@router.post("/service-medical/ecrire/{target}")
async def compose_send(request: Request, target: str, user: Practitioner, fhir: Fhir) -> Response:
    """The message (sent, or kept as a draft): the addressee is looked up again, never taken from the form."""
    svc = await _agent(request, fhir, user.fhir_user)
    if target not in TARGETS:
        raise HTTPException(404, "Page introuvable.")
    raw = await form_data(request)
    form = FormState(form_dict(raw))
    values = form.values
    send = values.get("action") != "brouillon"
    card = addressee = None
    try:
        card, addressee = await svc.addressee(target, values.get("par", "nir"), values)
        tid = await svc.open_thread(
            card.id, addressee.ref, values.get("objet", ""), values.get("message", ""), await files_of(raw),
            send=send,
        )  # fmt: skip
    except MessagingError as exc:
        form.error(exc.field or "message", str(exc))
        return await _compose(request, svc, target, form, status=422, card=card, addressee=addressee)
    await flash(request, "Message envoyé." if send else "Brouillon enregistré.", "succes")
    return redirect(f"/service-medical/{tid}")


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
