"""The room page and its signalling WebSocket.

Signalling only relays SDP offers/answers and ICE candidates between the participants of one
room (in this process's memory: a single-process server); media never touches the server.
A WebSocket is accepted only from this portal's own pages (Origin check), with a live
session whose user is a participant of the Appointment, at most one connection per user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from starlette.responses import Response

from apps.portal.fhir import FhirClient, FhirError
from apps.portal.filters import human_name
from apps.portal.web import CurrentUser, Fhir, LoginRequired, SessionLocked, live_session, portal_of, render

log = logging.getLogger("passerelle.portal.video")
router = APIRouter(include_in_schema=False)
MAX_MESSAGE = 64 * 1024
RELAYED = {"offer", "answer", "candidate", "bye"}
ROOM_SIZE = 4


@dataclass
class Room:
    members: dict[str, tuple[WebSocket, str]] = field(default_factory=dict)  # user ref -> (socket, name)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


ROOMS: dict[str, Room] = {}


def ice_servers() -> list[dict[str, Any]]:
    """STUN/TURN servers for the browsers (``PASSERELLE_ICE_SERVERS``, JSON); none on a local network."""
    raw = os.environ.get("PASSERELLE_ICE_SERVERS", "")
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


async def participants(fhir: FhirClient, appointment_id: str, me: str) -> tuple[dict[str, Any], list[str]]:
    """The Appointment (404 unless the user reaches it and takes part in it) and its participants' names."""
    appointment = await fhir.read("Appointment", appointment_id)
    refs = [p.get("actor", {}).get("reference", "") for p in appointment.get("participant", [])]
    if me not in refs:
        raise HTTPException(404, "Rendez-vous introuvable.")
    names = []
    for ref in refs:
        kind, _, rid = ref.partition("/")
        if kind in ("Patient", "Practitioner"):
            try:
                names.append(human_name(await fhir.read(kind, rid)))
            except FhirError:
                names.append(kind)
    return appointment, names


@router.get("/video/{appointment_id}")
async def room_page(request: Request, appointment_id: str, user: CurrentUser, fhir: Fhir) -> Response:
    appointment, names = await participants(fhir, appointment_id, user.fhir_user)
    if appointment.get("status") in ("cancelled", "noshow", "entered-in-error"):
        raise HTTPException(409, "Ce rendez-vous est annulé : la salle est fermée.")
    return await render(
        request,
        "video/room.html",
        {"appointment": appointment, "names": names, "ice": json.dumps(ice_servers())},
    )


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin", "")
    host = ws.headers.get("host", "")
    return bool(host) and origin in (f"http://{host}", f"https://{host}")


async def open_socket(ws: WebSocket) -> tuple[Any, FhirClient] | None:
    """The session and FHIR client of a WebSocket opened by this portal's own pages (Origin) with a
    live session; None after closing it otherwise (4403 other site, 4401 no session). Shared by
    every real-time screen (signalling here, the teleconsultation chat)."""
    if not _same_origin(ws):
        await ws.close(code=4403)
        return None
    try:
        session = await live_session(ws)
    except (LoginRequired, SessionLocked):
        await ws.close(code=4401)
        return None
    assert session.tokens is not None
    return session, FhirClient(portal_of(ws).http, session.root, session.tokens.access_token)


@router.websocket("/video/{appointment_id}/ws")
async def signalling(ws: WebSocket, appointment_id: str) -> None:
    opened = await open_socket(ws)
    if opened is None:
        return
    session, fhir = opened
    try:
        await participants(fhir, appointment_id, session.user.fhir_user)
    except (HTTPException, FhirError):
        await ws.close(code=4404)
        return
    me = session.user.fhir_user
    room = ROOMS.setdefault(appointment_id, Room())
    await ws.accept()
    async with room.lock:
        if len(room.members) >= ROOM_SIZE and me not in room.members:
            await ws.send_json({"type": "full"})
            await ws.close(code=4409)
            return
        previous = room.members.get(me)
        room.members[me] = (ws, session.user.name)
        others = {k: v for k, v in room.members.items() if k != me}
    if previous is not None:  # the same user from another tab: the newest connection wins
        await _safe_close(previous[0])
    await ws.send_json({"type": "peers", "peers": [{"id": k, "name": v[1]} for k, v in others.items()]})
    await _broadcast(room, me, {"type": "joined", "id": me, "name": session.user.name})
    try:
        while True:
            raw = await ws.receive_text()
            if len(raw) > MAX_MESSAGE:
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(message, dict) or message.get("type") not in RELAYED:
                continue
            target = room.members.get(str(message.get("to", "")))
            if target is None:
                continue
            out = {k: message[k] for k in ("type", "sdp", "candidate") if k in message}
            out["from"] = me
            await _safe_send(target[0], out)
    except WebSocketDisconnect:
        pass
    finally:
        async with room.lock:
            if room.members.get(me, (None,))[0] is ws:
                del room.members[me]
            if not room.members:
                ROOMS.pop(appointment_id, None)
        await _broadcast(room, me, {"type": "left", "id": me})


async def _broadcast(room: Room, sender: str, message: dict[str, Any]) -> None:
    for key, (socket, _) in list(room.members.items()):
        if key != sender:
            await _safe_send(socket, message)


async def _safe_send(socket: WebSocket, message: dict[str, Any]) -> None:
    try:
        await socket.send_json(message)
    except (RuntimeError, WebSocketDisconnect):
        log.debug("signalling: a peer went away")


async def _safe_close(socket: WebSocket) -> None:
    with contextlib.suppress(RuntimeError):
        await socket.close(code=4000)
