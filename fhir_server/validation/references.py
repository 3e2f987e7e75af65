"""Format of ``Reference.reference``: what the fhir.resources models accept as any string.

Why: a malformed reference (``Patient/``, ``Foo/1``, ``Patient/a b``) stored today becomes a
dangling link nobody can resolve or search; R4 allows a relative ``Type/id`` (optionally
``/_history/vid``), an absolute URL, a ``#id`` fragment to a contained resource, and
``urn:uuid:``/``urn:oid:`` (bundle-local). A relative reference must also name a type the
element may target (``Observation.subject`` cannot be a ``Medication``).
"""

from __future__ import annotations

import re
from collections.abc import Set

from fhir_server.validation.ids import ID_PATTERN
from fhir_server.validation.issues import Issue, error, short

_RELATIVE = re.compile(rf"(?P<type>[A-Za-z]+)/(?P<id>{ID_PATTERN})(?:/_history/{ID_PATTERN})?")
_CONDITIONAL = re.compile(r"(?P<type>[A-Za-z]+)\?\S+")
_FRAGMENT = re.compile(rf"#(?:{ID_PATTERN})?")
_UUID = re.compile(r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_OID = re.compile(r"urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#]+[^\s]*")


def check_reference(
    value: str,
    expression: str,
    *,
    known_types: Set[str],
    targets: Set[str] | None,
    allow_conditional: bool,
) -> Issue | None:
    """The issue with one ``Reference.reference`` string, or None when it is well formed."""
    if _FRAGMENT.fullmatch(value) or _UUID.fullmatch(value) or _OID.fullmatch(value):
        return None
    if _ABSOLUTE.fullmatch(value):
        return None
    relative = _RELATIVE.fullmatch(value)
    conditional = None if relative else _CONDITIONAL.fullmatch(value)
    match = relative or (conditional if allow_conditional else None)
    if match is None:
        if value.startswith("urn:"):
            hint = "seuls urn:uuid:<uuid> et urn:oid:<oid> sont admis"
        elif conditional:
            hint = "une référence conditionnelle (Type?critères) n'est admise que dans un Bundle "
            hint += "transaction ou batch"
        else:
            hint = "formes admises : Type/id, Type/id/_history/vid, URL absolue, #id, urn:uuid:, urn:oid:"
        return error(
            "value",
            f"Invalid reference {short(value)}. Référence mal formée : {hint}.",
            expression,
        )
    ref_type = match.group("type")
    if ref_type not in known_types:
        return error(
            "value",
            f"Unknown resource type {ref_type!r} in reference. "
            f"Type de ressource inconnu « {ref_type} » dans la référence {short(value)}.",
            expression,
        )
    if targets is not None and ref_type not in targets:
        allowed = " | ".join(sorted(targets))
        return error(
            "value",
            f"Reference to {ref_type} not allowed here. "
            f"Cet élément ne peut pas référencer une ressource {ref_type} (types admis : {allowed}).",
            expression,
        )
    return None
