"""Expansion of the R4 value sets that required bindings point at, from the vendored terminology.

Why: required bindings are the only terminology rule a server must enforce on write, and the
R4 package ships every code system they need except a few external ones (UCUM, MIME types,
ISO 4217 currencies...). All required value sets are expanded together on first use and the
parsed terminology (~40 MB of Python objects) is dropped: only a few hundred small code sets
stay in memory. A value set we cannot expand exactly yields ``None`` so that its binding is
skipped rather than enforced wrongly. Canonicals are partitioned by file (``/v2-`` URLs in
the v2 tables, ``/v3-`` in the v3 code systems, the rest in the FHIR file), so only the files
actually needed are read: the FHIR one and the v3 one.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from fhir_server.validation.definitions import definitions
from terminology import R4_TERMINOLOGY_DIR

_ConceptRow = tuple[str, str | None, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Expansion:
    """Allowed (system, code) pairs, plus the views the binding checks need."""

    pairs: frozenset[tuple[str, str]]
    codes: frozenset[str]
    systems: frozenset[str]


class _Unexpandable(Exception):
    """The value set depends on content we do not have, or on a rule we do not implement."""


def _file_for(url: str) -> str:
    if "/v2-" in url:
        return "v2-tables"
    if "/v3-" in url:
        return "v3-codesystems"
    return "valuesets"


def _walk_concepts(concepts: list[dict[str, Any]], parent: str | None) -> Iterator[_ConceptRow]:
    """(code, parent code, concept) for a nested concept hierarchy, depth first."""
    for concept in concepts:
        code = concept.get("code")
        if isinstance(code, str):
            yield code, parent, concept
            yield from _walk_concepts(concept.get("concept", []), code)


def _concept_count(cs: dict[str, Any]) -> int:
    return sum(1 for _ in _walk_concepts(cs.get("concept", []), None))


class _Terminology:
    """The vendored ValueSets and CodeSystems, read file by file on demand, and the expander.

    One instance lives only as long as one batch of expansions.
    """

    def __init__(self) -> None:
        self._value_sets: dict[str, dict[str, Any]] = {}
        self._code_systems: dict[str, dict[str, Any]] = {}
        self._loaded: set[str] = set()
        self._system_codes: dict[str, dict[str, set[str]]] = {}

    def _resource(self, table: dict[str, dict[str, Any]], url: str) -> dict[str, Any] | None:
        name = _file_for(url)
        if name not in self._loaded:
            self._load(name)
        return table.get(url)

    def _load(self, name: str) -> None:
        self._loaded.add(name)
        with gzip.open(R4_TERMINOLOGY_DIR / f"{name}.json.gz", "rb") as fh:
            bundle = orjson.loads(fh.read())
        for entry in bundle.get("entry", []):
            resource = entry.get("resource", {})
            url = resource.get("url")
            if not isinstance(url, str):
                continue
            if resource.get("resourceType") == "ValueSet":
                self._value_sets.setdefault(url, resource)
            elif resource.get("resourceType") == "CodeSystem":
                known = self._code_systems.get(url)
                # v2-0360 appears twice: keep the larger one.
                if known is None or _concept_count(resource) > _concept_count(known):
                    self._code_systems[url] = resource

    def system_codes(self, system: str) -> dict[str, set[str]]:
        """Code -> parent codes of a complete, vendored code system (nested concepts and
        ``subsumedBy``/``parent`` properties both give parents)."""
        if system in self._system_codes:
            return self._system_codes[system]
        cs = self._resource(self._code_systems, system)
        if cs is None or cs.get("content") != "complete":
            raise _Unexpandable(system)
        parents: dict[str, set[str]] = {}
        for code, parent, concept in _walk_concepts(cs.get("concept", []), None):
            links = parents.setdefault(code, set())
            if parent is not None:
                links.add(parent)
            for prop in concept.get("property", []):
                if prop.get("code") in ("subsumedBy", "parent") and isinstance(prop.get("valueCode"), str):
                    links.add(prop["valueCode"])
        self._system_codes[system] = parents
        return parents

    def filtered(self, system: str, filters: list[dict[str, Any]]) -> set[str]:
        parents = self.system_codes(system)
        selected = set(parents)
        for flt in filters:
            prop, op, value = flt.get("property"), flt.get("op"), flt.get("value")
            if prop != "concept" or not isinstance(value, str):
                raise _Unexpandable(f"{system} filter {prop} {op}")
            if op == "is-a":
                codes = _descendants(parents, value) | ({value} if value in parents else set())
            elif op == "descendent-of":
                codes = _descendants(parents, value)
            elif op == "is-not-a":
                codes = set(parents) - _descendants(parents, value) - {value}
            elif op == "in":
                codes = {code.strip() for code in value.split(",")} & set(parents)
            else:
                raise _Unexpandable(f"{system} filter {op}")
            selected &= codes
        return selected

    def include(self, include: dict[str, Any], stack: tuple[str, ...]) -> set[tuple[str, str]]:
        """One compose.include/exclude: its system part and its value sets are intersected."""
        parts: list[set[tuple[str, str]]] = []
        system = include.get("system")
        if isinstance(system, str):
            if include.get("concept"):
                codes = {c["code"] for c in include["concept"] if isinstance(c.get("code"), str)}
            elif include.get("filter"):
                codes = self.filtered(system, include["filter"])
            else:
                codes = set(self.system_codes(system))
            parts.append({(system, code) for code in codes})
        for canonical in include.get("valueSet", []):
            parts.append(self.expand(canonical.split("|", 1)[0], stack))
        if not parts:
            raise _Unexpandable("empty include")
        result = parts[0]
        for part in parts[1:]:
            result = result & part
        return result

    def expand(self, url: str, stack: tuple[str, ...] = ()) -> set[tuple[str, str]]:
        if url in stack:
            raise _Unexpandable(f"cycle through {url}")
        vs = self._resource(self._value_sets, url)
        if vs is None:
            raise _Unexpandable(url)
        compose = vs.get("compose")
        if not compose:
            raise _Unexpandable(f"{url} has no compose")
        stack = (*stack, url)
        result: set[tuple[str, str]] = set()
        for include in compose.get("include", []):
            result |= self.include(include, stack)
        for exclude in compose.get("exclude", []):
            result -= self.include(exclude, stack)
        return result


def _descendants(parents: dict[str, set[str]], root: str) -> set[str]:
    children: dict[str, set[str]] = {}
    for code, links in parents.items():
        for link in links:
            children.setdefault(link, set()).add(code)
    found: set[str] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _expand_all(urls: Iterable[str]) -> dict[str, Expansion | None]:
    terminology = _Terminology()
    expansions: dict[str, Expansion | None] = {}
    for url in urls:
        try:
            pairs = terminology.expand(url)
        except _Unexpandable:
            expansions[url] = None
            continue
        expansions[url] = Expansion(
            frozenset(pairs), frozenset(code for _, code in pairs), frozenset(system for system, _ in pairs)
        )
    return expansions


@cache
def required_expansions() -> dict[str, Expansion | None]:
    """Every value set a required binding of the R4 definitions points at, expanded once."""
    return _expand_all(sorted(definitions().required_value_sets))


def expand(url: str) -> Expansion | None:
    """The codes of value set ``url`` (canonical without version), or None when the vendored
    content cannot define it exactly (the binding is then not enforced). Value sets outside
    the required bindings are expanded from the files again at each call (tests, tools)."""
    required = required_expansions()
    if url in required:
        return required[url]
    return _expand_all([url])[url]
