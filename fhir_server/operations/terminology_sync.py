"""The server's terminology service: the vendored content plus the stored terminology resources.

CodeSystem, ValueSet and ConceptMap are ordinary FHIR resources here (versioned, searchable,
written through REST, transactions or ``passerelle terminology load``). What the operations
answer from is the process-wide :func:`terminology.get_service`, fed as follows:

- the vendored content (FHIR R4, eHDSI MVC, French designations) is the built-in base, read
  from the package files, never copied into MongoDB: thousands of resources and ~200,000
  concepts would be written again at every start or migrated at every upgrade, for content
  that only changes with the code;
- at start-up the current (not deleted) stored resources are added on top, oldest write first,
  so the latest write of a canonical URL wins, as it would have at write time (about 0.5 s:
  the service is built then, not at the first question, with the expansion limit of
  ``PASSERELLE_TERMINOLOGY_MAX_EXPANSION``, default 10,000 codes without ``count``);
- after each committed transaction (:meth:`MongoRepository.observe`) a create is added in
  place (no rebuild), while an update or a delete rebuilds the service from the base and the
  stored resources (the index merges what resources bring, so removing one exactly is a
  rebuild: about half a second, then the new service replaces the old one atomically).
  The write's response is sent once the service is updated, so ``$expand`` right after a
  POST sees the new value set.

A stored resource the engine refuses (only possible for one written before the write-time
check existed) is logged and left out, never allowed to break the service. Each process
feeds its own service: a second server process on the same database sees another process's
writes at its next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import orjson

from fhir_server.storage import MongoRepository
from fhir_server.storage.records import StoredVersion
from terminology import TerminologyError, TerminologyService, get_service, set_service
from terminology.checks import TERMINOLOGY_TYPES
from terminology.service import DEFAULT_MAX_EXPANSION

log = logging.getLogger("passerelle.terminology")

Key = tuple[str, str]  # (resource type, id)


class StoredTerminology:
    """Keeps :func:`terminology.get_service` equal to the base content plus the stored resources."""

    def __init__(self, max_expansion_size: int = DEFAULT_MAX_EXPANSION) -> None:
        self.max_expansion_size = max_expansion_size
        self.stored: dict[Key, dict[str, Any]] = {}  # insertion order = write order
        self._lock = asyncio.Lock()
        self.rebuilds = 0

    async def start(self, repository: MongoRepository) -> None:
        """Load the stored resources, then follow every committed write of the three types."""
        docs: list[tuple[Any, Key, bytes]] = []
        for type_ in sorted(TERMINOLOGY_TYPES):
            async for doc in repository.db[type_].find({"d": False}, {"j": 1, "ts": 1}):
                docs.append((doc["ts"], (type_, doc["_id"]), bytes(doc["j"])))
        docs.sort(key=lambda d: (d[0], d[1]))
        self.stored = {key: orjson.loads(body) for _, key, body in docs}
        await asyncio.to_thread(self._rebuild)  # also applies the configured expansion limit
        repository.observe(TERMINOLOGY_TYPES, self.committed)

    async def committed(self, versions: list[StoredVersion]) -> None:
        """Apply one committed transaction's writes of CodeSystem/ValueSet/ConceptMap."""
        async with self._lock:
            rebuild = False
            added: list[dict[str, Any]] = []
            for version in versions:
                key = (version.type, version.id)
                previous = self.stored.pop(key, None)
                if version.deleted or version.body is None:
                    rebuild = rebuild or previous is not None
                    continue
                rebuild = rebuild or previous is not None
                resource = orjson.loads(version.body)
                self.stored[key] = resource
                added.append(resource)
            if rebuild:
                await asyncio.to_thread(self._rebuild)
            elif added:
                await asyncio.to_thread(self._add, get_service(), added)

    def _rebuild(self) -> None:
        from terminology.content import load_default_content

        service = TerminologyService(max_expansion_size=self.max_expansion_size)
        load_default_content(service)
        self._add(service, list(self.stored.values()))
        set_service(service)
        self.rebuilds += 1

    @staticmethod
    def _add(service: TerminologyService, resources: list[dict[str, Any]]) -> None:
        for resource in resources:
            try:
                service.load_resources([resource])
            except TerminologyError as exc:
                log.warning(
                    "%s/%s left out of the terminology service: %s",
                    resource.get("resourceType"),
                    resource.get("id"),
                    exc.message,
                )


def max_expansion_size() -> int:
    """``PASSERELLE_TERMINOLOGY_MAX_EXPANSION``: largest ``$expand`` answered without ``count``."""
    raw = os.environ.get("PASSERELLE_TERMINOLOGY_MAX_EXPANSION", str(DEFAULT_MAX_EXPANSION))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"PASSERELLE_TERMINOLOGY_MAX_EXPANSION must be a positive integer, not {raw!r}")
    return value


async def start_terminology(repository: MongoRepository) -> StoredTerminology:
    """Feed the process's terminology service from ``repository`` (called by the app's lifespan)."""
    stored = StoredTerminology(max_expansion_size())
    await stored.start(repository)
    return stored
