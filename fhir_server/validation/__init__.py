"""Write-time validation of FHIR R4 resources: what the REST layer runs on every create/update.

Why a package of our own: the fhir.resources R4B models check structure only; R4 also requires
terminology bindings, id and reference formats, and a body consistent with the URL. Every
problem comes back as an :class:`Issue` (OperationOutcome.issue with a FHIRPath expression
and a French-readable diagnostic) so that a bad request is a 4xx, never a 500.

Public surface:

- ``RESOURCE_TYPES``: R4 resource types with an R4B model (computed on first access);
- :class:`Issue`, :func:`operation_outcome`;
- :func:`validate_resource`;
- :func:`skipped_bindings`: required bindings not enforced (external code systems);
- :func:`warm_up`: build the definition caches ahead of the first request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fhir_server.validation.bindings import skipped_bindings, terminology_resource_issues
from fhir_server.validation.definitions import definitions as _definitions
from fhir_server.validation.ids import bad_id, is_valid_id
from fhir_server.validation.issues import Issue, dedupe, error, operation_outcome, short
from fhir_server.validation.limits import MAX_DEPTH, too_costly, too_deep, within_limits
from fhir_server.validation.structural import validate_structure
from fhir_server.validation.types import resource_types
from fhir_server.validation.walker import Walker

if TYPE_CHECKING:
    RESOURCE_TYPES: frozenset[str]

__all__ = [
    "RESOURCE_TYPES",
    "Issue",
    "operation_outcome",
    "skipped_bindings",
    "validate_resource",
    "warm_up",
]

_log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    # RESOURCE_TYPES needs the R4 definitions and the library's type table (about half a second):
    # computed on first access rather than at import.
    if name == "RESOURCE_TYPES":
        return resource_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def warm_up() -> None:
    """Load definitions, type table and the commonest value sets now (e.g. at server start)."""
    validate_resource({"resourceType": "Patient", "gender": "unknown", "telecom": [{"system": "phone"}]})


def _identity(
    resource: Any, expected_type: str | None, expected_id: str | None, known: frozenset[str]
) -> tuple[list[Issue], str | None]:
    """resourceType/id rules; returns the issues and the resource type when it can be validated."""
    if not isinstance(resource, dict):
        diagnostics = "The body must be a JSON object. Le contenu doit être un objet JSON."
        return [error("structure", diagnostics)], None
    issues: list[Issue] = []
    resource_type = resource.get("resourceType")
    valid_type: str | None = None
    if resource_type is None:
        issues.append(
            error(
                "required", "Missing resourceType. Type de ressource (resourceType) absent.", "resourceType"
            )
        )
    elif not isinstance(resource_type, str) or resource_type not in known:
        issues.append(
            error(
                "not-supported",
                f"Unsupported resource type {short(resource_type)}. "
                f"Type de ressource inconnu ou non pris en charge : {short(resource_type)}.",
                "resourceType",
            )
        )
    elif expected_type is not None and resource_type != expected_type:
        issues.append(
            error(
                "invalid",
                f"resourceType {resource_type} does not match the URL ({expected_type}). "
                f"Le type de la ressource ({resource_type}) ne correspond pas à l'URL ({expected_type}).",
                "resourceType",
            )
        )
    else:
        valid_type = resource_type
    readable_type = isinstance(resource_type, str) and resource_type.isalnum()
    root = valid_type or (resource_type if readable_type else None)
    id_expression = f"{root}.id" if root else "id"
    if "id" in resource:
        resource_id = resource["id"]
        if not is_valid_id(resource_id):
            issues.append(bad_id(resource_id, id_expression))
        elif expected_id is not None and resource_id != expected_id:
            issues.append(
                error(
                    "invalid",
                    f"id {resource_id} does not match the URL ({expected_id}). "
                    f"L'identifiant de la ressource ({resource_id}) ne correspond pas "
                    f"à l'URL ({expected_id}).",
                    id_expression,
                )
            )
    elif expected_id is not None:
        issues.append(
            error(
                "required",
                f"Missing id (the URL says {expected_id}). "
                f"Identifiant absent : il doit valoir {expected_id}.",
                id_expression,
            )
        )
    return issues, valid_type


def validate_resource(
    resource: dict[str, Any],
    *,
    expected_type: str | None = None,
    expected_id: str | None = None,
    allow_conditional_references: bool | None = None,
) -> list[Issue]:
    """Every problem found in ``resource`` (empty list: valid). Never raises.

    ``expected_type``/``expected_id`` come from the URL of an update (or the type of a create).
    Conditional references (``Patient?identifier=...``) are accepted only in transaction and
    batch Bundles, unless ``allow_conditional_references`` says otherwise (e.g. for an entry
    of such a Bundle validated on its own before the server resolves them).
    """
    try:
        known = resource_types()
        issues, resource_type = _identity(resource, expected_type, expected_id, known)
        if resource_type is None:
            return issues
        # within_limits answers the common case in one pass; else the exact checks say which limit
        within = within_limits(resource)
        costly = None if within else too_costly(resource, resource_type)
        if costly is not None:
            issues.append(error("too-costly", costly[0], costly[1]))
            return issues
        if not within and too_deep(resource):
            issues.append(
                error(
                    "too-costly",
                    f"Resource nested deeper than {MAX_DEPTH} levels. "
                    f"Ressource trop profondément imbriquée (plus de {MAX_DEPTH} niveaux).",
                    resource_type,
                )
            )
            return issues
        if allow_conditional_references is None:
            allow_conditional_references = resource_type == "Bundle" and resource.get("type") in (
                "transaction",
                "batch",
            )
        walker = Walker(_definitions(), known, allow_conditional=allow_conditional_references)
        try:
            walker.walk_resource(resource_type, resource, resource_type)
        except RecursionError:
            walker.issues.append(
                error(
                    "structure",
                    "Resource nested too deeply. Ressource trop profondément imbriquée.",
                    resource_type,
                )
            )
        issues.extend(walker.issues)
        issues.extend(validate_structure(resource_type, resource, known))
        issues.extend(terminology_resource_issues(resource_type, resource))
        return dedupe(issues)
    except Exception:  # a validator bug must still answer 4xx-style issues, and be logged
        _log.exception("validation failed unexpectedly")
        return [error("exception", "Validation failed unexpectedly. Erreur interne pendant la validation.")]
