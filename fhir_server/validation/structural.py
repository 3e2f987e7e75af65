"""Structural validation with the fhir.resources R4B models, errors turned into issues.

Why: the models check cardinality, JSON types, primitive formats (dates, decimals...),
unknown elements and choice-type exclusivity; we reuse them rather than re-implement that,
and translate each pydantic error into an issue with a French diagnostic and the FHIRPath
of the element. The library is not robust to every input (an unknown nested
``resourceType`` raises KeyError, a non-string key TypeError): such inputs are cleaned
(offending parts reported, replaced by a neutral placeholder) and validated again, so that
garbage always yields issues, never an exception. One library gap is papered over: the R4B
``Extension`` model has no ``_valueString``-style fields, so a (legal) extension on an
extension's primitive value is not reported as unknown; the walker checks its content.
"""

from __future__ import annotations

import re
from collections.abc import Set
from typing import Any

from pydantic import ValidationError

from fhir_server.validation import memo
from fhir_server.validation.expressions import choice_base, loc_to_expression
from fhir_server.validation.issues import Issue, error, short
from fhir_server.validation.types import model_class

_PLACEHOLDER = {"resourceType": "Basic", "code": {"text": "placeholder"}}
_CHOICE_LIST = re.compile(r"Any of one field value is expected from this list \[([^\]]*)\]")

# pydantic / fhir.resources error type -> (IssueType, French explanation)
_KINDS: dict[str, tuple[str, str]] = {
    "missing": ("required", "élément obligatoire absent"),
    "model_field_validation.missing": ("required", "élément obligatoire absent"),
    "extra_forbidden": ("structure", "élément inconnu dans la définition R4 de ce type"),
    "string_type": ("structure", "une chaîne de caractères est attendue"),
    "bool_type": ("structure", "un booléen (true/false) est attendu"),
    "bool_parsing": ("structure", "un booléen (true/false) est attendu"),
    "int_type": ("structure", "un entier est attendu"),
    "int_parsing": ("structure", "un entier est attendu"),
    "int_from_float": ("structure", "un entier est attendu"),
    "float_type": ("structure", "un nombre est attendu"),
    "decimal_type": ("structure", "un nombre décimal est attendu"),
    "list_type": ("structure", "une liste (tableau JSON) est attendue"),
    "dict_type": ("structure", "un objet JSON est attendu"),
    "model_type": ("structure", "un objet JSON est attendu"),
    "model_attributes_type": ("structure", "un objet JSON est attendu"),
    "model_validation_format": ("structure", "un objet JSON du bon type est attendu"),
    "string_pattern_mismatch": ("value", "valeur mal formée pour ce type FHIR"),
    "string_too_short": ("value", "valeur trop courte"),
    "string_too_long": ("value", "valeur trop longue"),
    "greater_than_equal": ("value", "valeur trop petite"),
    "greater_than": ("value", "valeur trop petite"),
    "less_than_equal": ("value", "valeur trop grande"),
    "less_than": ("value", "valeur trop grande"),
    "value_error": ("value", "valeur invalide pour ce type FHIR"),
    "fhir-validation-wrong-resource-type": ("invalid", "type de ressource inattendu"),
    "recursion_loop": ("structure", "structure récursive ou trop profonde"),
}


def _library_gap(kind: str, loc: tuple[Any, ...]) -> bool:
    """An R4-valid element the R4B models reject (see the module docstring)."""
    return (
        kind == "extra_forbidden"
        and len(loc) >= 3
        and isinstance(loc[-1], str)
        and loc[-1].startswith("_value")
        and loc[-3] in ("extension", "modifierExtension")
    )


def _issues(root: str, errors: list[Any]) -> list[Issue]:
    kept = [err for err in errors if not _library_gap(str(err.get("type")), tuple(err.get("loc", ())))]
    return [_issue(root, err) for err in kept]


def _issue(root: str, err: dict[str, Any]) -> Issue:
    kind = str(err.get("type", ""))
    loc = tuple(err.get("loc", ()))
    message = str(err.get("msg", ""))
    choice = _CHOICE_LIST.search(message)
    if choice:
        names = re.findall(r"'([^']+)'", choice.group(1))
        base = choice_base(names)
        expression = loc_to_expression(root, loc) + (f".{base}" if base else "")
        return error(
            "structure",
            f"{message.removeprefix('Value error, ')} Élément à choix {base}[x] : "
            f"une seule des formes {', '.join(names)} est permise.",
            expression,
        )
    code, french = _KINDS.get(kind, ("structure", "structure invalide"))
    expression = loc_to_expression(root, loc, keep_last=kind == "extra_forbidden")
    received = "" if code == "required" else f" Reçu : {short(err.get('input'))}."
    english = message.removeprefix("Value error, ")
    return error(code, f"{english} ({kind}). {french[:1].upper()}{french[1:]}.{received}", expression)


def _clean(value: Any, path: str, known_types: Set[str], issues: list[Issue], nested: bool) -> Any:
    """A copy of ``value`` the library can digest: non-string keys dropped and unknown nested
    resource types replaced by a placeholder (the walker reports those), each reported."""
    if isinstance(value, list):
        return [_clean(item, f"{path}[{i}]", known_types, issues, True) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    resource_type = value.get("resourceType")
    if (
        nested
        and "resourceType" in value
        and (not isinstance(resource_type, str) or resource_type not in known_types)
    ):
        return dict(_PLACEHOLDER)
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            issues.append(
                error(
                    "structure", f"Non-string key {short(key)}. Clé JSON non textuelle : {short(key)}.", path
                )
            )
            continue
        cleaned[key] = _clean(item, f"{path}.{key}", known_types, issues, True)
    return cleaned


def validate_structure(resource_type: str, resource: dict[str, Any], known_types: Set[str]) -> list[Issue]:
    """Issues the R4B model of ``resource_type`` finds in ``resource`` (known to the library)."""
    model = model_class(resource_type)
    if memo.enabled():
        try:
            sub = memo.substitute(resource_type, resource)
            instance = model.model_validate(sub.data)
        except Exception:
            pass  # validated again below, untouched, for the exact report
        else:
            memo.remember(instance, sub)
            return []
    try:
        model.model_validate(resource)
        return []
    except ValidationError as exc:
        return _issues(resource_type, exc.errors())
    except Exception:
        pass  # the library choked on the input itself: clean it and try again
    issues: list[Issue] = []
    cleaned = _clean(resource, resource_type, known_types, issues, False)
    try:
        model.model_validate(cleaned)
    except ValidationError as exc:
        issues.extend(_issues(resource_type, exc.errors()))
    except Exception as exc:
        issues.append(
            error(
                "structure",
                f"Unreadable resource ({type(exc).__name__}). Ressource illisible.",
                resource_type,
            )
        )
    return issues
