"""Which resource types the server accepts, and the fhir.resources model for each.

Why: the set must follow the library (a type without an R4B model cannot be validated
structurally) and the R4 definitions (R4B-only types such as Citation are not R4), so it is
computed from both rather than hand-listed. ``fhir.resources.R4B.fhirtypes`` names every model
by dotted path without importing it; importing the ~190 model modules would cost seconds,
so models are imported one by one on first use.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from fhir_server.validation.definitions import definitions

_MODEL_PACKAGE = "fhir.resources.R4B"


@cache
def _library_models() -> dict[str, str]:
    """Type name -> dotted path of every top-level model class declared in ``R4B.fhirtypes``."""
    fhirtypes = importlib.import_module(f"{_MODEL_PACKAGE}.fhirtypes")
    models: dict[str, str] = {}
    for attr, value in vars(fhirtypes).items():
        path = getattr(value, "_model_klass", None)
        if not (attr.endswith("Type") and isinstance(path, str)):
            continue
        name = attr[: -len("Type")]
        # Backbone models live in their resource's module ("patient.PatientContact"): only the
        # class named like its module is a resource or datatype of its own.
        if path == f"{_MODEL_PACKAGE}.{name.lower()}.{name}":
            models[name] = path
    return models


@cache
def resource_types() -> frozenset[str]:
    """R4 concrete resource types that fhir.resources R4B has a model for."""
    return frozenset(definitions().resource_names & _library_models().keys())


@cache
def model_class(resource_type: str) -> Any:
    """The pydantic model validating ``resource_type`` (which must be in :func:`resource_types`)."""
    module_name, _, class_name = _library_models()[resource_type].rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)
