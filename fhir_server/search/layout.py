"""Which search-index layout this process writes and queries (set per deployment, at start).

- ``PASSERELLE_SEARCH_WORDS`` (``1``/``true``/``on``; default off): extract and index the words
  of ``_text``/``_content``. They were a third of every resource's index entries (an
  Observation's 91 entries held 28 words; a Patient's 284, 83) for two parameters few
  deployments search; off, a ``_text``/``_content`` search is refused (400 ``not-supported``,
  or ignored with a warning under ``Prefer: handling=lenient``) and the CapabilityStatement
  does not offer them. Switching it on (or off) re-extracts the stored values once at start.
- ``PASSERELLE_SEARCH_LAYOUT``: ``v3`` (default), ``v2`` or ``v1``, the layout before issue #13,
  kept so that ``passerelle bench`` measures both in one run. v3 is v2 with fewer, wider
  indexes (:mod:`.indexes`): the token and uri parameters, and most references, have no index
  of their own but one typed key each in the resource's ``~k`` list (``code`` ␟ value), whose index
  ``(s.~k, _id)`` serves all of them in ``_id`` order; ``_lastUpdated`` ranges are led by
  its sort key (index ``s_lu``) instead of two indexes of their own; and ``~k`` holds a
  presence key (for ``:missing=false``) only for the parameters nothing else answers it
  for. v2 ends every equality index
  (token, reference, uri, string prefix, pair key) with ``_id``, the default order of search
  results, so a page is read in index order and a ``_count=20`` page reads about 20
  documents however many match (MongoDB natively; SecantusDB through
  :mod:`fhir_server.secantus_patch`). v1: single-field indexes and words always on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Layout:
    name: str  # "v3", "v2" or "v1"
    words: bool  # ``_text``/``_content`` words extracted and indexed
    ordered: bool  # equality indexes continue with ``_id`` (pages read in index order)
    wide: bool = False  # token/uri/reference values as typed ``~k`` keys, one index for all (v3)

    def marker(self) -> str:
        """What the stored values depend on, beside the extractor version (see :mod:`.reindex`)."""
        return f"{self.name}{'+words' if self.words else ''}"


def _on(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "on", "yes")


@cache
def current() -> Layout:
    """The layout from the environment (read once per process)."""
    name = (os.environ.get("PASSERELLE_SEARCH_LAYOUT") or "v3").strip().lower()
    if name == "v1":
        return Layout("v1", words=True, ordered=False)
    if name not in ("v2", "v3"):
        raise ValueError(f"PASSERELLE_SEARCH_LAYOUT: v1, v2 or v3, not {name!r}")
    words = _on(os.environ.get("PASSERELLE_SEARCH_WORDS"))
    return Layout(name, words=words, ordered=True, wide=name == "v3")


def reset() -> None:
    """Read the environment again (tests that switch layouts in one process)."""
    current.cache_clear()
    from fhir_server.search.capability import search_capability
    from fhir_server.search.indexes import presence, type_indexes, wide_params
    from fhir_server.search.query import index_name

    type_indexes.cache_clear()
    wide_params.cache_clear()
    presence.cache_clear()
    index_name.cache_clear()
    search_capability.cache_clear()
