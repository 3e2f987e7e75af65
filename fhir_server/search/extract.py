"""Write time: from a resource to the normalised search values stored beside it (field ``s``).

The official expressions are FHIRPath, compiled once per type into direct walks over the
JSON (:mod:`.paths`); a resource walks only the parameters whose elements it has.

Normalised forms (one list per parameter code, absent when the resource has no value):

- string: accent-folded lowercase text (``code``), its first 1 to :data:`PREFIX_MAX` characters
  (``code:p``: a starts-with search is an equality on them) and the exact text (``code:x``);
- token: ``system|code``, bare ``code`` and ``system|`` (``code``), text for ``:text``
  (``code:t``), ``type-system|type-code|value`` for ``:of-type`` (``code:o``);
- reference: ``Type/id``, absolute URL or canonical (``code``), identifier tokens (``code:i``);
- date: ``{"l": lo, "h": hi}`` half-open UTC ranges;
- number: ``{"v"}`` (an object, like a quantity, so that a range can be checked within one
  value while the dotted ``v`` is indexed); quantity: ``{"v", "s", "c"}`` (``c`` holds the code,
  and the unit if different);
- uri: the URI; composite: ``{"c0": [...], "c1": [...]}`` one per repetition of the root (not
  ``"0"``: numeric keys inside arrays are ambiguous paths to MongoDB);
- ``~k``, keys for the modifiers that have no indexed field of their own: the codes of the
  parameters the resource has (``:missing=false``; in layout v3 only where nothing else
  answers it, and the token/uri/reference values as typed keys ``code`` ␟ value: :mod:`.indexes`),
  ``code:i`` ␟ identifier token or
  ``system|`` (``:identifier``), ``code:b`` ␟ each ``/``-ended beginning of a uri (``:below``);
- sort keys: ``code:<`` (smallest) and ``code:>`` (largest) scalars, for ``_sort`` and keyset paging;
- ``_text``/``_content``: folded words (:mod:`.fulltext`, when the deployment turns them on:
  :mod:`.layout`); ``near``: Location positions (:mod:`.geo`);
  ``a+b``: two parameters' values combined, for the pairs searched together (:mod:`.pairs`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir_server.search.dates import MAX, date_range, period_range
from fhir_server.search.folding import fold
from fhir_server.search.fulltext import text_values
from fhir_server.search.geo import position_values
from fhir_server.search.indexes import presence, wide_params
from fhir_server.search.layout import current as current_layout
from fhir_server.search.pairs import pair_values
from fhir_server.search.params import Component, SearchParam, params_for
from fhir_server.search.paths import REF_RE, Value, compile_expression, plan

# Bump when what is stored changes: stored documents with another version get re-indexed.
EXTRACTOR_VERSION = 6
# The longest stored string prefix: a longer starts-with search looks this much up, then
# checks the rest on the folded value.
PREFIX_MAX = 12
SEP = "\x1f"  # between a key's parameter part and its value in ``~k``

_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})

# -- normalisation per parameter type -----------------------------------------------------------


def normalise_reference(reference: str) -> str:
    """``Patient/1/_history/2`` -> ``Patient/1``; absolute URLs kept whole; ``url|version`` -> ``url``."""
    m = REF_RE.match(reference)
    if m:
        prefix = m.group("base") + "/" if m.group("base") else ""
        return f"{prefix}{m.group('type')}/{m.group('id')}"
    return reference.split("|", 1)[0]


def string_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        out: list[str] = []
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
                    "postalCode", "country", "value", "display"):  # fmt: skip
            item = value.get(key)
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, list):
                out.extend(i for i in item if isinstance(i, str))
        return out
    return []


def token_values(value: Any) -> tuple[list[str], list[str], list[str]]:
    """(tokens, texts, of-type keys) of one value of a token parameter."""
    tokens: list[str] = []
    texts: list[str] = []
    of_type: list[str] = []

    def code(system: Any, code: Any) -> None:
        if not isinstance(code, str) and not isinstance(code, bool):
            if isinstance(system, str):
                tokens.append(f"{system}|")
            return
        c = ("true" if code else "false") if isinstance(code, bool) else code
        tokens.append(f"{system if isinstance(system, str) else ''}|{c}")
        tokens.append(c)
        if isinstance(system, str):
            tokens.append(f"{system}|")  # ``system|``: any code of the system

    if isinstance(value, bool):
        code(None, value)
    elif isinstance(value, str | int | float):
        code(None, str(value))
    elif isinstance(value, dict):
        if "coding" in value or ("text" in value and "value" not in value and "code" not in value):
            for coding in value.get("coding") or []:
                if isinstance(coding, dict):
                    code(coding.get("system"), coding.get("code"))
                    if isinstance(coding.get("display"), str):
                        texts.append(coding["display"])
            if isinstance(value.get("text"), str):
                texts.append(value["text"])
        elif "value" in value and not ("code" in value or "unit" in value):
            system = value.get("system")
            if isinstance(system, str) and system in _CONTACT_SYSTEMS:  # ContactPoint
                code(None, value.get("value"))
            else:  # Identifier
                code(system, value.get("value"))
                type_ = value.get("type")
                if isinstance(type_, dict):
                    if isinstance(type_.get("text"), str):
                        texts.append(type_["text"])
                    for coding in type_.get("coding") or []:
                        if isinstance(coding, dict) and isinstance(value.get("value"), str):
                            type_key = f"{coding.get('system', '')}|{coding.get('code', '')}"
                            of_type.append(f"{type_key}|{value['value']}")
        else:  # Coding, Quantity (as a token: its code)
            code(value.get("system"), value.get("code"))
            if isinstance(value.get("display"), str):
                texts.append(value["display"])
    return tokens, texts, of_type


def date_values(value: Any, type_: str | None) -> list[dict[str, datetime]]:
    ranges: list[tuple[datetime, datetime] | None] = []
    if isinstance(value, str):
        ranges.append(date_range(value))
    elif isinstance(value, dict):
        if "start" in value or "end" in value:
            ranges.append(period_range(value))
        elif "event" in value or "repeat" in value:  # Timing: its events, and its bounds
            for event in value.get("event") or []:
                if isinstance(event, str):
                    ranges.append(date_range(event))
            bounds = (value.get("repeat") or {}).get("boundsPeriod")
            if isinstance(bounds, dict):
                ranges.append(period_range(bounds))
    # ``l <= h`` always (a reversed Period breaks per-1): queries bound ``l`` by ``h``'s bounds
    return [{"l": r[0], "h": max(r)} for r in ranges if r is not None]


def number_values(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict) and isinstance(value.get("value"), int | float):
        return [float(value["value"])]
    return []


def quantity_values(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict) or isinstance(value.get("value"), bool):
        return []
    number = value.get("value")
    if not isinstance(number, int | float):
        return []
    codes = [c for c in (value.get("code"), value.get("unit"), value.get("currency")) if isinstance(c, str)]
    system = value.get("system")
    if "currency" in value:
        system = "urn:iso:std:iso:4217"
    out: dict[str, Any] = {"v": float(number), "c": list(dict.fromkeys(codes))}
    if isinstance(system, str):
        out["s"] = system
    return [out]


def reference_values(value: Any) -> tuple[list[str], list[str]]:
    """(references, identifier tokens) of a reference parameter's value."""
    if isinstance(value, str):  # canonical / uri
        return [normalise_reference(value)], []
    if not isinstance(value, dict):
        return [], []
    refs: list[str] = []
    idents: list[str] = []
    ref = value.get("reference")
    if isinstance(ref, str) and not ref.startswith("#"):
        refs.append(normalise_reference(ref))
    ident = value.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        idents.append(f"{ident.get('system', '')}|{ident['value']}")
        idents.append(ident["value"])
    return refs, idents


