"""``_filter`` (R4 search_filter.html): a small expression language over the search parameters.

``name co "pet" and (birthdate ge 2014-10-10 or not (gender eq male))``: each comparison is
``parameter operator value``, compiled with the same condition builders as the plain
parameters (so a filter and the equivalent URL find the same resources), and combined with
``and``, ``or`` (``and`` binds tighter), ``not (...)`` and parentheses into one MongoDB filter.

Operators by parameter type (R4 3.1.2.3), anything else is a 400 naming the operator:

- string: ``eq`` (whole value), ``sw`` (starts with), ``co`` (contains), ``ew`` (ends with),
  ``ne``; all case- and accent-insensitive, like string search;
- token: ``eq``, ``ne``, ``ss``/``sb`` (the resource's code subsumes / is subsumed by the given
  one: ``:above``/``:below``), ``in``/``ni`` (in / not in a value set: ``:in``/``:not-in``);
- date: ``eq ne gt lt ge le sa eb ap`` (the search prefixes), ``po`` (the ranges overlap);
- number, quantity: ``eq ne gt lt ge le ap``; reference: ``eq``/``re``, ``ne``;
- uri: ``eq``, ``ne``, ``ss`` (``:above``), ``sb`` (``:below``), ``sw`` (starts with);
- every type: ``pr true|false`` (has a value or not);
- ``_text``/``_content``: ``eq``, ``co``, ``sw`` (word search); ``_id``: ``eq``, ``ne``.

A path ``subject.name co "pet"`` chains through a reference: the rest of the path is a filter
on the targets. Sub-filters in brackets (``related[type eq x].target``) are not supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fhir_server.errors import FhirError
from fhir_server.search.codesets import terminology_condition
from fhir_server.search.folding import fold
from fhir_server.search.fulltext import CODES as WORD_CODES
from fhir_server.search.fulltext import text_condition
from fhir_server.search.layout import current as current_layout
from fhir_server.search.params import params_for
from fhir_server.search.query import (
    WORDS_OFF,
    Context,
    Parsed,
    matching_ids,
    number_condition,
    param_date_condition,
    pattern,
    presence_condition,
    quantity_condition,
    reference_values,
    token_condition,
    uri_condition,
)

if TYPE_CHECKING:
    from fhir_server.search.params import SearchParam

NAME = "_filter"
OPERATORS = frozenset(
    [
        "eq",
        "ne",
        "co",
        "sw",
        "ew",
        "gt",
        "lt",
        "ge",
        "le",
        "ap",
        "sa",
        "eb",
        "pr",
        "po",
        "ss",
        "sb",
        "in",
        "ni",
        "re",
    ]
)
MAX_LENGTH = 4000
MAX_DEPTH = 20


def _bad(message: str, code: str = "invalid") -> FhirError:
    return FhirError(400, code, f"_filter : {message}", expression=[NAME])


# -- parsing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    value: str
    quoted: bool


@dataclass(frozen=True)
class Logical:
    op: str  # and, or
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    inner: Any


_TOKEN_RE = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()"]+))')


def _lex(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise _bad(f"syntaxe invalide à la position {pos + 1} : {text[pos : pos + 20]!r}.")
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _bad("expression incomplète.")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Any:
        if not self.tokens:
            raise _bad("expression vide.")
        node = self.or_()
        if self.peek() is not None:
            raise _bad(f"élément inattendu {self.peek()[1]!r}.")  # type: ignore[index]
        return node

    def or_(self) -> Any:
        node = self.and_()
        while self.keyword("or"):
            node = Logical("or", node, self.and_())
        return node

    def and_(self) -> Any:
        node = self.unary()
        while self.keyword("and"):
            node = Logical("and", node, self.unary())
        return node

    def unary(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _bad(f"expression trop imbriquée ({MAX_DEPTH} niveaux au plus).", "too-costly")
        try:
            if self.keyword("not"):
                if self.peek() != ("open", "("):
                    raise _bad("« not » doit être suivi d'une expression entre parenthèses.")
                return Not(self.group())
            if self.peek() == ("open", "("):
                return self.group()
            return self.comparison()
        finally:
            self.depth -= 1

    def group(self) -> Any:
        self.take()
        node = self.or_()
        if self.peek() != ("close", ")"):
            raise _bad("parenthèse fermante attendue.")
        self.pos += 1
        return node

    def comparison(self) -> Compare:
        kind, path = self.take()
        if kind != "word":
            raise _bad(f"nom de paramètre attendu, reçu {path!r}.")
        if "[" in path:
            raise _bad(f"sous-filtre entre crochets non pris en charge ({path}...).", "not-supported")
        kind, op = self.take()
        if kind != "word":
            raise _bad(f"opérateur attendu après {path}, reçu {op!r}.")
        op = op.lower()
        if op not in OPERATORS:
            raise _bad(f"opérateur inconnu « {op} » (après {path}).")
        kind, value = self.take()
        if kind == "string":
            return Compare(path, op, _unquote(value), True)
        if kind != "word":
            raise _bad(f"valeur attendue après {path} {op}, reçu {value!r}.")
        return Compare(path, op, value, False)


def parse(text: str) -> Any:
    """The syntax tree of a ``_filter`` expression (400 on a syntax error)."""
    if len(text) > MAX_LENGTH:
        raise _bad(f"expression trop longue ({MAX_LENGTH} caractères au plus).", "too-costly")
    return _Parser(text).parse()


# -- compiling -----------------------------------------------------------------------------------------


def _unsupported(op: str, where: str) -> FhirError:
    return _bad(f"opérateur « {op} » non pris en charge pour {where}.", "not-supported")


def _one(conds: list[dict[str, Any]]) -> dict[str, Any]:
    return conds[0] if len(conds) == 1 else {"$or": conds}


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _compile(ctx: Context, type_: str, node: Any, depth: int) -> dict[str, Any]:
    if isinstance(node, Logical):
        left = await _compile(ctx, type_, node.left, depth)
        right = await _compile(ctx, type_, node.right, depth)
        return {"$and" if node.op == "and" else "$or": [left, right]}
    if isinstance(node, Not):
        return {"$nor": [await _compile(ctx, type_, node.inner, depth)]}
    return await _comparison(ctx, type_, node, depth)


async def _comparison(ctx: Context, type_: str, cmp: Compare, depth: int) -> dict[str, Any]:
    if "[" in cmp.path:
        raise _bad(f"sous-filtre entre crochets non pris en charge ({cmp.path}).", "not-supported")
    code, dot, rest = cmp.path.partition(".")
    if code == "_id":
        if dot:
            raise _bad("_id ne se chaîne pas.")
        if cmp.op == "eq":
            return {"_id": cmp.value}
        if cmp.op == "ne":
            return {"_id": {"$ne": cmp.value}}
        raise _unsupported(cmp.op, "_id")
    if code in WORD_CODES and not dot:
        if not current_layout().words:
            raise FhirError(400, "not-supported", f"_filter : {WORDS_OFF}", expression=[NAME])
        if cmp.op not in ("eq", "co", "sw"):
            raise _unsupported(cmp.op, code)
        return text_condition(NAME, code, None, [cmp.value])
    param = params_for(type_).get(code)
    if param is None:
        raise _bad(f"paramètre de recherche inconnu pour {type_} : {code}.")
    if dot:
        return await _chain(ctx, param, rest, cmp, depth)
    if cmp.op == "pr":
        if cmp.value not in ("true", "false"):
            raise _bad(f"{code} pr attend true ou false.")
        return presence_condition(param, cmp.value == "true")
    return await _leaf(ctx, param, cmp)


async def _chain(ctx: Context, param: SearchParam, rest: str, cmp: Compare, depth: int) -> dict[str, Any]:
    if param.type != "reference":
        raise _bad(f"{param.code} n'est pas une référence : pas de chaînage possible.")
    inner_code = rest.partition(".")[0].partition("[")[0]
    targets = [t for t in param.targets if inner_code in params_for(t) or inner_code in ("_id", *WORD_CODES)]
    if not targets:
        raise _bad(f"aucun type cible de {param.code} ne connaît le paramètre {inner_code}.")
    value = _quote(cmp.value) if cmp.quoted else cmp.value
    inner = [(NAME, f"{rest} {cmp.op} {value}")]
    refs: list[str] = []
    for target in targets:
        refs.extend(f"{target}/{i}" for i in await matching_ids(ctx, target, inner, depth))
    return {param.field: {"$in": refs}}


_ORDER_OPS = ("eq", "ne", "gt", "lt", "ge", "le", "ap")


async def _leaf(ctx: Context, param: SearchParam, cmp: Compare) -> dict[str, Any]:
    fld, op, value, kind = param.field, cmp.op, cmp.value, param.type
    where = f"{param.code} ({kind})"
    if kind == "string":
        anchors = {"eq": ("^", "$"), "ne": ("^", "$"), "sw": ("^", ""), "co": ("", ""), "ew": ("", "$")}
        if op not in anchors:
            raise _unsupported(op, where)
        cond: dict[str, Any] = {fld: pattern(fold(value), *anchors[op])}
        return {"$nor": [cond]} if op == "ne" else cond
    if kind == "token":
        if op in ("eq", "ne"):
            cond = token_condition(NAME, fld, value)
            return {"$nor": [cond]} if op == "ne" else cond
        term = {"ss": "above", "sb": "below", "in": "in", "ni": "not-in"}.get(op)
        if term is None:
            raise _unsupported(op, where)
        return await terminology_condition(ctx, param, NAME, term, [value])
    if kind == "date":
        if op == "po":
            op = "ap"  # the search's ap on dates is range overlap
        if op not in (*_ORDER_OPS, "sa", "eb"):
            raise _unsupported(cmp.op, where)
        return _one(param_date_condition(param, NAME, op + value))
    if kind == "number":
        if op not in _ORDER_OPS:
            raise _unsupported(op, where)
        return _one(number_condition(NAME, fld, op + value))
    if kind == "quantity":
        if op not in _ORDER_OPS:
            raise _unsupported(op, where)
        return _one(quantity_condition(NAME, fld, op + value))
    if kind == "reference":
        if op not in ("eq", "re", "ne"):
            raise _unsupported(op, where)
        refs = reference_values(param, value, None, ctx.base)
        cond = {fld: {"$in": refs}}
        return {"$nor": [cond]} if op == "ne" else cond
    if kind == "uri":
        uri_modifiers: dict[str, str | None] = {"eq": None, "ne": None, "ss": "above", "sb": "below"}
        uri_modifiers["sw"] = "below"
        if op not in uri_modifiers:
            raise _unsupported(op, where)
        cond = uri_condition(fld, value, uri_modifiers[op])
        return {"$nor": [cond]} if op == "ne" else cond
    raise _unsupported(op, where)


def _conjuncts(node: Any) -> list[Any]:
    if isinstance(node, Logical) and node.op == "and":
        return [*_conjuncts(node.left), *_conjuncts(node.right)]
    return [node]


async def filter_condition(ctx: Context, type_: str, p: Parsed, depth: int) -> list[dict[str, Any]]:
    """The conditions (ANDed) of one ``_filter`` parameter (repeating it ANDs, as for any parameter).

    The top-level ``and`` terms are separate conditions, so that the builder lays them out
    flat, as it does the parameters of a URL, where planners look their indexes up."""
    if p.modifier is not None:
        raise FhirError(400, "not-supported", f"Modificateur :{p.modifier} non pris en charge sur _filter.",
                        expression=[p.name])  # fmt: skip
    if depth > 4:
        raise _bad("chaînage trop profond (4 niveaux au plus).", "too-costly")
    return [await _compile(ctx, type_, term, depth) for term in _conjuncts(parse(p.value))]
