"""Sorting and keyset paging of search results.

A page is "the next ``count`` documents after position P in sort order", where P is
the sort-key values and ``_id`` of the last document of the previous page, carried
in an opaque ``_cursor`` link parameter. Unlike ``skip``, a write between two pages
neither repeats nor drops a result that stays put, and every page costs the same.

Sort keys are the scalars :mod:`.extract` stores per parameter (``code:<`` the
smallest value for ascending order, ``code:>`` the largest for descending), which is
R4's rule for sorting on repeating elements. Missing values sort first ascending and
last descending (MongoDB's order for missing fields), and the cursor conditions
below handle them explicitly.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from fhir_server.errors import FhirError
from fhir_server.search.params import params_for

SORTABLE = frozenset({"string", "token", "date", "number", "quantity", "reference", "uri"})


@dataclass(frozen=True)
class SortKey:
    field: str  # document field (``_id`` or ``s.<code>:<`` / ``s.<code>:>``)
    direction: int  # 1 ascending, -1 descending


def parse_sort(type_: str | None, raw: str | None) -> list[SortKey]:
    """The sort keys of ``_sort`` (``_id`` ascending always ends the list, as the tie-breaker)."""
    keys: list[SortKey] = []
    if raw:
        for item in raw.split(","):
            item = item.strip()
            desc = item.startswith("-")
            code = item[1:] if desc else item
            if code == "_id":
                keys.append(SortKey("_id", -1 if desc else 1))
                break
            param = params_for(type_).get(code) if type_ else None
            if code == "_lastUpdated":
                # one instant per resource: its stored range's end orders like its start, and is indexed
                keys.append(SortKey("s._lastUpdated:>", -1 if desc else 1))
                continue
            if param is None or param.type not in SORTABLE:
                raise FhirError(
                    400,
                    "not-supported",
                    f"_sort : tri impossible sur {code!r} (paramètre inconnu ou de type non triable).",
                    expression=["_sort"],
                )
            keys.append(SortKey(f"s.{code}" + (":>" if desc else ":<"), -1 if desc else 1))
    if not keys or keys[-1].field != "_id":
        keys.append(SortKey("_id", 1))
    return keys


def mongo_sort(keys: list[SortKey], forward: bool) -> list[tuple[str, int]]:
    return [(k.field, k.direction if forward else -k.direction) for k in keys]


def key_values(doc: dict[str, Any], keys: list[SortKey]) -> list[Any]:
    out = []
    for key in keys:
        node: Any = doc
        for part in key.field.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out.append(node)
    return out


def _after(fld: str, direction: int, value: Any) -> dict[str, Any] | None:
    """Documents strictly after ``value`` on one key (``None`` when nothing can be)."""
    if direction == 1:
        return {fld: {"$ne": None}} if value is None else {fld: {"$gt": value}}
    if value is None:
        return None
    return {"$or": [{fld: {"$lt": value}}, {fld: None}]}


def after_condition(keys: list[SortKey], values: list[Any], forward: bool) -> dict[str, Any]:
    """The keyset condition: documents after the position ``values`` (before it when going back)."""
    ors: list[dict[str, Any]] = []
    for i, key in enumerate(keys):
        direction = key.direction if forward else -key.direction
        after = _after(key.field, direction, values[i])
        if after is None:
            continue
        equal = [{keys[j].field: values[j]} for j in range(i)]
        ors.append({"$and": [*equal, after]} if equal else after)
    if not ors:
        return {"_id": {"$in": []}}
    return ors[0] if len(ors) == 1 else {"$or": ors}


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"d": int(value.timestamp() * 1000)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"d"} and isinstance(value["d"], int):
        return datetime.fromtimestamp(value["d"] / 1000, UTC)
    return value


def encode_cursor(values: list[Any], forward: bool, extra: str = "") -> str:
    raw = orjson.dumps([[_encode_value(v) for v in values], 1 if forward else 0, extra])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, size: int) -> tuple[list[Any], bool, str]:
    """(position, forward, extra) of a cursor we issued; 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values, forward, extra = orjson.loads(raw)
        if not isinstance(values, list) or len(values) != size or forward not in (0, 1):
            raise ValueError("shape")
        if not isinstance(extra, str):
            raise ValueError("extra")
        return [_decode_value(v) for v in values], bool(forward), extra
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise FhirError(
            400, "invalid", "_cursor : curseur de pagination invalide ou périmé.", expression=["_cursor"]
        ) from exc
