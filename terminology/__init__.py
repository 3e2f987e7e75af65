"""Terminology service: CodeSystem, ValueSet and ConceptMap, French designations.

Other packages call it in-process, synchronously (no HTTP round trip)::

    from terminology import display, lookup, validate_code, expand, translate, subsumes
    display("http://snomed.info/sct", "112144000", "fr")   # str | None, never English as French

These work on a default :class:`TerminologyService` that loads the vendored content
(FHIR R4 code systems and value sets, eHDSI MVC 8.1.0, French designations with their
provenance) once, on first use, and can be extended with :func:`load_resources`.
Errors are :class:`TerminologyError` (``.to_operation_outcome()``, ``.status``).

``R4_TERMINOLOGY_DIR`` is the vendored FHIR R4 definitions folder (HL7, CC0), which the
FHIR server's validator reads to enforce required bindings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from terminology.conceptmaps import TranslationResult
from terminology.errors import TerminologyError
from terminology.service import Designated, LookupResult, TerminologyService, ValidationResult

R4_TERMINOLOGY_DIR = Path(__file__).parent / "data" / "r4"

_default: TerminologyService | None = None
_default_lock = threading.Lock()
load_timings: dict[str, float] = {}


def get_service() -> TerminologyService:
    """The process-wide service with the default content, loaded on first call."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                from terminology.content import load_default_content

                service = TerminologyService()
                load_timings.update(load_default_content(service))
                _default = service
    return _default


def set_service(service: TerminologyService | None) -> None:
    """Replace the default service (tests, or a server wiring its own storage-fed service)."""
    global _default
    with _default_lock:
        _default = service


def load_resources(resources: Iterable[dict[str, Any]]) -> dict[str, int]:
    return get_service().load_resources(resources)


def display(system: str, code: str, lang: str = "fr") -> str | None:
    return get_service().display(system, code, lang)


def designation(system: str, code: str, lang: str = "fr") -> Designated | None:
    """The designation with its source (supplement, value set or code system) and resolution note."""
    return get_service().designation(system, code, lang)


def lookup(system: str, code: str, **kwargs: Any) -> LookupResult:
    return get_service().lookup(system, code, **kwargs)


def validate_code(code: str, system: str | None = None, **kwargs: Any) -> ValidationResult:
    return get_service().validate_code(code, system, **kwargs)


def expand(url: str | None = None, **kwargs: Any) -> dict[str, Any]:
    return get_service().expand(url, **kwargs)


def translate(code: str, system: str, **kwargs: Any) -> TranslationResult:
    return get_service().translate(code, system, **kwargs)


def subsumes(code_a: str, code_b: str, system: str) -> str:
    return get_service().subsumes(code_a, code_b, system)


__all__ = [
    "R4_TERMINOLOGY_DIR",
    "Designated",
    "LookupResult",
    "TerminologyError",
    "TerminologyService",
    "TranslationResult",
    "ValidationResult",
    "designation",
    "display",
    "expand",
    "get_service",
    "load_resources",
    "lookup",
    "set_service",
    "subsumes",
    "translate",
    "validate_code",
]
