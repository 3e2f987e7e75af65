"""The one error type of cda_transform: a problem that makes a document unusable."""

from __future__ import annotations

from typing import Any


class TransformError(Exception):
    """A CDA or FHIR input that cannot be transformed.

    ``code`` is a FHIR IssueType code (``invalid``, ``not-supported``, ``too-costly``,
    ``security``, ``structure``), ``expression`` points at the faulty element (an XPath
    for CDA input, a FHIRPath for FHIR input).
    """

    def __init__(self, message: str, *, code: str = "invalid", expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.expression = expression

    def to_operation_outcome(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": "error", "code": self.code, "diagnostics": self.message}
        if self.expression:
            issue["expression"] = [self.expression]
        return {"resourceType": "OperationOutcome", "issue": [issue]}
