"""Reference rewriting inside a transaction Bundle.

Entries of a transaction point at each other through their ``fullUrl`` (``urn:uuid:``,
``urn:oid:`` or an absolute URL) before the server has chosen the ids. Once ids are
known, every ``reference`` anywhere in every resource (extensions, ``valueReference``,
contained resources...) is rewritten to ``Type/id``, and links of the narrative
(``href="urn:uuid:..."``) too, so that what is stored only holds real references.

The copy shares with the input every element that holds nothing to rewrite: an element whose
JSON has neither a ``"reference"`` key nor ``urn:`` text cannot hold a reference or a narrative
link, and ``orjson`` tells that for a whole element much faster than a walk of it in Python
(most of a resource: codes, values, periods, identifiers). Nothing after the rewriting changes
a resource in place, so sharing is safe.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

CONDITIONAL = re.compile(r"^[A-Z][A-Za-z]+\?.+")
_HREF = re.compile(r'((?:href|src)=")(urn:(?:uuid|oid):[^"]+)(")')


def is_placeholder(reference: str) -> bool:
    return reference.startswith(("urn:uuid:", "urn:oid:"))


def conditional_references(value: Any, found: set[str]) -> set[str]:
    """Every conditional reference (``Patient?identifier=...``) in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                if CONDITIONAL.match(item):
                    found.add(item)
            elif isinstance(item, dict | list):
                conditional_references(item, found)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                conditional_references(item, found)
    return found


def rewrite(value: Any, mapping: dict[str, str], unresolved: list[str], path: str) -> Any:
    """A copy of ``value`` with mapped references replaced; unresolved placeholders listed by path."""
    return _rewrite(value, mapping, unresolved, [path])


def _path(steps: list[Any]) -> str:
    """The FHIRPath of the steps walked so far (built only for an unresolved reference)."""
    return steps[0] + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in steps[1:])


def _inert(value: dict[str, Any] | list[Any]) -> bool:
    """True when ``value`` surely holds no ``reference`` key and no ``urn:`` text (nothing to rewrite)."""
    try:
        data = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return False  # non-string keys and the like: walked like the rest
    return b'"reference"' not in data and b"urn:" not in data


def _rewrite(value: Any, mapping: dict[str, str], unresolved: list[str], steps: list[Any]) -> Any:
    # ``steps``: the root path then the keys and list indexes down to ``value``, shared and
    # pushed/popped along the walk, so that no path string is built for the (many) elements
    # that hold nothing to report
    if isinstance(value, dict | list) and _inert(value):
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                target = mapping.get(item)
                if target is not None:
                    item = target
                elif is_placeholder(item) or CONDITIONAL.match(item):
                    unresolved.append(f"{_path(steps)}.reference")
            elif key == "div" and isinstance(item, str) and "urn:" in item:
                item = _HREF.sub(
                    lambda m: m.group(1) + mapping.get(m.group(2), m.group(2)) + m.group(3), item
                )
            elif isinstance(item, dict | list):
                steps.append(key)
                item = _rewrite(item, mapping, unresolved, steps)
                steps.pop()
            out[key] = item
        return out
    if isinstance(value, list):
        items: list[Any] = []
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                steps.append(index)
                item = _rewrite(item, mapping, unresolved, steps)
                steps.pop()
            items.append(item)
        return items
    return value
