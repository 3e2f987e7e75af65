"""Where to send an e-mail about a patient (for every area that notifies patients).

A dependent (ayant droit) has no account of their own: messages about a minor, or about a
dependent without an address of their own, go to the account holder — the person of their active
RelatedPerson. Nobody else's address is ever used, and no health data goes in the e-mail itself.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from apps.portal.fhir import FhirClient
from fhir_server.auth.accounts import age_on


def _email(resource: dict[str, Any]) -> str | None:
    for telecom in resource.get("telecom") or []:
        if telecom.get("system") == "email" and telecom.get("value"):
            return str(telecom["value"])
    return None


def _minor(patient: dict[str, Any], today: date | None = None) -> bool:
    try:
        birth = date.fromisoformat(str(patient.get("birthDate") or ""))
    except ValueError:
        return False
    return age_on(birth, today or date.today()) < 18


async def notification_email(fhir: FhirClient, patient_id: str) -> str | None:
    """The address for messages about ``patient_id``: their own when they are an adult with one, else
    the account holder's (the RelatedPerson of the dependent); None when there is none."""
    patient = await fhir.read("Patient", patient_id)
    own = _email(patient)
    if own and not _minor(patient):
        return own
    holders = await fhir.search_resources(
        "RelatedPerson", {"patient": f"Patient/{patient_id}", "active": "true"}
    )
    for related in holders:
        address = _email(related)
        if address:
            return address
    return None if _minor(patient) else own
