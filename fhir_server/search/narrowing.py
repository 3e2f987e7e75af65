"""SMART v2 granular scopes (``patient/Observation.rs?category=…``): the search side.

A scope's query narrows what the scope grants to the resources matching it. Supported:
token parameters of the scope's type, unmodified, with ``system|code``, ``code`` or
``|code`` values (several values separated by commas: any of them; several parameters:
all of them) — the shape SMART App Launch 2 gives as its example (Observation and
Condition ``category``). Anything else is refused when the scope is requested (a
narrowing the server cannot enforce must never silently widen into the whole type).

The same rules give a Mongo filter on the stored search values (for searches) and an
in-memory test of one resource (for reads and writes), so both always agree.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fhir_server.search.extract import compile_expression, values_of
from fhir_server.search.params import params_for
from fhir_server.search.query import split_escaped, unescape


class NarrowingError(ValueError):
    """A scope query this server cannot enforce (the message is French, for the OAuth error)."""


def _criteria(type_: str, query: str) -> list[tuple[str, list[str]]]:
    """(parameter code, accepted stored tokens) pairs of a scope query; NarrowingError when unsupported."""
    if type_ == "*":
        raise NarrowingError("portée restreinte par paramètres : un type de ressource précis est requis")
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        raise NarrowingError(f"restriction de portée vide ou illisible : {query!r}")
    out: list[tuple[str, list[str]]] = []
    for name, raw in pairs:
        param = params_for(type_).get(name)
        if param is None or param.type != "token":
            raise NarrowingError(
                f"restriction de portée sur {type_}.{name} non prise en charge "
                "(paramètres de type token seulement)"
            )
        tokens = []
        for value in split_escaped(raw, ","):
            parts = split_escaped(value, "|")
            if len(parts) == 1 and parts[0]:
                tokens.append(unescape(parts[0]))
            elif len(parts) == 2 and parts[1]:
                tokens.append(f"{unescape(parts[0])}|{unescape(parts[1])}")
            else:
                raise NarrowingError(
                    f"restriction de portée {name}={raw!r} : jeton attendu (système|code ou code)"
                )
        out.append((name, tokens))
    return out


def check_scope_query(type_: str, query: str) -> None:
    """NarrowingError unless the server can enforce ``query`` on ``type_``."""
    _criteria(type_, query)


def scope_filter(type_: str, query: str) -> dict[str, Any]:
    """The Mongo filter (on ``s``) of the resources a scope query lets through."""
    criteria = _criteria(type_, query)
    return {f"s.{name}": tokens[0] if len(tokens) == 1 else {"$in": tokens} for name, tokens in criteria}


def scope_matches(type_: str, query: str, resource: dict[str, Any]) -> bool:
    """Whether ``resource`` satisfies a scope query (the same test as :func:`scope_filter`)."""
    for name, tokens in _criteria(type_, query):
        param = params_for(type_)[name]
        items = compile_expression(param.expression, type_)(resource)
        stored = set(values_of(param, items).get("", [])) if items else set()
        if not stored & set(tokens):
            return False
    return True
