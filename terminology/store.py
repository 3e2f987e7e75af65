"""Persistent storage of loaded terminology resources, behind a small interface.

Until the FHIR server stores CodeSystem/ValueSet/ConceptMap as versioned resources in
MongoDB, ``passerelle terminology load`` keeps them in a :class:`FileStore`: one JSON file per
(resource type, canonical URL, version) under ``<data-dir>/terminology/<ResourceType>/``.
Loading the same content twice changes nothing (same key, same bytes), which makes ``load``
idempotent; a new version of a resource is a new file, an edited same-version resource
replaces its file. The server wiring will provide a MongoDB implementation of
:class:`ResourceStore`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

PutResult = Literal["created", "updated", "unchanged"]


class ResourceStore(Protocol):
    def put(self, resource: dict[str, Any]) -> PutResult: ...

    def resources(self) -> Iterator[dict[str, Any]]: ...

    def counts(self) -> dict[str, int]: ...


def resource_key(resource: dict[str, Any]) -> str:
    """Stable key for (type, url, version); resources without url fall back to their id."""
    identity = resource.get("url") or f"id:{resource.get('id')}"
    raw = f"{resource.get('resourceType')}|{identity}|{resource.get('version') or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class FileStore:
    """A directory of canonical JSON files (sorted keys), written atomically."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "terminology"

    def _path(self, resource: dict[str, Any]) -> Path:
        return self.root / str(resource.get("resourceType")) / f"{resource_key(resource)}.json"

    def put(self, resource: dict[str, Any]) -> PutResult:
        path = self._path(resource)
        data = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
        if path.exists():
            if path.read_bytes() == data:
                return "unchanged"
            outcome: PutResult = "updated"
        else:
            outcome = "created"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return outcome

    def resources(self) -> Iterator[dict[str, Any]]:
        if not self.root.exists():
            return
        for path in sorted(self.root.glob("*/*.json")):
            yield orjson.loads(path.read_bytes())

    def counts(self) -> dict[str, int]:
        if not self.root.exists():
            return {}
        return {d.name: sum(1 for _ in d.glob("*.json")) for d in sorted(self.root.iterdir()) if d.is_dir()}
