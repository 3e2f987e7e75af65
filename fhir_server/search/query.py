"""Read time: from search parameters to one MongoDB filter over the stored values (field ``s``).

Every condition targets a field that :mod:`.extract` wrote in normalised form, and leads
with an equality, ``$in`` or range on an indexed key (a string's stored prefixes, a date's
``l`` or ``h``, a quantity's ``v``...), the shapes any planner answers from an index; a
clause that must hold within one stored element (``$elemMatch``) or a longer pattern follows
it, and is checked on the documents the index yields. Only negations (``:not``, ``ne``,
``:missing=true``), ``:contains`` and ``:text`` have no bounded lead. Alternatives (``$or``)
are run one query each (``handler.split_or``). Chains, ``_has`` and ``_list`` run their inner
search first and become an ``$in`` on references or ids.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any

from fhir_server.errors import FhirError
from fhir_server.search.access import Policy, all_of, restricted_parts
from fhir_server.search.codesets import MODIFIERS as TERMINOLOGY_MODIFIERS
from fhir_server.search.codesets import terminology_condition
from fhir_server.search.dates import date_range
from fhir_server.search.extract import PREFIX_MAX, SEP, aux_key, fold, normalise_reference, uri_step
from fhir_server.search.fulltext import CODES as WORD_CODES
from fhir_server.search.fulltext import text_condition
from fhir_server.search.geo import near_condition
from fhir_server.search.indexes import LAST_UPDATED, presence, type_indexes, wide_params
from fhir_server.search.layout import current as current_layout
from fhir_server.search.one_date import merge_one_value_dates
from fhir_server.search.pairs import apply_pairs
from fhir_server.search.params import RESULT_PARAMS, UNSUPPORTED, SearchParam, composite_lead, params_for
from fhir_server.validation.limits import MAX_PATTERN, SEARCH_VALUE_MAX

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from fhir_server.storage import MongoRepository

# v3: ``_lastUpdated`` ranges are led by its sort key (its stored range's end): an instant's range
# spans at most a second; a day of margin on a bound of its start keeps the lead a superset.
_INSTANT_SPAN = timedelta(days=1)
_EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
WORDS_OFF = (
    "Recherche par mots (_text, _content) non activée sur ce serveur (PASSERELLE_SEARCH_WORDS=1 l'active)."
)
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MAX_CHAIN_IDS = 10_000
# parameters every type answers (a chain may end on them whatever its target)
_ANY_TYPE_CODES = ("_id", "_has", "_list", "_filter", *WORD_CODES)
_MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"text", "not", "missing", "of-type", "in", "not-in", "above", "below"},
    "reference": {"missing", "identifier"},  # plus :[type]
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "uri": {"missing", "below", "above"},
    "composite": {"missing"},
    "special": set(),
}


def bad(name: str, message: str, code: str = "invalid") -> FhirError:
    return FhirError(400, code, message, expression=[name])


def split_escaped(text: str, sep: str) -> list[str]:
    r"""Split on ``sep`` except where escaped with a backslash (``\,`` ``\|`` ``\$``); keep other escapes."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            current.append(nxt if nxt == sep else ch + nxt)
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    return re.sub(r"\\([\\,|$])", r"\1", text)


@dataclass
class Context:
    """What the builder needs besides the parameters: the repository, a session, the server's base."""

    repository: MongoRepository
    session: AsyncClientSession | None = None
    base: str | None = None
    warnings: list[tuple[str, str]] = field(default_factory=list)
    lenient: bool = False
    # The caller's access policy: every inner search (chain, _has, _list) ANDs its filter.
    # None for the server's own look-ups (conditional interactions), which see everything.
    access: Policy | None = None


# -- value conditions, each for a field name (so composites can reuse them inside $elemMatch) ----------


def _prefix(raw: str) -> tuple[str, str]:
    if len(raw) > 2 and raw[:2] in PREFIXES and (raw[2].isdigit() or raw[2] in "-+."):
        return raw[:2], raw[2:]
    return "eq", raw


