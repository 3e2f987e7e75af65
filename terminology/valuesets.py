"""ValueSet compose evaluation: expansion and membership, with filters and nested value sets.

Two entry points share one reading of ``compose``: :func:`expand_compose` materialises the
codes (for ``$expand``), :func:`compose_contains` answers "is this code in?" without
expanding (for ``$validate-code``: asking whether one ICD-10 code is in a 14,000-code value
set must not build the whole list). Nested ``valueSet`` references are followed with a stack
of the URLs being evaluated, so a cycle is reported instead of recursing forever.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from terminology.errors import TerminologyError
from terminology.index import CodeSystemEntry, Concept

if TYPE_CHECKING:
    from terminology.index import ConceptIndex

FILTER_OPS = {"=", "is-a", "descendent-of", "is-not-a", "regex", "in", "not-in", "generalizes", "exists"}

Key = tuple[str, str]  # (system, code)


class ComposeContext(Protocol):
    """What compose evaluation needs from the service (kept small so tests can fake it)."""

    index: ConceptIndex

    def canonical_system(self, system: str) -> str: ...

    def system_entry(self, system: str) -> CodeSystemEntry | None: ...

    def resolve_valueset(self, url: str) -> dict[str, Any]: ...


class Member:
    """One code of an expansion, with the display the value set or the code system gives it."""

    __slots__ = ("code", "concept", "display", "system", "version")

    def __init__(
        self, system: str, code: str, display: str | None, concept: Concept | None, version: str | None = None
    ) -> None:
        self.system = system
        self.code = code
        self.display = display
        self.concept = concept
        self.version = version


def _check_include(include: Any, where: str) -> None:
    if not isinstance(include, dict):
        raise TerminologyError("Élément compose mal formé : un objet est attendu", "invalid", where)
    if not include.get("system") and not include.get("valueSet"):
        raise TerminologyError(
            "Un include/exclude doit indiquer « system » ou « valueSet »", "invalid", where
        )
    if include.get("concept") and include.get("filter"):
        raise TerminologyError(
            "Un include ne peut avoir à la fois « concept » et « filter » (vsd-3)", "invalid", where
        )
    if include.get("concept") and not include.get("system"):
        raise TerminologyError("« concept » exige « system »", "invalid", where)
    for i, flt in enumerate(include.get("filter") or []):
        fwhere = f"{where}.filter[{i}]"
        if not isinstance(flt, dict) or not flt.get("property") or not flt.get("op") or "value" not in flt:
            raise TerminologyError(
                "Un filtre doit avoir « property », « op » et « value »", "invalid", fwhere
            )
        if flt["op"] not in FILTER_OPS:
            raise TerminologyError(f"Opérateur de filtre inconnu : {flt['op']}", "invalid", fwhere + ".op")
    valuesets = include.get("valueSet")
    if valuesets is not None and (
        not isinstance(valuesets, list) or not all(isinstance(v, str) and v for v in valuesets)
    ):
        raise TerminologyError(
            "« valueSet » doit être une liste d'URL canoniques", "invalid", where + ".valueSet"
        )


def check_compose(valueset: dict[str, Any]) -> dict[str, Any]:
    """Validate the shape of ``ValueSet.compose``; returns it. Raises ``invalid`` (400)."""
    compose = valueset.get("compose")
    if compose is None:
        raise TerminologyError(
            "La ValueSet n'a ni « compose » ni « expansion »", "invalid", "ValueSet.compose"
        )
    if (
        not isinstance(compose, dict)
        or not isinstance(compose.get("include"), list)
        or not compose["include"]
    ):
        raise TerminologyError(
            "ValueSet.compose.include doit être une liste non vide", "invalid", "ValueSet.compose.include"
        )
    for part in ("include", "exclude"):
        items = compose.get(part) or []
        if not isinstance(items, list):
            raise TerminologyError(
                f"ValueSet.compose.{part} doit être une liste", "invalid", f"ValueSet.compose.{part}"
            )
        for i, include in enumerate(items):
            _check_include(include, f"ValueSet.compose.{part}[{i}]")
    return compose


def _vs_key(valueset: dict[str, Any]) -> str:
    return valueset.get("url") or f"#{id(valueset)}"


def expand_compose(
    ctx: ComposeContext, valueset: dict[str, Any], limit: int, stack: tuple[str, ...] = ()
) -> dict[Key, Member]:
    """All members of a value set, in definition order. Raises ``too-costly`` past ``limit``."""
    key = _vs_key(valueset)
    if key in stack:
        raise TerminologyError(
            "Inclusion cyclique de ValueSet : " + " -> ".join((*stack, key)),
            "processing",
            "ValueSet.compose.include.valueSet",
        )
    stack = (*stack, key)
    if "compose" not in valueset and "expansion" in valueset:
        return _from_expansion(ctx, valueset, limit)
    compose = check_compose(valueset)
    result: dict[Key, Member] = {}
    for include in compose["include"]:
        for k, member in _include_members(ctx, include, limit, stack).items():
            if k not in result:
                result[k] = member
                if len(result) > limit:
                    raise _too_costly(valueset, limit)
    for exclude in compose.get("exclude") or []:
        for k in _include_members(ctx, exclude, None, stack):
            result.pop(k, None)
    return result


def _too_costly(valueset: dict[str, Any], limit: int) -> TerminologyError:
    name = valueset.get("url") or valueset.get("name") or "ValueSet"
    return TerminologyError(
        f"Expansion trop volumineuse pour {name} (plus de {limit} codes) : "
        "utilisez « count »/« offset » ou un « filter »",
        "too-costly",
        "ValueSet",
    )


def _from_expansion(ctx: ComposeContext, valueset: dict[str, Any], limit: int) -> dict[Key, Member]:
    result: dict[Key, Member] = {}
    stack = list(valueset["expansion"].get("contains") or [])
    while stack:
        item = stack.pop(0)
        stack[:0] = item.get("contains") or []
        if not item.get("code"):
            continue
        system = ctx.canonical_system(item.get("system") or "")
        result[(system, item["code"])] = Member(
            system,
            item["code"],
            item.get("display"),
            ctx.index.concept(system, item["code"]),
            item.get("version"),
        )
        if len(result) > limit:
            raise _too_costly(valueset, limit)
    return result


def _include_members(
    ctx: ComposeContext, include: dict[str, Any], limit: int | None, stack: tuple[str, ...]
) -> dict[Key, Member]:
    members: dict[Key, Member] | None = None
    raw_system = include.get("system")
    if raw_system:
        system = ctx.canonical_system(raw_system)
        members = _system_members(ctx, system, include, limit)
    for url in include.get("valueSet") or []:
        nested = expand_compose(ctx, ctx.resolve_valueset(url), limit if limit is not None else 10**9, stack)
        members = dict(nested) if members is None else {k: m for k, m in members.items() if k in nested}
    return members or {}


def _system_members(
    ctx: ComposeContext, system: str, include: dict[str, Any], limit: int | None
) -> dict[Key, Member]:
    version = include.get("version")
    concepts = include.get("concept")
    if concepts:
        entry = ctx.system_entry(system)
        out: dict[Key, Member] = {}
        for raw in concepts:
            code = raw.get("code")
            if not code:
                continue
            concept = entry.get(code) if entry is not None else None
            display = raw.get("display") or (concept.display if concept else None)
            out[(system, code)] = Member(system, concept.code if concept else code, display, concept, version)
        return out
    entry = ctx.system_entry(system)
    if entry is None:
        raise TerminologyError(
            f"Système de codes inconnu : {system}", "not-found", "ValueSet.compose.include.system"
        )
    filters = include.get("filter") or []
    if filters:
        codes: set[str] | None = None
        for flt in filters:
            matched = evaluate_filter(entry, flt)
            codes = matched if codes is None else codes & matched
        selected: Iterable[str] = [c for c in entry.concepts if c in (codes or set())]
    else:
        if entry.content != "complete":
            raise TerminologyError(
                f"Le système {system} n'est connu que partiellement (codes listés par des ValueSets) : "
                "impossible d'inclure le système entier",
                "not-supported",
                "ValueSet.compose.include.system",
            )
        selected = entry.concepts.keys()
    out = {}
    for code in selected:
        concept = entry.concepts[code]
        out[(system, code)] = Member(system, code, concept.display, concept, version or entry.version)
        if limit is not None and len(out) > limit:
            raise TerminologyError(
                f"Expansion trop volumineuse : plus de {limit} codes dans {system}",
                "too-costly",
                "ValueSet.compose.include",
            )
    return out


def evaluate_filter(entry: CodeSystemEntry, flt: dict[str, Any]) -> set[str]:
    """The codes of ``entry`` a compose filter selects."""
    op, prop, value = flt.get("op"), flt.get("property"), str(flt.get("value"))
    if op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
        if prop not in ("concept", "code"):
            raise TerminologyError(
                f"Le filtre {op} porte sur la propriété « concept », pas « {prop} »",
                "invalid",
                "ValueSet.compose.include.filter.property",
            )
        if not entry.hierarchical and entry.content != "complete":
            raise TerminologyError(
                f"Hiérarchie non disponible pour {entry.url} (seuls des codes isolés sont connus) : "
                f"filtre {op} impossible",
                "not-supported",
                "ValueSet.compose.include.filter",
            )
        root = entry.get(value)
        if root is None:
            if op == "is-not-a":
                return set(entry.concepts)
            return set()
        if op == "is-a":
            return {root.code, *entry.descendants(root.code)}
        if op == "descendent-of":
            return set(entry.descendants(root.code))
        if op == "generalizes":
            return {root.code, *entry.ancestors(root.code)}
        return set(entry.concepts) - {root.code, *entry.descendants(root.code)}
    if op == "regex":
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise TerminologyError(
                f"Expression régulière invalide : {exc}", "invalid", "ValueSet.compose.include.filter.value"
            ) from exc
        return {
            c
            for c, concept in entry.concepts.items()
            if any(pattern.fullmatch(v) for v in _property_values(concept, prop))
        }
    if op in ("=", "in", "not-in"):
        wanted = {value} if op == "=" else {v.strip() for v in value.split(",")}
        hits = {c for c, concept in entry.concepts.items() if wanted & set(_property_values(concept, prop))}
        return hits if op != "not-in" else set(entry.concepts) - hits
    if op == "exists":
        want = value.lower() == "true"
        return {c for c, concept in entry.concepts.items() if bool(_property_values(concept, prop)) == want}
    raise TerminologyError(
        f"Opérateur de filtre inconnu : {op}", "invalid", "ValueSet.compose.include.filter.op"
    )


def _property_values(concept: Concept, prop: str | None) -> list[str]:
    if prop == "code":
        return [concept.code]
    if prop == "display":
        return [concept.display] if concept.display else []
    if prop == "parent":
        return sorted(concept.parents)
    if prop == "child":
        return sorted(concept.children)
    return [
        str(v) if not isinstance(v, dict) else str(v.get("code", ""))
        for p, v in concept.properties
        if p == prop
    ]


def compose_contains(
    ctx: ComposeContext, valueset: dict[str, Any], system: str, code: str, stack: tuple[str, ...] = ()
) -> Member | None:
    """The member for (system, code) if the value set contains it, without expanding."""
    key = _vs_key(valueset)
    if key in stack:
        raise TerminologyError(
            "Inclusion cyclique de ValueSet : " + " -> ".join((*stack, key)),
            "processing",
            "ValueSet.compose.include.valueSet",
        )
    stack = (*stack, key)
    if "compose" not in valueset and "expansion" in valueset:
        members = _from_expansion(ctx, valueset, 10**9)
        return members.get((system, code))
    compose = check_compose(valueset)
    found: Member | None = None
    for include in compose["include"]:
        found = _include_contains(ctx, include, system, code, stack)
        if found is not None:
            break
    if found is None:
        return None
    for exclude in compose.get("exclude") or []:
        if _include_contains(ctx, exclude, system, code, stack) is not None:
            return None
    return found


def _include_contains(
    ctx: ComposeContext, include: dict[str, Any], system: str, code: str, stack: tuple[str, ...]
) -> Member | None:
    member: Member | None = None
    raw_system = include.get("system")
    if raw_system:
        inc_system = ctx.canonical_system(raw_system)
        if inc_system != system:
            return None
        entry = ctx.system_entry(system)
        concepts = include.get("concept")
        concept = entry.get(code) if entry is not None else None
        if concepts:
            real = concept.code if concept is not None else code
            raw = next((c for c in concepts if c.get("code") == real), None)
            if raw is None:
                return None
            member = Member(
                system,
                real,
                raw.get("display") or (concept.display if concept else None),
                concept,
                include.get("version"),
            )
        else:
            if entry is None:
                raise TerminologyError(
                    f"Système de codes inconnu : {system}", "not-found", "ValueSet.compose.include.system"
                )
            if concept is None:
                return None
            for flt in include.get("filter") or []:
                if concept.code not in evaluate_filter(entry, flt):
                    return None
            member = Member(
                system, concept.code, concept.display, concept, include.get("version") or entry.version
            )
    for url in include.get("valueSet") or []:
        nested = compose_contains(ctx, ctx.resolve_valueset(url), system, code, stack)
        if nested is None:
            return None
        if member is None:
            member = nested
    return member


def fold(text: str) -> str:
    """Lower case without accents, for the ``filter`` text search (« hépatite » ~ « hepatite »)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
