"""FHIR search: R4 search parameters compiled into value extractors and MongoDB queries.

Exports:

- :func:`index_resource`: the repository's ``indexer`` (values stored beside each resource);
- :func:`find_matching`: the current resources of a type matching search parameters
  (used by conditional create/update/delete and conditional references);
- :func:`search_filter` / :func:`search_query`: the MongoDB filter a search runs (for
  ``explain`` checks);
- :func:`ensure_search_indexes`: the indexes the queries need, created idempotently;
- :mod:`layout`: the search-index layout of the deployment (words on or off; v1 kept for the bench);
- :func:`scope_filter` / :func:`scope_matches` / :func:`check_scope_query`: SMART v2
  granular scopes (``?category=…``) as a filter and as a test of one resource.

Modules: ``params`` (compiled definitions), ``extract`` (write-time values), ``query`` (the
filter), ``codesets`` (``:in``/``:not-in``/``:above``/``:below`` through the terminology
service), ``fulltext`` (``_text``/``_content``), ``geo`` (``near``), ``filter`` (``_filter``),
``pairs`` (pair keys), ``indexes``, ``reindex``, ``handler``, ``paging``, ``include``,
``summary``, ``totals`` (``_total``), ``narrowing`` (granular scopes), ``capability``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhir_server.search import layout
from fhir_server.search.extract import EXTRACTOR_VERSION, index_resource
from fhir_server.search.indexes import ensure_search_indexes
from fhir_server.search.narrowing import NarrowingError, check_scope_query, scope_filter, scope_matches
from fhir_server.search.query import Context, Query, build_filter, build_query, wide_lead
from fhir_server.storage import version_from_doc

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from fhir_server.storage import MongoRepository, StoredVersion


async def search_filter(
    repository: MongoRepository,
    type_: str,
    params: list[tuple[str, str]],
    *,
    session: AsyncClientSession | None = None,
) -> dict[str, Any]:
    """The MongoDB filter of a search (400 ``FhirError`` on unknown or malformed parameters)."""
    return await build_filter(Context(repository, session), type_, params)


async def search_query(
    repository: MongoRepository,
    type_: str,
    params: list[tuple[str, str]],
    *,
    session: AsyncClientSession | None = None,
) -> Query:
    """The filter of a search (a :class:`Query`)."""
    return await build_query(Context(repository, session), type_, params)


async def find_matching(
    repository: MongoRepository,
    type_: str,
    params: list[tuple[str, str]],
    *,
    session: AsyncClientSession | None = None,
    limit: int | None = None,
) -> list[StoredVersion]:
    """The current, non-deleted resources of ``type_`` matching ``params`` (search semantics).

    Result parameters (``_count``, ``_sort``...) are ignored: callers want the matches.
    Reads inside ``session`` when given, so a transaction sees its own writes.
    """
    query = await search_query(repository, type_, params, session=session)
    cursor = repository.db[type_].find(query.filter, {"s": 0}, session=session).sort("_id", 1)
    if limit is not None:
        cursor = cursor.limit(limit)
    return [version_from_doc(doc, type_, doc["_id"]) async for doc in cursor]


__all__ = [
    "EXTRACTOR_VERSION",
    "NarrowingError",
    "Query",
    "check_scope_query",
    "ensure_search_indexes",
    "find_matching",
    "index_resource",
    "layout",
    "scope_filter",
    "scope_matches",
    "search_filter",
    "search_query",
    "wide_lead",
]
