"""AuditEvents of the gateway (IHE ATNA semantics as FHIR R4 ``AuditEvent``).

One event per step (XCPD, XCA query, retrieve, translation, assertion issued, each refusal),
with the IHE transaction code as subtype, the professional, the patient, the peer and the
outcome. The France gateway writes them through the FHIR API; the mock peer appends them to
a JSON Lines file (it has no FHIR server).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("passerelle.ehdsi")

TRANSACTIONS = {
    "ITI-55": "Cross Gateway Patient Discovery",
    "ITI-38": "Cross Gateway Query",
    "ITI-39": "Cross Gateway Retrieve",
    "ITI-40": "Provide X-User Assertion",
    "PIVOT_TRANSLATION": "Pivot CDA translation",
    "CONSENT": "Patient information notice and consent",
}
#: DICOM audit event IDs (DCM 110112 Query, 110106 Export, 110107 Import, 110110 Patient Record)
EVENT_TYPE = {
    "ITI-55": ("110112", "Query"),
    "ITI-38": ("110112", "Query"),
    "ITI-39": ("110106", "Export"),
    "ITI-40": ("110114", "User Authentication"),
    "PIVOT_TRANSLATION": ("110107", "Import"),
    "CONSENT": ("110110", "Patient Record"),
}
OUTCOME = {"success": "0", "minor": "4", "failure": "8", "major": "12"}


class AuditSink(Protocol):
    async def record(self, event: dict[str, Any]) -> None: ...


def audit_event(
    transaction: str,
    *,
    outcome: str = "success",
    description: str | None = None,
    professional: str | None = None,
    professional_name: str | None = None,
    patient: str | None = None,
    patient_reference: str | None = None,
    peer: str | None = None,
    peer_address: str | None = None,
    role: str = "responder",
    source: str = "Passerelle eHDSI NCP",
    error_code: str | None = None,
    action: str = "E",
) -> dict[str, Any]:
    code, display = EVENT_TYPE.get(transaction, ("110100", "Application Activity"))
    agents: list[dict[str, Any]] = []
    if professional or professional_name:
        who: dict[str, Any] = {}
        if professional:
            who["identifier"] = {"value": professional}
        if professional_name:
            who["display"] = professional_name
        agents.append({"who": who, "requestor": True})
    if peer:
        agent: dict[str, Any] = {
            "type": {
                "coding": [
                    {
                        "system": "http://dicom.nema.org/resources/ontology/DCM",
                        "code": "110153" if role == "responder" else "110152",
                        "display": "Source Role ID" if role == "responder" else "Destination Role ID",
                    }
                ]
            },
            "who": {"display": f"NCP {peer}"},
            "requestor": not agents,
        }
        if peer_address:
            agent["network"] = {"address": peer_address, "type": "5"}
        agents.append(agent)
    agents.append(
        {
            "type": {
                "coding": [
                    {
                        "system": "http://dicom.nema.org/resources/ontology/DCM",
                        "code": "110150",
                        "display": "Application",
                    }
                ]
            },
            "who": {"display": source},
            "requestor": not agents,
        }
    )
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": code, "display": display},
        "subtype": [
            {
                "system": "urn:ihe:event-type-code",
                "code": transaction,
                "display": TRANSACTIONS.get(transaction, transaction),
            }
        ],
        "action": action,
        "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": OUTCOME[outcome],
        "agent": agents,
        "source": {
            "observer": {"display": source},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    desc = " ; ".join(x for x in (error_code, description) if x)
    if desc:
        event["outcomeDesc"] = desc[:1000]
    if patient or patient_reference:
        entity: dict[str, Any] = {
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
            "what": {},
        }
        if patient_reference:
            entity["what"]["reference"] = patient_reference
        if patient:
            entity["what"]["identifier"] = {"value": patient}
        event["entity"] = [entity]
    return event


class FileAuditSink:
    """JSON Lines file (the mock peer's audit trail)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    async def record(self, event: dict[str, Any]) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")


class FhirAuditSink:
    """AuditEvents POSTed through the FHIR API; a failure to audit is logged, never hidden."""

    def __init__(self, fhir: Any) -> None:
        self.fhir = fhir

    async def record(self, event: dict[str, Any]) -> None:
        try:
            await self.fhir.create(event)
        except Exception as exc:
            log.error("AuditEvent non enregistré (%s) : %s", exc, json.dumps(event, ensure_ascii=False)[:500])
