"""FHIR system URI -> HL7 OID, the one table that decides which codes can enter a pivot CDA.

CDA identifies code systems and identifier namespaces by OID, FHIR by URI. A coding whose
system is neither listed here nor written as ``urn:oid:...`` cannot be carried: the transform
refuses it with a ``TransformError`` (issue code ``not-supported``) instead of dropping it,
because a pivot CDA that silently loses a clinical code is worse than no document. The
caller can fix the input (or add the mapping here) and retry.

OIDs were checked against the official FHIR R4 definitions (``CodeSystem.identifier``) and
the real eHDSI samples; the eHDSI pivot uses its own OIDs for ICD-10 (``...44.2``) and
Orphanet (``...44.5``), which is why those two URIs map to eHDSI OIDs.
"""

from __future__ import annotations

from typing import Final

SNOMED: Final = "2.16.840.1.113883.6.96"
LOINC: Final = "2.16.840.1.113883.6.1"
ATC: Final = "2.16.840.1.113883.6.73"
EDQM: Final = "0.4.0.127.0.16.1.1.2.1"
UCUM: Final = "2.16.840.1.113883.6.8"
ICD10_EHDSI: Final = "1.3.6.1.4.1.12559.11.10.1.3.1.44.2"
ORPHANET_EHDSI: Final = "1.3.6.1.4.1.12559.11.10.1.3.1.44.5"
EMDN_EHDSI: Final = "1.3.6.1.4.1.12559.11.10.1.3.1.44.6"
ABSENT_UNKNOWN: Final = "2.16.840.1.113883.5.1150.1"
ISCO08: Final = "2.16.840.1.113883.2.9.6.2.7"
ACT_CLASS: Final = "2.16.840.1.113883.5.6"
ACT_CODE: Final = "2.16.840.1.113883.5.4"
ADMINISTRATIVE_GENDER: Final = "2.16.840.1.113883.5.1"
CONFIDENTIALITY: Final = "2.16.840.1.113883.5.25"
ROLE_CODE: Final = "2.16.840.1.113883.5.111"
TIMING_EVENT: Final = "2.16.840.1.113883.5.139"
PARTICIPATION_FUNCTION: Final = "2.16.840.1.113883.5.88"
IHE_ACT_CODE: Final = "1.3.5.1.4.1.19376.1.5.3.2"  # as written in every eHDSI sample (sic)
ALLERGY_CRITICALITY: Final = "2.16.840.1.113883.4.642.4.130"
ALLERGY_CLINICAL: Final = "2.16.840.1.113883.4.642.4.1373"
ALLERGY_VERIFICATION: Final = "2.16.840.1.113883.4.642.4.1371"
CONDITION_CLINICAL: Final = "2.16.840.1.113883.4.642.4.1074"
CONDITION_VERIFICATION: Final = "2.16.840.1.113883.4.642.4.1075"
OBSERVATION_CATEGORY: Final = "2.16.840.1.113883.4.642.4.1125"
CONDITION_CATEGORY: Final = "2.16.840.1.113883.4.642.4.1073"

ABSENT_UNKNOWN_URI: Final = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"

