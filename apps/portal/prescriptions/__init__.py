"""The prescriptions area of the portal: the doctor writes and signs ordonnances, the patient
downloads them, the pharmacist checks and records the dispensing (opened by the QR code).

Everything goes through the FHIR API with the user's token (``$sign-request``, ``$sign``,
``$ordonnance-pdf``, ``$pharmacy-check``, ``$dispense``: ``fhir_server/operations/prescription_*``).
"""

from pathlib import Path

from fastapi import APIRouter

from apps.portal.areas import PATIENT, PRACTITIONER, Area, MenuEntry

router = APIRouter(include_in_schema=False)

from apps.portal.prescriptions import doctor, patient, pharmacy  # noqa: E402,F401

AREA = Area(
    name="prescriptions",
    router=router,
    order=40,
    templates=Path(__file__).parent / "templates",
    sections={"Prescriptions": 40},
    menu=(
        MenuEntry("Ordonnances", "/ordonnances", section="Prescriptions", order=10, kinds=(PRACTITIONER,)),
        MenuEntry(
            "Pharmacie : lire une ordonnance",
            "/pharmacie",
            section="Prescriptions",
            order=20,
            kinds=(PRACTITIONER,),
        ),
        MenuEntry("Mes ordonnances", "/mes-ordonnances", section="", order=50, kinds=(PATIENT,)),
    ),
)
