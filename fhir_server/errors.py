"""FHIR errors: every failure the server reports is an OperationOutcome with a 4xx/5xx status.

Handlers raise :class:`FhirError`; the REST layer turns it into a response. Keeping
the status, the IssueType code and the FHIRPath ``expression`` together means no
handler can answer an error without saying where the problem is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def issue(
    severity: str,
    code: str,
    diagnostics: str,
    expression: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One ``OperationOutcome.issue``."""
    out: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        out["expression"] = list(expression)
    return out


def operation_outcome(issues: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


class FhirError(Exception):
    """An error answered as an OperationOutcome with the given HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        *,
        expression: Sequence[str] | None = None,
        issues: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.issues = issues or [issue("error", code, diagnostics, expression)]
        self.headers = headers or {}

    @property
    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def not_found(diagnostics: str, expression: Sequence[str] | None = None) -> FhirError:
    return FhirError(404, "not-found", diagnostics, expression=expression)


def bad_request(
    diagnostics: str, expression: Sequence[str] | None = None, code: str = "invalid"
) -> FhirError:
    return FhirError(400, code, diagnostics, expression=expression)


def precondition_failed(diagnostics: str) -> FhirError:
    return FhirError(412, "conflict", diagnostics)
