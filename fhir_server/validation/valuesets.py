"""Membership of the R4 value sets that required bindings point at, from the terminology engine.

Why: required bindings are the only terminology rule a server must enforce on write. The
value sets are the FHIR R4 ones (the bound canonical is the 4.0.1 value set), so they are
expanded by the ``terminology`` engine from the vendored R4 package alone, in a scratch
:class:`~terminology.TerminologyService` that is dropped once every required value set is
expanded: CodeSystem/ValueSet resources stored on the server (or the eHDSI content) never
change what ``Patient.gender`` accepts. Only a few hundred small code sets stay in memory,
and a write checks membership with a set lookup (cached expansions, no engine call).

A value set the engine cannot expand exactly (external systems such as UCUM, MIME types,
ISO 4217; value sets absent from the R4 package; a system known only partially) yields
``None``: its binding is skipped rather than enforced wrongly (see ``skipped_bindings``).
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from functools import cache

import orjson

from fhir_server.validation.definitions import definitions
from terminology import R4_TERMINOLOGY_DIR, TerminologyError, TerminologyService

# Larger than any required value set (the largest have about a thousand codes).
_MAX_CODES = 50_000


@dataclass(frozen=True, slots=True)
class Expansion:
    """Allowed (system, code) pairs, plus the views the binding checks need."""

    pairs: frozenset[tuple[str, str]]
    codes: frozenset[str]
    systems: frozenset[str]


def _r4_service() -> TerminologyService:
    """A scratch service with the R4 package: FHIR value sets and code systems, v3 and v2 tables
    (FHIR value sets include v2 ones, e.g. yesnodontknow includes v2-0136)."""
    service = TerminologyService(max_expansion_size=_MAX_CODES, max_paged_expansion_size=_MAX_CODES)
    for name in ("valuesets", "v3-codesystems", "v2-tables"):
        with gzip.open(R4_TERMINOLOGY_DIR / f"{name}.json.gz", "rb") as fh:
            service.load_resources([orjson.loads(fh.read())])
    return service


def _expand_with(service: TerminologyService, url: str) -> Expansion | None:
    try:
        expansion = service.expand(url)["expansion"]
    except TerminologyError:
        return None
    pairs = frozenset((c["system"], c["code"]) for c in expansion["contains"])
    return Expansion(pairs, frozenset(code for _, code in pairs), frozenset(system for system, _ in pairs))


def _expand_all(urls: list[str]) -> dict[str, Expansion | None]:
    service = _r4_service()
    return {url: _expand_with(service, url) for url in urls}


@cache
def required_expansions() -> dict[str, Expansion | None]:
    """Every value set a required binding of the R4 definitions points at, expanded once."""
    return _expand_all(sorted(definitions().required_value_sets))


_others: dict[str, Expansion | None] = {}
_others_lock = threading.Lock()


def expand(url: str) -> Expansion | None:
    """The codes of value set ``url`` (canonical without version), or None when the vendored
    R4 content cannot define it exactly (the binding is then not enforced). Value sets outside
    the required bindings (tests, tools) are expanded on demand and cached too."""
    required = required_expansions()
    if url in required:
        return required[url]
    with _others_lock:
        if url not in _others:
            _others[url] = _expand_all([url])[url]
        return _others[url]
