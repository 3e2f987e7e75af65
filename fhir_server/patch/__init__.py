"""PATCH documents: JSON Patch (RFC 6902) and FHIRPath Patch (``Parameters``).

Public surface: :func:`apply_json_patch`, :func:`apply_fhirpath_patch`. Both return a
patched copy (the stored resource is never modified in place) and raise ``FhirError``
(400 for a malformed patch, 422 for one that does not apply); the caller validates the
result like any update.
"""

from fhir_server.patch.fhirpath_patch import apply_fhirpath_patch
from fhir_server.patch.json_patch import apply_json_patch

__all__ = ["apply_fhirpath_patch", "apply_json_patch"]
