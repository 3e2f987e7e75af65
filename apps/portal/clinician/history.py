"""``/profil/historique``: the account's operations history, read from AuditEvents through FHIR.

Logins (successful or not, with the authentication level), sign-up and security events
(password, assurance), and the changes of the professional's own profile (Practitioner and
PractitionerRole writes). The FHIR access rules give a professional the AuditEvents where they
are the agent, and only those (``fhir_server.auth.policy.SELF_AGENT_ONLY``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response

from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirClient
from apps.portal.web import Fhir, Practitioner, render

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ASSURANCE_URL = "https://passerelle.fr/fhir/StructureDefinition/auth-assurance"
HOW_MANY = 50
ACTIONS = {"C": "Création", "U": "Modification", "D": "Suppression"}
TYPES_FR = {
    "Practitioner": "de votre fiche professionnelle",
    "PractitionerRole": "de votre profil d'exercice",
}


@dataclass
class Operation:
    when: str
    what: str
    detail: str
    ok: bool
    level: str
    address: str


def _label(event: dict[str, Any]) -> str:
    type_ = (event.get("type") or {}).get("code")
    ok = event.get("outcome") == "0"
    if type_ == "110114":
        return "Connexion" if ok else "Connexion refusée"
    if type_ == "110113":
        return "Inscription et sécurité du compte"
    action = ACTIONS.get(str(event.get("action")), "Opération")
    targets = [
        str((e.get("what") or {}).get("reference", "")).split("/")[0] for e in event.get("entity") or []
    ]
    where = next((TYPES_FR[t] for t in targets if t in TYPES_FR), "")
    return f"{action} {where}".strip()


def _operation(event: dict[str, Any]) -> Operation:
    agent = (event.get("agent") or [{}])[0]
    level = next(
        (
            str((x.get("valueCoding") or {}).get("display") or "")
            for x in agent.get("extension") or []
            if x.get("url") == ASSURANCE_URL
        ),
        "",
    )
    return Operation(
        when=str(event.get("recorded") or ""),
        what=_label(event),
        detail=str(event.get("outcomeDesc") or ""),
        ok=event.get("outcome") == "0",
        level=level,
        address=str((agent.get("network") or {}).get("address") or ""),
    )


async def account_history(fhir: FhirClient, me: str) -> list[Operation]:
    """The latest account operations of ``me`` (``Practitioner/…``), newest first."""
    account = await fhir.search_resources(
        "AuditEvent",
        {"agent": me, "type": f"{DCM}|110114,{DCM}|110113", "_sort": "-date", "_count": str(HOW_MANY)},
    )
    roles = await fhir.search_resources("PractitionerRole", {"practitioner": me, "_elements": "id"})
    targets = ",".join([me, *(f"PractitionerRole/{r['id']}" for r in roles)])
    profile = await fhir.search_resources(
        "AuditEvent",
        {"agent": me, "entity": targets, "action": "C,U,D", "_sort": "-date", "_count": str(HOW_MANY)},
    )
    seen: dict[str, dict[str, Any]] = {}
    for event in [*account, *profile]:
        seen.setdefault(str(event.get("id")), event)
    events = sorted(seen.values(), key=lambda e: str(e.get("recorded") or ""), reverse=True)
    return [_operation(e) for e in events[:HOW_MANY]]


@router.get("/profil/historique")
async def history(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    operations = await account_history(fhir, user.fhir_user)
    return await render(request, "clinician/history.html", {"operations": operations})
