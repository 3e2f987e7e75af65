"""The consultation: a real-time chat (WebSocket) whose messages and files are Communications,
and the audio/video call in the portal's video room (``apps/portal/video``: one signalling code).

The chat socket is accepted only from this portal's pages (Origin), with a live session whose
user reads the question's Encounter through the FHIR API (the patient, or the doctor who took
it). Each message is written as a Communication with the sender's own token before it is
relayed, so the thread shown after a reload is the record's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from apps.portal.fhir import FhirClient, FhirError
from apps.portal.teleconsultation.ask import _files
from apps.portal.teleconsultation.model import task_for, view
from apps.portal.teleconsultation.routing import router
from apps.portal.video.rooms import open_socket
from apps.portal.web import (
    CurrentUser,
    Fhir,
    FormState,
    form_data,
    redirect,
    render,
)

log = logging.getLogger("passerelle.portal.teleconsultation")
MAX_TEXT = 4000


@dataclass
class Thread:
    members: dict[int, tuple[WebSocket, str]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


THREADS: dict[str, Thread] = {}


async def question(fhir: FhirClient, encounter_id: str, me: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Encounter and its Task, for its patient (or their account holder) or its doctor; 404 otherwise."""
    encounter = await fhir.read("Encounter", encounter_id)
    task = await task_for(fhir, encounter_id)
    return encounter, task


def counterpart(encounter: dict[str, Any], task: dict[str, Any], me: str) -> str:
    patient = str(encounter.get("subject", {}).get("reference", ""))
    owner = str((task.get("owner") or {}).get("reference", ""))
    return patient if me.startswith("Practitioner/") else owner


def message_view(comm: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    sender = str((comm.get("sender") or {}).get("reference", ""))
    payload = (comm.get("payload") or [{}])[0]
    attachment = payload.get("contentAttachment")
    out: dict[str, Any] = {
        "id": comm.get("id"),
        "from": sender,
        "name": names.get(sender, "Médecin" if sender.startswith("Practitioner/") else "Patient"),
        "at": comm.get("sent", ""),
        "text": payload.get("contentString", ""),
    }
    if attachment:
        out["file"] = {
            "title": attachment.get("title", "pièce jointe"),
            "type": attachment.get("contentType", ""),
            "size": attachment.get("size", 0),
        }
    return out


async def thread(fhir: FhirClient, encounter_id: str, names: dict[str, str]) -> list[dict[str, Any]]:
    found = await fhir.search_resources(
        "Communication",
        {
            "encounter": f"Encounter/{encounter_id}",
            "_sort": "sent",
            "_count": "500",
            "_elements": "id,sender,sent,payload",
        },
    )
    return [message_view(c, names) for c in found]


def _strip_data(comm: dict[str, Any]) -> dict[str, Any]:
    for p in comm.get("payload") or []:
        (p.get("contentAttachment") or {}).pop("data", None)
    return comm


async def names_of(fhir: FhirClient, encounter: dict[str, Any], task: dict[str, Any]) -> dict[str, str]:
    from apps.portal.filters import human_name

    out = {}
    for ref in {
        str(encounter.get("subject", {}).get("reference", "")),
        str((task.get("owner") or {}).get("reference", "")),
        str((task.get("requester") or {}).get("reference", "")),
    }:
        kind, _, rid = ref.partition("/")
        if kind in ("Patient", "Practitioner") and rid:
            with contextlib.suppress(FhirError):
                out[ref] = human_name(await fhir.read(kind, rid))
    return out


@router.get("/teleconsultation/{encounter_id}/consultation")
async def patient_room(request: Request, encounter_id: str, user: CurrentUser, fhir: Fhir) -> Response:
    if user.is_practitioner:
        return redirect(f"/file-attente/consultation/{encounter_id}")
    encounter, task = await question(fhir, encounter_id, user.fhir_user)
    if task.get("status") in ("requested", "on-hold", "cancelled"):
        return redirect(f"/teleconsultation/{encounter_id}")
    names = await names_of(fhir, encounter, task)
    return await render(
        request,
        "teleconsultation/consultation.html",
        {
            "q": view(task),
            "eid": encounter_id,
            "fil": await thread(fhir, encounter_id, names),
            "appointment": _appointment(encounter),
            "doctor": names.get(view(task)["owner"], "le médecin"),
        },
    )


def _appointment(encounter: dict[str, Any]) -> str:
    refs = [str(a.get("reference", "")) for a in encounter.get("appointment") or []]
    return next((r.partition("/")[2] for r in refs if r.startswith("Appointment/")), "")


async def post_message(
    fhir: FhirClient, me: str, encounter: dict[str, Any], task: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any]:
    from datetime import UTC, datetime

    to = counterpart(encounter, task, me)
    comm = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [{"text": "Téléconsultation"}],
        "subject": encounter["subject"],
        "encounter": {"reference": f"Encounter/{encounter['id']}"},
        "sent": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sender": {"reference": me},
        "recipient": [{"reference": to}] if to else [],
        "payload": [payload],
    }
    return _strip_data(await fhir.create(comm))


