"""The one exception the terminology engine raises, and how it becomes an OperationOutcome.

Callers (the FHIR operations, the CDA translator, the CLI) need a single type to catch and a
ready HTTP status, so every failure carries its FHIR issue type and the FHIRPath-like
``expression`` of the faulty input.

HTTP status per issue type, following what FHIR terminology servers (HAPI, Ontoserver) do:

=================  ======  ==========================================================
issue type         status  used for
=================  ======  ==========================================================
``not-found``      404     unknown code system, value set, concept map, or code ($lookup)
``invalid``        400     malformed compose, unknown filter operator, bad parameter
``not-supported``  400     a filter the engine cannot evaluate (e.g. is-a without hierarchy)
``processing``     422     cyclic value set includes
``too-costly``     422     expansion larger than the configured limit
=================  ======  ==========================================================
"""

from __future__ import annotations

from typing import Any

_STATUS_BY_CODE: dict[str, int] = {
    "not-found": 404,
    "invalid": 400,
    "structure": 400,
    "required": 400,
    "value": 400,
    "not-supported": 400,
    "processing": 422,
    "business-rule": 422,
    "too-costly": 422,
}


class TerminologyError(Exception):
    """A terminology request that cannot be answered, with its FHIR issue type and location."""

    def __init__(
        self, message: str, code: str = "processing", expression: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.expression = expression
        self.status = status if status is not None else _STATUS_BY_CODE.get(code, 400)

    def to_operation_outcome(self) -> dict[str, Any]:
        """The error as a FHIR R4 OperationOutcome (a plain dict, ready for JSON)."""
        issue: dict[str, Any] = {"severity": "error", "code": self.code, "diagnostics": self.message}
        if self.expression:
            issue["expression"] = [self.expression]
        return {"resourceType": "OperationOutcome", "issue": [issue]}

    def __repr__(self) -> str:
        return f"TerminologyError({self.message!r}, code={self.code!r}, expression={self.expression!r})"
