"""Several conditions on a date each resource holds once, at most a year wide (a birth date):
one condition, led by one range on the stored start.

``Patient?birthdate=ge1970&birthdate=lt1980`` gives two conditions on ``s.birthdate``: ``h >=
1970`` and ``l < 1980``. Each alone is a one-sided index range (everyone born since 1970, or
before 1980); the database looks the first up, reads every document in it and checks the
other, so the search read a share of all the patients, not the decade. And the two cannot sit
in one flat filter (same field twice), so they went under ``$and``, where SecantusDB uses no
index at all.

With at most one stored ``{l, h}`` per resource, every condition is a condition on that one
value: they become one ``$elemMatch`` over their conjunction (exact: one element meets all of
them exactly when the resource does), led by the range on ``l`` they imply together: ``l <= x``
and ``l < x`` bound it from above, so does ``h <= x`` (``l <= h``), and ``h >= x`` bounds it from
below by ``x`` minus :data:`SPAN` (``h - l`` is at most a year). The lead only narrows what
the index yields: the conditions all stay.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from fhir_server.search.params import params_for, split_union

# A FHIR ``date`` is at most a year wide ("1975": [1975-01-01, 1976-01-01)), a day of margin.
SPAN = timedelta(days=367)
_RANGE = frozenset({"$gt", "$gte", "$lt", "$lte"})


@cache
def one_value_dates(type_: str) -> tuple[str, ...]:
    """The stored fields (``s.birthdate``) of ``type_``'s date parameters whose expression is
    ``<type>.birthDate`` alone: one value (0..1) per resource, a FHIR ``date``."""
    out = []
    for param in params_for(type_).values():
        if param.type != "date":
            continue
        branches = [b.strip() for b in split_union(param.expression)]
        if branches and all(b == f"{type_}.birthDate" for b in branches):
            out.append(param.field)
    return tuple(sorted(set(out)))


def _body(fld: str, condition: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """``condition`` as conditions on the one stored element of ``fld``: the bounds it puts on
    ``l`` and ``h``, and what the element must match (its ``$elemMatch`` when it has one: the
    dotted bounds beside it are implied by it, see ``date_condition``); ``None`` when it is not
    a positive condition on that element alone (``:missing``, alternatives...)."""
    bounds: list[dict[str, Any]] = []
    element: list[dict[str, Any]] = []
    for key, value in condition.items():
        if key == fld and isinstance(value, dict) and list(value) == ["$elemMatch"]:
            element.append(value["$elemMatch"])
            bounds.append(value["$elemMatch"])
        elif key in (f"{fld}.l", f"{fld}.h") and isinstance(value, dict) and value and set(value) <= _RANGE:
            bounds.append({key[-1]: value})
        else:
            return None
    return bounds, element or bounds


def _lead(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The range on ``l`` that bounds on ``l`` and ``h`` imply (other keys, ``$or``, are skipped)."""
    lower: datetime | None = None
    upper: tuple[datetime, bool] | None = None  # (bound, strict)
    for part in parts:
        for key, ops in part.items():
            if key not in ("l", "h") or not isinstance(ops, dict):
                continue
            for op, bound in ops.items():
                if not isinstance(bound, datetime):
                    continue
                if op in ("$gt", "$gte"):
                    low = bound if key == "l" else bound - SPAN
                    lower = low if lower is None else max(lower, low)
                else:  # l <= h: an upper bound of h is one of l (not strict: l may equal h)
                    high = (bound, op == "$lt" and key == "l")
                    if upper is None or high[0] < upper[0] or (high[0] == upper[0] and high[1]):
                        upper = high
    lead: dict[str, Any] = {}
    if lower is not None:
        lead["$gte"] = lower
    if upper is not None:
        lead["$lt" if upper[1] else "$lte"] = upper[0]
    return lead


def merge_one_value_dates(type_: str, conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``conditions`` with those on each one-value date of ``type_`` (two or more) made one."""
    for fld in one_value_dates(type_):
        mine: list[int] = []
        bounds: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        for i, cond in enumerate(conditions):
            body = _body(fld, cond) if cond else None
            if body is not None:
                mine.append(i)
                bounds.extend(body[0])
                parts.extend(body[1])
        if len(mine) < 2:
            continue
        lead = _lead(bounds)
        if not lead:
            continue  # not from date_condition (each of its conditions bounds l or h)
        # the lead opens the $elemMatch too: SecantusDB reads one that starts with an operator
        # as operators on scalar values
        merged = {f"{fld}.l": lead, fld: {"$elemMatch": {"l": lead, "$and": parts}}}
        conditions = [c for i, c in enumerate(conditions) if i not in mine] + [merged]
    return conditions
