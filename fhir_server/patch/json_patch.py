"""JSON Patch (RFC 6902) on a resource, with the ``jsonpatch`` library.

Errors say which operation failed, with a FHIRPath-style expression of its target
(``/name/0/given`` → ``Patient.name[0].given``) so the OperationOutcome points at it.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer

from fhir_server.errors import FhirError


def pointer_to_expression(resource_type: str, pointer: Any) -> str:
    if not isinstance(pointer, str):
        return resource_type
    out = resource_type
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        out += f"[{token}]" if token.isdigit() else f".{token}"
    return out


def apply_json_patch(resource: dict[str, Any], operations: Any) -> dict[str, Any]:
    """A patched copy of ``resource``: 400 for a malformed patch, 422 when it does not apply."""
    type_ = str(resource.get("resourceType", "Resource"))
    if not isinstance(operations, list):
        raise FhirError(400, "invalid", "JSON Patch : le corps doit être un tableau d'opérations.")
    for i, op in enumerate(operations):
        if (
            not isinstance(op, dict)
            or not isinstance(op.get("op"), str)
            or not isinstance(op.get("path"), str)
        ):
            raise FhirError(
                400,
                "invalid",
                f"JSON Patch : opération {i} mal formée (op et path requis).",
                expression=[type_],
            )
    for i, op in enumerate(operations):
        # applied one by one to name the failing operation
        where = pointer_to_expression(type_, op.get("path"))
        try:
            resource = jsonpatch.apply_patch(resource, [op], in_place=False)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise FhirError(
                422,
                "processing",
                f"JSON Patch : le test de l'opération {i} a échoué ({exc}).",
                expression=[where],
            ) from exc
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as exc:
            raise FhirError(
                422, "processing", f"JSON Patch : opération {i} inapplicable ({exc}).", expression=[where]
            ) from exc
        except (jsonpatch.InvalidJsonPatch, TypeError, ValueError) as exc:
            raise FhirError(
                400, "invalid", f"JSON Patch : opération {i} invalide ({exc}).", expression=[where]
            ) from exc
    if not isinstance(resource, dict):
        raise FhirError(
            422, "processing", "JSON Patch : le résultat n'est plus une ressource.", expression=[type_]
        )
    return resource
