"""France as NCP-A: the national connector answering from the FHIR API.

Patients are found by their INS-NIR (``Patient.identifier`` ``urn:oid:1.2.250.1.213.1.4.8``),
the Patient Summary is built on demand from the patient's FHIR data (``$everything`` restricted
to the Patient Summary types) by ``cda_transform.to_cda`` (pivot L3, ``CDA_Pharma.xsd``), and
its PDF rendering is offered as the L1. Built documents are kept a while so that the retrieve
(ITI-39) returns exactly what the query (ITI-38) listed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections import OrderedDict
from typing import Any

from cda_transform import TransformError, to_cda

from .errors import EhdsiError
from .fhir_client import FhirClient
from .identity import Demographics, PatientId, Traits, hl7_date
from .namespaces import FORMAT_PDF, FORMAT_PIVOT, PS_CLASS_CODE
from .pdf import l1_document, render_pdf
from .settings import GatewaySettings
from .xca import DocumentEntry, RetrievedDocument, sha1

PS_TYPES = (
    "Patient,AllergyIntolerance,Condition,MedicationStatement,MedicationRequest,Medication,Procedure,"
    "Immunization,Observation,Device,DeviceUseStatement,Practitioner,PractitionerRole,Organization"
)
GENDER_TO_HL7 = {"male": "M", "female": "F", "other": "UN", "unknown": "UN"}


def demographics(patient: dict[str, Any]) -> Demographics:
    ids = [
        PatientId(i["system"].removeprefix("urn:oid:"), str(i["value"]))
        for i in patient.get("identifier") or []
        if str(i.get("system", "")).startswith("urn:oid:") and i.get("value")
    ]
    name = next(iter(patient.get("name") or []), {})
    address = next(iter(patient.get("address") or []), {})
    return Demographics(
        ids=ids,
        family=[name["family"]] if name.get("family") else [],
        given=list(name.get("given") or []),
        gender=GENDER_TO_HL7.get(str(patient.get("gender"))),
        birth_date=hl7_date(patient.get("birthDate")) if patient.get("birthDate") else None,
        street=" ".join(address.get("line") or []) or None,
        city=address.get("city"),
        postal_code=address.get("postalCode"),
        country=address.get("country"),
    )


class FranceConnector:
    def __init__(self, fhir: FhirClient, settings: GatewaySettings, *, cache_seconds: float = 3600) -> None:
        self.fhir = fhir
        self.settings = settings
        self.cache_seconds = cache_seconds
        self._documents: OrderedDict[str, tuple[float, PatientId, RetrievedDocument]] = OrderedDict()

    async def _patients(self, pid: PatientId) -> list[dict[str, Any]]:
        if pid.root not in self.settings.patient_domains:
            return []
        return await self.fhir.search_all(
            "Patient", {"identifier": f"urn:oid:{pid.root}|{pid.extension}"}, limit=10
        )

    async def find_patients(self, traits: Traits) -> list[Demographics]:
        if not any(p.root in self.settings.patient_domains for p in traits.ids):
            domains = ", ".join(self.settings.patient_domains)
            raise EhdsiError(
                "ERROR_PI_NO_MATCH", f"domaine d'identifiant non servi par la France (attendu : {domains})"
            )
        found: dict[str, dict[str, Any]] = {}
        for pid in traits.ids:
            for patient in await self._patients(pid):
                if patient.get("active") is False:
                    continue
                found[patient["id"]] = patient
        matches = []
        for patient in found.values():
            demo = demographics(patient)
            if (
                traits.birth_date
                and demo.birth_date
                and not demo.birth_date.startswith(traits.birth_date[:8])
            ):
                continue
            if traits.gender and demo.gender and traits.gender != demo.gender:
                continue
            matches.append(demo)
        return matches

    async def list_documents(self, patient: PatientId, class_codes: list[str]) -> list[DocumentEntry]:
        if class_codes and PS_CLASS_CODE not in class_codes:
            raise EhdsiError(
                "ERROR_GENERIC_SERVICE_SIGNIFIER_UNKNOWN",
                f"la France ne sert que la synthèse médicale ({PS_CLASS_CODE})",
            )
        patients = [p for p in await self._patients(patient) if p.get("active") is not False]
        if len(patients) != 1:
            return []
        resources = await self.fhir.search_all(
            f"Patient/{patients[0]['id']}/$everything", {"_type": PS_TYPES, "_count": "1000"}, limit=20000
        )
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"{self.fhir.base}/{r['resourceType']}/{r['id']}", "resource": r}
                for r in resources
                if r.get("resourceType") and r.get("id")
            ],
        }
        try:
            l3 = await asyncio.to_thread(to_cda, bundle)
        except TransformError as exc:
            raise EhdsiError("ERROR_PS_GENERIC", f"synthèse non constructible : {exc}", sender=False) from exc
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        digest = hashlib.sha256(l3).hexdigest()[:20]
        docs = [(f"{self.settings.repository_id}^{digest}L3", FORMAT_PIVOT, l3, "Patient Summary (pivot L3)")]
        if self.settings.offer_l1:
            l1 = await asyncio.to_thread(lambda: l1_document(l3, render_pdf(l3)))
            docs.append(
                (f"{self.settings.repository_id}^{digest}L1", FORMAT_PDF, l1, "Patient Summary (PDF L1)")
            )
        entries = []
        for unique_id, fmt, data, title in docs:
            self._remember(
                unique_id,
                patient,
                RetrievedDocument(
                    self.settings.home_community_id, self.settings.repository_id, unique_id, "text/xml", data
                ),
            )
            entries.append(
                DocumentEntry(
                    unique_id=unique_id,
                    repository_id=self.settings.repository_id,
                    home_community_id=self.settings.home_community_id,
                    patient=patient,
                    format_code=fmt,
                    title=title,
                    creation_time=now,
                    language="fr-FR",
                    size=len(data),
                    hash=sha1(data),
                )
            )
        return entries

    def _remember(self, unique_id: str, patient: PatientId, document: RetrievedDocument) -> None:
        now = time.monotonic()
        self._documents[unique_id] = (now + self.cache_seconds, patient, document)
        self._documents.move_to_end(unique_id)
        while self._documents and (
            len(self._documents) > 500 or next(iter(self._documents.values()))[0] < now
        ):
            self._documents.popitem(last=False)

    async def retrieve(
        self, repository_id: str, unique_id: str
    ) -> tuple[list[PatientId], RetrievedDocument] | None:
        if repository_id != self.settings.repository_id:
            return None
        found = self._documents.get(unique_id)
        if found is None or found[0] < time.monotonic():
            return None
        return [found[1]], found[2]
