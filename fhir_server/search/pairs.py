"""Pair keys: one indexed value for two parameters searched together most of the time.

``Observation?subject=Patient/1&code=http://loinc.org|8302-2`` is the query clinical
screens run (a patient's trend of one measurement). Each parameter alone matches far
more than both together (all of a patient's observations, or every patient's heights),
and the two cannot share a compound index: both are arrays, and MongoDB refuses to index
parallel arrays. So the write stores their combinations as one array (``s.subject+code``:
``Patient/1`` ␟ ``http://loinc.org|8302-2``...) with its own index, and the builder replaces
a search's equalities on both by one equality on the pair, put first: one index lookup lands
on exactly the matches (and the embedded SecantusDB, whose planning cost grows with each
clause, has one clause fewer to weigh).
"""

from __future__ import annotations

from typing import Any

SEP = "\x1f"
MAX_COMBINATIONS = 200  # in one query; a resource stores every combination (see PAIRS)
# Only parameters of which the first has at most one value (Observation.subject is 0..1): a
# resource's combinations are then as many as its values of the second.
PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "Observation": (("subject", "code"), ("patient", "code")),
}


def pair_field(a: str, b: str) -> str:
    return f"{a}+{b}"


def pair_fields(type_: str) -> list[str]:
    """The stored pair keys of a type (each has an index ``s_<key>``)."""
    return [pair_field(a, b) for a, b in PAIRS.get(type_, ())]


def pair_values(type_: str, stored: dict[str, Any]) -> dict[str, list[str]]:
    """The pair keys of a resource, from its other stored values."""
    out: dict[str, list[str]] = {}
    for a, b in PAIRS.get(type_, ()):
        left, right = stored.get(a) or [], stored.get(b) or []
        if left and right:
            out[pair_field(a, b)] = [f"{x}{SEP}{y}" for x in left for y in right]
    return out


def _equal_values(cond: dict[str, Any], fld: str) -> list[str] | None:
    """The values ``cond`` requires ``fld`` to equal one of, if that is all it says."""
    if len(cond) != 1 or fld not in cond:
        return None
    value = cond[fld]
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and set(value) == {"$in"} and all(isinstance(v, str) for v in value["$in"]):
        return list(value["$in"])
    return None


def apply_pairs(type_: str, conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``conditions`` (ANDed) with each pair of equalities replaced by one on their pair key, first.

    A resource stores ``x SEP y`` exactly when ``x`` is among its values of the first parameter
    and ``y`` among those of the second, so the pair condition says the same as the two.
    """
    out = list(conditions)
    pairs: list[dict[str, Any]] = []
    for a, b in PAIRS.get(type_, ()):
        i = next((n for n, c in enumerate(out) if _equal_values(c, f"s.{a}") is not None), None)
        j = next((n for n, c in enumerate(out) if _equal_values(c, f"s.{b}") is not None), None)
        if i is None or j is None:
            continue
        left, right = _equal_values(out[i], f"s.{a}"), _equal_values(out[j], f"s.{b}")
        assert left is not None and right is not None
        if len(left) * len(right) > MAX_COMBINATIONS:
            continue
        keys = [f"{x}{SEP}{y}" for x in left for y in right]
        fld = f"s.{pair_field(a, b)}"
        pairs.append({fld: keys[0]} if len(keys) == 1 else {fld: {"$in": keys}})
        out = [c for n, c in enumerate(out) if n not in (i, j)]
    return pairs + out
