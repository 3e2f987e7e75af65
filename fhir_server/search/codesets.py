"""Token modifiers answered by the terminology service: ``:in``, ``:not-in``, ``:above``, ``:below``.

Each becomes the set of ``system|code`` tokens it stands for, computed at read time
(a value set or a hierarchy can change without the resources changing), then one
``$in`` (or ``$nin``) on the parameter's indexed tokens:

- ``:in`` / ``:not-in`` take a value set, by canonical URL (``url`` or ``url|version``) or by
  reference to a stored ValueSet (``ValueSet/123``); it is expanded, up to :data:`MAX_CODES`
  codes (more is refused as ``too-costly``: a query with ten thousand alternatives is not an
  index lookup any more);
- ``:below`` (the code and everything it subsumes) and ``:above`` (the code and everything
  that subsumes it) take ``system|code`` and follow the code system's is-a hierarchy.

A value without a system (a ``code`` element such as ``Patient.gender``) matches when its
code is one of the set's: its system is the one its binding implies.

The service is looked up on each call (:func:`terminology.get_service`), so value sets fed to
it at run time (stored through the REST API, say) are seen. A value set the service does not
know but the database holds (by ``url`` or id) is expanded from the stored resource.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

from fhir_server.errors import FhirError
from fhir_server.search.params import SearchParam

if TYPE_CHECKING:
    from fhir_server.search.query import Context

MODIFIERS = frozenset({"in", "not-in", "above", "below"})
MAX_CODES = 1000


def _bad(name: str, message: str, code: str = "invalid") -> FhirError:
    return FhirError(400, code, message, expression=[name])


def _terminology_error(name: str, exc: Exception) -> FhirError:
    code = getattr(exc, "code", "processing")
    message = getattr(exc, "message", str(exc))
    if code not in ("not-found", "too-costly", "not-supported", "invalid"):
        code = "processing"
    return _bad(name, f"{name} : {message}.", code)


async def _stored_valueset(ctx: Context, reference: str) -> dict[str, Any] | None:
    """A ValueSet held in the database, by ``ValueSet/id`` or by canonical URL."""
    coll = ctx.repository.db["ValueSet"]
    if reference.startswith("ValueSet/") and "/" not in reference[9:]:
        query: dict[str, Any] = {"_id": reference[9:], "d": False}
    else:
        query = {"s.url": reference.split("|", 1)[0], "d": False}
    doc = await coll.find_one(query, {"j": 1}, session=ctx.session)
    if doc is None:
        return None
    resource: dict[str, Any] = orjson.loads(doc["j"])
    return resource


async def valueset_tokens(ctx: Context, name: str, reference: str) -> list[str]:
    """The ``system|code`` tokens of a value set's expansion (400 when unknown or too large)."""
    from terminology import TerminologyError, get_service

    service = get_service()
    if ctx.base and reference.startswith(ctx.base.rstrip("/") + "/ValueSet/"):
        reference = reference[len(ctx.base.rstrip("/")) + 1 :]
    valueset: dict[str, Any] | None = None
    if reference.startswith("ValueSet/") or service.valueset_url(reference) is None:
        valueset = await _stored_valueset(ctx, reference)
        if valueset is None:
            raise _bad(name, f"{name} : jeu de valeurs inconnu {reference!r}.", "not-found")
    try:
        if valueset is not None:
            expansion = await asyncio.to_thread(service.expand, valueset=valueset, count=MAX_CODES + 1)
        else:
            expansion = await asyncio.to_thread(service.expand, reference, count=MAX_CODES + 1)
    except TerminologyError as exc:
        raise _terminology_error(name, exc) from exc
    total = expansion["expansion"].get("total", 0)
    if total > MAX_CODES:
        raise _bad(
            name,
            f"{name} : le jeu de valeurs {reference!r} compte {total} codes (limite {MAX_CODES}) : "
            "précisez la recherche.",
            "too-costly",
        )
    return [t for c in expansion["expansion"].get("contains", []) for t in _tokens(c["system"], c["code"])]


def _tokens(system: str, code: str) -> tuple[str, str]:
    """The stored tokens a member matches: with its system, and system-less (``|code``: a ``code``
    element, whose system is the one its binding implies)."""
    return f"{system}|{code}", f"|{code}"


def hierarchy_tokens(name: str, raw: str, direction: str) -> list[str]:
    """``system|code`` with its descendants (``below``) or ancestors (``above``)."""
    from terminology import get_service

    system, sep, code = raw.partition("|")
    if not sep or not system or not code or "|" in code:
        raise _bad(name, f"{name} : attendu système|code (la hiérarchie est celle d'un système de codes).")
    entry = get_service().system_entry(system)
    if entry is None:
        raise _bad(name, f"{name} : système de codes inconnu {system!r}.", "not-found")
    concept = entry.get(code)
    if concept is None:
        raise _bad(name, f"{name} : code {code!r} inconnu dans {system}.", "not-found")
    if not entry.hierarchical and entry.content != "complete":
        raise _bad(name, f"{name} : hiérarchie non disponible pour {system}.", "not-supported")
    if direction == "below":
        related: list[str] = []
        for child in entry.descendants(concept.code):
            related.append(child)
            if len(related) > MAX_CODES:
                raise _bad(
                    name,
                    f"{name} : plus de {MAX_CODES} codes sous {code} : précisez la recherche.",
                    "too-costly",
                )
    else:
        related = sorted(entry.ancestors(concept.code))
    systems = dict.fromkeys([system, entry.url])
    return [t for s in systems for c in [concept.code, *related] for t in _tokens(s, c)]


async def terminology_condition(
    ctx: Context, param: SearchParam, name: str, modifier: str, values: list[str]
) -> dict[str, Any]:
    """The condition of ``param:modifier`` for its (ORed, unescaped) values."""
    tokens: list[str] = []
    for raw in values:
        if not raw:
            raise _bad(name, f"{name} : valeur vide.")
        if modifier in ("in", "not-in"):
            tokens.extend(await valueset_tokens(ctx, name, raw))
        else:
            tokens.extend(await asyncio.to_thread(hierarchy_tokens, name, raw, modifier))
    tokens = list(dict.fromkeys(tokens))
    if modifier == "not-in":
        return {param.field: {"$nin": tokens}}
    return {param.field: {"$in": tokens}}
