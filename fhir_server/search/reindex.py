"""Re-extraction of stored search values when the extractor or the layout changes (or data predates them).

The version of the extractor that wrote a document's values is stored with them
(``s.~v``); a marker document records the version and the layout (:mod:`.layout`: words
on or off, v1 or v2) the whole database is at. When the server starts with another
version, the documents written by an older one (or before search existed) get their
values recomputed from the stored JSON before the server takes its first request: old
values can be wrong for the new queries (a string search looks up prefixes older
versions did not store), and a search must not silently miss resources. When the layout
changed, every document is recomputed (the words of ``_text``/``_content`` appear or
go). It is done once per change, with its progress on the console (measured on
SecantusDB: about 70 resources/s).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import orjson

from fhir_server.search.extract import EXTRACTOR_VERSION, index_resource
from fhir_server.search.layout import current as current_layout

if TYPE_CHECKING:
    from fhir_server.storage import MongoRepository

log = logging.getLogger("passerelle.search")
META = "search_meta"
_MARKER = "extractor"
_LEGACY_LAYOUT = "v1+words"  # what a marker without ``layout`` was written by


def _progress(text: str) -> None:
    print(f"passerelle: {text}", file=sys.stderr, flush=True)


async def reindex_if_needed(repository: MongoRepository) -> int:
    """Recompute stale search values; the number of documents rewritten (0 when up to date)."""
    from fhir_server.validation import RESOURCE_TYPES

    layout = current_layout().marker()
    marker = await repository.db[META].find_one({"_id": _MARKER})
    if (
        marker is not None
        and marker.get("v") == EXTRACTOR_VERSION
        and marker.get("layout", _LEGACY_LAYOUT) == layout
    ):
        return 0
    everything = marker is not None and marker.get("layout", _LEGACY_LAYOUT) != layout
    names = set(await repository.db.list_collection_names())
    query: dict[str, Any] = {"d": False} if everything else {"d": False, "s.~v": {"$ne": EXTRACTOR_VERSION}}
    rewritten = 0
    for type_ in sorted(names & set(RESOURCE_TYPES)):
        coll = repository.db[type_]
        total = await coll.count_documents(query)
        if not total:
            continue
        _progress(f"search values of {type_}: recomputing {total} resources (extractor v{EXTRACTOR_VERSION}, "
                  f"layout {layout})")  # fmt: skip
        done, shown = 0, time.monotonic()
        async for doc in coll.find(query, {"j": 1, "v": 1}):
            values = index_resource(type_, orjson.loads(doc["j"]))
            # only if the version is still the one read: a concurrent write re-indexed it already
            result = await coll.update_one({"_id": doc["_id"], "v": doc["v"]}, {"$set": {"s": values}})
            rewritten += result.modified_count
            done += 1
            if time.monotonic() - shown > 2:
                _progress(f"search values of {type_}: {done}/{total}")
                shown = time.monotonic()
        _progress(f"search values of {type_}: {done}/{total} done")
    await repository.db[META].replace_one(
        {"_id": _MARKER}, {"_id": _MARKER, "v": EXTRACTOR_VERSION, "layout": layout}, upsert=True
    )
    if rewritten:
        log.info("search values recomputed for %d resources (extractor v%d, layout %s)", rewritten,
                 EXTRACTOR_VERSION, layout)  # fmt: skip
    return rewritten
