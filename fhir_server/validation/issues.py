"""The one shape every validation problem takes.

Why: the REST layer turns these into OperationOutcome issues verbatim, so each check returns
data (severity, IssueType code, a French-readable diagnostic, the FHIRPath of the faulty
element) instead of raising; the caller decides the HTTP status.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: ``code`` is a FHIR IssueType, ``expression`` FHIRPath strings."""

    severity: str
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The OperationOutcome.issue entry (``expression`` omitted when unknown)."""
        entry: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            entry["expression"] = list(self.expression)
        return entry


def error(code: str, diagnostics: str, expression: str | None = None) -> Issue:
    """Shorthand for the error issues every check produces."""
    return Issue("error", code, diagnostics, (expression,) if expression else ())


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource carrying ``issues`` (for error responses)."""
    return {"resourceType": "OperationOutcome", "issue": [issue.to_json() for issue in issues]}


def dedupe(issues: Iterable[Issue]) -> list[Issue]:
    """Keep the first issue per element: the checks run most-precise first, and a client gains
    nothing from two messages about the same element (e.g. our id check and the model's pattern)."""
    seen: set[tuple[str, ...]] = set()
    kept: list[Issue] = []
    for issue in issues:
        if issue.expression and issue.expression in seen:
            continue
        seen.add(issue.expression)
        kept.append(issue)
    return kept


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist = 2, 4, 4
_REPR.maxstring = _REPR.maxother = 50


def short(value: Any, limit: int = 60) -> str:
    """A bounded repr of a client value for diagnostics (inputs can be huge)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr must never turn a 400 into a 500
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
