"""What the prescription operations share: finding an ordonnance by number, who the caller is,
the server's keys and public URLs.

An ordonnance is found by its number in both request types (the two never share one), read
inside the caller's transaction when there is one. Access is decided here, per operation
(the operations declare ``authorizes_itself``): the prescriber (the practitioner named as
``requester``), the patient through their record, the pharmacist through the prescription
number, and ``--no-auth`` (unrestricted) callers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from starlette.requests import Request

from eprescription import NUMBER_ELEMENT, is_valid, normalize
from fhir_server.errors import FhirError
from fhir_server.operations.prescription_rules import siblings
from fhir_server.operations.registry import Call

PROVENANCE_SIGNATURE = "urn:passerelle:ordonnance-signature"
SMS_VERIFICATION_SYSTEM = "urn:passerelle:sms-verification"


@dataclass
class Ordonnance:
    number: str
    type: str  # MedicationRequest or ServiceRequest
    lines: list[dict[str, Any]]

    @property
    def status(self) -> str:
        """The ordonnance's status: its lines' when they agree, else the most advanced one."""
        statuses = {str(line.get("status")) for line in self.lines}
        for status in ("draft", "cancelled", "completed", "stopped", "on-hold", "active"):
            if statuses == {status}:
                return status
        if "draft" in statuses:
            return "draft"
        if statuses & {"active", "on-hold"}:
            return "active"
        return "completed" if "completed" in statuses else sorted(statuses)[0]

    def ref(self, key: str) -> str:
        value = self.lines[0].get(key) if self.lines else None
        ref = value.get("reference") if isinstance(value, dict) else None
        return "/".join(str(ref).split("/_history/")[0].split("/")[-2:]) if ref else ""

    @property
    def element(self) -> str:
        return NUMBER_ELEMENT[self.type]


def parse_number(raw: object, expression: str = "prescription") -> str:
    """A prescription number as typed (spaces allowed), checked: 400 when absent or invalid."""
    number = normalize(str(raw)) if isinstance(raw, str | int) else ""
    if not number:
        raise FhirError(
            400, "required", f"Paramètre {expression} (numéro d'ordonnance) requis.", expression=[expression]
        )
    if not is_valid(number):
        raise FhirError(
            400,
            "invalid",
            f"Numéro d'ordonnance invalide : {raw!r} (16 chiffres ; vérifiez la saisie).",
            expression=[expression],
        )
    return number


def number_param(call: Call, name: str = "prescription") -> str:
    return parse_number(call.first(name), name)


async def load(repository: Any, number: str, session: Any = None) -> Ordonnance | None:
    for type_ in NUMBER_ELEMENT:
        lines = await siblings(repository.db, type_, number, session)
        if lines:
            lines.sort(key=lambda line: str(line.get("id")))
            return Ordonnance(number, type_, lines)
    return None


async def read_body(repository: Any, reference: str, session: Any = None) -> dict[str, Any] | None:
    type_, _, id_ = reference.partition("/")
    if not type_ or not id_:
        return None
    doc = await repository.db[type_].find_one({"_id": id_}, {"j": 1, "d": 1}, session=session)
    return orjson.loads(bytes(doc["j"])) if doc and doc.get("j") and not doc.get("d") else None


def policy_of(call: Call) -> Any:
    """The caller's access policy (None under ``--no-auth``)."""
    policy = getattr(call.request.state, "access", None)
    return None if policy is None or policy.is_unrestricted else policy


def caller_practitioner(call: Call) -> str | None:
    policy = policy_of(call)
    if policy is None:
        return None
    user = policy.fhir_user or ""
    return user if policy.kind == "practitioner" and user.startswith("Practitioner/") else None


def not_found(number: str) -> FhirError:
    return FhirError(
        404, "not-found", f"Aucune ordonnance n° {number} accessible.", expression=["prescription"]
    )


def keys_file(request: Request) -> Any:
    from fhir_server.auth.settings import auth_settings

    state = request.app.state
    if getattr(state, "auth_settings", None) is None:
        state.auth_settings = auth_settings(state.settings.data_dir)
    return state.auth_settings


def root_url(request: Request) -> str:
    """The public root URL of links, QR codes and the signed document's issuer: configured
    (``PASSERELLE_PUBLIC_URL`` / ``PASSERELLE_ISSUER``), never the request's ``Host`` header."""
    from fhir_server.auth.links import public_root

    return public_root(request, keys_file(request))


def pharmacy_base(request: Request) -> str:
    """Where the QR code leads: the portal's pharmacy page (``PASSERELLE_PHARMACY_URL`` overrides)."""
    configured = os.environ.get("PASSERELLE_PHARMACY_URL")
    return configured.rstrip("/") if configured else f"{root_url(request)}/pharmacie/ordonnance"


def french_date(value: str | None) -> str:
    """``1980-05-17`` -> ``17/05/1980`` (partial dates as they are)."""
    if not value:
        return ""
    try:
        return date.fromisoformat(value[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return value


def person_name(resource: dict[str, Any] | None, family_first: bool = True) -> str:
    names = (resource or {}).get("name") or []
    name = next((n for n in names if isinstance(n, dict) and n.get("use") == "official"), None) or (
        names[0] if names and isinstance(names[0], dict) else {}
    )
    family = str(name.get("family") or "").upper()
    given = " ".join(str(g) for g in name.get("given") or [])
    if not family and not given:
        return str(name.get("text") or "")
    return f"{family} {given}".strip() if family_first else f"{given} {family}".strip()