def _scalar_values(param_type: str, values: list[Any]) -> tuple[Any, Any] | None:
    """The smallest and largest sort keys of a parameter's values (ascending/descending ``_sort``)."""
    if not values:
        return None
    if param_type == "date":
        return min(v["l"] for v in values), min(max(v["h"] for v in values), MAX)
    if param_type in ("quantity", "number"):
        nums = [v["v"] for v in values]
        return min(nums), max(nums)
    if param_type == "token":
        codes = [v for v in values if "|" not in v] or values
        return min(codes), max(codes)
    return min(values), max(values)


def values_of(param: SearchParam | Component, items: list[Value]) -> dict[str, list[Any]]:
    """The stored lists (by key suffix: ``""``, ``":x"``, ``":t"``...) of a parameter's (or a
    composite's component's) values: only its type matters."""
    main: list[Any] = []
    extra: dict[str, list[Any]] = {}
    kind = param.type
    for value, type_ in items:
        if kind == "string":
            texts = string_values(value)
            folded = [fold(t) for t in texts]
            main.extend(folded)
            extra.setdefault(":p", []).extend(prefixes(folded))
            extra.setdefault(":x", []).extend(texts)
        elif kind == "token":
            tokens, texts, of_type = token_values(value)
            main.extend(tokens)
            extra.setdefault(":t", []).extend(fold(t) for t in texts)
            extra.setdefault(":o", []).extend(of_type)
        elif kind == "reference":
            refs, idents = reference_values(value)
            main.extend(refs)
            extra.setdefault(":i", []).extend(idents)
        elif kind == "date":
            main.extend(date_values(value, type_))
        elif kind == "number":
            main.extend({"v": n} for n in number_values(value))
        elif kind == "quantity":
            main.extend(quantity_values(value))
        elif kind == "uri" and isinstance(value, str):
            main.append(value)
    out: dict[str, list[Any]] = {}
    if main:
        out[""] = _dedupe(main)
    for suffix, vals in extra.items():
        if vals:
            out[suffix] = _dedupe(vals)
    return out


