"""What a responding gateway asks its national infrastructure (OpenNCP's national connector).

France answers from its FHIR API (``ehdsi_gateway.france``); the mock peer answers from sample
CDA documents (``ehdsi_gateway.mock_peer``). Both raise :class:`EhdsiError` for refusals.
"""

from __future__ import annotations

from typing import Protocol

from .identity import Demographics, PatientId, Traits
from .xca import DocumentEntry, RetrievedDocument


class NationalConnector(Protocol):
    async def find_patients(self, traits: Traits) -> list[Demographics]:
        """Every patient matching the traits (none, one, or several: the responder decides)."""
        ...

    async def list_documents(self, patient: PatientId, class_codes: list[str]) -> list[DocumentEntry]:
        """The patient's documents of those classes (empty: no summary)."""
        ...

    async def retrieve(
        self, repository_id: str, unique_id: str
    ) -> tuple[list[PatientId], RetrievedDocument] | None:
        """One document and whose it is (None: unknown document)."""
        ...
