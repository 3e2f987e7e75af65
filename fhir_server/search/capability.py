"""What the CapabilityStatement says about search, generated from the compiled parameters.

Never hand-written: a parameter appears in ``searchParam`` exactly when the server
extracts and queries it, so the statement cannot promise what search does not do.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir_server.search.layout import current as current_layout
from fhir_server.search.params import params_for

# Parameters every type answers without a stored expression (query.py and its modules handle them).
_BUILT_IN = (
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id", ""),
    ("_list", "special", "", ""),
    ("_has", "special", "", ""),
    ("_text", "string", "http://hl7.org/fhir/SearchParameter/DomainResource-text",
     "Mots du récit (text.div), sans casse ni accents : chaque mot de la valeur doit commencer un mot "
     "du récit, dans n'importe quel ordre ; virgule = OU."),
    ("_content", "string", "http://hl7.org/fhir/SearchParameter/Resource-content",
     "Mots de tout le texte de la ressource (récit compris ; hors identifiants, références, URL, "
     "systèmes et données base64), même règle que _text."),
    ("_filter", "special", "http://hl7.org/fhir/SearchParameter/Resource-filter",
     "Grammaire R4 search_filter : and, or, not (...), parenthèses, chemins chaînés (subject.name) ; "
     "opérateurs eq ne co sw ew gt lt ge le sa eb ap po pr ss sb in ni re selon le type du paramètre ; "
     "pas de sous-filtre entre crochets."),
)  # fmt: skip
# What each parameter type accepts after ``:`` (beyond the R4 base; ``:[type]`` on references).
MODIFIERS = {
    "string": "exact, contains, missing",
    "token": "text, not, missing, of-type, in, not-in, above, below (in/not-in : ValueSet par URL "
    "canonique ou ValueSet/id ; above/below : système|code, hiérarchie du système de codes)",
    "reference": "missing, identifier, [type], chaînage, _has",
    "uri": "above, below, missing",
    "date": "missing", "number": "missing", "quantity": "missing", "composite": "missing",
}  # fmt: skip
_NEAR_DOC = (
    "latitude|longitude[|distance[|unités]] (WGS84) : distance orthodromique ; unités km (défaut), "
    "m, [mi_i] ; sans distance, 10 km."
)


@cache
def search_capability(type_: str) -> dict[str, Any]:
    """``searchParam``, ``searchInclude`` and ``searchRevInclude`` of one resource type."""
    params = params_for(type_)
    entries: list[dict[str, Any]] = []
    for code, kind, url, doc in _BUILT_IN:
        if code == "_text" and type_ in ("Bundle", "Binary", "Parameters"):  # not DomainResources
            continue
        if code in ("_text", "_content") and not current_layout().words:  # layout.py: opt-in
            continue
        entry: dict[str, Any] = {"name": code, "type": kind}
        if url:
            entry["definition"] = url
        if doc:
            entry["documentation"] = doc
        entries.append(entry)
    for code, param in sorted(params.items()):
        if code == "_id" or (param.type == "special" and code != "near"):
            continue
        entry = {"name": code, "definition": param.url, "type": param.type}
        documentation = _NEAR_DOC if code == "near" else MODIFIERS.get(param.type)
        if documentation:
            entry["documentation"] = f"Modificateurs : {documentation}." if code != "near" else documentation
        entries.append(entry)
    includes = ["*", *(f"{type_}:{c}" for c, p in sorted(params.items()) if p.type == "reference")]
    return {
        "searchParam": entries,
        "searchInclude": includes,
        "searchRevInclude": ["*", *sorted(_rev_includes(type_))],
    }


def _rev_includes(type_: str) -> list[str]:
    from fhir_server.search.params import registry

    out = []
    for source, params in registry().items():
        for code, param in params.items():
            if param.type == "reference" and type_ in param.targets:
                out.append(f"{source}:{code}")
    return out
