"""Storage of FHIR resources: the repository interface and its MongoDB implementation."""

from fhir_server.storage.mongo import MongoRepository
from fhir_server.storage.records import HistoryPage, StoredVersion, VersionConflict

__all__ = ["HistoryPage", "MongoRepository", "StoredVersion", "VersionConflict"]
