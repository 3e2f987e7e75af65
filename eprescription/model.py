"""The ordonnance: the lines sharing one prescription number, and what each line must say.

An ordonnance is a set of MedicationRequests sharing ``groupIdentifier`` (docs/france.md
§3.3, ANS ePrescription IG), or, for lab and imaging orders (bilans), a set of
ServiceRequests sharing ``requisition``: the two never mix in one ordonnance. Each line
of a medication ordonnance names the medication (coded when possible, free text allowed),
its posology (``dosageInstruction``), quantity, duration, refills, whether substitution is
allowed and whether it is reimbursable (extension :data:`REIMBURSABLE_URL`, true when
absent).

Functions here read FHIR JSON only (no database): the server's write rules and operations,
the PDF and the pharmacy page all use them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from eprescription.numbers import PRESCRIPTION_SYSTEM

REIMBURSABLE_URL = "urn:passerelle:extension:remboursable"
TYPES = ("MedicationRequest", "ServiceRequest")
# The element carrying the prescription number, per type.
NUMBER_ELEMENT = {"MedicationRequest": "groupIdentifier", "ServiceRequest": "requisition"}
# The search parameter of that element.
NUMBER_PARAM = {"MedicationRequest": "group-identifier", "ServiceRequest": "requisition"}
LAB = "108252007"  # SNOMED CT Laboratory procedure
IMAGING = "363679005"  # SNOMED CT Imaging
SNOMED = "http://snomed.info/sct"
# Elements the signature covers: everything but what signing and dispensing change.
_UNSIGNED = ("meta", "text", "status", "statusReason")


class LineError(ValueError):
    """A line breaks a rule of the ordonnance: a French message and the FHIRPath of the problem."""

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


def number_of(type_: str, resource: dict[str, Any] | None) -> str | None:
    """The prescription number of a line of this server's ordonnances, or None."""
    if not isinstance(resource, dict) or type_ not in NUMBER_ELEMENT:
        return None
    ident = resource.get(NUMBER_ELEMENT[type_])
    if isinstance(ident, dict) and ident.get("system") == PRESCRIPTION_SYSTEM and ident.get("value"):
        return str(ident["value"])
    return None


def concept_text(concept: Any) -> str:
    """What a CodeableConcept says, for people: its text, else its first display, else its code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def reimbursable(line: dict[str, Any]) -> bool:
    for ext in line.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == REIMBURSABLE_URL:
            return bool(ext.get("valueBoolean", True))
    return True


def _quantity(q: Any) -> str:
    if not isinstance(q, dict) or q.get("value") is None:
        return ""
    value = q["value"]
    text = f"{value:g}" if isinstance(value, float) else str(value)
    unit = q.get("unit") or q.get("code") or ""
    return f"{text} {unit}".strip()


_DURATION_UNITS = {"d": "jour(s)", "wk": "semaine(s)", "mo": "mois", "a": "an(s)", "h": "heure(s)"}


def _duration(d: Any) -> str:
    if not isinstance(d, dict) or d.get("value") is None:
        return ""
    unit = _DURATION_UNITS.get(str(d.get("code") or ""), d.get("unit") or "")
    return (
        f"{d['value']:g} {unit}".strip() if isinstance(d["value"], float) else f"{d['value']} {unit}".strip()
    )


def posology(line: dict[str, Any]) -> str:
    """The posology as printed: the text of each Dosage (the prescriber writes it in full)."""
    parts = []
    for dosage in line.get("dosageInstruction") or []:
        if isinstance(dosage, dict) and dosage.get("text"):
            parts.append(str(dosage["text"]))
    return " ; ".join(parts)


@dataclass(frozen=True)
class LineView:
    """One line as people read it (PDF, pharmacy page)."""

    id: str
    title: str
    posology: str
    quantity: str
    duration: str
    refills: int
    substitution: bool
    reimbursable: bool
    note: str
    status: str


def line_view(type_: str, line: dict[str, Any], medication_text: str | None = None) -> LineView:
    dispense = line.get("dispenseRequest") or {}
    if type_ == "MedicationRequest":
        title = medication_text or concept_text(line.get("medicationCodeableConcept"))
    else:
        title = concept_text(line.get("code"))
    substitution = line.get("substitution") or {}
    notes = [str(n.get("text")) for n in line.get("note") or [] if isinstance(n, dict) and n.get("text")]
    return LineView(
        id=str(line.get("id") or ""),
        title=title,
        posology=posology(line),
        quantity=_quantity(dispense.get("quantity")),
        duration=_duration(dispense.get("expectedSupplyDuration")),
        refills=int(dispense.get("numberOfRepeatsAllowed") or 0),
        substitution=bool(substitution.get("allowedBoolean", True)),
        reimbursable=reimbursable(line),
        note=" ".join(notes),
        status=str(line.get("status") or ""),
    )


def check_line(type_: str, line: dict[str, Any]) -> None:
    """:class:`LineError` unless ``line`` says what a line of an ordonnance must say."""
    if line.get("intent") not in ("order", "original-order"):
        raise LineError("Une ordonnance est une prescription : intent = order.", f"{type_}.intent")
    subject = (line.get("subject") or {}).get("reference", "")
    if not str(subject).split("/_history/")[0].split("/")[-2:-1] == ["Patient"]:
        raise LineError("La prescription doit désigner le patient (subject = Patient).", f"{type_}.subject")
    requester = (line.get("requester") or {}).get("reference", "")
    if not str(requester).split("/")[-2:-1] == ["Practitioner"]:
        raise LineError(
            "Le prescripteur doit être un professionnel (requester = Practitioner).", f"{type_}.requester"
        )
    if type_ == "MedicationRequest":
        medication = line.get("medicationCodeableConcept")
        if "medicationReference" not in line and not concept_text(medication):
            raise LineError(
                "Le médicament doit être indiqué (code ou texte libre).", "MedicationRequest.medication"
            )
        if not posology(line):
            raise LineError(
                "La posologie doit être écrite en toutes lettres (dosageInstruction.text).",
                "MedicationRequest.dosageInstruction",
            )
    else:
        if not concept_text(line.get("code")):
            raise LineError("L'examen demandé doit être indiqué (code ou texte).", "ServiceRequest.code")


def category(line: dict[str, Any]) -> str | None:
    """``lab`` or ``imaging`` for a ServiceRequest coded so, else None."""
    for concept in line.get("category") or []:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("system") == SNOMED and coding.get("code") == LAB:
                return "lab"
            if coding.get("system") == SNOMED and coding.get("code") == IMAGING:
                return "imaging"
    return None


def canonical(type_: str, lines: list[dict[str, Any]]) -> bytes:
    """The signed content of an ordonnance: its lines without meta, narrative and status, by id, as
    JSON with sorted keys and no white space (stable across storage round trips)."""
    kept = [{k: v for k, v in line.items() if k not in _UNSIGNED} for line in lines]
    kept.sort(key=lambda line: str(line.get("id")))
    return orjson.dumps({"resourceType": type_, "lines": kept}, option=orjson.OPT_SORT_KEYS)


def content_hash(type_: str, lines: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical(type_, lines)).hexdigest()
