"""Storage of FHIR resources: the repository interface and its MongoDB implementation."""

from fhir_server.storage.mongo import (
    MongoRepository,
    PreparedCreates,
    TransactionStats,
    history_key,
    version_from_doc,
)
from fhir_server.storage.records import HistoryPage, StoredVersion, VersionConflict

__all__ = [
    "HistoryPage",
    "MongoRepository",
    "PreparedCreates",
    "StoredVersion",
    "TransactionStats",
    "VersionConflict",
    "history_key",
    "version_from_doc",
]
