"""``_summary`` and ``_elements``: the subset of each resource a search returns.

Only these modes parse stored JSON on the read path; a full search embeds the stored
bytes untouched. Subsets carry the ``SUBSETTED`` tag (R4 3.1.1.5.8) so that nobody
mistakes them for the whole resource and writes them back.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from fhir_server.errors import FhirError

SUMMARY_MODES = ("true", "text", "data", "count", "false")
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_ALWAYS = ("resourceType", "id", "meta")


@cache
def _elements_of(type_: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary elements, mandatory elements) at the top level of ``type_`` (choices as ``name[x]``)."""
    from profiles import r4_bundle

    summary: set[str] = set()
    mandatory: set[str] = set()
    for entry in r4_bundle("profiles-resources")["entry"]:
        res = entry["resource"]
        if res.get("resourceType") != "StructureDefinition" or res.get("id") != type_:
            continue
        for element in res.get("snapshot", {}).get("element", []):
            path = element["path"]
            if path.count(".") != 1:
                continue
            name = path.split(".", 1)[1]
            if element.get("isSummary"):
                summary.add(name)
            if element.get("min", 0) >= 1:
                mandatory.add(name)
    return frozenset(summary), frozenset(mandatory)


def _matches(key: str, names: frozenset[str] | set[str]) -> bool:
    base = key[1:] if key.startswith("_") else key  # a primitive's extension travels with it
    if base in names:
        return True
    return any(
        n.endswith("[x]") and base.startswith(n[:-3]) and base[len(n) - 3 : len(n) - 2].isupper()
        for n in names
    )


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    out = dict(resource)
    out["meta"] = meta
    return out


def subset(body: bytes, type_: str, summary: str | None, elements: list[str] | None) -> bytes:
    """The resource as ``_summary``/``_elements`` want it (the stored bytes when no subset applies)."""
    if (summary in (None, "false")) and not elements:
        return body
    resource = orjson.loads(body)
    summary_names, mandatory = _elements_of(type_)
    if elements:
        keep = set(elements) | mandatory
        out = {k: v for k, v in resource.items() if k in _ALWAYS or _matches(k, keep)}
    elif summary == "true":
        out = {k: v for k, v in resource.items() if k in _ALWAYS or _matches(k, summary_names | mandatory)}
    elif summary == "text":
        out = {k: v for k, v in resource.items() if k in (*_ALWAYS, "text") or _matches(k, mandatory)}
    elif summary == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
    else:
        return body
    return orjson.dumps(_tagged(out))


def parse_summary(values: list[str]) -> str | None:
    if not values:
        return None
    if len(values) > 1 or values[0] not in SUMMARY_MODES:
        raise FhirError(
            400,
            "invalid",
            f"_summary : valeur {values[-1]!r} invalide (true, text, data, count ou false).",
            expression=["_summary"],
        )
    return values[0]


def parse_elements(values: list[str]) -> list[str] | None:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        return None
    out = []
    for name in names:
        top = name.split(".", 1)[-1] if "." in name and name[:1].isupper() else name
        out.append(top.split(".", 1)[0])
    return out
