"""How a search applies the caller's access policy (steps 1-3 of :mod:`fhir_server.auth.policy`).

The search package does not import the auth package: it talks to the policy of the
request (``request.state.access``, an ``AccessPolicy``; the unrestricted one under
``--no-auth``) through the :class:`Policy` protocol below.

- every type searched, and every inner search of a chain, ``_has`` or ``_list``, ANDs
  ``policy.search_filter(T)`` into its query (403 when the token has no scope on T);
- ``_include``/``_revinclude`` look-ups AND ``policy.search_filter(T, "read")`` and
  silently drop the types the token may not read (:func:`include_restriction`);
- every resource put in a Bundle passes ``policy.can_read`` (:func:`visible`), a last
  line of defence should a filter ever be missed.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import orjson
from starlette.requests import Request

from fhir_server.errors import FhirError


class Policy(Protocol):
    """The part of ``fhir_server.auth.policy.AccessPolicy`` that search uses."""

    @property
    def is_unrestricted(self) -> bool: ...

    def search_filter(self, resource_type: str, interaction: str = ...) -> dict[str, Any] | None: ...

    def can_read(self, resource_type: str, resource: dict[str, Any], interaction: str = ...) -> bool: ...

    def readable_types(self, types: Iterable[str], interaction: str = ...) -> list[str]: ...


def policy_of(request: Request) -> Policy:
    """The policy the guard put on the request; never guessed (a missing one is a wiring bug)."""
    policy = getattr(request.state, "access", None)
    if policy is None:
        raise RuntimeError("search without an access policy: the handler was not wrapped by the guard")
    return policy  # type: ignore[no-any-return]


def restrict(query: dict[str, Any], restriction: dict[str, Any] | None) -> dict[str, Any]:
    """``query`` AND ``restriction`` (kept flat when their fields differ); ``query`` when None.

    A one-clause restriction (a patient's compartment through one parameter) goes first:
    it is indexed and narrow, and planners look a flat document's first clause up.
    """
    if restriction is None:
        return query
    if not any(k in query for k in restriction):
        return {**query, **restriction} if "$or" in restriction else {**restriction, **query}
    return {"$and": [query, restriction]}


MAX_PARTS = 8
MAX_COUNTED = 4  # alternatives counted by inclusion-exclusion (2**4 - 1 = 15 counts at most)


def _values(condition: Any) -> frozenset[Any] | None:
    """The values an equality or ``$in`` condition accepts (None for any other condition)."""
    if isinstance(condition, dict):
        inner = condition.get("$in")
        if list(condition) == ["$in"] and isinstance(inner, list) and all(isinstance(v, str) for v in inner):
            return frozenset(inner)
        return None
    return frozenset([condition]) if isinstance(condition, str) else None


def _element_form(key: str, condition: Any) -> tuple[str, dict[str, Any]] | None:
    """``{s.x.k: cond}`` as ``{s.x: {$elemMatch: {k: cond}}}`` (stored ``s.x`` are lists of objects)."""
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != "s":
        return None
    return f"s.{parts[1]}", {"$elemMatch": {parts[2]: condition}}


def all_of(*clauses: dict[str, Any]) -> dict[str, Any]:
    """The conjunction of ``clauses``, one flat document while their fields differ.

    Two equality/``$in`` conditions on one field where one accepts a subset of the other's
    values are the narrower one (exact on array fields too: a value of the subset is in
    both). A second condition on a stored element's key (``s.birthdate.l``) is said as an
    ``$elemMatch`` on the element list (``s.birthdate``) when that field is free: the same
    condition, and the document stays flat. Not merged into one ``{$gte: a, $lt: b}``: on an
    array MongoDB lets two elements meet the two bounds (as two parameters mean), but
    SecantusDB answers such a range from its index with the elements inside it only.
    Other conditions on a field already present go in ``$and``.
    """
    out: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for clause in clauses:
        for key, value in clause.items():
            if key not in out:
                out[key] = value
                continue
            mine, theirs = _values(out[key]), _values(value)
            if mine is not None and theirs is not None and (theirs <= mine or mine <= theirs):
                out[key] = value if theirs <= mine else out[key]
            elif (element := _element_form(key, value)) is not None and element[0] not in out:
                out[element[0]] = element[1]
            else:
                rest.append({key: value})
    if rest:
        out["$and"] = [*out.get("$and", []), *rest]
    return out


def _alternatives(restriction: dict[str, Any]) -> list[dict[str, Any]]:
    return restriction["$or"] if list(restriction) == ["$or"] else [restriction]  # type: ignore[no-any-return]


def restricted_parts(
    query: dict[str, Any], restriction: dict[str, Any] | None, *, lead: bool = True
) -> list[dict[str, Any]]:
    """``query`` AND ``restriction`` as flat queries whose union is the whole (they may overlap).

    A compartment is an ``$or`` over the parameters linking a type to a patient
    (``subject``, ``performer``...). Planners that only look a flat document's first clause
    up (SecantusDB) scan the whole collection for any ``$or``/``$and``; each part here
    leads with one alternative, an indexed ``$in`` (``lead=False``: follows ``query``'s own
    clauses, for look-ups by id that are narrower still). Callers deduplicate by ``_id``.
    """
    if restriction is None:
        return [query]
    alternatives = _alternatives(restriction)
    if len(alternatives) > MAX_PARTS:
        return [restrict(query, restriction)]
    return [
        all_of(alternative, query) if lead else all_of(query, alternative) for alternative in alternatives
    ]


async def count_restricted(
    count: Callable[[dict[str, Any]], Awaitable[int | None]],
    query: dict[str, Any],
    restriction: dict[str, Any] | None,
) -> int | None:
    """The number of documents matching ``query`` AND ``restriction``, ``count`` being one count.

    The parts of :func:`restricted_parts` may overlap (an Observation whose subject and
    performer are both the patient), so their counts are combined by inclusion-exclusion
    over flat intersections; a query that is not flat itself is counted in one go.
    ``None`` (an estimate past its bound) from any count is the answer.
    """
    if restriction is None:
        return await count(query)
    alternatives = _alternatives(restriction)
    if len(alternatives) > MAX_COUNTED or any(k.startswith("$") for k in query):
        return await count(restrict(query, restriction))
    total = 0
    for size in range(1, len(alternatives) + 1):
        for combination in itertools.combinations(alternatives, size):
            found = await count(all_of(*combination, query))
            if found is None:
                return None
            total += found if size % 2 else -found
    return total


def include_restriction(policy: Policy | None, type_: str) -> tuple[bool, dict[str, Any] | None]:
    """(may include ``type_`` at all, the filter to AND): no read scope drops the type, without a 403."""
    if policy is None:
        return True, None
    try:
        return True, policy.search_filter(type_, "read")
    except FhirError as exc:
        if exc.status == 403:
            return False, None
        raise


def visible(
    policy: Policy | None, entries: list[tuple[str, dict[str, Any]]], interaction: str
) -> list[tuple[str, dict[str, Any]]]:
    """The (type, stored document) pairs ``policy`` lets the caller see, in order.

    A type the policy does not restrict (no filter) is kept without parsing its bodies;
    otherwise each stored body is parsed and checked with ``can_read``.
    """
    if policy is None or policy.is_unrestricted:
        return entries
    checked: dict[str, bool] = {}
    out = []
    for type_, doc in entries:
        if type_ not in checked:
            try:
                checked[type_] = policy.search_filter(type_, interaction) is not None
            except FhirError:
                checked[type_] = True  # no scope: can_read refuses every one
        if not checked[type_] or policy.can_read(type_, orjson.loads(bytes(doc["j"])), interaction):
            out.append((type_, doc))
    return out
