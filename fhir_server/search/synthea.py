"""Loading Synthea transaction bundles straight through the repository (tests and benchmarks).

Going through HTTP one resource at a time takes minutes for a few thousand
resources; this uses the repository's own write path (same indexer, same documents)
and rewrites the bundles' ``urn:uuid:`` references to ``Type/id`` as a server
processing the transaction would.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


def read_bundles(archive: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The bundles of a ``.tar.gz`` of Synthea JSON files, in name order."""
    with tarfile.open(archive, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".json")), key=lambda m: m.name)
        for member in members[:limit]:
            fh = tar.extractfile(member)
            if fh is not None:
                yield orjson.loads(fh.read())


def resources_of(bundle: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, id, resource) of each entry, with ``urn:uuid:`` references rewritten to ``Type/id``."""
    mapping: dict[str, str] = {}
    for entry in bundle.get("entry", []):
        res = entry["resource"]
        full = entry.get("fullUrl", "")
        id_ = res.get("id") or full.rsplit(":", 1)[-1]
        if full:
            mapping[full] = f"{res['resourceType']}/{id_}"
    raw = orjson.dumps(bundle).decode()
    for urn, ref in mapping.items():
        raw = raw.replace(f'"{urn}"', f'"{ref}"')
    out = []
    for entry in orjson.loads(raw).get("entry", []):
        res = entry["resource"]
        type_ = res["resourceType"]
        id_ = res.get("id") or entry.get("fullUrl", "").rsplit(":", 1)[-1]
        out.append((type_, id_, res))
    return out


def smallest_bundles(archive: Path, count: int) -> list[dict[str, Any]]:
    """The ``count`` bundles with the fewest entries (variety of patients at a small load cost)."""
    bundles = list(read_bundles(archive))
    bundles.sort(key=lambda b: (len(b.get("entry", [])), b["entry"][0]["resource"].get("id", "")))
    return bundles[:count]


async def load(repository: Any, bundles: list[dict[str, Any]], batch: int = 250) -> int:
    """Write every resource with ``repository.update`` (the server's write path), ``batch`` a transaction."""
    items = [item for bundle in bundles for item in resources_of(bundle)]
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]

        async def body(session: Any, chunk: list[tuple[str, str, dict[str, Any]]] = chunk) -> None:
            for type_, id_, resource in chunk:
                await repository.update(type_, id_, resource, session=session)

        await repository.run_transaction(body)
    return len(items)
