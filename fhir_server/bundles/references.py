"""Reference rewriting inside a transaction Bundle.

Entries of a transaction point at each other through their ``fullUrl`` (``urn:uuid:``,
``urn:oid:`` or an absolute URL) before the server has chosen the ids. Once ids are
known, every ``reference`` anywhere in every resource (extensions, ``valueReference``,
contained resources...) is rewritten to ``Type/id``, and links of the narrative
(``href="urn:uuid:..."``) too, so that what is stored only holds real references.
"""

from __future__ import annotations

import re
from typing import Any

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
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                target = mapping.get(item)
                if target is not None:
                    item = target
                elif is_placeholder(item) or CONDITIONAL.match(item):
                    unresolved.append(f"{path}.reference")
            elif key == "div" and isinstance(item, str) and "urn:" in item:
                item = _HREF.sub(
                    lambda m: m.group(1) + mapping.get(m.group(2), m.group(2)) + m.group(3), item
                )
            elif isinstance(item, dict | list):
                item = rewrite(item, mapping, unresolved, f"{path}.{key}")
            out[key] = item
        return out
    if isinstance(value, list):
        return [
            rewrite(item, mapping, unresolved, f"{path}[{i}]") if isinstance(item, dict | list) else item
            for i, item in enumerate(value)
        ]
    return value
