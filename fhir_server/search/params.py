"""The R4 search parameters, compiled once from the official definitions (and ours).

Each ``SearchParameter`` of ``search-parameters.json`` is split by resource type: its
FHIRPath ``expression`` is a union covering every base type (``Condition.code |
Observation.code | ...``), and only the branches about one type matter when that
type's resources are indexed or searched. The result, :func:`registry`, maps a
resource type to its parameters by code; extraction (:mod:`.extract`) and query
building (:mod:`.query`) both work from it, so what is stored and what is asked
always agree. Parameters R4 lacks and this server defines (``profiles/passerelle/``,
e.g. MedicationRequest ``group-identifier``) are compiled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

# Parameters the server answers without a stored value or with its own logic.
RESULT_PARAMS = frozenset(
    {
        "_sort", "_count", "_include", "_revinclude", "_summary", "_elements", "_total",
        "_contained", "_containedType", "_format", "_pretty", "_cursor", "_type",
    }
)  # fmt: skip
SPECIAL_PARAMS = frozenset({"_id", "_lastUpdated", "_list", "_has"})
# Defined without an expression and answered by no module: not supported.
UNSUPPORTED = frozenset({"_query"})

# Types that do not derive from DomainResource (so have no DomainResource parameters).
_NOT_DOMAIN = frozenset({"Bundle", "Binary", "Parameters"})


@dataclass(frozen=True)
class Component:
    """One part of a composite parameter: the referenced parameter's type and its relative path."""

    code: str
    type: str
    expression: str


@dataclass(frozen=True)
class SearchParam:
    code: str
    type: str  # number date string token reference composite quantity uri special
    resource_type: str
    expression: str  # the branches of the official expression that concern this type
    targets: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()
    url: str = ""
    modifiers: tuple[str, ...] = field(default=())

    @property
    def field(self) -> str:
        """The key of the values in a stored document's ``s``."""
        return f"s.{self.code}"


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on its top-level ``|`` (not those inside parentheses or quotes)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(expression):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _head(part: str) -> str:
    """The type a branch starts from: ``(Observation.value as Quantity)`` -> ``Observation``."""
    text = part.lstrip("(")
    for i, ch in enumerate(text):
        if not (ch.isalnum() or ch == "_"):
            return text[:i]
    return text


def _branches(expression: str, type_: str, bases: list[str]) -> list[str]:
    """The branches of ``expression`` that apply to ``type_`` (rewritten to start from it)."""
    out = []
    for part in split_union(expression):
        head = _head(part)
        if head == type_:
            out.append(part)
        elif head in ("Resource", "DomainResource") and head in bases:
            out.append(part.replace(head, type_, 1))
    return out


@cache
def registry() -> dict[str, dict[str, SearchParam]]:
    """Every search parameter of every resource type the server accepts, by type then code."""
    from fhir_server.validation import RESOURCE_TYPES
    from profiles import passerelle_bundle, r4_bundle

    by_url: dict[str, dict] = {}
    for bundle in (r4_bundle("search-parameters"), passerelle_bundle("search-parameters")):
        for entry in bundle["entry"]:
            res = entry["resource"]
            by_url[res["url"]] = res
    out: dict[str, dict[str, SearchParam]] = {t: {} for t in RESOURCE_TYPES}
    for res in by_url.values():
        code = res["code"]
        expression = res.get("expression")
        if not expression or code in UNSUPPORTED:
            continue
        bases = list(res.get("base", []))
        types: list[str]
        if "Resource" in bases:
            types = list(out)
        elif "DomainResource" in bases:
            types = [t for t in out if t not in _NOT_DOMAIN]
        else:
            types = [t for t in bases if t in out]
        for type_ in types:
            branches = _branches(expression, type_, bases)
            if not branches:
                continue
            components: tuple[Component, ...] = ()
            if res["type"] == "composite":
                parts = []
                for comp in res.get("component", []):
                    ref = by_url.get(comp["definition"])
                    if ref is None:
                        break
                    parts.append(Component(ref["code"], ref["type"], comp["expression"]))
                else:
                    components = tuple(parts)
                if not components:
                    continue
            out[type_][code] = SearchParam(
                code=code,
                type=res["type"],
                resource_type=type_,
                expression=" | ".join(branches),
                targets=tuple(res.get("target", [])),
                components=components,
                url=res["url"],
                modifiers=tuple(res.get("modifier", [])),
            )
    return out


def params_for(type_: str) -> dict[str, SearchParam]:
    return registry().get(type_, {})


@cache
def composite_lead(type_: str, code: str) -> str | None:
    """The parameter whose values are exactly a composite's first component's, if there is one.

    ``code-value-quantity`` (root ``Observation``, first part ``code``) holds in ``c0`` the values
    of ``code`` (``Observation.code``); a search on it can look ``code``'s own index up, and the
    composite needs no index of its own. ``None`` when the paths differ (DocumentReference
    ``relationship``: ``relatesTo.code`` is not ``relatesto``'s ``relatesTo.target``).
    """
    param = params_for(type_).get(code)
    if param is None or param.type != "composite" or not param.components:
        return None
    first = param.components[0]
    other = params_for(type_).get(first.code)
    if other is None or other.type != first.type:
        return None
    paths = {f"{root.strip()}.{first.expression}" for root in split_union(param.expression)}
    return other.code if paths == {p.strip() for p in split_union(other.expression)} else None
