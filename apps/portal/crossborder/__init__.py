"""Cross-border patient summary (issue 19): a French professional reads, in French, the Patient
Summary of a patient from another EU country through the eHDSI gateway (NCP-B), as Sesali does.

Screens under ``/transfrontalier``: access (terms of use, Pro Santé Connect, Sesali eligibility),
patient search built from the country's search mask, verification and consent (information
notice as PDF, consent form to print), the translated summary with the original beside it.
The portal reaches the gateway only through ``ehdsi_gateway.initiator.CrossBorderQuery``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from apps.portal.areas import PRACTITIONER, Area, MenuEntry

router = APIRouter(include_in_schema=False)

from apps.portal.crossborder import screens  # noqa: E402,F401

AREA = Area(
    name="crossborder",
    router=router,
    order=60,
    templates=Path(__file__).parent / "templates",
    static=Path(__file__).parent / "static",
    menu=(
        MenuEntry(
            "Patient européen (MyHealth@EU)", "/transfrontalier", section="", order=60, kinds=(PRACTITIONER,)
        ),
    ),
)
