"""``Bundle.total`` of a search: ``_total=accurate`` counts, ``_total=estimate`` estimates.

An estimate costs less than a count, or it is pointless:

- a search with no criteria (its filter only excludes deleted resources) reads the
  collection's size from its metadata (``estimatedDocumentCount``): no scan at all. It
  includes deleted resources (their last version stays in the collection), so it is
  an upper bound, exact when nothing was deleted;
- with criteria, the matches are counted up to :data:`ESTIMATE_BOUND`: exact below it,
  and past it the total is left out (R4 lets a server omit it) rather than guessed,
  so a broad search never pays for a full count it was not asked for.
"""

from __future__ import annotations

from typing import Any

ESTIMATE_BOUND = 10_000
_NO_CRITERIA = {"d": False}


async def count_matches(
    collection: Any, query: dict[str, Any], mode: str, type_: str | None = None
) -> int | None:
    """The total of one type's matches (``None``: the estimate passed its bound)."""
    if type_ is not None:  # an access restriction may lead on a parameter of v3's wide index
        from fhir_server.search.query import wide_lead

        query = wide_lead(type_, query)
    if mode != "estimate":
        return int(await collection.count_documents(query))
    if query == _NO_CRITERIA:
        return int(await collection.estimated_document_count())
    found = int(await collection.count_documents(query, limit=ESTIMATE_BOUND + 1))
    return None if found > ESTIMATE_BOUND else found