#: code system URI -> (OID, codeSystemName)
CODE_SYSTEMS: Final[dict[str, tuple[str, str]]] = {
    "http://snomed.info/sct": (SNOMED, "SNOMED CT"),
    "http://loinc.org": (LOINC, "LOINC"),
    "http://www.whocc.no/atc": (ATC, "Anatomical Therapeutic Chemical"),
    "http://standardterms.edqm.eu": (EDQM, "EDQM"),
    "http://unitsofmeasure.org": (UCUM, "UCUM"),
    "http://hl7.org/fhir/sid/icd-10": (ICD10_EHDSI, "ICD-10"),
    "https://www.orpha.net": (ORPHANET_EHDSI, "Orphanet"),
    "http://www.orpha.net": (ORPHANET_EHDSI, "Orphanet"),
    ABSENT_UNKNOWN_URI: (ABSENT_UNKNOWN, "IPS Absent and Unknown Data"),
    "http://terminology.hl7.org/CodeSystem/v3-ActClass": (ACT_CLASS, "ActClass"),
    "http://terminology.hl7.org/CodeSystem/v3-ActCode": (ACT_CODE, "ActCode"),
    "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender": (
        ADMINISTRATIVE_GENDER,
        "AdministrativeGender",
    ),
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality": (CONFIDENTIALITY, "Confidentiality"),
    "http://terminology.hl7.org/CodeSystem/v3-RoleCode": (ROLE_CODE, "RoleCode"),
    "http://terminology.hl7.org/CodeSystem/v3-TimingEvent": (TIMING_EVENT, "TimingEvent"),
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationFunction": (
        PARTICIPATION_FUNCTION,
        "ParticipationFunction",
    ),
    "http://hl7.org/fhir/allergy-intolerance-criticality": (
        ALLERGY_CRITICALITY,
        "AllergyIntoleranceCriticality",
    ),
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical": (
        ALLERGY_CLINICAL,
        "AllergyIntoleranceClinicalStatusCodes",
    ),
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification": (
        ALLERGY_VERIFICATION,
        "AllergyIntoleranceVerificationStatusCodes",
    ),
    "http://terminology.hl7.org/CodeSystem/condition-clinical": (
        CONDITION_CLINICAL,
        "ConditionClinicalStatusCodes",
    ),
    "http://terminology.hl7.org/CodeSystem/condition-ver-status": (
        CONDITION_VERIFICATION,
        "ConditionVerificationStatus",
    ),
    f"urn:oid:{ISCO08}": (ISCO08, "ISCO"),
    # common non-EU systems, OIDs from the FHIR terminology registry (NamingSystem tx-*)
    "http://www.nlm.nih.gov/research/umls/rxnorm": ("2.16.840.1.113883.6.88", "RxNorm"),
    "http://hl7.org/fhir/sid/cvx": ("2.16.840.1.113883.12.292", "CVX"),
    "http://hl7.org/fhir/sid/ndc": ("2.16.840.1.113883.6.69", "NDC"),
    "http://hl7.org/fhir/sid/icd-10-cm": ("2.16.840.1.113883.6.90", "ICD-10-CM"),
    "http://terminology.hl7.org/CodeSystem/condition-category": (
        CONDITION_CATEGORY,
        "ConditionCategoryCodes",
    ),
    "http://terminology.hl7.org/CodeSystem/observation-category": (
        OBSERVATION_CATEGORY,
        "ObservationCategory",
    ),
}

#: identifier namespace URI -> OID (``urn:oid:`` systems need no entry)
IDENTIFIER_SYSTEMS: Final[dict[str, str]] = {
    "urn:oid:1.2.250.1.213.1.4.8": "1.2.250.1.213.1.4.8",  # INS-NIR, listed for readers
}


def _oid_of_urn(system: str) -> str | None:
    if system.startswith("urn:oid:"):
        oid = system.removeprefix("urn:oid:")
        if oid and all(part.isdigit() for part in oid.split(".")):
            return oid
    return None


def code_system(system: str) -> tuple[str, str | None] | None:
    """(OID, codeSystemName) for a FHIR code system URI, or None when it has no OID."""
    if system in CODE_SYSTEMS:
        return CODE_SYSTEMS[system]
    oid = _oid_of_urn(system)
    if oid is None:
        return None
    for known_oid, name in CODE_SYSTEMS.values():
        if known_oid == oid:
            return oid, name
    return oid, None


def identifier_root(system: str | None, value: str | None) -> tuple[str, str | None] | None:
    """(root, extension) of a CDA ``II`` for a FHIR identifier, or None when it has no OID."""
    if system == "urn:ietf:rfc:3986" and value:
        oid = _oid_of_urn(value)
        if oid:
            return oid, None
        if value.startswith("urn:uuid:"):
            return value.removeprefix("urn:uuid:").upper(), None
        return None
    if not system:
        return None
    oid = IDENTIFIER_SYSTEMS.get(system) or _oid_of_urn(system)
    if oid is None:
        return None
    return oid, value
