"""The search interactions: type (``GET /Type``, ``POST /Type/_search``), system (``GET /?_type=``,
``POST /_search``) and Patient compartment (``GET /Patient/123/Observation``).

The handler is thin: parameters go to :mod:`.query` for the filter, to :mod:`.paging`
for the order and page position, to :mod:`.include` and :mod:`.summary` for what is
returned. Matches are embedded as the stored bytes (``orjson.Fragment``), never
re-parsed unless ``_summary``/``_elements`` ask for a subset.

Access control is applied here, not in front (:mod:`.access`): each type searched ANDs
the caller's ``search_filter`` (in the matches, the ``_total`` counts and compartment
searches alike), chains and ``_has`` restrict their inner searches, includes their
look-ups, and every entry passes ``can_read``. The policy comes from the request being
answered, so a paging link carries no rights: the next page is restricted by the token
that asks for it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.search.access import all_of, count_restricted, policy_of, restricted_parts, visible
from fhir_server.search.include import collect_includes, parse_includes, stored_fields
from fhir_server.search.indexes import KEY_TYPES, ensure_type_indexes, ready
from fhir_server.search.paging import (
    SortKey,
    after_condition,
    decode_cursor,
    encode_cursor,
    key_values,
    mongo_sort,
    parse_sort,
)
from fhir_server.search.params import params_for
from fhir_server.search.query import Context, build_query, wide_lead
from fhir_server.search.summary import parse_elements, parse_summary, subset
from fhir_server.search.totals import count_matches

_CONTROL = frozenset({"_count", "_sort", "_summary", "_elements", "_total", "_cursor", "_format", "_pretty"})
_BASE_FIELDS = {"j": 1, "v": 1, "ts": 1, "d": 1}
_background: set[asyncio.Task[None]] = set()


def _lenient(request: Request) -> bool:
    for part in request.headers.get("prefer", "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "handling":
            return value.strip().strip('"').lower() == "lenient"
    return False


async def _request_params(request: Request) -> list[tuple[str, str]]:
    """Query parameters, plus the form body of ``POST .../_search`` (R4 3.1.1.3)."""
    params = list(request.query_params.multi_items())
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = await request.body()
        if body:
            if content_type != "application/x-www-form-urlencoded":
                raise FhirError(
                    415,
                    "not-supported",
                    "POST _search attend un corps application/x-www-form-urlencoded.",
                )
            try:
                params.extend(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
            except UnicodeDecodeError as exc:
                raise FhirError(400, "invalid", "Corps de _search non UTF-8.") from exc
    return params


def _one(params: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise FhirError(400, "invalid", f"{name} ne peut apparaître qu'une fois.", expression=[name])
    return values[0] if values else None


def _count(params: list[tuple[str, str]], request: Request) -> int:
    settings = request.app.state.settings
    raw = _one(params, "_count")
    if raw is None:
        return int(settings.search_count_default)
    if not raw.isdigit():
        raise FhirError(
            400, "invalid", f"_count doit être un entier positif ou nul : {raw!r}.", expression=["_count"]
        )
    return min(int(raw), int(settings.search_count_max))


def split_or(query: dict[str, Any]) -> list[dict[str, Any]]:
    """A top-level ``$or`` as one flat query per alternative (their results are merged, deduplicated).

    Each alternative keeps its indexed clauses at the top, where a planner looks them up;
    the union of each alternative's first page holds the first page of the whole.
    """
    alternatives = query.get("$or")
    if not isinstance(alternatives, list) or len(alternatives) > 8:
        return [query]
    rest = {k: v for k, v in query.items() if k != "$or"}
    parts = [merge(rest, alt) for alt in alternatives]
    for part in parts:  # ``d`` (not deleted) has no index: the alternative's clauses lead
        if "d" in part:
            part["d"] = part.pop("d")
    return parts


def merge(query: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``query`` AND ``extra``, kept flat when their fields differ (see ``query.flatten``).

    Flat matters: SecantusDB looks a document's first clause up only when it has no
    top-level ``$and``/``$or``/``$nor``; ``all_of`` also folds ``$in`` subsets on one field.
    """
    return all_of(query, extra)