def date_alternatives(name: str, raw: str) -> list[dict[str, Any]]:
    """R4 date prefixes over ranges: conditions on one stored ``{l, h}`` against the search
    value's ``[lo, hi)``, any of which matches.

    "Some value satisfies A or B" is "some satisfies A, or some satisfies B": the alternatives
    may run as separate queries, each led by its own index range (:func:`date_condition`).
    """
    prefix, text = _prefix(raw)
    rng = date_range(text)
    if rng is None:
        raise bad(name, f"{name} : date {raw!r} invalide (attendu AAAA[-MM[-JJ[Thh:mm[:ss][zone]]]]).")
    lo, hi = rng
    inside = {"l": {"$gte": lo}, "h": {"$lte": hi}}
    if prefix == "eq":
        alts: list[dict[str, Any]] = [inside]
    elif prefix == "ne":
        alts = [{"l": {"$lt": lo}}, {"h": {"$gt": hi}}]
    elif prefix == "gt":
        alts = [{"h": {"$gt": hi}}]
    elif prefix == "lt":
        alts = [{"l": {"$lt": lo}}]
    elif prefix == "ge":
        alts = [{"h": {"$gt": hi}}, inside]
    elif prefix == "le":
        alts = [{"l": {"$lt": lo}}, inside]
    elif prefix == "sa":
        alts = [{"l": {"$gte": hi}}]
    elif prefix == "eb":
        alts = [{"h": {"$lte": lo}}]
    else:  # ap: the ranges overlap
        alts = [{"l": {"$lt": hi}, "h": {"$gt": lo}}]
    return alts


def date_condition(name: str, fld: str, raw: str) -> list[dict[str, Any]]:
    """The alternatives of :func:`date_alternatives` on the stored field ``fld``, led by a range on
    ``l`` or ``h`` (both indexed).

    A stored ``{l, h}`` has ``l <= h``, so a bound on ``h`` from above bounds ``l`` too: the
    lead of ``eq`` (``l >= lo``, ``h <= hi``) is ``lo <= l <= hi``, one day of a birth date
    rather than everything after it. ``ge`` and ``le`` are one query, not two: both of their
    alternatives imply ``h >= lo`` (``ge``) or ``l <= hi`` (``le``), which leads, and the
    alternatives are checked within one stored value. ``ne`` stays two (``l < lo`` or
    ``h > hi``: no one range holds both).
    """
    alts = date_alternatives(name, raw)
    prefix, text = _prefix(raw)
    if prefix in ("ge", "le"):
        rng = date_range(text)
        assert rng is not None  # date_alternatives has checked it
        key, bound = ("h", {"$gte": rng[0]}) if prefix == "ge" else ("l", {"$lte": rng[1]})
        # the bound opens the $elemMatch too: SecantusDB reads one that starts with $or as
        # operators on scalar values (and refuses it)
        return [{f"{fld}.{key}": bound, fld: {"$elemMatch": {key: bound, "$or": alts}}}]
    out = []
    for alt in alts:
        if len(alt) == 1:  # one condition on one key: the dotted path says the same as $elemMatch
            ((key, ops),) = alt.items()
            out.append({f"{fld}.{key}": ops})
            continue
        lead = dict(alt["l"])
        if "$lte" in alt["h"] and not {"$lt", "$lte"} & set(lead):
            lead["$lte"] = alt["h"]["$lte"]
        out.append({f"{fld}.l": lead, fld: {"$elemMatch": alt}})
    return out


