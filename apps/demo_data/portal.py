"""Demo content of the portal (clinician's workspace): who logs in as whom, and their patients.

The dev Pro Santé Connect look-alike's professionals are given fixed Practitioner ids here
(the login maps an idNat_PS to its Practitioner through the ``auth_professionals`` record
that :func:`after_load` seeds), so that the demo patients, agenda and requests can name them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_server.identifiers import FINESS_SYSTEM, IDNATPS_SYSTEM, RPPS_SYSTEM

# idNat_PS of the dev PSC professionals -> fixed Practitioner id
PROFESSIONALS = {
    "899700366240": "demo-psc-martin",  # Dr Marie Martin, GP, health centre Paris 15 (FINESS 750712184)
    "899700007075": "demo-psc-bonnet",  # Dr Julie Bonnet, GP, same health centre
    "899700008081": "demo-psc-garnier",  # Dr Henri Garnier, GP, own practice (shares no patient)
}
HEALTH_CENTRE = "demo-org-cds-paris15"


def _practitioner(pid: str, idnat: str, given: str, family: str) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "identifier": [
            {"system": IDNATPS_SYSTEM, "value": idnat},
            {"system": RPPS_SYSTEM, "value": idnat[1:]},
        ],
        "active": True,
        "name": [{"use": "official", "prefix": ["Dr"], "family": family, "given": [given]}],
    }


def resources(today: date) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Organization",
            "id": HEALTH_CENTRE,
            "identifier": [{"system": FINESS_SYSTEM, "value": "750712184"}],
            "active": True,
            "name": "Centre de santé Paris 15",
            "address": [{"line": ["20 rue de Vaugirard"], "city": "Paris", "postalCode": "75015"}],
        },
        _practitioner("demo-psc-martin", "899700366240", "Marie", "Martin"),
        _practitioner("demo-psc-bonnet", "899700007075", "Julie", "Bonnet"),
        _practitioner("demo-psc-garnier", "899700008081", "Henri", "Garnier"),
    ]


async def after_load(db: Any) -> None:
    """Map each dev PSC professional to their fixed Practitioner (first login keeps it)."""
    for idnat, pid in PROFESSIONALS.items():
        await db["auth_professionals"].update_one(
            {"_id": idnat}, {"$setOnInsert": {"practitioner": pid, "roles": {}}}, upsert=True
        )
