"""What the CapabilityStatement says about search, generated from the compiled parameters.

Never hand-written: a parameter appears in ``searchParam`` exactly when the server
extracts and queries it, so the statement cannot promise what search does not do.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir_server.search.params import params_for

# Parameters every type answers without a stored expression (query.py handles them).
_BUILT_IN = (
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id"),
    ("_list", "special", ""),
    ("_has", "special", ""),
)


@cache
def search_capability(type_: str) -> dict[str, Any]:
    """``searchParam``, ``searchInclude`` and ``searchRevInclude`` of one resource type."""
    params = params_for(type_)
    entries: list[dict[str, Any]] = []
    for code, kind, url in _BUILT_IN:
        entry: dict[str, Any] = {"name": code, "type": kind}
        if url:
            entry["definition"] = url
        entries.append(entry)
    for code, param in sorted(params.items()):
        if code == "_id" or param.type == "special":
            continue
        entries.append({"name": code, "definition": param.url, "type": param.type})
    includes = ["*", *(f"{type_}:{c}" for c, p in sorted(params.items()) if p.type == "reference")]
    return {
        "searchParam": entries,
        "searchInclude": includes,
        "searchRevInclude": sorted(_rev_includes(type_)),
    }


def _rev_includes(type_: str) -> list[str]:
    from fhir_server.search.params import registry

    out = []
    for source, params in registry().items():
        for code, param in params.items():
            if param.type == "reference" and type_ in param.targets:
                out.append(f"{source}:{code}")
    return out