def _compare(keys: list[SortKey], a: list[Any], b: list[Any]) -> int:
    for key, x, y in zip(keys, a, b, strict=True):
        if x == y:
            continue
        if x is None:
            result = -1
        elif y is None:
            result = 1
        else:
            result = -1 if x < y else 1
        return result * key.direction
    return 0


def _sort_projection(keys: list[SortKey], stored: set[str]) -> dict[str, int]:
    """The fields a match is read with: its body, its sort keys and the stored values ``stored``
    (those ``_include`` follows), never the rest of ``s``: it is most of a stored document."""
    fields = dict(_BASE_FIELDS)
    if "s" in stored:
        fields["s"] = 1
        return fields
    for key in keys:
        if key.field != "_id":
            fields[key.field] = 1
    fields.update(dict.fromkeys(stored, 1))
    return fields


async def run_search(
    request: Request,
    types: list[str],
    params: list[tuple[str, str]],
    *,
    compartment: tuple[str, str] | None = None,
    path: str,
) -> Response:
    from fhir_server.rest.formats import negotiate
    from fhir_server.rest.http import base_url, fhir_response

    fmt = negotiate(request)
    repo = request.app.state.repository
    base = base_url(request)
    lenient = _lenient(request)
    for name, value in params:
        if name in ("_contained", "_containedType") and value != "false" and not lenient:
            raise FhirError(400, "not-supported", f"{name} n'est pas pris en charge.", expression=[name])
    count = _count(params, request)
    summary = parse_summary([v for k, v in params if k == "_summary"])
    elements = parse_elements([v for k, v in params if k == "_elements"])
    total_mode = _one(params, "_total") or "none"
    if total_mode not in ("none", "estimate", "accurate"):
        raise FhirError(400, "invalid", "_total : none, estimate ou accurate.", expression=["_total"])
    sort_raw = _one(params, "_sort")
    keys = parse_sort(types[0] if len(types) == 1 else None, sort_raw)
    includes = parse_includes(params)
    cursor_raw = _one(params, "_cursor")
    position, forward = None, True
    if cursor_raw is not None:
        position, forward, _ = decode_cursor(cursor_raw, len(keys) + 1)

    policy = policy_of(request)
    ctx = Context(repo, base=base, lenient=lenient, access=policy)
    search_params = [
        (k, v) for k, v in params if not (k in _CONTROL or k.startswith(("_include", "_revinclude")))
    ]
    filters: dict[str, dict[str, Any]] = {}
    restrictions: dict[str, dict[str, Any] | None] = {}  # the caller's policy, per type
    # lenient: what every searched type ignored, which the self link must not claim (R4 3.1.1.5.7)
    ignored: set[str] | None = None
    for type_ in types:
        seen_warnings = len(ctx.warnings)
        if type_ not in KEY_TYPES and not ready(repo, type_):
            task = asyncio.create_task(ensure_type_indexes(repo, type_))
            _background.add(task)
            task.add_done_callback(_background.discard)
        built = await build_query(ctx, type_, search_params)
        dropped = {name for name, _ in ctx.warnings[seen_warnings:]}
        ignored = dropped if ignored is None else ignored & dropped
        query = built.filter
        if compartment is not None:
            link = _compartment_condition(compartment, type_)
            query = merge(query, link)
        filters[type_] = query
        restrictions[type_] = policy.search_filter(type_)  # 403 without a scope on type_

    total: int | None = None
    if total_mode != "none" or summary == "count":
        total = 0
        mode = "accurate" if summary == "count" else total_mode
        for type_, query in filters.items():
            count_one = functools.partial(count_matches, repo.db[type_], mode=mode, type_=type_)
            found = await count_restricted(count_one, query, restrictions[type_])
            total = None if found is None or total is None else total + found

    matches: list[tuple[str, dict[str, Any], list[Any]]] = []
    more = False
    projection = _sort_projection(keys, stored_fields(types, includes))
    if summary != "count" and count > 0:
        for type_, query in filters.items():
            cond: dict[str, Any] | None = None
            if position is not None:
                type_pos = position[:-1]
                cursor_type = position[-1]
                # ties on every key are broken by type name, so a type sorting before the
                # cursor's type is "after" only strictly; after it, also on equality.
                cond = after_condition(keys, type_pos, forward)
                if (type_ > cursor_type) == forward and type_ != cursor_type:
                    cond = {"$or": [cond, {k.field: v for k, v in zip(keys, type_pos, strict=True)}]}
            seen: set[str] = set()
            parts = restricted_parts(query, restrictions[type_])  # they may overlap: seen
            # an access restriction may lead on a parameter of v3's wide index: its typed key leads
            merged = [q if cond is None else merge(q, cond) for q in parts]
            split = [wide_lead(type_, p) for q in merged for p in split_or(q)]
            for part in split:
                cur = repo.db[type_].find(part, projection)
                cur = cur.sort(mongo_sort(keys, forward)).limit(count + 1)
                async for doc in cur:
                    if doc["_id"] not in seen:
                        seen.add(doc["_id"])
                        matches.append((type_, doc, key_values(doc, keys)))

        def order(a: tuple[str, dict[str, Any], list[Any]], b: tuple[str, dict[str, Any], list[Any]]) -> int:
            c = _compare(keys, a[2], b[2])
            if c == 0:
                c = (a[0] > b[0]) - (a[0] < b[0])
            return c if forward else -c

        matches.sort(key=functools.cmp_to_key(order))
        more = len(matches) > count
        matches = matches[:count]
        if not forward:
            matches.reverse()

    # the filters above already restrict the matches: this is the last line of defence
    shown = visible(policy, [(t, d) for t, d, _ in matches], "search-type")
    included = []
    if includes and shown:
        included = await collect_includes(repo, shown, includes, policy=policy)

    def position_of(item: tuple[str, dict[str, Any], list[Any]]) -> list[Any]:
        return [*item[2], item[0]]

    ignored = (ignored or set()) | ({"_contained", "_containedType"} if lenient else set())
    keep = [(k, v) for k, v in params if k != "_cursor" and k not in ignored]

    def link(relation: str, token: str | None) -> dict[str, str]:
        query = keep + ([("_cursor", token)] if token else [])
        return {"relation": relation, "url": f"{base}/{path}" + (f"?{urlencode(query)}" if query else "")}

    links = [link("self", cursor_raw)]
    if cursor_raw is not None:
        links.append(link("first", None))
    if matches:
        if (forward and more) or not forward:
            links.append(link("next", encode_cursor(position_of(matches[-1]), True)))
        if (cursor_raw is not None and forward) or (not forward and more):
            links.append(link("previous", encode_cursor(position_of(matches[0]), False)))

    entries: list[dict[str, Any]] = []
    for type_, doc in shown:
        entries.append(_entry(type_, doc, base, "match", summary, elements))
    for type_, doc in included:
        entries.append(_entry(type_, doc, base, "include", summary, elements))
    if ctx.warnings:
        outcome = operation_outcome(
            issue("warning", "not-supported", f"{message} (ignoré)", [name]) for name, message in ctx.warnings
        )
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    data = orjson.dumps(bundle)
    return fhir_response(orjson.loads(data) if fmt.xml else data, fmt, 200)


