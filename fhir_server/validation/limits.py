"""Limits checked before any costly work on an incoming resource or search (issue 12, finding 9).

Why: every write validates the resource (recursively), then extracts its search values — about
13 bytes stored per byte of indexed text (folded forms, prefixes, words) — and a search value
becomes a pattern the database compiles. Without bounds, legal but huge inputs answered 500
(a document over MongoDB's 16 MiB, a regular expression over the server's cap) or held the event
loop for seconds. Each limit answers a clear 400 ``too-costly`` OperationOutcome naming the
element, and is configurable (README, "Configuration"); the checks are iterative and linear.

- nesting depth: :data:`MAX_DEPTH` levels (a real Questionnaire with 40 levels of items is
  about 80 JSON levels);
- ``PASSERELLE_MAX_ELEMENTS`` (default 20,000): JSON values in one resource (objects, arrays
  and scalars; the largest Synthea resource, an ExplanationOfBenefit, has about 1,900); a
  Bundle is counted entry by entry;
- ``PASSERELLE_MAX_STRING_LENGTH`` (default 262,144 characters): one string element, except
  base64 ``data`` (attachments, Binary), bounded by the request body limit only;
- ``PASSERELLE_SEARCH_VALUE_MAX`` (default 256 characters): one search value (one item of a
  comma-separated list), and no pattern sent to the database exceeds :data:`MAX_PATTERN`.
"""

from __future__ import annotations

import os
from typing import Any

MAX_DEPTH = 200
MAX_PATTERN = 990  # characters of one regular expression (SecantusDB caps them at 1,000)
UNBOUNDED_STRINGS = frozenset({"data"})  # base64Binary elements: Attachment.data, Binary.data


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return max(1, int(raw))
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


MAX_ELEMENTS = _env_int("PASSERELLE_MAX_ELEMENTS", 20_000)
MAX_STRING_LENGTH = _env_int("PASSERELLE_MAX_STRING_LENGTH", 262_144)
SEARCH_VALUE_MAX = _env_int("PASSERELLE_SEARCH_VALUE_MAX", 256)


def within_limits(resource: dict[str, Any]) -> bool:
    """True when ``resource`` is surely within every limit: no more than ``PASSERELLE_MAX_ELEMENTS``
    JSON values in all (a Bundle included), no string longer than ``PASSERELLE_MAX_STRING_LENGTH``
    (``data`` included) and no more than :data:`MAX_DEPTH` levels.

    The common case, answered in one breadth-first pass that builds no path: when it says False,
    :func:`too_costly` and :func:`too_deep` find which limit is crossed, and where. It is
    stricter than they are (a whole Bundle counted at once, ``data`` bounded too), never laxer.
    """
    max_elements, max_string = MAX_ELEMENTS, MAX_STRING_LENGTH
    level: list[Any] = [resource]
    count = 1
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            return False
        below: list[Any] = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            count += len(items)
            for item in items:
                if isinstance(item, dict | list):
                    below.append(item)
                elif isinstance(item, str) and len(item) > max_string:
                    return False
        if count > max_elements:
            return False
        level = below
        depth += 1
    return True


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


def too_costly(
    resource: dict[str, Any],
    root: str,
    *,
    max_elements: int | None = None,
    max_string: int | None = None,
    whole: bool = False,
) -> tuple[str, str] | None:
    """The first limit ``resource`` exceeds, as (French-and-English message, FHIRPath); None if none.

    One iterative walk, stopped as soon as a limit is crossed (a 60,000-name Patient costs
    20,000 steps, not a validation). ``whole``: count everything below as one resource (entries of
    a Bundle, and what they contain).
    """
    max_elements = MAX_ELEMENTS if max_elements is None else max_elements
    max_string = MAX_STRING_LENGTH if max_string is None else max_string
    entries = resource.get("entry") if resource.get("resourceType") == "Bundle" and not whole else None
    if isinstance(entries, list):
        # a Bundle is bounded entry by entry (and by PASSERELLE_BUNDLE_MAX_ENTRIES, the body size)
        for i, entry in enumerate(entries):
            inner = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(inner, dict):
                where = f"{root}.entry[{i}].resource"
                found = too_costly(inner, where, max_elements=max_elements, max_string=max_string, whole=True)
                if found is not None:
                    return found
        rest = {k: v for k, v in resource.items() if k != "entry"}
        return too_costly(rest, root, max_elements=max_elements, max_string=max_string, whole=True)
    stack: list[tuple[Any, str, str]] = [(resource, root, "")]
    count = 0
    while stack:
        node, path, key = stack.pop()
        count += 1
        if count > max_elements:
            return (
                f"Resource has more than {max_elements} elements. "
                f"Ressource trop volumineuse : plus de {max_elements} éléments.",
                root,
            )
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{k}", k) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", key) for i, v in enumerate(node))
        elif isinstance(node, str) and len(node) > max_string and key not in UNBOUNDED_STRINGS:
            return (
                f"String longer than {max_string} characters. "
                f"Texte trop long : plus de {max_string} caractères.",
                path,
            )
    return None
