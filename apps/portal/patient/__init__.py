"""The patient's account in the portal: sign-up (membership number, identity, terms and consent to
the processing of health data, e-mail confirmation), the services page, dependents (ayants droit),
the profile (address, mobile validated by SMS code, height, weight, allergies, history), medical
documents, and "Télécharger mes données" (``Patient/$everything`` as JSON, HTML and PDF).

Accounts live in the authorization server (``/auth/patients…``), everything else in FHIR, read and
written with the patient's token: a patient reaches their own record and their dependents' only.
The question lifecycle (ask, queue, consultation, report, rating) is the teleconsultation area's.
"""

from pathlib import Path

from apps.portal.areas import PATIENT, Area, MenuEntry
from apps.portal.patient import documents, export, profile, services, signup  # noqa: F401
from apps.portal.patient.contacts import notification_email
from apps.portal.patient.routing import router
from apps.portal.patient.terms import CURRENT_VERSIONS

__all__ = ["AREA", "CURRENT_VERSIONS", "notification_email"]

AREA = Area(
    name="patient",
    router=router,
    order=30,
    templates=Path(__file__).parent / "templates",
    static=Path(__file__).parent / "static",
    home={PATIENT: "/mon-espace"},
    sections={"Mon dossier": 35},
    menu=(
        MenuEntry("Mes services", "/mon-espace", section="", order=5, kinds=(PATIENT,)),
        MenuEntry(
            "Mes documents médicaux", "/mes-documents", section="Mon dossier", order=10, kinds=(PATIENT,)
        ),
        MenuEntry("Mon profil", "/mon-profil", section="Mon dossier", order=20, kinds=(PATIENT,)),
        MenuEntry(
            "Mes ayants droit", "/mon-espace/ayants-droit", section="Mon dossier", order=30, kinds=(PATIENT,)
        ),
        MenuEntry(
            "Télécharger mes données", "/mes-donnees", section="Mon dossier", order=40, kinds=(PATIENT,)
        ),
    ),
)
