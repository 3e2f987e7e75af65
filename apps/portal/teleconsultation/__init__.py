"""Teleconsultation: a patient's question answered within 15 minutes by chat, audio or video.

Patients: ``/teleconsultation`` (ask, wait, consult, history, rating, COVID-19 pathway);
doctors: ``/file-attente`` (the queue, taking a question, the consultation, the report).
Everything is FHIR written through the API with the user's token; the queue entry (a Task
with its 15-minute deadline) is written by the server's ``$tc-*`` operations only
(``fhir_server/operations/teleconsultation.py``).
"""

from __future__ import annotations

from pathlib import Path

from apps.portal.areas import PATIENT, PRACTITIONER, Area, MenuEntry
from apps.portal.teleconsultation import ask, consult, covid, doctor, history, waiting  # noqa: F401
from apps.portal.teleconsultation.routing import router

AREA = Area(
    name="teleconsultation",
    router=router,
    order=55,
    templates=Path(__file__).parent / "templates",
    static=Path(__file__).parent / "static",
    sections={},
    menu=(
        MenuEntry("Téléconsultation", "/teleconsultation", section="", order=20, kinds=(PATIENT,)),
        MenuEntry("Mes questions", "/teleconsultation/mes-questions", section="", order=21, kinds=(PATIENT,)),
        MenuEntry("File d'attente", "/file-attente", section="", order=15, kinds=(PRACTITIONER,)),
    ),
)
