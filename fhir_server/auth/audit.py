"""AuditEvents (FHIR R4, DICOM / IHE codes) for every access, login and refusal.

Written through the repository like any resource, so they are versioned, searchable
and stored in the same database; the REST layer refuses to update or delete them.
Codes follow the R4 AuditEvent bindings and IHE BALP: type ``rest`` (RESTful
operation) with the interaction as subtype for FHIR calls; DICOM 110114 "User
Authentication" with 110122 "Login" for logins; DICOM 110113 "Security Alert" for
break-the-glass. Outcome 0 success, 4 minor failure (refused, not found), 8 serious
failure (server error).
"""

from __future__ import annotations

import logging
from typing import Any

from fhir_server.storage.records import fhir_instant, now_ms

log = logging.getLogger("passerelle.audit")

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# The user's authentication assurance (the token's ``acr``) on ``agent``: Pro Santé Connect
# (eidas1...) or a local account's password + SMS code (lower), see fhir_server.auth.pro_accounts.
ASSURANCE_URL = "https://passerelle.fr/fhir/StructureDefinition/auth-assurance"
ACR_SYSTEM = "urn:passerelle:acr"

REST = {"system": EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
USER_AUTHENTICATION = {"system": DCM, "code": "110114", "display": "User Authentication"}
SECURITY_ALERT = {"system": DCM, "code": "110113", "display": "Security Alert"}
LOGIN = {"system": DCM, "code": "110122", "display": "Login"}
LOGOUT = {"system": DCM, "code": "110123", "display": "Logout"}

ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "search-type": "E",
    "search-system": "E",
    "update": "U",
    "patch": "U",
    "delete": "D",
}


def outcome_code(status: int) -> str:
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def rest_event(
    *,
    interaction: str,
    status: int,
    who: dict[str, Any],
    client_id: str | None,
    source_ip: str | None,
    entities: list[str],
    patients: list[str] | None = None,
    query: str | None = None,
    description: str | None = None,
    break_glass: str | None = None,
    assurance: str | None = None,
) -> dict[str, Any]:
    """The AuditEvent of one FHIR interaction (``entities`` are ``Type/id`` references)."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": REST,
        "subtype": [{"system": RESTFUL, "code": interaction, "display": interaction}],
        "action": ACTIONS.get(interaction, "E"),
        "recorded": fhir_instant(now_ms()),
        "outcome": outcome_code(status),
    }
    if description:
        event["outcomeDesc"] = description
    if break_glass:
        event["subtype"].append(SECURITY_ALERT)
        event["purposeOfEvent"] = [
            {
                "coding": [{"system": ACT_REASON, "code": "BTG", "display": "break the glass"}],
                "text": break_glass,
            }
        ]
    event["agent"] = [_agent(who, client_id, source_ip, assurance)]
    event["source"] = _source()
    ents: list[dict[str, Any]] = []
    for ref in entities:
        ents.append({"what": {"reference": ref}, "type": {"system": ENTITY_TYPE, "code": "2"}})
    for pid in patients or []:
        ents.append(
            {
                "what": {"reference": f"Patient/{pid}"},
                "type": {"system": ENTITY_TYPE, "code": "1"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    if query:
        ents.append({"type": {"system": ENTITY_TYPE, "code": "2"}, "description": query[:1000]})
    if ents:
        event["entity"] = ents
    return event


def login_event(
    *,
    success: bool,
    who: dict[str, Any],
    source_ip: str | None,
    description: str,
    client_id: str | None = None,
    assurance: str | None = None,
) -> dict[str, Any]:
    return {
        "resourceType": "AuditEvent",
        "type": USER_AUTHENTICATION,
        "subtype": [LOGIN],
        "action": "E",
        "recorded": fhir_instant(now_ms()),
        "outcome": "0" if success else "4",
        "outcomeDesc": description,
        "agent": [_agent(who, client_id, source_ip, assurance)],
        "source": _source(),
    }


def security_event(
    *, who: dict[str, Any], source_ip: str | None, description: str, assurance: str | None = None
) -> dict[str, Any]:
    """A change of a user's security attributes (password reset): DICOM 110113 / 110137."""
    return {
        "resourceType": "AuditEvent",
        "type": SECURITY_ALERT,
        "subtype": [{"system": DCM, "code": "110137", "display": "User Security Attributes Changed"}],
        "action": "U",
        "recorded": fhir_instant(now_ms()),
        "outcome": "0",
        "outcomeDesc": description,
        "agent": [_agent(who, None, source_ip, assurance)],
        "source": _source(),
    }


def assurance_extension(acr: str) -> dict[str, Any]:
    from fhir_server.auth.pro_accounts import assurance_label

    return {
        "url": ASSURANCE_URL,
        "valueCoding": {"system": ACR_SYSTEM, "code": acr, "display": assurance_label(acr)},
    }


def _agent(
    who: dict[str, Any], client_id: str | None, source_ip: str | None, assurance: str | None = None
) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": PARTICIPATION, "code": "IRCP", "display": "information recipient"}]},
        "who": who,
        "requestor": True,
    }
    if assurance:
        agent["extension"] = [assurance_extension(assurance)]
    if client_id:
        agent["altId"] = client_id
    if source_ip:
        agent["network"] = {"address": source_ip, "type": "2"}  # 2 = IP address
    return agent


def _source() -> dict[str, Any]:
    return {
        "observer": {"display": "Passerelle"},
        "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
    }


async def record(repository: Any, event: dict[str, Any]) -> None:
    """Store an AuditEvent; a failure to audit is logged loudly but never turns a response into a 500."""
    try:
        await repository.create("AuditEvent", event)
    except Exception:
        log.exception("could not write AuditEvent %s", event.get("subtype"))
