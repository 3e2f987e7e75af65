"""``_include`` and ``_revinclude`` (with ``:iterate`` and ``*``): resources added beside the matches.

Both run from the stored reference values (``s.<param>`` holds ``Type/id``): an
include reads the matches' values and fetches those ids; a revinclude finds the
documents whose value is one of the matches. Each is one indexed query per type.

With a caller's policy, each look-up ANDs the policy's read filter for its type, types
the caller may not read are skipped without error, and every resource found passes
``can_read`` before it is added (or followed by ``:iterate``): nothing hidden leaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from fhir_server.errors import FhirError
from fhir_server.search.access import Policy, include_restriction, restricted_parts, visible
from fhir_server.search.params import params_for
from fhir_server.search.query import wide_lead

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from fhir_server.storage import MongoRepository

MAX_INCLUDED = 1000
MAX_ITERATIONS = 3
# ``s`` is read only where :iterate follows it (``_doc_fields``): it is most of a document
_DOC_FIELDS = {"j": 1, "v": 1, "ts": 1, "d": 1, "m": 1}


@dataclass(frozen=True)
class IncludeSpec:
    source: str  # the type whose references are followed ("*" for any)
    code: str  # the reference parameter ("*" for all)
    target: str | None
    iterate: bool
    reverse: bool


def parse_includes(params: list[tuple[str, str]], *, lenient_types: bool = False) -> list[IncludeSpec]:
    out: list[IncludeSpec] = []
    for name, value in params:
        base, _, modifier = name.partition(":")
        if base not in ("_include", "_revinclude"):
            continue
        if modifier not in ("", "iterate", "recurse"):
            raise FhirError(400, "invalid", f"{name} : modificateur inconnu.", expression=[name])
        reverse = base == "_revinclude"
        for item in value.split(","):
            item = item.strip()
            if item == "*":
                out.append(IncludeSpec("*", "*", None, bool(modifier), reverse))
                continue
            parts = item.split(":")
            if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
                raise FhirError(
                    400,
                    "invalid",
                    f"{name} : attendu Type:paramètre[:TypeCible], reçu {item!r}.",
                    expression=[name],
                )
            source, code = parts[0], parts[1]
            target = parts[2] if len(parts) == 3 else None
            if code != "*":
                param = params_for(source).get(code)
                if param is None or param.type != "reference":
                    raise FhirError(
                        400,
                        "invalid",
                        f"{name} : {source}:{code} n'est pas un paramètre référence connu.",
                        expression=[name],
                    )
            out.append(IncludeSpec(source, code, target, bool(modifier), reverse))
    return out


def stored_fields(types: list[str] | None, specs: list[IncludeSpec]) -> set[str]:
    """The stored references (``s.<code>``) following ``specs`` reads from documents of ``types``
    (``None``: of any type); ``{"s"}`` for ``*``. Only these are read: ``s`` is most of a stored
    document, and what the embedded SecantusDB spends its time decoding and copying.
    """
    fields: set[str] = set()
    for spec in specs:
        if spec.reverse:
            continue  # a revinclude looks the documents' ids up, not their values
        if spec.source == "*":
            return {"s"}
        if types is None or spec.source in types:
            fields.update(f"s.{code}" for code in _ref_codes(spec.source, spec.code))
    return fields


def _doc_fields(specs: list[IncludeSpec]) -> dict[str, int]:
    """The projection of included documents: their stored references only when ``:iterate`` follows them."""
    return _DOC_FIELDS | dict.fromkeys(stored_fields(None, [s for s in specs if s.iterate]), 1)


def _ref_codes(type_: str, code: str) -> list[str]:
    params = params_for(type_)
    if code == "*":
        return [c for c, p in params.items() if p.type == "reference"]
    return [code] if code in params else []


async def collect_includes(
    repository: MongoRepository,
    matches: list[tuple[str, dict[str, Any]]],
    specs: list[IncludeSpec],
    session: AsyncClientSession | None = None,
    policy: Policy | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The (type, document) pairs to add with search mode ``include`` (no duplicates, no matches).

    ``policy`` is the caller's (None: the server's own look-ups, unrestricted).
    """
    seen = {(t, d["_id"]) for t, d in matches}
    fields = _doc_fields(specs)
    included: list[tuple[str, dict[str, Any]]] = []
    frontier = list(matches)
    for iteration in range(MAX_ITERATIONS + 1):
        specs_now = specs if iteration == 0 else [s for s in specs if s.iterate]
        if not specs_now or not frontier:
            break
        found: list[tuple[str, dict[str, Any]]] = []
        for spec in specs_now:
            if spec.reverse:
                found.extend(await _reverse(repository, frontier, spec, session, policy, fields))
            else:
                found.extend(await _forward(repository, frontier, spec, session, policy, fields))
        found = visible(policy, found, "read")
        new = []
        for type_, doc in found:
            key = (type_, doc["_id"])
            if key not in seen:
                seen.add(key)
                new.append((type_, doc))
        if len(included) + len(new) > MAX_INCLUDED:
            raise FhirError(
                400,
                "too-costly",
                f"Plus de {MAX_INCLUDED} ressources incluses : réduisez _count ou les _include/_revinclude.",
                expression=["_include"],
            )
        included.extend(new)
        frontier = new
    return included


