"""Memo of top-level elements the R4B models already accepted, to validate a resource faster.

Why: building the pydantic model is the costliest part of a write's validation (about a fifth
of the server's CPU on a Synthea ingest), and most of it is spent on elements that repeat
verbatim from one resource to the next: ``meta.profile``, ``category``, the LOINC ``code`` of
every Observation of a kind, the ``subject`` of every entry of a patient's Bundle, the
``identifier`` system blocks... An element model is validated from its JSON content alone (no
validator of fhir.resources looks at its parent or siblings), so the same bytes always give the
same verdict: once an item of ``Observation.code`` (or of a list element such as
``Observation.category[i]``) has passed, the next identical item is handed to the model as the
element instance built the first time, which the model takes after a type check instead of
validating it again. Every other check stays: the resource itself is still validated by its model
(cardinalities, choice exclusivity, the elements not seen before), and the walker and the
binding checks run on the original JSON as before.

Exactness: the key is the element's type path and its exact JSON bytes (``orjson``), so a hit is
the very same input. Only successful validations are memoised; when a validation with
substitutions fails, the caller validates the untouched resource again, so error reports are
exactly those of the plain path. The memo is bounded (entries and bytes per element) and is
emptied when full; a plain dict keeps it safe for the worker threads that validate large bodies.
``PASSERELLE_VALIDATION_MEMO=0`` turns it off (the benchmark compares both in one run).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import orjson
from pydantic import BaseModel

MAX_ENTRIES = 20_000
MAX_BYTES = 8 * 1024 * 1024  # JSON bytes held as keys, all entries together
MAX_ITEM_BYTES = 4096  # larger elements rarely repeat verbatim: only their parts are memoised

Key = tuple[str, bytes]
# where an element sits below the resource: (JSON property, list index or None) per level
Steps = tuple[tuple[str, int | None], ...]

_memo: dict[Key, Any] = {}
_seen: set[int] = set()  # hashes of keys met once: an element is memoised when met a second time
_size = [0]
_stats = {"hits": 0, "misses": 0}


def enabled() -> bool:
    setting = os.environ.get("PASSERELLE_VALIDATION_MEMO", "1").strip().lower()
    return setting not in ("0", "false", "off", "no")


def clear() -> None:
    """Forget every element, the walker's clean ones too (:mod:`.clean`)."""
    from fhir_server.validation import clean

    clean.clear()
    _memo.clear()
    _seen.clear()
    _size[0] = 0
    _stats["hits"] = _stats["misses"] = 0


def stats() -> dict[str, int]:
    """Hits and misses since the last :func:`clear`, and the entries held (tests, benchmarks)."""
    return {**_stats, "entries": len(_memo)}


@cache
def _attributes(model: type) -> dict[str, str]:
    """JSON property name -> model attribute (``class`` -> ``class_fhir``, ``_birthDate`` -> ...)."""
    out: dict[str, str] = {}
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        out[name] = name
        if info.alias:
            out[info.alias] = name
    return out


class Substitution:
    """One resource prepared for its model: known elements replaced, new ones to remember."""

    __slots__ = ("data", "hits", "misses", "pending")

    def __init__(self) -> None:
        self.pending: list[tuple[Steps, Key]] = []
        self.hits = 0
        self.misses = 0
        self.data: dict[str, Any] = {}

    def element(self, path: str, value: dict[str, Any], steps: Steps) -> Any:
        """``value`` itself when known, else a copy of it with its known parts replaced."""
        nested = value.get("resourceType")
        if isinstance(nested, str):
            path = nested  # a contained or bundled resource: its parts are keyed by its own type
        try:
            data = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            return value  # non-string keys and the like: the plain path reports them
        if len(data) <= MAX_ITEM_BYTES:
            key = (path, data)
            known = _memo.get(key)
            if known is not None:
                self.hits += 1
                return known
            self.misses += 1
            digest = hash(key)
            if digest in _seen:
                self.pending.append((steps, key))
            else:
                _seen.add(digest)
        return self.children(path, value, steps)

    def children(self, path: str, value: dict[str, Any], steps: Steps) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, item in value.items():
            if isinstance(item, dict):
                if item:
                    item = self.element(f"{path}.{name}", item, (*steps, (name, None)))
            elif isinstance(item, list) and item and isinstance(item[0], dict):
                below = f"{path}.{name}"
                item = [
                    self.element(below, part, (*steps, (name, index)))
                    if isinstance(part, dict) and part
                    else part
                    for index, part in enumerate(item)
                ]
            out[name] = item
        return out


def substitute(resource_type: str, resource: dict[str, Any]) -> Substitution:
    """``resource`` with its already-validated complex elements replaced by their model instances
    (``.data``), and where the elements met for the second time sit (``.pending``)."""
    sub = Substitution()
    sub.data = sub.children(resource_type, resource, ())
    _stats["hits"] += sub.hits
    _stats["misses"] += sub.misses
    return sub


def _follow(instance: Any, steps: Steps) -> Any:
    value = instance
    for name, index in steps:
        if not isinstance(value, BaseModel):
            return None
        attribute = _attributes(type(value)).get(name)
        if attribute is None:
            return None
        value = getattr(value, attribute, None)
        if index is not None:
            value = value[index] if isinstance(value, list) and index < len(value) else None
    return value


def remember(instance: Any, sub: Substitution) -> None:
    """Keep the element instances the model just built for the elements ``sub`` marked."""
    if not sub.pending:
        return
    if len(_memo) + len(sub.pending) > MAX_ENTRIES or _size[0] > MAX_BYTES or len(_seen) > 4 * MAX_ENTRIES:
        _memo.clear()
        _seen.clear()
        _size[0] = 0
    for steps, key in sub.pending:
        value = _follow(instance, steps)
        if isinstance(value, BaseModel):
            _memo[key] = value
            _size[0] += len(key[1])
