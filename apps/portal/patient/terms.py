"""The texts a patient accepts (terms of use, consent to the processing of health data), their
current versions, and the gate that asks for them before any patient screen.

Each acceptance is a FHIR Consent (``fhir_server.auth.accounts.consent_resource``): category
``cgu`` or ``donnees-sante``, ``policy.uri`` ending with the version of the text, ``dateTime``
when it was accepted. A new version of a text (a new template ``textes/<kind>-<version>.html`` and
its number below) makes the gate ask again at the next patient page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request

from apps.portal.fhir import FhirClient
from apps.portal.sessions import PortalUser
from apps.portal.web import PATIENT_GATES, fhir_client, optional_session, portal_of
from fhir_server.auth.accounts import CONSENT_KINDS, CONSENT_SYSTEM, POLICY_BASE

CURRENT_VERSIONS = {"cgu": "2026-12", "donnees-sante": "2026-12"}
TITLES = CONSENT_KINDS
GATE_PAGE = "/mon-espace/conditions"


def template_of(kind: str, version: str) -> str:
    return f"patient/textes/{kind}-{version}.html"


def policy_version(consent: dict[str, Any], kind: str) -> str | None:
    prefix = f"{POLICY_BASE}/{kind}/"
    for policy in consent.get("policy") or []:
        uri = str(policy.get("uri") or "")
        if uri.startswith(prefix):
            return uri[len(prefix) :]
    return None


def consent_kind(consent: dict[str, Any]) -> str | None:
    for concept in consent.get("category") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == CONSENT_SYSTEM and coding.get("code") in CONSENT_KINDS:
                return str(coding["code"])
    return None


async def acceptances(fhir: FhirClient, patient_ref: str) -> list[dict[str, Any]]:
    """The patient's active Consents recording an accepted text, newest first."""
    kinds = ",".join(f"{CONSENT_SYSTEM}|{k}" for k in CONSENT_KINDS)
    found = await fhir.search_resources(
        "Consent", {"patient": patient_ref, "category": kinds, "status": "active", "_count": "100"}
    )
    return sorted(found, key=lambda c: str(c.get("dateTime") or ""), reverse=True)


async def missing(fhir: FhirClient, patient_ref: str) -> list[str]:
    """The texts whose current version this patient has not accepted yet (first access, new version)."""
    accepted: set[tuple[str, str]] = set()
    for consent in await acceptances(fhir, patient_ref):
        kind = consent_kind(consent)
        version = policy_version(consent, kind) if kind else None
        if kind and version:
            accepted.add((kind, version))
    return [k for k, v in CURRENT_VERSIONS.items() if (k, v) not in accepted]


def stamp() -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(CURRENT_VERSIONS.items()))


async def terms_gate(request: Request, user: PortalUser) -> str | None:
    """Before any patient screen: the current texts accepted (checked once per session), else the page
    that asks for them, which then sends the patient back where they were going."""
    session = await optional_session(request)
    if session is None or session.marks.get("terms") == stamp():
        return None
    if not await missing(await fhir_client(request), user.fhir_user):
        await portal_of(request).store.mark(session, "terms", stamp())
        return None
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{GATE_PAGE}?suite={quote(target, safe='')}"


PATIENT_GATES.append(terms_gate)