def prefixes(texts: list[str]) -> list[str]:
    """The beginnings of ``texts`` a starts-with search can look up (1 to PREFIX_MAX characters)."""
    return list(dict.fromkeys(t[:n] for t in texts for n in range(1, min(len(t), PREFIX_MAX) + 1)))


def uri_steps(uri: str) -> list[str]:
    """The beginnings of ``uri`` that end with ``/`` (``http://a.org/fhir/x``: ``http:/``,
    ``http://``, ``http://a.org/``, ``http://a.org/fhir/``)."""
    return [uri[: i + 1] for i, ch in enumerate(uri) if ch == "/"]


def uri_step(query: str) -> str:
    """The longest ``/``-ended beginning of a ``:below`` search value: every uri the value
    begins has it among its :func:`uri_steps` (``""`` when the value has no ``/``)."""
    return query[: query.rfind("/") + 1]


def aux_key(code: str, suffix: str, value: str) -> str:
    """A ``~k`` key: ``code:i`` ␟ identifier, ``code:b`` ␟ uri step, ``code`` ␟ value (v3's typed keys)."""
    return f"{code}{suffix}{SEP}{value}"


def _aux_keys(type_: str, stored: dict[str, Any]) -> list[str]:
    """The ``~k`` list. Layout v3 (:mod:`.indexes`): a wide parameter's values as typed keys
    (``code`` ␟ value; the bare ``code`` when the element holds nothing searchable, so that
    ``:missing=false`` still finds it), and a presence key only where :func:`.indexes.presence`
    says nothing else answers ``:missing=false``."""
    keys: list[str] = []
    wide = wide_params(type_)
    for code, param in params_for(type_).items():
        if code not in stored:
            continue
        if code in wide:
            typed = [aux_key(code, "", v) for v in stored[code] if isinstance(v, str)]
            keys.extend(typed or [code])
        elif presence(type_, code) == "key":
            keys.append(code)  # present
        if param.type == "reference":
            idents = stored.get(code + ":i", [])
            systems = {v[: v.index("|") + 1] for v in idents if "|" in v}  # ``system|``
            keys.extend(aux_key(code, ":i", v) for v in [*idents, *sorted(systems - {"|"})])
        elif param.type == "uri":
            steps = {s for v in stored[code] if isinstance(v, str) for s in uri_steps(v)}
            keys.extend(aux_key(code, ":b", s) for s in sorted(steps))
    return keys


def _dedupe(values: list[Any]) -> list[Any]:
    if all(isinstance(v, str) for v in values):
        return list(dict.fromkeys(values))
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def composite_values(param: SearchParam, resource: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``{"c0": [...], "c1": [...]}`` per repetition of the composite's root (all parts present)."""
    roots = compile_expression(param.expression, param.resource_type)(resource)
    if param.expression == param.resource_type:
        roots = [(resource, None)]
    out = []
    for root, _ in roots:
        combo: dict[str, Any] = {}
        for i, comp in enumerate(param.components):
            items = compile_expression(comp.expression, None)(root)
            vals = values_of(comp, items).get("")
            if not vals:
                break
            combo[f"c{i}"] = vals
        else:
            out.append(combo)
    return out


def index_resource(type_: str, resource: dict[str, Any]) -> dict[str, Any]:
    """The ``s`` document of a resource: the ``indexer`` hook given to the repository."""
    out: dict[str, Any] = {}
    present = set(resource)
    for planned in plan(type_):  # _id (the document key itself) and special parameters left out
        if planned.keys is not None and planned.keys.isdisjoint(present):
            continue  # none of the elements it reads: no value (the walk would find none)
        code, param = planned.code, planned.param
        if param.type == "composite":
            combos = composite_values(param, resource)
            if combos:
                out[code] = combos
            continue
        items = compile_expression(param.expression, type_)(resource)
        if not items:
            continue
        for suffix, vals in values_of(param, items).items():
            out[code + suffix] = vals
        # The element is there even when nothing in it is searchable (a Reference with only a
        # display): for :missing it is not missing, so the key exists (empty).
        out.setdefault(code, [])
        main = out.get(code)
        if main and param.type in ("string", "token", "date", "number", "quantity", "reference", "uri"):
            bounds = _scalar_values(param.type, main)
            if bounds is not None:
                out[code + ":<"], out[code + ":>"] = bounds
    out["~k"] = _aux_keys(type_, out)
    if current_layout().words:  # opt-in per deployment (layout.py)
        out.update(text_values(resource))
    out.update(position_values(type_, resource))
    out.update(pair_values(type_, out))
    out["~v"] = EXTRACTOR_VERSION
    return out
