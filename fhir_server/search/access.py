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

from collections.abc import Iterable
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
    """``query`` AND ``restriction`` (kept flat when their fields differ); ``query`` when None."""
    if restriction is None:
        return query
    if not any(k in query for k in restriction):
        return {**query, **restriction}
    return {"$and": [query, restriction]}


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
