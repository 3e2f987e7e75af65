"""Memo of elements the validation walker found clean, so that it skips them when they come again.

Why: the walker (:mod:`.walker`) visits every node of every resource in Python, about a quarter of
a write's validation CPU on a Synthea ingest, and most elements repeat verbatim from one resource
to the next (``meta``, ``category``, the LOINC ``code`` of every Observation of a kind, the
``subject`` of every entry of a patient's Bundle...). The walk of a complex element depends only
on its definition (the :class:`~.definitions.Child`: its type, required binding and reference
targets), on its JSON content, and on whether conditional references are allowed, with two
exceptions that reach outside the element: local references (a string starting with ``#``, which
the container's dom-3 check records) and nested resources (walked with their own frames). So an
element whose JSON holds neither and whose walk reported nothing is remembered by (definition,
conditional flag, exact JSON bytes), and the next walk of the same bytes at the same kind of place
skips it: it would report nothing and record nothing.

Like :mod:`.memo` (and switched with it by ``PASSERELLE_VALIDATION_MEMO``): an element is kept the
second time it is walked clean, at most :data:`MAX_ITEM_BYTES` each, and everything is dropped when
:data:`MAX_ENTRIES` or :data:`MAX_BYTES` is reached.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.validation.definitions import Child

MAX_ENTRIES = 20_000
MAX_BYTES = 8 * 1024 * 1024
MAX_ITEM_BYTES = 4096

Key = tuple[Child, bool, bytes]

_clean: set[Key] = set()
_seen: set[int] = set()  # hashes of keys walked clean once
_size = [0]


def clear() -> None:
    _clean.clear()
    _seen.clear()
    _size[0] = 0


def key(child: Child, value: dict[str, Any], allow_conditional: bool) -> Key | None:
    """The memo key of ``value`` walked as ``child``, or None when its walk cannot be skipped."""
    try:
        data = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if len(data) > MAX_ITEM_BYTES or b'"#' in data or b'"resourceType"' in data:
        return None
    return (child, allow_conditional, data)


def known(item: Key) -> bool:
    return item in _clean


def walked_clean(item: Key) -> None:
    """``item`` was just walked without issue: remembered when it is the second time."""
    digest = hash(item)
    if digest not in _seen:
        if len(_seen) > 4 * MAX_ENTRIES:
            _seen.clear()
        _seen.add(digest)
        return
    if len(_clean) >= MAX_ENTRIES or _size[0] > MAX_BYTES:
        clear()
    _clean.add(item)
    _size[0] += len(item[2])


def entries() -> int:
    """How many elements are remembered (tests, benchmarks)."""
    return len(_clean)
