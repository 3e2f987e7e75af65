"""SMART scopes, v1 (``patient/*.read``) and v2 (``patient/Observation.rs``) syntax, as one typed model.

Both syntaxes are parsed into :class:`ResourceScope` (context × resource type × the
v2 interaction letters ``c r u d s``), so that every check downstream speaks one
language whichever version the client uses. v1 ``read`` is ``rs``, ``write`` is
``cud`` and ``*`` is ``cruds`` (SMART App Launch 2, "scopes for requesting FHIR resources").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CONTEXTS = ("patient", "user", "system")
LETTERS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_RESOURCE_RE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]+)(?:\?(.*))?$")
# Scopes that are not resource scopes, in the order the SMART configuration lists them.
CONTEXT_SCOPES = (
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
)
_OTHER = frozenset(CONTEXT_SCOPES)

# FHIR interaction code (CapabilityStatement) -> the SMART v2 letter it needs.
INTERACTION_LETTER = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search-type": "s",
    "search-system": "s",
    "history-type": "s",
    "history-system": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
}


class ScopeError(ValueError):
    """A scope string that is neither a known SMART scope nor a well-formed resource scope."""


@dataclass(frozen=True, slots=True)
class ResourceScope:
    context: str  # patient | user | system
    resource_type: str  # a FHIR type or "*"
    interactions: frozenset[str]  # letters among c r u d s
    query: str | None = None  # v2 "?param=value" narrowing (fhir_server.search.narrowing)

    def covers(self, resource_type: str, letter: str) -> bool:
        return self.resource_type in ("*", resource_type) and letter in self.interactions

    def explicit_for(self, resource_type: str) -> bool:
        return self.resource_type == resource_type


def parse_resource_scope(text: str) -> ResourceScope:
    m = _RESOURCE_RE.match(text)
    if not m:
        raise ScopeError(f"portée invalide : {text!r}")
    context, type_, perms, query = m.groups()
    if perms in _V1:
        letters = _V1[perms]
    else:
        # v2: letters in the canonical order c r u d s, each at most once.
        order = [LETTERS.find(ch) for ch in perms]
        if -1 in order or order != sorted(set(order)):
            raise ScopeError(f"portée invalide : {text!r} (lettres attendues dans l'ordre c r u d s)")
        letters = perms
    return ResourceScope(context, type_, frozenset(letters), query or None)


@dataclass(frozen=True)
class ScopeSet:
    """A granted scope string, parsed. Unknown non-resource scopes are kept but grant nothing."""

    raw: tuple[str, ...]
    resources: tuple[ResourceScope, ...]

    @classmethod
    def parse(cls, scope: str | None, *, strict: bool = False) -> ScopeSet:
        raw = tuple(dict.fromkeys((scope or "").split()))
        resources: list[ResourceScope] = []
        for item in raw:
            if "/" in item and item.split("/", 1)[0] in CONTEXTS:
                scope = parse_resource_scope(item)
                if strict and scope.query is not None:
                    _check_narrowing(item, scope)
                resources.append(scope)
            elif strict and item not in _OTHER:
                raise ScopeError(f"portée inconnue : {item!r}")
        return cls(raw, tuple(resources))

    def __contains__(self, item: str) -> bool:
        return item in self.raw

    def matching(self, resource_type: str, letter: str) -> list[ResourceScope]:
        return [s for s in self.resources if s.covers(resource_type, letter)]

    @property
    def contexts(self) -> frozenset[str]:
        return frozenset(s.context for s in self.resources)

    def __str__(self) -> str:
        return " ".join(self.raw)


def validate_scope_string(scope: str | None) -> None:
    """Raise :class:`ScopeError` unless every item is a known SMART scope or a resource scope."""
    ScopeSet.parse(scope, strict=True)


def _check_narrowing(text: str, scope: ResourceScope) -> None:
    """ScopeError unless the server can enforce the scope's ``?query`` (never granted unenforced)."""
    from fhir_server.search import NarrowingError, check_scope_query

    try:
        check_scope_query(scope.resource_type, scope.query or "")
    except NarrowingError as exc:
        raise ScopeError(f"portée invalide : {text!r} ({exc})") from exc
