"""French FHIR data -> eHDSI Patient Summary L3 pivot CDA (``CDA_Pharma.xsd``).

``to_cda(bundle)`` takes a FHIR R4 Bundle (``document`` with a 60591-5 Composition first, or a
``collection``/``searchset`` of the patient's resources) and returns the CDA as UTF-8 XML bytes
with an XML declaration. Any input it cannot carry faithfully raises
``cda_transform.errors.TransformError`` with a FHIRPath ``expression`` into the input Bundle.

Coding policy: every FHIR coding is written (the eHDSI-preferred one as the CD, the others as
``translation``); a coding whose system has no OID (see ``oids``) is refused, never dropped.

Deliberately not carried (no place in an eHDSI entry, and not clinical content of the
statement): ``meta`` (tags, security labels), ``Observation.category`` (expressed by the
section the observation lands in), ``Dosage.doseAndRate.type``, ``encounter`` and other
references to non-PS resources, and author role codes other than ISCO-08 (the only code
system of ``assignedAuthor/code`` in eHDSI).

Dosages: every ``Dosage`` is written (several become IHE split-dosing subordinates of the
medication item), ``asNeeded[x]`` as a ``precondition``; what one CDA regimen cannot say (two
timing events, an event with a period, two doses) is refused on that dosage. See
``sections.medications``.

Pivot designations: ``@displayName`` is the English designation from the terminology service
(eHDSI MVC), the input's own display follows as a same-code ``translation``; the narrative
stays French.
"""

from __future__ import annotations

from typing import Any

from . import document, inputs

__all__ = ["to_cda"]


def to_cda(bundle: dict[str, Any] | bytes | str) -> bytes:
    """Build the pivot CDA; accepts the parsed Bundle or its JSON text."""
    return document.build(inputs.load(bundle))
