"""The doctor side of the secure messaging with the médecin conseil (``/messagerie…``).

Every page builds a :class:`MessagingService` on the user's FHIR client: what is listed is what
the FHIR API returns for this doctor (their patients, their health centre's inbox). A refused
form is shown again with what was typed and a French message; a stored draft is never changed
by a refused action.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from apps.portal.messaging import router
from apps.portal.messaging.attachments import MAX_BYTES, MAX_FILES
from apps.portal.messaging.fhir import MessagingError, NotFound
from apps.portal.messaging.model import ThreadPage
from apps.portal.messaging.notify import Mailer
from apps.portal.messaging.service import MessagingService, check_nir
from apps.portal.web import (
    Fhir,
    FormState,
    Practitioner,
    flash,
    form_data,
    form_dict,
    portal_of,
    redirect,
    render,
)

ACCEPT = ".pdf,.xls,.xlsx,.doc,.docx,.jpg,.jpeg,.png"
LIMITS = f"{MAX_FILES} fichiers au maximum, 10 Mo chacun : PDF, XLS, XLSX, DOC, DOCX, JPG, PNG."


def service_for(request: Request, fhir: Fhir, fhir_user: str) -> MessagingService:
    headers = {"Authorization": f"Bearer {fhir.token}"} if fhir.token else {}
    root = portal_of(request).link_root(request)
    return MessagingService(
        fhir.http, fhir_user, base=fhir.base, headers=headers, mailer=Mailer(), portal_url=root
    )


async def files_of(form: FormData, name: str = "pieces") -> list[tuple[str, bytes]]:
    """The uploaded files of ``name`` (read up to just over the limit: a bigger one is refused anyway)."""
    out = []
    for value in form.getlist(name):
        if isinstance(value, UploadFile) and value.filename:
            out.append((value.filename, await value.read(MAX_BYTES + 1)))
    return out


def common(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"accept": ACCEPT, "limits": LIMITS, **(extra or {})}


async def _doctor(request: Request, svc: MessagingService) -> Response | None:
    """Médecins conseils work from the back office: send them there."""
    if await svc.is_echelon():
        return redirect("/service-medical")
    return None


@router.get("/messagerie")
async def inbox(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    svc = service_for(request, fhir, user.fhir_user)
    if (other := await _doctor(request, svc)) is not None:
        return other
    query = request.query_params.get("q", "").strip()
    form = FormState({"q": query})
    try:
        page = await svc.threads(query, cursor=request.query_params.get("curseur") or None)
    except MessagingError as exc:
        form.error("q", str(exc))
        page = ThreadPage([])
    me, structure, _, _ = await svc.whoami()
    return await render(
        request,
        "messaging/inbox.html",
        {"threads": page.threads, "page": page, "q": query, "me": me, "structure": structure},
        status_code=422 if form else 200,
        form=form,
    )


@router.get("/messagerie/nouveau")
async def new_form(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    svc = service_for(request, fhir, user.fhir_user)
    if (other := await _doctor(request, svc)) is not None:
        return other
    nir = request.query_params.get("nir", "").strip()
    form = FormState({"nir": nir})
    card = None
    if nir:
        try:
            card = await svc.find_patient(nir)
        except MessagingError as exc:
            form.error(exc.field or "nir", str(exc))
    status = 422 if form else 200
    ctx = common({"card": card, "sender": await svc.correspondent()})
    return await render(request, "messaging/new.html", ctx, status_code=status, form=form)


@router.post("/messagerie/nouveau")
async def new_send(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    svc = service_for(request, fhir, user.fhir_user)
    form_raw = await form_data(request)
    form = FormState(form_dict(form_raw))
    values = form.values
    send = values.get("action") != "brouillon"
    card = None
    try:
        check_nir(values.get("nir", ""))
        card = await svc.find_patient(values.get("nir", ""))
        tid = await svc.start(
            card.id, values.get("objet", ""), values.get("message", ""), await files_of(form_raw), send=send
        )
    except MessagingError as exc:
        form.error(exc.field or "message", str(exc))
        ctx = common({"card": card, "sender": await svc.correspondent()})
        return await render(request, "messaging/new.html", ctx, status_code=422, form=form)
    await flash(request, "Message envoyé." if send else "Brouillon enregistré.", "succes")
    return redirect(f"/messagerie/{tid}")


@router.get("/messagerie/pj/{binary_id}")
async def attachment(request: Request, binary_id: str, user: Practitioner, fhir: Fhir) -> Response:
    svc = service_for(request, fhir, user.fhir_user)
    try:
        content_type, data = await svc.attachment(f"Binary/{binary_id}")
    except NotFound as exc:
        raise HTTPException(404, "Pièce jointe introuvable ou hors de votre accès.") from exc
    name = request.query_params.get("nom", "piece-jointe").replace('"', "")
    return Response(
        data,
        media_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                 "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


@router.get("/messagerie/{thread_id}")
async def show(request: Request, thread_id: str, user: Practitioner, fhir: Fhir) -> Response:
    svc = service_for(request, fhir, user.fhir_user)
    if await svc.is_echelon():
        return redirect(f"/service-medical/{thread_id}")
    return await _show(request, svc, thread_id, FormState(), 200)


async def _show(
    request: Request,
    svc: MessagingService,
    thread_id: str,
    form: FormState,
    status: int,
    base: str = "/messagerie",
) -> Response:
    try:
        thread = await svc.thread(thread_id)
    except NotFound as exc:
        raise HTTPException(404, "Conversation introuvable ou supprimée.") from exc
    draft = next((m for m in thread.messages if m.draft), None)
    card = thread.patient
    echelon_side = base != "/messagerie"
    if card is not None and not echelon_side:
        with contextlib.suppress(MessagingError):  # the card without the routing then
            card = await svc.patient_card(card.id)
    ctx = common({"thread": thread, "draft": draft, "card": card, "echelon_side": echelon_side, "base": base})
    return await render(request, "messaging/thread.html", ctx, status_code=status, form=form)


async def post_reply(request: Request, svc: MessagingService, thread_id: str, base: str) -> Response:
    """A reply (or a reply kept as a draft), from either side; refused: the page again, as typed."""
    raw = await form_data(request)
    form = FormState(form_dict(raw))
    send = form.values.get("action") != "brouillon"
    try:
        await svc.reply(thread_id, form.values.get("message", ""), await files_of(raw), send=send)
    except NotFound as exc:
        raise HTTPException(404, "Conversation introuvable ou supprimée.") from exc
    except MessagingError as exc:
        form.error(exc.field or "message", str(exc))
        return await _show(request, svc, thread_id, form, 422, base=base)
    await flash(request, "Réponse envoyée." if send else "Brouillon enregistré.", "succes")
    return redirect(f"{base}/{thread_id}")


async def post_draft(
    request: Request, svc: MessagingService, thread_id: str, message_id: str, base: str
) -> Response:
    """A draft edited (and sent with ``action=envoyer``); a refused one is left as it was stored."""
    raw = await form_data(request)
    form = FormState(form_dict(raw))
    send = form.values.get("action") == "envoyer"
    remove = [str(v) for v in raw.getlist("retirer")]
    try:
        await svc.save_draft(
            thread_id, message_id, form.values.get("objet", ""), form.values.get("message", ""),
            await files_of(raw), remove=remove, send=send,
        )  # fmt: skip
    except NotFound as exc:
        raise HTTPException(404, "Brouillon introuvable.") from exc
    except MessagingError as exc:
        form.error(exc.field or "message", str(exc))
        return await _show(request, svc, thread_id, form, 422, base=base)
    await flash(request, "Message envoyé." if send else "Brouillon enregistré.", "succes")
    return redirect(f"{base}/{thread_id}")


@router.post("/messagerie/{thread_id}/repondre")
async def reply(request: Request, thread_id: str, user: Practitioner, fhir: Fhir) -> Response:
    return await post_reply(request, service_for(request, fhir, user.fhir_user), thread_id, "/messagerie")


@router.post("/messagerie/{thread_id}/brouillon/{message_id}")
async def edit_draft(
    request: Request, thread_id: str, message_id: str, user: Practitioner, fhir: Fhir
) -> Response:
    svc = service_for(request, fhir, user.fhir_user)
    return await post_draft(request, svc, thread_id, message_id, "/messagerie")


@router.post("/messagerie/{thread_id}/supprimer")
async def delete(request: Request, thread_id: str, user: Practitioner, fhir: Fhir) -> Response:
    svc = service_for(request, fhir, user.fhir_user)
    try:
        await svc.delete(thread_id)
    except MessagingError as exc:
        await flash(request, str(exc), "erreur")
        return redirect(f"/messagerie/{thread_id}")
    await flash(request, "Conversation supprimée.", "succes")
    return redirect("/messagerie")
