"""The search boxes of both sides: criteria applied to the threads the FHIR API returned.

Access is never decided here (the FHIR layer already chose what this user sees); these are the
user's criteria — patient name or NIR, the professional's N° AM / FINESS, postal code, town,
name, the agent who wrote — compared accent- and case-insensitively.
"""

from __future__ import annotations

import unicodedata

from apps.portal.messaging.fhir import MessagingError
from apps.portal.messaging.model import Thread
from fhir_server.identifiers import normalise


def fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def patient_matches(thread: Thread, query: str) -> bool:
    p = thread.patient
    if p is None:
        return False
    q = fold(query)
    digits = normalise(query)
    if digits[:1].isdigit() and p.nir:
        return p.nir.startswith(digits)
    return any(fold(x).startswith(q) for x in (p.family, p.given, p.name) if x) or q in fold(p.name)


def criterion(thread: Thread, key: str, value: str) -> bool:
    v = fold(value)
    who = thread.correspondent
    if key == "patient":
        return patient_matches(thread, value)
    if key == "professional":
        return who is not None and normalise(value) in (normalise(who.nam), normalise(who.finess))
    if key == "postal_code":
        return who is not None and who.postal_code.startswith(value.strip())
    if key == "town":
        return who is not None and fold(who.town).startswith(v)
    if key == "name":
        return who is not None and v in fold(who.name)
    if key == "agent":
        return v in fold(thread.writer)
    raise MessagingError(f"Critère de recherche inconnu : {key}.")