def _entry(
    type_: str, doc: dict[str, Any], base: str, mode: str, summary: str | None, elements: list[str] | None
) -> dict[str, Any]:
    body = bytes(doc["j"])
    if summary not in (None, "false") or elements:
        body = subset(body, type_, summary, elements)
    return {
        "fullUrl": f"{base}/{type_}/{doc['_id']}",
        "resource": orjson.Fragment(body),
        "search": {"mode": mode},
    }


# -- compartments -------------------------------------------------------------------------------------


@functools.cache
def compartment_params() -> dict[str, dict[str, tuple[str, ...]]]:
    """Compartment type -> member type -> the parameters linking a member to the compartment."""
    from profiles import r4_bundle

    definition = r4_bundle("compartmentdefinition-patient")
    members = {r["code"]: tuple(r.get("param", [])) for r in definition.get("resource", []) if r.get("param")}
    return {definition["code"]: members}


def _compartment_condition(compartment: tuple[str, str], type_: str) -> dict[str, Any]:
    ctype, cid = compartment
    ref = f"{ctype}/{cid}"
    ors: list[dict[str, Any]] = []
    for code in compartment_params()[ctype].get(type_, ()):
        param = params_for(type_).get(code)
        if param is not None:
            ors.append({param.field: ref})
    if type_ == ctype:
        ors.append({"_id": cid})
    if not ors:
        return {"_id": {"$in": []}}
    return ors[0] if len(ors) == 1 else {"$or": ors}


