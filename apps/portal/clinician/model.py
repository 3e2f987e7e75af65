"""FHIR shapes of the clinician's workspace: codes, systems, and small builders/readers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PORTAL_CS = "https://passerelle.fr/fhir/CodeSystem"
TASK_CODES = f"{PORTAL_CS}/portal-task"  # demande-avis (patient), tele-expertise (colleague)
REQUEST_ID = "urn:passerelle:demande"  # Task.identifier of a request (its "Référence")
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OPEN_TASK = ("requested", "received", "accepted", "in-progress")


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def ref(resource_type: str, id_: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{id_}"}


def ref_id(reference: dict[str, Any] | None, resource_type: str) -> str | None:
    value = (reference or {}).get("reference", "")
    prefix = f"{resource_type}/"
    return value[len(prefix) :] if value.startswith(prefix) else None


def code_of(concept: dict[str, Any] | None, system: str) -> str | None:
    for coding in (concept or {}).get("coding", []):
        if coding.get("system") == system:
            return str(coding.get("code"))
    return None


def entries(bundle: dict[str, Any], resource_type: str | None = None) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if "resource" in e and (resource_type is None or e["resource"].get("resourceType") == resource_type)
    ]


def by_reference(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every resource of a Bundle (matches and includes) by ``Type/id``."""
    return {f"{r['resourceType']}/{r['id']}": r for r in entries(bundle)}
