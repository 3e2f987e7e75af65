"""The people a patient acts for: themselves and their dependents (ayants droit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import HTTPException, Request

from apps.portal.fhir import FhirClient, FhirError
from apps.portal.filters import human_name
from apps.portal.patient.accounts import my_patients
from fhir_server.auth.accounts import age_on

RELATION_LABELS = {"PRN": "Enfant", "GUARD": "Sous tutelle", "SPS": "Conjoint(e)", "CHILD": "Parent"}


@dataclass
class Person:
    id: str
    resource: dict[str, Any]
    holder: bool
    relation: str = ""

    @property
    def name(self) -> str:
        return human_name(self.resource, with_prefix=False)

    @property
    def age(self) -> int | None:
        try:
            return age_on(date.fromisoformat(str(self.resource.get("birthDate"))), date.today())
        except ValueError:
            return None

    @property
    def minor(self) -> bool:
        return self.age is not None and self.age < 18


async def people(request: Request, fhir: FhirClient) -> list[Person]:
    """The holder, then each dependent with the relationship the RelatedPerson records."""
    ids = await my_patients(request)
    out: list[Person] = []
    for index, pid in enumerate(ids):
        try:
            resource = await fhir.read("Patient", pid)
        except FhirError:
            continue  # removed since the login
        relation = ""
        if index:
            for related in await fhir.search_resources("RelatedPerson", {"patient": f"Patient/{pid}"}):
                for concept in related.get("relationship") or []:
                    for coding in concept.get("coding") or []:
                        relation = relation or RELATION_LABELS.get(str(coding.get("code")), "")
        out.append(Person(pid, resource, index == 0, relation))
    return out


async def chosen(request: Request, fhir: FhirClient, patient_id: str | None) -> tuple[Person, list[Person]]:
    """The person a page is about (``?patient=``; the holder by default) among those the patient acts
    for; anyone else is answered like a missing page (never "exists but not yours")."""
    everyone = await people(request, fhir)
    if not patient_id:
        return everyone[0], everyone
    for person in everyone:
        if person.id == patient_id:
            return person, everyone
    raise HTTPException(404, "Élément introuvable, ou hors de vos dossiers.")
