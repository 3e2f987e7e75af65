"""Re-extraction of stored search values when the extractor changes (or data predates it).

The version of the extractor that wrote a document's values is stored with them
(``s.~v``); a marker document records the version the whole database is at. When
the server starts with another version, the documents written by an older one (or
before search existed) get their values recomputed from the stored JSON before the
server takes its first request: old values can be wrong for the new queries (a string
search looks up prefixes older versions did not store), and a search must not silently
miss resources. It is done once per extractor change (measured on SecantusDB: about 70
resources/s).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from fhir_server.search.extract import EXTRACTOR_VERSION, index_resource

if TYPE_CHECKING:
    from fhir_server.storage import MongoRepository

log = logging.getLogger("passerelle.search")
META = "search_meta"
_MARKER = "extractor"


async def reindex_if_needed(repository: MongoRepository) -> int:
    """Recompute stale search values; the number of documents rewritten (0 when up to date)."""
    from fhir_server.validation import RESOURCE_TYPES

    marker = await repository.db[META].find_one({"_id": _MARKER})
    if marker is not None and marker.get("v") == EXTRACTOR_VERSION:
        return 0
    names = set(await repository.db.list_collection_names())
    rewritten = 0
    for type_ in sorted(names & set(RESOURCE_TYPES)):
        coll = repository.db[type_]
        stale = coll.find({"d": False, "s.~v": {"$ne": EXTRACTOR_VERSION}}, {"j": 1, "v": 1})
        async for doc in stale:
            values = index_resource(type_, orjson.loads(doc["j"]))
            # only if the version is still the one read: a concurrent write re-indexed it already
            result = await coll.update_one({"_id": doc["_id"], "v": doc["v"]}, {"$set": {"s": values}})
            rewritten += result.modified_count
    await repository.db[META].replace_one(
        {"_id": _MARKER}, {"_id": _MARKER, "v": EXTRACTOR_VERSION}, upsert=True
    )
    if rewritten:
        log.info("search values recomputed for %d resources (extractor v%d)", rewritten, EXTRACTOR_VERSION)
    return rewritten
