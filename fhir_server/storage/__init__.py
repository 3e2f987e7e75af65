"""Storage of FHIR resources: the repository interface and its MongoDB implementation."""

from fhir_server.storage.mongo import MongoRepository, history_key, version_from_doc
from fhir_server.storage.records import HistoryPage, StoredVersion, VersionConflict

__all__ = [
    "HistoryPage",
    "MongoRepository",
    "StoredVersion",
    "VersionConflict",
    "history_key",
    "version_from_doc",
]
