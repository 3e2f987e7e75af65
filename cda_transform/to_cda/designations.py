"""English designations for the pivot's ``displayName``.

In a pivot CDA every coded element carries its code with the English MVC designation; the
designation the input had (often French) is kept as a ``translation`` with the same code, as
the real pivots do (e.g. the Luxembourg sample: LOINC 48765-2 "Allergies and adverse reactions
Document" with a French translation). The designations come from the terminology service
(eHDSI MVC 8.1.0 and the FHIR code systems it has vendored).
"""

from __future__ import annotations

import terminology
from terminology.errors import TerminologyError


def english(system: str, code: str) -> str | None:
    """The English designation of a code, or None when the terminology does not know it."""
    try:
        return terminology.display(system, code, "en")
    except TerminologyError:
        return None