def _decimal(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise bad(name, f"{name} : nombre {text!r} invalide.") from exc
    if not value.is_finite():
        raise bad(name, f"{name} : nombre {text!r} invalide.")
    return value


def number_operators(name: str, raw: str) -> list[dict[str, Any]]:
    """The operators (ORed) for one number or quantity value.

    ``eq`` uses the implicit range of the value's precision (``100`` is [99.5, 100.5)), as R4 says.
    """
    prefix, text = _prefix(raw)
    value = _decimal(name, text)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    lo, hi, v = float(value - half), float(value + half), float(value)
    # A value given with more digits than a double holds: its range must still contain it.
    lo, hi = min(lo, v), max(hi, math.nextafter(v, math.inf))
    if prefix == "eq":
        return [{"$gte": lo, "$lt": hi}]
    if prefix == "ne":
        return [{"$lt": lo}, {"$gte": hi}]
    if prefix in ("gt", "sa"):
        return [{"$gt": v}]
    if prefix in ("lt", "eb"):
        return [{"$lt": v}]
    if prefix == "ge":
        return [{"$gte": v}]
    if prefix == "le":
        return [{"$lte": v}]
    margin = abs(v) * 0.1  # ap: within 10% of the value
    return [{"$gte": v - margin, "$lte": v + margin}]


def _value_condition(fld: str, alt: dict[str, Any]) -> dict[str, Any]:
    """A condition on one stored ``{v, ...}`` (number or quantity) of ``fld``: one bound on ``v``
    alone is the dotted range, exact; anything more is checked within one value, led by the
    range on the indexed ``v``."""
    if len(alt) == 1 and len(alt["v"]) == 1:
        return {f"{fld}.v": alt["v"]}
    return {f"{fld}.v": alt["v"], fld: {"$elemMatch": alt}}


def number_condition(name: str, fld: str, raw: str) -> list[dict[str, Any]]:
    return [_value_condition(fld, {"v": op}) for op in number_operators(name, raw)]


def quantity_alternatives(name: str, raw: str) -> list[dict[str, Any]]:
    """Conditions on one stored ``{v, s, c}``, any of which matches."""
    parts = split_escaped(raw, "|")
    if len(parts) not in (1, 3):
        raise bad(name, f"{name} : quantité {raw!r} invalide (attendu [préfixe]nombre[|système|code]).")
    units: dict[str, Any] = {}
    if len(parts) == 3:
        system, code = unescape(parts[1]), unescape(parts[2])
        if system:
            units["s"] = system
        if code:
            units["c"] = code
    return [{"v": op, **units} for op in number_operators(name, parts[0])]


def quantity_condition(name: str, fld: str, raw: str) -> list[dict[str, Any]]:
    return [_value_condition(fld, alt) for alt in quantity_alternatives(name, raw)]


def token_condition(name: str, fld: str, raw: str) -> dict[str, Any]:
    parts = split_escaped(raw, "|")
    if len(parts) == 1:
        return {fld: unescape(parts[0])}
    if len(parts) != 2:
        raise bad(name, f"{name} : jeton {raw!r} invalide (attendu [système|]code).")
    system, code = unescape(parts[0]), unescape(parts[1])
    if not code and not system:
        raise bad(name, f"{name} : jeton vide.")
    return {fld: f"{system}|{code}"}  # ``system|`` is stored too: any code of the system


def pattern(text: str, start: str = "", end: str = "") -> dict[str, str]:
    """A ``$regex`` on ``text`` taken literally; 400 ``too-costly`` beyond what the database compiles."""
    regex = start + re.escape(text) + end
    if len(regex) > MAX_PATTERN:
        raise FhirError(
            400,
            "too-costly",
            f"Valeur de recherche trop longue (motif de plus de {MAX_PATTERN} caractères).",
        )
    return {"$regex": regex}


def string_match(fld: str, raw: str, modifier: str | None) -> dict[str, Any]:
    """A string condition as a pattern on the folded values themselves: within a composite's
    ``$elemMatch``, for ``:contains`` and for a token's ``:text`` (no stored prefixes there)."""
    text = fold(unescape(raw))
    if modifier == "contains":
        return {fld: pattern(text)}
    return {fld: pattern(text, "^", "$" if modifier == "exact" else "")}


def string_condition(fld: str, raw: str, modifier: str | None) -> dict[str, Any]:
    """A string parameter: starts-with (the default) and ``:exact`` look a stored prefix up."""
    text = unescape(raw)
    folded = fold(text)
    if modifier == "contains" or not folded:
        return string_match(fld, raw, modifier)
    lead = {fld + ":p": folded[:PREFIX_MAX]}
    if modifier == "exact":
        return {**lead, fld + ":x": text}  # the exact text decides
    if len(folded) > PREFIX_MAX:
        return {**lead, fld: pattern(folded, "^")}
    return lead


def _keys_of(code: str) -> dict[str, str]:
    """The ``~k`` range of ``code`` alone and ``code`` ␟ any value: nothing else sorts in between
    (``code:i`` and ``code:b`` keys, and longer codes, sort after it)."""
    return {"$gte": code, "$lt": code + chr(ord(SEP) + 1)}


def presence_condition(param: SearchParam, present: bool) -> dict[str, Any]:
    """``:missing``: a present parameter's code is among the resource's ``~k`` keys (or, in layout
    v3, whatever :func:`.indexes.presence` says answers it from an index)."""
    if not present:
        return {param.field: {"$exists": False}}
    mode = presence(param.resource_type, param.code)
    if mode == "wide":
        # the range leads (from the index); on an array it can hold through two different keys
        # (MongoDB's semantics), so the field's presence decides (the element itself, maybe [])
        return {"s.~k": _keys_of(param.code), param.field: {"$exists": True}}
    if mode == "exists":
        return {param.field: {"$exists": True}}
    if mode == "sort":
        return {param.field + ":>": {"$gte": _EARLIEST}}
    return {"s.~k": param.code}


def uri_condition(fld: str, raw: str, modifier: str | None) -> dict[str, Any]:
    text = unescape(raw)
    if modifier == "below":
        # led by the ``/``-ended beginning every such uri stores (extract.uri_steps)
        code = fld[2:]
        step = uri_step(text)
        # no ``/`` in the value: any resource with the parameter (its presence key, or in layout v3
        # its typed keys: the range holds both and nothing else)
        lead = aux_key(code, ":b", step) if step else _keys_of(code)
        return {"s.~k": lead, fld: pattern(text, "^")}
    if modifier == "above":
        prefixes = []
        cut = text
        while cut and "/" in cut:
            prefixes.append(cut)
            cut = cut.rsplit("/", 1)[0]
            if cut.endswith("/") or cut.endswith(":"):
                break
        return {fld: {"$in": prefixes or [text]}}
    return {fld: text}


def reference_values(param: SearchParam, raw: str, type_modifier: str | None, base: str | None) -> list[str]:
    """The stored forms a reference search value can match (``id`` alone matches every target type)."""
    text = unescape(raw)
    if base and text.startswith(base.rstrip("/") + "/"):
        text = text[len(base.rstrip("/")) + 1 :]
    if "/" not in text and ":" not in text:
        if type_modifier:
            return [f"{type_modifier}/{text}"]
        targets = param.targets or ()
        return [f"{t}/{text}" for t in targets] or [text]
    ref = normalise_reference(text)
    if type_modifier and not ref.startswith(type_modifier + "/"):
        return []
    return [ref]


# -- parameter parsing -----------------------------------------------------------------------------------


@dataclass
class Parsed:
    name: str  # as sent, for error messages
    code: str
    modifier: str | None
    chain: str | None  # the rest of a chained name (``name`` in ``subject:Patient.name``)
    value: str


def parse_name(name: str, value: str) -> Parsed:
    head, dot, chain = name.partition(".")
    code, _, modifier = head.partition(":")
    return Parsed(name, code, modifier or None, chain if dot else None, value)


@dataclass
class Query:
    """The filter of a search, its narrowest indexed clause first (see :func:`flatten`)."""

    filter: dict[str, Any]


async def build_filter(
    ctx: Context, type_: str, params: list[tuple[str, str]], *, depth: int = 0
) -> dict[str, Any]:
    """The MongoDB filter (over current, non-deleted documents) for ``params`` on ``type_``."""
    return (await build_query(ctx, type_, params, depth=depth)).filter


async def build_query(ctx: Context, type_: str, params: list[tuple[str, str]], *, depth: int = 0) -> Query:
    """The filter for ``params`` on ``type_``.

    Parameters named in :data:`RESULT_PARAMS` are ignored here (the handler uses them).
    """
    conditions = await _conditions(ctx, type_, params, depth)
    # one lookup for the parameters searched together (pairs.py)
    conditions = apply_pairs(type_, conditions[1:])
    # several conditions on a birth date: one, led by one range (one_date.py)
    conditions = merge_one_value_dates(type_, conditions)
    return Query(flatten(type_, conditions))


def _rank(type_: str, cond: dict[str, Any]) -> int:
    ranks = [f[1] for f in (_indexed_field({k: v}) for k, v in cond.items()) if f and index_name(type_, f[0])]
    return min(ranks, default=9)


def flatten(type_: str, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """One flat filter document, the narrowest indexed clause first, when the clauses allow.

    ``{a: .., b: ..}`` rather than ``{$and: [{a: ..}, {b: ..}]}``: the same query, but planners
    (SecantusDB's especially) look a flat document's first indexed clause up directly. The
    ``d: false`` clause (not a deletion) is only added when no clause implies it: a deleted
    document has no stored values (``s`` is null), so any positive condition on ``s`` excludes it.
    """
    ordered = sorted(conditions, key=lambda c: _rank(type_, c))
    if ordered and not any("s.~k" in c for c in ordered):  # one clause on ``~k`` at most: flat
        ordered[0] = wide_lead(type_, ordered[0])
    flat = all_of(*ordered)  # fields in order of first use; see all_of for a field used twice
    if not any(_positive(c) for c in conditions):
        flat = all_of(flat, {"d": False})
    return flat


def _wide_key(type_: str, fld: str, value: Any) -> Any:
    """The ``~k`` condition saying the same as an equality or ``$in`` on a wide parameter's field
    (``None`` for anything else)."""
    code = fld[2:] if fld.startswith("s.") else ""
    if code not in wide_params(type_):
        return None
    if isinstance(value, str):
        return aux_key(code, "", value)
    values = value.get("$in") if isinstance(value, dict) and list(value) == ["$in"] else None
    if isinstance(values, list) and all(isinstance(v, str) for v in values):  # [] too: looks nothing up
        return {"$in": [aux_key(code, "", v) for v in values]}
    return None


def wide_lead(type_: str, cond: dict[str, Any]) -> dict[str, Any]:
    """``cond`` led by its typed ``~k`` key when its first clause is an equality or ``$in`` on a
    token/uri/reference parameter of layout v3 (which has no index of its own: :mod:`.indexes`); alternatives
    (``$or``, run one query each) when every one is. ``cond`` is kept whole (a resource stores
    ``code`` ␟ ``v`` exactly when ``v`` is among its values of ``code``): the lead adds no meaning.
    Any other condition, and every layout before v3, is returned as is."""
    if not cond or not current_layout().wide or "s.~k" in cond:
        return cond
    key, value = next(iter(cond.items()))
    if key == "$or" and isinstance(value, list):
        alternatives = [wide_lead(type_, alt) for alt in value]
        if all("s.~k" in alt for alt in alternatives):
            return {"$or": alternatives, **{k: v for k, v in cond.items() if k != "$or"}}
        return cond
    lead = _wide_key(type_, key, value)
    return cond if lead is None else {"s.~k": lead, **cond}


async def _conditions(
    ctx: Context, type_: str, params: list[tuple[str, str]], depth: int
) -> list[dict[str, Any]]:
    if depth > 4:
        raise bad("_has", "Chaînage trop profond (4 niveaux au plus).", "too-costly")
    known = params_for(type_)
    conditions: list[dict[str, Any]] = [{"d": False}]
    for name, value in params:
        if name in RESULT_PARAMS:
            continue
        if name.startswith("_has:"):
            conditions.append(await _has(ctx, type_, name, value, depth))
            continue
        p = parse_name(name, value)
        special = await _special(ctx, type_, p, depth)
        if special is not None:
            conditions.extend(special)
            continue
        if p.code in UNSUPPORTED:
            _unknown(ctx, name, f"Paramètre {p.code} non pris en charge par ce serveur.", "not-supported")
            continue
        if p.code == "_list":
            conditions.append(await _list(ctx, type_, value))
            continue
        if p.code == "_id":
            conditions.append(_id_condition(p))
            continue
        param = known.get(p.code)
        if param is None:
            _unknown(ctx, name, f"Paramètre de recherche inconnu pour {type_} : {p.code}.")
            continue
        if p.chain is not None:
            conditions.append(await _chain(ctx, param, p, depth))
            continue
        if param.type == "token" and p.modifier in TERMINOLOGY_MODIFIERS:
            values = [unescape(v) for v in split_escaped(p.value, ",")]
            conditions.append(await terminology_condition(ctx, param, p.name, p.modifier, values))
            continue
        cond = condition(ctx, param, p)
        if cond is not None:
            conditions.append(cond)
    return conditions


async def _special(ctx: Context, type_: str, p: Parsed, depth: int) -> list[dict[str, Any]] | None:
    """The conditions of the parameters with their own module (``None``: not one of them)."""
    if p.code in WORD_CODES and p.chain is None:
        if not current_layout().words:
            _unknown(ctx, p.name, WORDS_OFF)
            return []
        values = [unescape(v) for v in split_escaped(p.value, ",")]
        return [text_condition(p.name, p.code, p.modifier, values)]
    if p.code == "near" and type_ == "Location" and p.chain is None:
        return near_condition(p.name, p.modifier, p.value)
    if p.code == "_filter" and p.chain is None:
        from fhir_server.search.filter import filter_condition  # filter builds on this module

        return await filter_condition(ctx, type_, p, depth)
    return None


# -- which clause leads ----------------------------------------------------------------------------------


def _positive(cond: dict[str, Any]) -> bool:
    """Whether ``cond`` can only hold for a document with stored values (so not a deleted one)."""
    for key, value in cond.items():
        if key == "$or":
            if all(_positive(alt) for alt in value):
                return True
        elif (f := _indexed_field({key: value})) is not None and f[0].startswith("s.") and f[1] <= 3:
            return True
    return False


_NEGATIVE = frozenset({"$nin", "$exists", "$not", "$ne"})


def _indexed_field(cond: dict[str, Any]) -> tuple[str, int] | None:
    """(field, rank) of the index a condition can be answered from; lower ranks narrow more.

    0: equality or ``$in``; 1: range, ``$elemMatch`` or anchored regex; 2: alternatives on one
    field; 3: unanchored regex or presence; 4: negations (the index is scanned whole).
    """
    if len(cond) != 1:
        return None
    ((key, value),) = cond.items()
    if key in ("$or", "$nor"):
        inner = [_indexed_field(c) for c in value]
        fields = {f[0] for f in inner if f is not None}
        if len(fields) != 1 or any(f is None for f in inner):
            return None
        return fields.pop(), 2 if key == "$or" else 4
    if key.startswith("$"):
        return None
    if not isinstance(value, dict):
        return key, 0
    ops = set(value)
    if ops & _NEGATIVE:
        return key, 3 if value.get("$exists") is True else 4
    if "$regex" in ops:
        return key, 1 if str(value["$regex"]).startswith("^") else 3
    if "$in" in ops:
        return key, 0
    return key, 1


@cache
def index_name(type_: str, fld: str) -> str | None:
    """The name of the index over a stored field (see :mod:`.indexes`), if there is one."""
    if fld == "_id":
        return "_id_"
    if not fld.startswith("s."):
        return None
    if fld[2:] in wide_params(type_):  # v3: an equality on it is led by its typed key (wide_lead)
        return "s_~k"
    for name, keys in type_indexes(type_):
        if keys[0][0] == fld:
            return name
    return None


def _unknown(ctx: Context, name: str, message: str, code: str = "not-supported") -> None:
    if ctx.lenient:
        ctx.warnings.append((name, message))
        return
    raise bad(name, message, code)


def _id_condition(p: Parsed) -> dict[str, Any]:
    values = [unescape(v) for v in split_escaped(p.value, ",")]
    if p.modifier == "not":
        return {"_id": {"$nin": values}}
    if p.modifier == "missing":
        return {"_id": {"$exists": p.value != "true"}}
    if p.modifier is not None:
        raise bad(p.name, f"Modificateur :{p.modifier} non pris en charge sur _id.", "not-supported")
    return {"_id": values[0]} if len(values) == 1 else {"_id": {"$in": values}}


def condition(ctx: Context, param: SearchParam, p: Parsed) -> dict[str, Any] | None:
    """The condition of one parameter occurrence (its comma-separated values are ORed)."""
    fld = param.field
    modifier = p.modifier
    type_modifier: str | None = None
    if modifier is not None and modifier not in _MODIFIERS.get(param.type, set()):
        if param.type == "reference" and (
            modifier in param.targets or (modifier[:1].isupper() and not param.targets)
        ):
            type_modifier, modifier = modifier, None
        else:
            message = f"Modificateur :{modifier} non pris en charge pour {p.code} ({param.type})."
            raise bad(p.name, message, "not-supported")
    if modifier == "missing":
        if p.value not in ("true", "false"):
            raise bad(p.name, f"{p.name} attend true ou false.")
        return presence_condition(param, p.value == "false")
    if modifier in TERMINOLOGY_MODIFIERS and param.type == "token":  # async: see _conditions
        raise bad(p.name, f"Modificateur :{modifier} non pris en charge ici (composite ou _filter).",
                  "not-supported")  # fmt: skip
    values = split_escaped(p.value, ",")
    if any(v == "" for v in values):
        raise bad(p.name, f"{p.name} : valeur vide.")
    if any(len(v) > SEARCH_VALUE_MAX for v in values):
        message = f"{p.name} : valeur de plus de {SEARCH_VALUE_MAX} caractères (PASSERELLE_SEARCH_VALUE_MAX)."
        raise bad(p.name, message, "too-costly")
    ors: list[dict[str, Any]] = []
    for raw in values:
        kind = param.type
        if kind == "string":
            ors.append(string_condition(fld, raw, modifier))
        elif kind == "token":
            if modifier == "text":
                ors.append(string_match(fld + ":t", raw, None))
            elif modifier == "of-type":
                if len(split_escaped(raw, "|")) != 3:
                    raise bad(p.name, f"{p.name} : attendu système-type|code-type|valeur.")
                # the identifier's value is indexed as a bare token: it narrows, the typed key decides
                value = unescape(split_escaped(raw, "|")[2])
                ors.append({fld: value, fld + ":o": unescape(raw)})
            else:
                ors.append(token_condition(p.name, fld, raw))
        elif kind == "reference":
            if modifier == "identifier":
                ors.append(_identifier_condition(p, param, raw))
            else:
                refs = reference_values(param, raw, type_modifier, ctx.base)
                ors.append({fld: {"$in": refs}} if len(refs) != 1 else {fld: refs[0]})
        elif kind == "date":
            ors.extend(param_date_condition(param, p.name, raw))
        elif kind == "number":
            ors.extend(number_condition(p.name, fld, raw))
        elif kind == "quantity":
            ors.extend(quantity_condition(p.name, fld, raw))
        elif kind == "uri":
            ors.append(uri_condition(fld, raw, modifier))
        elif kind == "composite":
            ors.extend(_composite(p, param, raw))
        else:
            raise bad(p.name, f"Paramètre {p.code} de type {kind} non pris en charge.", "not-supported")
    if modifier == "not":
        return {"$nor": ors}
    return ors[0] if len(ors) == 1 else {"$or": ors}


def param_date_condition(param: SearchParam, name: str, raw: str) -> list[dict[str, Any]]:
    """:func:`date_condition` on a parameter's field; ``_lastUpdated`` (no index of its own in layout
    v3) led by its sort key."""
    alternatives = date_condition(name, param.field, raw)
    if param.code == LAST_UPDATED and current_layout().wide:
        alternatives = [_instant_lead(param.field, alt) for alt in alternatives]
    return alternatives


def _instant_lead(fld: str, alt: dict[str, Any]) -> dict[str, Any]:
    """``alt`` (a condition on the stored ``{l, h}`` of a one-instant parameter) led by a range on
    its sort key ``fld:>``, which is ``h``: bounds on ``h`` carry over, bounds on ``l`` (at most
    :data:`_INSTANT_SPAN` below ``h``) become looser bounds on ``h``; the rest of ``alt`` decides."""
    lead: dict[str, Any] = {}
    for op, bound in (alt.get(f"{fld}.h") or {}).items():
        lead[op] = bound
    for op, bound in (alt.get(f"{fld}.l") or {}).items():
        if op in ("$gte", "$gt") and not {"$gte", "$gt"} & set(lead):
            lead[op] = bound
        elif op in ("$lt", "$lte") and not {"$lt", "$lte"} & set(lead):
            with contextlib.suppress(OverflowError):  # a bound at the end of time: no upper bound
                lead["$lt"] = bound + _INSTANT_SPAN
    return {f"{fld}:>": lead, **alt} if lead else alt


def _composite(p: Parsed, param: SearchParam, raw: str) -> list[dict[str, Any]]:
    """One ``$elemMatch`` per combination of the components' alternatives (no ``$or`` inside it)."""
    parts = split_escaped(raw, "$")
    if len(parts) != len(param.components):
        raise bad(p.name, f"{p.name} : {len(param.components)} composantes attendues, séparées par $.")
    alternatives: list[list[dict[str, Any]]] = []
    for i, (comp, part) in enumerate(zip(param.components, parts, strict=True)):
        key = f"c{i}"
        if comp.type == "token":
            alternatives.append([token_condition(p.name, key, part)])
        elif comp.type == "date":
            alternatives.append([{key: {"$elemMatch": a}} for a in date_alternatives(p.name, part)])
        elif comp.type == "quantity":
            alternatives.append([{key: {"$elemMatch": a}} for a in quantity_alternatives(p.name, part)])
        elif comp.type == "number":
            alternatives.append([{key: {"$elemMatch": {"v": op}}} for op in number_operators(p.name, part)])
        elif comp.type == "string":
            alternatives.append([string_match(key, part, None)])
        elif comp.type == "uri":
            alternatives.append([uri_condition(key, part, None)])
        else:
            refs = reference_values(SearchParam(comp.code, comp.type, "", ""), part, None, None)
            alternatives.append([{key: {"$in": refs}}])
    combos: list[dict[str, Any]] = [{}]
    for alts in alternatives:
        combos = [{**c, **a} for c in combos for a in alts]
    # led by the first component's equality: on the parameter holding the same values when
    # there is one (params.composite_lead), else on the composite's own ``c0``
    same = composite_lead(param.resource_type, param.code)
    lead_field = f"s.{same}" if same else f"{param.field}.c0"
    out = []
    for combo in combos:
        first = combo["c0"]
        lead = (
            {lead_field: first}
            if isinstance(first, str) or (isinstance(first, dict) and set(first) == {"$in"})
            else {}
        )
        out.append({**lead, param.field: {"$elemMatch": combo}})
    return out


def _identifier_condition(p: Parsed, param: SearchParam, raw: str) -> dict[str, Any]:
    """``:identifier``: the reference's identifier tokens, kept as ``~k`` keys (extract.aux_key)."""
    return {"s.~k": aux_key(param.code, ":i", token_condition(p.name, "t", raw)["t"])}


# -- chaining, reverse chaining, lists ---------------------------------------------------------------------


async def matching_ids(
    ctx: Context, type_: str, params: list[tuple[str, str]], depth: int, *, projection: str | None = None
) -> list[Any]:
    """Ids (or the values of one stored field) of the resources matching an inner search."""
    query = await build_query(ctx, type_, params, depth=depth + 1)
    # a chain or _has through a resource the caller may not see must neither match nor reveal it
    restriction = ctx.access.search_filter(type_) if ctx.access is not None else None
    coll = ctx.repository.db[type_]
    fields = {"_id": 1} if projection is None else {projection: 1}
    ids: list[Any] = []
    seen: set[Any] = set()
    for flt in restricted_parts(query.filter, restriction):  # flat, indexed; they may overlap
        cursor = coll.find(wide_lead(type_, flt), fields, session=ctx.session).limit(MAX_CHAIN_IDS + 1)
        async for d in cursor:
            if d["_id"] in seen:
                continue
            seen.add(d["_id"])
            if projection is None:
                ids.append(d["_id"])
                continue
            node: Any = d
            for part in projection.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, list):
                ids.extend(node)
    if len(ids) > MAX_CHAIN_IDS:
        raise bad(
            params[0][0] if params else type_,
            f"Recherche chaînée trop large (plus de {MAX_CHAIN_IDS} ressources intermédiaires) : "
            "ajoutez des critères.",
            "too-costly",
        )
    return ids


async def _chain(ctx: Context, param: SearchParam, p: Parsed, depth: int) -> dict[str, Any]:
    if param.type != "reference":
        raise bad(p.name, f"{p.code} n'est pas une référence : pas de chaînage possible.")
    assert p.chain is not None
    inner_code = parse_name(p.chain, p.value).code
    targets = [p.modifier] if p.modifier else list(param.targets)
    targets = [t for t in targets if inner_code in params_for(t) or inner_code in _ANY_TYPE_CODES
               or p.chain.startswith("_has:")]  # fmt: skip
    if not targets:
        raise bad(p.name, f"Chaînage {p.name} : aucun type cible ne connaît le paramètre {inner_code}.")
    if ctx.access is not None and not p.modifier:
        # candidate targets the token may not search are skipped; if none is left, the 403 is raised
        targets = ctx.access.readable_types(targets) or targets
    refs: list[str] = []
    for target in targets:
        ids = await matching_ids(ctx, target, [(p.chain, p.value)], depth)
        refs.extend(f"{target}/{i}" for i in ids)
    return {param.field: {"$in": refs}}


async def _has(ctx: Context, type_: str, name: str, value: str, depth: int) -> dict[str, Any]:
    parts = name.split(":", 3)
    if len(parts) != 4 or not parts[3]:
        raise bad(name, f"{name} : syntaxe attendue _has:Type:référence:paramètre=valeur.")
    _, other, ref_code, rest = parts
    ref_param = params_for(other).get(ref_code)
    if ref_param is None or ref_param.type != "reference":
        raise bad(name, f"{name} : {other}.{ref_code} n'est pas un paramètre référence connu.")
    refs = await matching_ids(ctx, other, [(rest, value)], depth, projection=ref_param.field)
    prefix = type_ + "/"
    ids = sorted({r[len(prefix) :] for r in refs if isinstance(r, str) and r.startswith(prefix)})
    return {"_id": {"$in": ids}}


async def _list(ctx: Context, type_: str, value: str) -> dict[str, Any]:
    restriction = ctx.access.search_filter("List", "read") if ctx.access is not None else None
    doc = None
    for query in restricted_parts({"_id": value, "d": False}, restriction, lead=False):
        doc = await ctx.repository.db["List"].find_one(query, {"j": 1}, session=ctx.session)
        if doc is not None:
            break
    ids: list[str] = []
    if doc is not None:
        import orjson

        body = orjson.loads(doc["j"])
        for entry in body.get("entry") or []:
            ref = (entry.get("item") or {}).get("reference")
            if isinstance(ref, str):
                norm = normalise_reference(ref)
                if norm.startswith(type_ + "/"):
                    ids.append(norm[len(type_) + 1 :])
    return {"_id": {"$in": ids}}