async def _forward(
    repository: MongoRepository,
    sources: list[tuple[str, dict[str, Any]]],
    spec: IncludeSpec,
    session: AsyncClientSession | None,
    policy: Policy | None,
    fields: dict[str, int],
) -> list[tuple[str, dict[str, Any]]]:
    wanted: dict[str, set[str]] = {}
    for type_, doc in sources:
        if spec.source not in ("*", type_):
            continue
        stored = doc.get("s") or {}
        for code in _ref_codes(type_, spec.code):
            for ref in stored.get(code) or []:
                if not isinstance(ref, str) or ref.count("/") != 1:
                    continue
                target, id_ = ref.split("/")
                if spec.target in (None, target):
                    wanted.setdefault(target, set()).add(id_)
    out: list[tuple[str, dict[str, Any]]] = []
    for target, ids in sorted(wanted.items()):
        allowed, restriction = include_restriction(policy, target)
        if not allowed:
            continue
        seen: set[str] = set()
        # Deletions are dropped here, not by a ``d`` clause: a lone ``_id`` look-up is SecantusDB's
        # direct path, while a second clause costs it an index plan (~3 ms on Patient) per query.
        for query in restricted_parts({"_id": {"$in": sorted(ids)}}, restriction, lead=False):
            async for doc in repository.db[target].find(query, fields, session=session):
                if not doc.get("d") and doc["_id"] not in seen:
                    seen.add(doc["_id"])
                    out.append((target, doc))
    return out


async def _reverse(
    repository: MongoRepository,
    targets: list[tuple[str, dict[str, Any]]],
    spec: IncludeSpec,
    session: AsyncClientSession | None,
    policy: Policy | None,
    fields: dict[str, int],
) -> list[tuple[str, dict[str, Any]]]:
    refs = [f"{t}/{d['_id']}" for t, d in targets if spec.target in (None, t)]
    if not refs:
        return []
    if spec.source == "*":
        return await _reverse_all(repository, refs, spec, session, policy, fields)
    conditions = [{f"s.{code}": {"$in": refs}} for code in _ref_codes(spec.source, spec.code)]
    return await _referring(repository, spec.source, conditions, session, policy, fields)


async def _reverse_all(
    repository: MongoRepository,
    refs: list[str],
    spec: IncludeSpec,
    session: AsyncClientSession | None,
    policy: Policy | None,
    fields: dict[str, int],
) -> list[tuple[str, dict[str, Any]]]:
    """``_revinclude=*``: every resource referring to one of ``refs`` through any reference
    parameter that may point at its type (one indexed query per such parameter)."""
    by_type: dict[str, list[str]] = {}
    for ref in refs:
        by_type.setdefault(ref.split("/", 1)[0], []).append(ref)
    conditions: dict[str, list[dict[str, Any]]] = {}
    for source, code, target in sorted(_referrers(frozenset(by_type))):
        if spec.code in ("*", code):
            conditions.setdefault(source, []).append({f"s.{code}": {"$in": by_type[target]}})
    out: list[tuple[str, dict[str, Any]]] = []
    for source, conds in conditions.items():
        out.extend(await _referring(repository, source, conds, session, policy, fields))
        if len(out) > MAX_INCLUDED:
            break
    return out


@cache
def _referrers(types: frozenset[str]) -> set[tuple[str, str, str]]:
    """(source type, reference parameter, target type) for every parameter that may point at ``types``."""
    from fhir_server.search.params import registry

    return {
        (source, code, target)
        for source, params in registry().items()
        for code, param in params.items()
        if param.type == "reference"
        for target in types
        if target in param.targets
    }


async def _referring(
    repository: MongoRepository,
    source: str,
    conditions: list[dict[str, Any]],
    session: AsyncClientSession | None,
    policy: Policy | None,
    fields: dict[str, int],
) -> list[tuple[str, dict[str, Any]]]:
    """The documents of ``source`` meeting one of ``conditions`` (reference look-ups), policy applied."""
    allowed, restriction = include_restriction(policy, source)
    if not conditions or not allowed:
        return []
    # a matching document has stored values, so it is not a deletion: no "d" clause needed.
    # One flat query per reference parameter (and compartment alternative), results merged.
    out: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        for query in restricted_parts(condition, restriction, lead=False):
            # a reference of layout v3's wide index is looked up by its typed key (query.wide_lead)
            cursor = repository.db[source].find(wide_lead(source, query), fields, session=session)
            cursor = cursor.limit(MAX_INCLUDED + 1)
            async for doc in cursor:
                out.setdefault(doc["_id"], doc)
            if len(out) > MAX_INCLUDED:
                break
    return [(source, doc) for doc in out.values()]