async def broadcast(encounter_id: str, message: dict[str, Any]) -> None:
    room = THREADS.get(encounter_id)
    if room is None:
        return
    for socket, _ in list(room.members.values()):
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await socket.send_json(message)


@router.post("/teleconsultation/{encounter_id}/piece")
async def upload_file(request: Request, encounter_id: str, user: CurrentUser, fhir: Fhir) -> Response:
    """A file sent in the chat (paperclip): checked like the question's, stored, relayed."""
    raw = await form_data(request)
    form = FormState()
    files = await _files(form, raw)
    if not [f for f in raw.getlist("pieces") if isinstance(f, UploadFile) and f.filename]:
        form.error("pieces", "Choisissez un fichier.")
    if form or not files:
        return JSONResponse({"erreur": next(iter(form.errors.values()), "Fichier refusé.")}, status_code=422)
    encounter, task = await question(fhir, encounter_id, user.fhir_user)
    if task.get("status") != "in-progress":
        return JSONResponse({"erreur": "La consultation est terminée."}, status_code=409)
    names = await names_of(fhir, encounter, task)
    sent = []
    for name, kind, data in files:
        comm = await post_message(
            fhir,
            user.fhir_user,
            encounter,
            task,
            {
                "contentAttachment": {
                    "contentType": kind,
                    "title": name,
                    "size": len(data),
                    "data": base64.b64encode(data).decode(),
                }
            },
        )
        message = message_view(comm, names)
        await broadcast(encounter_id, {"type": "message", **message})
        sent.append(message)
    return JSONResponse({"envoyes": sent})


@router.get("/teleconsultation/{encounter_id}/piece/{comm_id}")
async def download(
    request: Request, encounter_id: str, comm_id: str, user: CurrentUser, fhir: Fhir
) -> Response:
    comm = await fhir.read("Communication", comm_id)
    if str((comm.get("encounter") or {}).get("reference", "")) != f"Encounter/{encounter_id}":
        raise HTTPException(404, "Pièce jointe introuvable.")
    attachment = next(
        (p["contentAttachment"] for p in comm.get("payload") or [] if "contentAttachment" in p), None
    )
    if not attachment or "data" not in attachment:
        raise HTTPException(404, "Pièce jointe introuvable.")
    kind = str(attachment.get("contentType", "application/octet-stream"))
    inline = request.query_params.get("apercu") == "1" and kind.startswith("image/")
    name = str(attachment.get("title", "piece")).replace('"', "")
    return Response(
        base64.b64decode(attachment["data"]),
        media_type=kind,
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
        },
    )


@router.websocket("/teleconsultation/{encounter_id}/ws")
async def chat(ws: WebSocket, encounter_id: str) -> None:
    opened = await open_socket(ws)
    if opened is None:
        return
    session, fhir = opened
    me = session.user.fhir_user
    try:
        encounter, task = await question(fhir, encounter_id, me)
    except (HTTPException, FhirError):
        await ws.close(code=4404)
        return
    names = await names_of(fhir, encounter, task)
    room = THREADS.setdefault(encounter_id, Thread())
    await ws.accept()
    key = id(ws)
    async with room.lock:
        room.members[key] = (ws, me)
    try:
        while True:
            raw = await ws.receive_text()
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            text = str(data.get("text", "")).strip() if isinstance(data, dict) else ""
            if not text:
                continue
            if len(text) > MAX_TEXT:
                await ws.send_json(
                    {"type": "erreur", "text": f"Message trop long ({MAX_TEXT} caractères au plus)."}
                )
                continue
            try:
                comm = await post_message(fhir, me, encounter, task, {"contentString": text})
            except FhirError as exc:
                await ws.send_json({"type": "erreur", "text": exc.message})
                continue
            await broadcast(encounter_id, {"type": "message", **message_view(comm, names)})
    except WebSocketDisconnect:
        pass
    finally:
        async with room.lock:
            room.members.pop(key, None)
            if not room.members:
                THREADS.pop(encounter_id, None)
