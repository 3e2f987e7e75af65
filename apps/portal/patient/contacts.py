"""Where to send an e-mail about a patient (for every area that notifies patients).

The rule is the server's (:mod:`fhir_server.auth.contacts`): an adult's own address, else the
account holder's (the e-mail of the dependent's active RelatedPerson), never anybody else's; applied
here to what the FHIR API shows the portal, so that both answer the same.
"""

from __future__ import annotations

from apps.portal.fhir import FhirClient
from fhir_server.auth.contacts import email_of, notification_address


async def notification_email(fhir: FhirClient, patient_id: str, acting: str | None = None) -> str | None:
    """The address for messages about ``patient_id`` (``acting``: the id of the Patient who acted for
    them, preferred among the account holders); None when there is none."""
    patient = await fhir.read("Patient", patient_id)
    holders = await fhir.search_resources("RelatedPerson", {"patient": f"Patient/{patient_id}"})
    actor = await fhir.read("Patient", acting) if acting and acting != patient_id else None
    return notification_address(patient, holders, email_of(actor))
