"""The clinician's workspace: dashboard, patients, the patient's record, consultations,
vital signs and documents (issue 15)."""

from __future__ import annotations

from pathlib import Path

from apps.portal.areas import PRACTITIONER, Area, MenuEntry
from apps.portal.clinician import (
    agenda,
    consultations,
    dashboard,
    documents,
    history,
    opinion,
    patients,
    profile,
    record,
    regulation,
    teleexpertise,
    vitals,
)
from apps.portal.clinician.routing import router

_ = (
    agenda,
    consultations,
    dashboard,
    opinion,
    documents,
    history,
    patients,
    regulation,
    profile,
    record,
    teleexpertise,
    vitals,
)  # modules that add routes

AREA = Area(
    name="clinician",
    router=router,
    order=10,
    templates=Path(__file__).parent / "templates",
    home={PRACTITIONER: "/accueil"},
    sections={"Centre de santé": 10, "Patients": 20},
    menu=(
        MenuEntry("Accueil", "/accueil", order=0),
        MenuEntry("Mes dossiers", "/centre/dossiers", section="Centre de santé", order=10),
        MenuEntry("Mes rendez-vous", "/centre/rendez-vous", section="Centre de santé", order=20),
        MenuEntry("Mes patients", "/patients", section="Patients", order=10),
        MenuEntry("Rechercher et ajouter", "/patients/recherche", section="Patients", order=20),
        MenuEntry("Nouveau patient", "/patients/nouveau", section="Patients", order=30),
        MenuEntry("Avis pour un confrère", "/avis", order=70),
        MenuEntry("Télé-expertise", "/tele-expertise", order=80),
        MenuEntry("Mon agenda", "/agenda", order=90),
    ),
)
