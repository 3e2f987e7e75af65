"""A patient's record in words: one line per resource, grouped by kind, for the HTML and PDF
copies of "Télécharger mes données" (the JSON Bundle is the complete, exact copy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.portal.filters import coding_text, date_fr, human_name

SECTIONS = {
    "Patient": "Identité",
    "RelatedPerson": "Proches et ayants droit",
    "Coverage": "Couverture",
    "Consent": "Consentements",
    "AllergyIntolerance": "Allergies",
    "Condition": "Antécédents et problèmes de santé",
    "Observation": "Mesures et observations",
    "MedicationRequest": "Prescriptions de médicaments",
    "MedicationStatement": "Traitements déclarés",
    "ServiceRequest": "Demandes d'examens",
    "Immunization": "Vaccinations",
    "Procedure": "Actes",
    "Encounter": "Consultations",
    "Appointment": "Rendez-vous",
    "Composition": "Comptes rendus",
    "DocumentReference": "Documents",
    "QuestionnaireResponse": "Questionnaires remplis",
    "Communication": "Messages",
    "Task": "Demandes et suivis",
    "CareTeam": "Équipe de soins",
    "Practitioner": "Professionnels de santé",
    "PractitionerRole": "Fonctions des professionnels",
    "Organization": "Établissements",
}
GENDER = {"female": "féminin", "male": "masculin", "other": "autre", "unknown": "inconnu"}


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)


def _when(resource: dict[str, Any]) -> str:
    for key in ("effectiveDateTime", "recordedDate", "authoredOn", "dateTime", "date", "issued",
                "occurrenceDateTime", "onsetDateTime", "sent", "authored", "created", "start"):  # fmt: skip
        if resource.get(key):
            return date_fr(resource[key])
    period = resource.get("period") or resource.get("effectivePeriod") or {}
    return date_fr(period.get("start")) if period.get("start") else ""


def _quantity(q: dict[str, Any]) -> str:
    value = q.get("value")
    text = f"{value:g}" if isinstance(value, float) else str(value if value is not None else "")
    return f"{text} {q.get('unit') or q.get('code') or ''}".strip().replace(".", ",")


def _value(resource: dict[str, Any]) -> str:
    if "valueQuantity" in resource:
        return _quantity(resource["valueQuantity"])
    if "valueString" in resource:
        return str(resource["valueString"])
    if "valueCodeableConcept" in resource:
        return coding_text(resource["valueCodeableConcept"])
    parts = []
    for comp in resource.get("component") or []:
        if "valueQuantity" in comp:
            parts.append(f"{coding_text(comp.get('code'))} {_quantity(comp['valueQuantity'])}")
    return ", ".join(parts)


def describe(resource: dict[str, Any]) -> str:
    """One readable line (French) for a resource of the record."""
    kind = resource.get("resourceType", "")
    if kind == "Patient":
        bits = [human_name(resource, with_prefix=False)]
        if resource.get("birthDate"):
            bits.append(f"né(e) le {date_fr(resource['birthDate'])}")
        if resource.get("gender"):
            bits.append(f"sexe {GENDER.get(resource['gender'], resource['gender'])}")
        for a in resource.get("address") or []:
            bits.append(" ".join([*a.get("line", []), a.get("postalCode", ""), a.get("city", "")]).strip())
        for t in resource.get("telecom") or []:
            bits.append(str(t.get("value", "")))
        return " — ".join(b for b in bits if b)
    if kind in ("Practitioner", "RelatedPerson"):
        return human_name(resource, with_prefix=kind == "Practitioner") or kind
    if kind == "Organization":
        return str(resource.get("name") or "Établissement")
    if kind == "Consent":
        what = (
            ", ".join(coding_text(c) for c in resource.get("category") or [] if coding_text(c))
            or "Consentement"
        )
        versions = ", ".join(str(p.get("uri", "")).rsplit("/", 1)[-1] for p in resource.get("policy") or [])
        return f"{what}{f' (version {versions})' if versions else ''} — {resource.get('status', '')}"
    if kind == "Composition":
        main = str(resource.get("title") or coding_text(resource.get("type")) or "Compte rendu")
    elif kind == "DocumentReference":
        main = str(resource.get("description") or coding_text(resource.get("type")) or "Document")
    elif kind in ("MedicationRequest", "MedicationStatement"):
        main = coding_text(resource.get("medicationCodeableConcept")) or "Médicament"
        dosage = resource.get("dosageInstruction") or resource.get("dosage") or []
        if dosage and dosage[0].get("text"):
            main += f" — {dosage[0]['text']}"
    elif kind == "Immunization":
        main = coding_text(resource.get("vaccineCode")) or "Vaccin"
    elif kind == "AllergyIntolerance":
        main = coding_text(resource.get("code")) or "Allergie"
        reactions = [
            coding_text(m) for r in resource.get("reaction") or [] for m in r.get("manifestation") or []
        ]
        if reactions:
            main += f" (réaction : {', '.join(reactions)})"
    elif kind == "Encounter":
        main = coding_text((resource.get("type") or [None])[0]) or coding_text(
            (resource.get("reasonCode") or [None])[0]
        )
        main = main or "Consultation"
    elif kind in ("Communication",):
        payload = resource.get("payload") or [{}]
        main = str(payload[0].get("contentString") or "Message")[:200]
    elif kind == "Appointment":
        main = str(
            resource.get("description")
            or coding_text((resource.get("serviceType") or [None])[0])
            or "Rendez-vous"
        )
    else:
        main = coding_text(resource.get("code")) or coding_text(resource.get("type")) or kind
    value = _value(resource) if kind == "Observation" else ""
    when = _when(resource)
    status = resource.get("status")
    out = f"{when} — {main}" if when else main
    if value:
        out += f" : {value}"
    if status and kind not in ("Observation",):
        out += f" [{status}]"
    return out


def sections(bundle: dict[str, Any]) -> list[Section]:
    """The resources of an ``$everything`` Bundle, grouped in the order of :data:`SECTIONS`."""
    grouped: dict[str, Section] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        kind = resource.get("resourceType", "")
        title = SECTIONS.get(kind, f"Autres : {kind}")
        grouped.setdefault(title, Section(title)).lines.append(describe(resource))
    order = {title: i for i, title in enumerate(SECTIONS.values())}
    return sorted(grouped.values(), key=lambda s: (order.get(s.title, 999), s.title))
