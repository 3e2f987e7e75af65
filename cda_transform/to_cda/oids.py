"""FHIR system URI -> HL7 OID for the pivot CDA: decides which codes can enter it.

CDA identifies code systems and identifier namespaces by OID, FHIR by URI. A coding whose
system is neither in the shared table (``cda_transform.systems``, also used by ``to_fhir`` for
the way back) nor written as ``urn:oid:...`` cannot be carried: the transform refuses it with a
``TransformError`` (issue code ``not-supported``) instead of dropping it, because a pivot CDA
that silently loses a clinical code is worse than no document. The caller can fix the input
(or add the pair to ``cda_transform.systems``) and retry.

The OID constants are re-exported from ``cda_transform.systems`` for the section builders.
"""

from __future__ import annotations

from typing import Final

from ..systems import (
    ABSENT_UNKNOWN,
    ABSENT_UNKNOWN_URI,
    ACT_CLASS,
    ACT_CODE,
    ADMINISTRATIVE_GENDER,
    ALLERGY_CLINICAL,
    ALLERGY_CRITICALITY,
    ALLERGY_VERIFICATION,
    ATC,
    BY_OID,
    BY_URI,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    CONFIDENTIALITY,
    EDQM,
    EMDN_EHDSI,
    ICD10_EHDSI,
    IHE_ACT_CODE,
    ISCO08,
    LOINC,
    OBSERVATION_CATEGORY,
    ORPHANET_EHDSI,
    PARTICIPATION_FUNCTION,
    ROLE_CODE,
    SNOMED,
    TIMING_EVENT,
    UCUM,
    oid_of_urn,
)

__all__ = [
    "ABSENT_UNKNOWN",
    "ABSENT_UNKNOWN_URI",
    "ACT_CLASS",
    "ACT_CODE",
    "ADMINISTRATIVE_GENDER",
    "ALLERGY_CLINICAL",
    "ALLERGY_CRITICALITY",
    "ALLERGY_VERIFICATION",
    "ATC",
    "CODE_SYSTEMS",
    "CONDITION_CATEGORY",
    "CONDITION_CLINICAL",
    "CONDITION_VERIFICATION",
    "CONFIDENTIALITY",
    "EDQM",
    "EMDN_EHDSI",
    "ICD10_EHDSI",
    "IDENTIFIER_SYSTEMS",
    "IHE_ACT_CODE",
    "ISCO08",
    "LOINC",
    "OBSERVATION_CATEGORY",
    "ORPHANET_EHDSI",
    "PARTICIPATION_FUNCTION",
    "ROLE_CODE",
    "SNOMED",
    "TIMING_EVENT",
    "UCUM",
    "code_system",
    "identifier_root",
]

#: code system URI (canonical or alias) -> (OID, codeSystemName), a view of ``systems``
CODE_SYSTEMS: Final[dict[str, tuple[str, str]]] = {uri: (s.oid, s.name) for uri, s in BY_URI.items()}

#: identifier namespace URI -> OID (``urn:oid:`` systems need no entry)
IDENTIFIER_SYSTEMS: Final[dict[str, str]] = {
    "urn:oid:1.2.250.1.213.1.4.8": "1.2.250.1.213.1.4.8",  # INS-NIR, listed for readers
}


def code_system(system: str) -> tuple[str, str | None] | None:
    """(OID, codeSystemName) for a FHIR code system URI, or None when it has no OID."""
    if system in CODE_SYSTEMS:
        return CODE_SYSTEMS[system]
    oid = oid_of_urn(system)
    if oid is None:
        return None
    known = BY_OID.get(oid)
    return oid, known.name if known else None


def identifier_root(system: str | None, value: str | None) -> tuple[str, str | None] | None:
    """(root, extension) of a CDA ``II`` for a FHIR identifier, or None when it has no OID."""
    if system == "urn:ietf:rfc:3986" and value:
        oid = oid_of_urn(value)
        if oid:
            return oid, None
        if value.startswith("urn:uuid:"):
            return value.removeprefix("urn:uuid:").upper(), None
        return None
    if not system:
        return None
    oid = IDENTIFIER_SYSTEMS.get(system) or oid_of_urn(system)
    if oid is None:
        return None
    return oid, value
