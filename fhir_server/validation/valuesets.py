"""Expansion of the R4 value sets that required bindings point at, from the vendored terminology.

Why: required bindings are the only terminology rule a server must enforce on write, and the
R4 package ships every code system they need except a few external ones (UCUM, MIME types,
ISO 4217 currencies...). Each value set is expanded on first use and cached; a value set we
cannot expand exactly yields ``None`` so that its binding is skipped rather than enforced
wrongly. The three vendored files are read lazily, in order, until a canonical is found:
most bindings need only the FHIR one, none needs the v2 tables.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from terminology import R4_TERMINOLOGY_DIR

_FILES = ("valuesets", "v3-codesystems", "v2-tables")


@dataclass(frozen=True, slots=True)
class Expansion:
    """Allowed (system, code) pairs, plus the views the binding checks need."""

    pairs: frozenset[tuple[str, str]]
    codes: frozenset[str]
    systems: frozenset[str]


class _Terminology:
    """ValueSets and CodeSystems by canonical URL, loading the next file on a miss."""

    def __init__(self) -> None:
        self.value_sets: dict[str, dict[str, Any]] = {}
        self.code_systems: dict[str, dict[str, Any]] = {}
        self._pending = list(_FILES)
        self._lock = threading.Lock()

    def value_set(self, url: str) -> dict[str, Any] | None:
        return self._find(self.value_sets, url)

    def code_system(self, url: str) -> dict[str, Any] | None:
        return self._find(self.code_systems, url)

    def load_all(self) -> None:
        with self._lock:
            while self._pending:
                self._load(self._pending.pop(0))

    def _find(self, table: dict[str, dict[str, Any]], url: str) -> dict[str, Any] | None:
        found = table.get(url)
        while found is None and self._pending:
            with self._lock:
                if self._pending:
                    self._load(self._pending.pop(0))
            found = table.get(url)
        return found

    def _load(self, name: str) -> None:
        with gzip.open(R4_TERMINOLOGY_DIR / f"{name}.json.gz", "rb") as fh:
            bundle = orjson.loads(fh.read())
        for entry in bundle.get("entry", []):
            resource = entry.get("resource", {})
            url = resource.get("url")
            if not isinstance(url, str):
                continue
            if resource.get("resourceType") == "ValueSet":
                self.value_sets.setdefault(url, resource)
            elif resource.get("resourceType") == "CodeSystem":
                known = self.code_systems.get(url)
                # v2-0360 appears twice: keep the complete, larger one.
                if known is None or _concept_count(resource) > _concept_count(known):
                    self.code_systems[url] = resource


@cache
def _terminology() -> _Terminology:
    return _Terminology()


def _concept_count(cs: dict[str, Any]) -> int:
    return sum(1 for _ in _walk_concepts(cs.get("concept", []), None))


_ConceptRow = tuple[str, str | None, dict[str, Any]]


def _walk_concepts(concepts: list[dict[str, Any]], parent: str | None) -> Iterator[_ConceptRow]:
    """(code, parent code, concept) for a nested concept hierarchy, depth first."""
    for concept in concepts:
        code = concept.get("code")
        if isinstance(code, str):
            yield code, parent, concept
            yield from _walk_concepts(concept.get("concept", []), code)


class _Unexpandable(Exception):
    """The value set depends on content we do not have, or on a rule we do not implement."""


@cache
def _system_codes(system: str) -> dict[str, set[str]]:
    """Code -> parent codes of a complete, vendored code system (nested concepts and
    ``subsumedBy``/``parent`` properties both give parents)."""
    cs = _terminology().code_system(system)
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
    return parents


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


def _filtered(system: str, filters: list[dict[str, Any]]) -> set[str]:
    parents = _system_codes(system)
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


def _include(include: dict[str, Any], stack: tuple[str, ...]) -> set[tuple[str, str]]:
    """One compose.include/exclude: its system part and its value sets are intersected."""
    parts: list[set[tuple[str, str]]] = []
    system = include.get("system")
    if isinstance(system, str):
        if include.get("concept"):
            codes = {c["code"] for c in include["concept"] if isinstance(c.get("code"), str)}
        elif include.get("filter"):
            codes = _filtered(system, include["filter"])
        else:
            codes = set(_system_codes(system))
        parts.append({(system, code) for code in codes})
    for canonical in include.get("valueSet", []):
        parts.append(_expand(canonical.split("|", 1)[0], stack))
    if not parts:
        raise _Unexpandable("empty include")
    result = parts[0]
    for part in parts[1:]:
        result = result & part
    return result


def _expand(url: str, stack: tuple[str, ...]) -> set[tuple[str, str]]:
    if url in stack:
        raise _Unexpandable(f"cycle through {url}")
    vs = _terminology().value_set(url)
    if vs is None:
        raise _Unexpandable(url)
    compose = vs.get("compose")
    if not compose:
        raise _Unexpandable(f"{url} has no compose")
    stack = (*stack, url)
    result: set[tuple[str, str]] = set()
    for include in compose.get("include", []):
        result |= _include(include, stack)
    for exclude in compose.get("exclude", []):
        result -= _include(exclude, stack)
    return result


@cache
def expand(url: str) -> Expansion | None:
    """The codes of value set ``url`` (canonical without version), or None when the vendored
    content cannot define it exactly (the binding is then not enforced)."""
    try:
        pairs = _expand(url, ())
    except _Unexpandable:
        return None
    return Expansion(
        frozenset(pairs), frozenset(code for _, code in pairs), frozenset(system for system, _ in pairs)
    )