# -- the interactions ------------------------------------------------------------------------------------


async def search_type(request: Request) -> Response:
    from fhir_server.rest.http import check_type

    type_ = check_type(request)
    params = await _request_params(request)
    return await run_search(request, [type_], params, path=type_)


async def search_system(request: Request) -> Response:
    from fhir_server.validation import RESOURCE_TYPES

    params = await _request_params(request)
    raw_types = [t.strip() for k, v in params if k == "_type" for t in v.split(",") if t.strip()]
    for type_ in raw_types:
        if type_ not in RESOURCE_TYPES:
            raise FhirError(
                400, "invalid", f"_type : type de ressource inconnu {type_!r}.", expression=["_type"]
            )
    if raw_types:
        types = sorted(set(raw_types))
    else:
        existing = await request.app.state.repository.db.list_collection_names()
        types = sorted(t for t in existing if t in RESOURCE_TYPES)
        if not types:
            types = ["Patient"]
        # without _type, the types the token may search (an explicit _type gets its 403)
        types = policy_of(request).readable_types(types)
    search = [(k, v) for k, v in params if k != "_type"]
    _check_common(search, len(raw_types) == 1)
    return await run_search(request, types, params if raw_types else search, path="")


def _check_common(params: list[tuple[str, str]], single: bool) -> None:
    """Across several types only the parameters every resource has (``_id``, ``_lastUpdated``...) apply."""
    if single:
        return
    for name, _ in params:
        code = name.split(":", 1)[0].split(".", 1)[0]
        if code.startswith("_"):
            continue
        raise FhirError(
            400,
            "not-supported",
            f"Paramètre {code!r} non commun à tous les types : précisez un seul _type.",
            expression=[name],
        )


async def search_compartment(request: Request) -> Response:
    from fhir_server.rest.http import check_id
    from fhir_server.validation import RESOURCE_TYPES

    ctype = request.path_params["type"]
    cid = check_id(request.path_params["id"])
    target = request.path_params["compartment_type"]
    if ctype not in compartment_params():
        raise FhirError(404, "not-supported", f"Pas de compartiment {ctype} (seul Patient est défini).")
    if target not in RESOURCE_TYPES:
        raise FhirError(404, "not-found", f"Type de ressource inconnu : {target!r}.")
    if target not in compartment_params()[ctype] and target != ctype:
        raise FhirError(
            400, "invalid", f"{target} n'appartient pas au compartiment {ctype} (CompartmentDefinition R4)."
        )
    params = await _request_params(request)
    return await run_search(
        request, [target], params, compartment=(ctype, cid), path=f"{ctype}/{cid}/{target}"
    )


# They AND the caller's access policy themselves: the guard lets restricted tokens search.
search_type.applies_access_policy = True  # type: ignore[attr-defined]
search_system.applies_access_policy = True  # type: ignore[attr-defined]
search_compartment.applies_access_policy = True  # type: ignore[attr-defined]
