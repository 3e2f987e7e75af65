"""Where an e-mail about a patient goes: one rule for the server and the portal.

A dependent (ayant droit) has no account of their own: the account holder who added them is their
active ``RelatedPerson`` (:func:`fhir_server.auth.accounts.related_person`, with the holder's
e-mail), and a minor's Patient carries no address of its own. The address for a message about a
patient is:

1. the patient's own, when they are an adult and have one;
2. else an account holder's (the e-mail of an active RelatedPerson of the patient): the holder who
   acted (asked the question, …) when given and one of them, else the first by RelatedPerson id;
3. else none: nobody else's address is ever used, and a minor's own address is not either.

No health data goes in the e-mail itself, only a link. The server applies the rule to what it
stores (:func:`notification_email`: teleconsultation, ordonnances); the portal to what the FHIR API
shows it (``apps.portal.patient.notification_email``), and both answer the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson

from fhir_server.auth.accounts import is_minor


def email_of(resource: dict[str, Any] | None) -> str | None:
    """The first e-mail address of a Patient or RelatedPerson's ``telecom``."""
    for telecom in (resource or {}).get("telecom") or []:
        if isinstance(telecom, dict) and telecom.get("system") == "email" and telecom.get("value"):
            return str(telecom["value"])
    return None


def notification_address(
    patient: dict[str, Any],
    holders: Iterable[dict[str, Any]],
    acting: str | None = None,
    today: date | None = None,
) -> str | None:
    """The rule above: ``holders`` are the patient's RelatedPersons (inactive ones are skipped),
    ``acting`` the address of the person who acted, preferred among the holders'."""
    own = email_of(patient)
    if own and not is_minor(patient.get("birthDate"), today):
        return own
    active = sorted((h for h in holders if h.get("active") is True), key=lambda h: str(h.get("id", "")))
    addresses = [a for a in (email_of(h) for h in active) if a]
    if acting and acting in addresses:
        return acting
    return addresses[0] if addresses else None


async def _read(db: Any, reference: str) -> dict[str, Any] | None:
    type_, _, id_ = reference.partition("/")
    if type_ != "Patient" or not id_:
        return None
    doc = await db[type_].find_one({"_id": id_}, {"j": 1, "d": 1})
    return orjson.loads(bytes(doc["j"])) if doc and doc.get("j") and not doc.get("d") else None


async def notification_email(repository: Any, patient: str, acting: str | None = None) -> str | None:
    """The address for messages about ``patient`` (``Patient/id``) from the stored resources;
    ``acting`` is the Patient who acted for them (a question's ``requester``)."""
    db = repository.db
    body = await _read(db, patient)
    if body is None:
        return None
    holders = [
        orjson.loads(bytes(doc["j"]))
        async for doc in db["RelatedPerson"].find({"s.patient": patient}, {"j": 1, "d": 1})
        if doc.get("j") and not doc.get("d")
    ]
    actor = await _read(db, acting) if acting and acting != patient else None
    return notification_address(body, holders, email_of(actor))
