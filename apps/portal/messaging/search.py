"""The search boxes of both sides, as FHIR search parameters: the server filters, sorts and pages.

Access is never decided here (the FHIR layer already restricts what this user sees); these are
the user's criteria turned into search parameters on the thread headers:

- patient (name, first name or NIR): ``subject:Patient.name`` (FHIR string search: start of any
  part of the name, case and accents ignored) or, for a complete NIR (key checked),
  ``subject:Patient.identifier``;
- the professional (N° AM or FINESS, postal code, town, name — a centre's name in the name
  field): looked up in the directory first (FHIR searches), then the threads whose ``sender`` or
  ``recipient`` is one of them (``_filter``: a doctor is the sender of the threads they open and
  the recipient of those the échelon opens);
- the agent who wrote: ``_has:Communication:part-of:sender`` = the médecins conseils of that name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from apps.portal.messaging.fhir import MessagingError
from apps.portal.messaging.model import NAM_SYSTEM, ref, ref_of
from fhir_server.auth.echelons import ELSM_SYSTEM
from fhir_server.auth.roles import CONSEIL_CODE, ROLE_SYSTEM
from fhir_server.identifiers import FINESS_SYSTEM, NIR_SYSTEM, is_nir, normalise

CRITERIA = ("patient", "professional", "postal_code", "town", "name", "agent")
PROFESSIONAL = ("professional", "postal_code", "town", "name")
MAX_PROFESSIONALS = 40  # sender/recipient alternatives in one _filter (its length is bounded)

Search = Callable[[str, list[tuple[str, str]]], Awaitable[list[dict[str, Any]]]]


def patient_params(value: str) -> list[tuple[str, str]]:
    """The search parameters of a patient criterion (name, first name or complete NIR)."""
    value = value.strip()
    if not value:
        return []
    digits = normalise(value)
    if digits[:1].isdigit() and len(digits) >= 13:
        if not is_nir(digits):
            raise MessagingError(
                "Recherche par NIR : saisissez les 15 caractères, clé comprise (clé incorrecte).", "patient"
            )
        return [("subject:Patient.identifier", f"{NIR_SYSTEM}|{digits}")]
    if digits[:1].isdigit():
        raise MessagingError("Recherche par NIR : saisissez le NIR complet (15 caractères).", "patient")
    return [("subject:Patient.name", value)]


def _people(found: list[dict[str, Any]]) -> set[str]:
    """Doctors and structures among directory results (roles stand for their practitioner; the
    échelons themselves are never a professional criterion)."""
    out: set[str] = set()
    for r in found:
        if r["resourceType"] == "PractitionerRole":
            out |= {p for p in [ref_of(r.get("practitioner"))] if p}
        elif r["resourceType"] == "Organization":
            if not any(i.get("system") == ELSM_SYSTEM for i in r.get("identifier") or []):
                out.add(ref(r))
        elif r["resourceType"] == "Practitioner":
            out.add(ref(r))
    return out


async def professionals(search: Search, key: str, value: str) -> set[str]:
    """The references of the doctors and structures one professional criterion designates."""
    v = value.strip()
    if key == "professional":
        token = normalise(v)
        found = await search("Organization", [("identifier", f"{FINESS_SYSTEM}|{token}")])
        found += await search("PractitionerRole", [("identifier", f"{NAM_SYSTEM}|{token}")])
    elif key == "name":
        found = await search("Organization", [("name:contains", v)])
        found += await search("Practitioner", [("name:contains", v)])
    else:
        code = "address-postalcode" if key == "postal_code" else "address-city"
        found = await search("Organization", [(code, v)])
        found += await search("Practitioner", [(code, v)])
        found += await search("PractitionerRole", [(f"organization:Organization.{code}", v)])
    return _people(found)


async def criteria_params(search: Search, criteria: dict[str, str]) -> list[tuple[str, str]] | None:
    """The search parameters of the back office's criteria; None when no thread can match."""
    params = patient_params(criteria.get("patient", ""))
    chosen: set[str] | None = None
    for key in PROFESSIONAL:
        if criteria.get(key, "").strip():
            refs = await professionals(search, key, criteria[key])
            chosen = refs if chosen is None else chosen & refs
    if chosen is not None:
        if not chosen:
            return None
        if len(chosen) > MAX_PROFESSIONALS:
            raise MessagingError(
                f"Plus de {MAX_PROFESSIONALS} professionnels correspondent : précisez la recherche.",
                "professional",
            )
        params.append(("_filter", " or ".join(f"sender eq {r} or recipient eq {r}" for r in sorted(chosen))))
    agent = criteria.get("agent", "").strip()
    if agent:
        found = await search(
            "PractitionerRole",
            [("role", f"{ROLE_SYSTEM}|{CONSEIL_CODE}"), ("practitioner:Practitioner.name", agent)],
        )
        agents = sorted(_people(found))
        if not agents:
            return None
        params.append(("_has:Communication:part-of:sender", ",".join(agents)))
    return params
