"""Secure messaging between doctors and the Assurance Maladie's médecin conseil (issue 18).

The service (:class:`MessagingService`) talks only to the FHIR API through the httpx client it
is given; the screens (doctor side and the échelon's back office) are built on it.
"""

from pathlib import Path

from fastapi import APIRouter

from apps.portal.areas import CONSEIL, PRACTITIONER, Area, MenuEntry
from apps.portal.messaging.attachments import MAX_BYTES, MAX_FILES, AttachmentError, check_attachments, sniff
from apps.portal.messaging.fhir import MessagingError, NotFound
from apps.portal.messaging.model import (
    A_TRAITER,
    BINS,
    CLOS,
    EN_COURS,
    Message,
    Party,
    PatientCard,
    Thread,
    ThreadPage,
)
from apps.portal.messaging.notify import Mailer
from apps.portal.messaging.routing import ELSM_SYSTEM, FUND_SYSTEM, RoutingTable, parse_table, routing_table
from apps.portal.messaging.service import MessagingService, check_nir

router = APIRouter(include_in_schema=False)

from apps.portal.messaging import backoffice, screens  # noqa: E402,F401  (routes added to ``router``)

AREA = Area(
    name="messaging",
    router=router,
    order=60,
    templates=Path(__file__).parent / "templates",
    static=Path(__file__).parent / "static",
    sections={"Assurance Maladie": 60},
    home={CONSEIL: "/service-medical"},
    menu=(
        MenuEntry(
            "Échanges avec le médecin conseil",
            "/messagerie",
            section="Assurance Maladie",
            order=10,
            kinds=(PRACTITIONER,),
        ),
        # the échelon's bins, from which it writes to a doctor or a structure
        MenuEntry("Messages du service médical", "/service-medical", order=10, kinds=(CONSEIL,)),
    ),
)

__all__ = [
    "AREA",
    "A_TRAITER", "BINS", "CLOS", "ELSM_SYSTEM", "EN_COURS", "FUND_SYSTEM", "MAX_BYTES", "MAX_FILES",
    "AttachmentError", "Mailer", "Message", "MessagingError", "MessagingService", "NotFound", "Party",
    "PatientCard", "RoutingTable", "Thread", "ThreadPage", "check_attachments", "check_nir", "parse_table",
    "routing_table", "sniff",
]  # fmt: skip
