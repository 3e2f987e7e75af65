"""Nesting limit checked before any recursive validation.

Why: the walker, the pydantic models and the input cleaner all recurse; a body nested a few
thousand levels deep (legal JSON, trivial to send) would exhaust Python's stack in each of
them. Real resources stay far below the limit (a Questionnaire with 40 levels of items is
about 80 JSON levels); the check is iterative, level by level.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 200


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests dicts/lists more than ``limit`` levels (breadth first)."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            below.extend(item for item in items if isinstance(item, dict | list))
        level = below
        depth += 1
    return False
