"""Nesting limit checked before any recursive validation.

Why: the walker, the pydantic models and the input cleaner all recurse; a body nested a few
thousand levels deep (legal JSON, trivial to send) would exhaust Python's stack in each of
them. Real resources stay far below the limit (a Questionnaire with 40 levels of items is
about 80 JSON levels); the check is iterative and stops at the first branch too deep.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 200


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests dicts/lists more than ``limit`` levels."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict):
            stack.extend((item, depth + 1) for item in current.values() if isinstance(item, dict | list))
        elif isinstance(current, list):
            stack.extend((item, depth + 1) for item in current if isinstance(item, dict | list))
    return False
