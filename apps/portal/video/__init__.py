"""Video teleconsultation: a room per Appointment, WebRTC between the two browsers, the server
doing only the signalling (WebSocket). Professionals and patients who take part in the
Appointment (read through the FHIR API with their own token) may enter its room."""

from __future__ import annotations

from pathlib import Path

from apps.portal.areas import Area
from apps.portal.video import rooms
from apps.portal.video.rooms import router

_ = rooms

AREA = Area(
    name="video",
    router=router,
    order=60,
    templates=Path(__file__).parent / "templates",
    static=Path(__file__).parent / "static",
)
