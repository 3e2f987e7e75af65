"""Code system identities, FHIR URI <-> HL7 OID: the one table both directions use.

CDA names a code system by OID (``@codeSystem``), FHIR by URI (``Coding.system``). ``to_cda``
looks a URI up here to write the OID; ``to_fhir`` looks the OID up to write the URI. Keeping a
single table is what makes the round trip FHIR -> CDA -> FHIR give back the *same* system: a
pair known to one direction only would come back as ``urn:oid:...`` (a different system for
any FHIR consumer, e.g. CVX codes no longer matching ``http://hl7.org/fhir/sid/cvx``).

Pairs are those of HL7 Terminology (THO): the external code systems page and the
NamingSystem / CodeSystem ``identifier`` records (SNOMED CT, LOINC, UCUM, RxNorm, CVX, NDC,
ICD-10, ICD-10-CM, ATC), the FHIR R4 CodeSystem identifiers for the FHIR-defined systems
(``2.16.840.1.113883.4.642.4.*``), and for the European systems the eHDSI MVC and HL7 Europe
(EDQM). Two deliberate departures, both from the eHDSI pivot: ICD-10 and Orphanet are written
with the eHDSI OIDs (``...44.2``, ``...44.5``), which every eHDSI sample uses.

``CODE_SYSTEMS`` holds one canonical (URI, OID) per system and is read in both directions.
``URI_ALIASES`` and ``OID_ALIASES`` hold the other spellings met in inputs: each is read in one
direction only and always maps to the canonical partner, so that a round trip normalises
them rather than multiplying systems.

The ``terminology`` package keeps its own registry (``terminology.systems``) for its index;
``cda_transform`` does not import it because the terminology service is optional here (see
``translate.default_terminology``). The two agree on every OID listed in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SNOMED: Final = "2.16.840.1.113883.6.96"
LOINC: Final = "2.16.840.1.113883.6.1"
ATC: Final = "2.16.840.1.113883.6.73"
EDQM: Final = "0.4.0.127.0.16.1.1.2.1"
UCUM: Final = "2.16.840.1.113883.6.8"
ICD10_WHO: Final = "2.16.840.1.113883.6.3"
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
ORPHANET_URI: Final = "https://www.orpha.net"
V3: Final = "http://terminology.hl7.org/CodeSystem/v3-"
THO: Final = "http://terminology.hl7.org/CodeSystem/"


@dataclass(frozen=True)
class CodeSystem:
    uri: str
    oid: str
    name: str


CODE_SYSTEMS: Final[tuple[CodeSystem, ...]] = (
    CodeSystem("http://snomed.info/sct", SNOMED, "SNOMED CT"),
    CodeSystem("http://loinc.org", LOINC, "LOINC"),
    CodeSystem("http://www.whocc.no/atc", ATC, "Anatomical Therapeutic Chemical"),
    CodeSystem("http://standardterms.edqm.eu", EDQM, "EDQM"),
    CodeSystem("http://unitsofmeasure.org", UCUM, "UCUM"),
    CodeSystem("http://hl7.org/fhir/sid/icd-10", ICD10_EHDSI, "ICD-10"),
    CodeSystem(ORPHANET_URI, ORPHANET_EHDSI, "Orphanet"),
    CodeSystem(ABSENT_UNKNOWN_URI, ABSENT_UNKNOWN, "IPS Absent and Unknown Data"),
    CodeSystem(f"{V3}ActClass", ACT_CLASS, "ActClass"),
    CodeSystem(f"{V3}ActCode", ACT_CODE, "ActCode"),
    CodeSystem(f"{V3}AdministrativeGender", ADMINISTRATIVE_GENDER, "AdministrativeGender"),
    CodeSystem(f"{V3}Confidentiality", CONFIDENTIALITY, "Confidentiality"),
    CodeSystem(f"{V3}RoleCode", ROLE_CODE, "RoleCode"),
    CodeSystem(f"{V3}RoleClass", "2.16.840.1.113883.5.110", "RoleClass"),
    CodeSystem(f"{V3}TimingEvent", TIMING_EVENT, "TimingEvent"),
    CodeSystem(f"{V3}NullFlavor", "2.16.840.1.113883.5.1008", "NullFlavor"),
    CodeSystem(f"{V3}ObservationInterpretation", "2.16.840.1.113883.5.83", "ObservationInterpretation"),
    CodeSystem(f"{V3}ParticipationFunction", PARTICIPATION_FUNCTION, "ParticipationFunction"),
    CodeSystem(f"{V3}substanceAdminSubstitution", "2.16.840.1.113883.5.1070", "SubstanceAdminSubstitution"),
    CodeSystem(
        "http://hl7.org/fhir/allergy-intolerance-criticality",
        ALLERGY_CRITICALITY,
        "AllergyIntoleranceCriticality",
    ),
    CodeSystem(
        f"{THO}allergyintolerance-clinical", ALLERGY_CLINICAL, "AllergyIntoleranceClinicalStatusCodes"
    ),
    CodeSystem(
        f"{THO}allergyintolerance-verification",
        ALLERGY_VERIFICATION,
        "AllergyIntoleranceVerificationStatusCodes",
    ),
    CodeSystem(f"{THO}condition-clinical", CONDITION_CLINICAL, "ConditionClinicalStatusCodes"),
    CodeSystem(f"{THO}condition-ver-status", CONDITION_VERIFICATION, "ConditionVerificationStatus"),
    CodeSystem(f"{THO}condition-category", CONDITION_CATEGORY, "ConditionCategoryCodes"),
    CodeSystem(f"{THO}observation-category", OBSERVATION_CATEGORY, "ObservationCategory"),
    CodeSystem("urn:ietf:bcp:47", "2.16.840.1.113883.6.121", "IETF BCP 47"),
    CodeSystem("urn:iso:std:iso:3166", "1.0.3166.1.2.2", "ISO 3166-1 alpha-2"),
    # ISCO-08 has no FHIR URI: its urn:oid form is the FHIR system
    CodeSystem(f"urn:oid:{ISCO08}", ISCO08, "ISCO"),
    # common non-EU systems (THO external code systems; met in US-coded data such as Synthea)
    CodeSystem("http://www.nlm.nih.gov/research/umls/rxnorm", "2.16.840.1.113883.6.88", "RxNorm"),
    CodeSystem("http://hl7.org/fhir/sid/cvx", "2.16.840.1.113883.12.292", "CVX"),
    CodeSystem("http://hl7.org/fhir/sid/ndc", "2.16.840.1.113883.6.69", "NDC"),
    CodeSystem("http://hl7.org/fhir/sid/icd-10-cm", "2.16.840.1.113883.6.90", "ICD-10-CM"),
)

#: other URIs written for a listed system (FHIR -> CDA only) -> its canonical URI
URI_ALIASES: Final[dict[str, str]] = {
    "http://www.orpha.net": ORPHANET_URI,  # the http spelling, used by some IGs
    "http://snomed.info/sct/": "http://snomed.info/sct",  # trailing slash, met in real content
}

#: other OIDs documents use for a listed system (CDA -> FHIR only) -> its canonical URI
OID_ALIASES: Final[dict[str, str]] = {
    ICD10_WHO: "http://hl7.org/fhir/sid/icd-10",  # THO's OID for WHO ICD-10
    "1.3.6.1.4.1.12559.11.10.1.3.1.42.5": "http://hl7.org/fhir/sid/icd-10",  # older eHDSI value sets
    "1.3.6.1.4.1.12559.11.10.1.3.1.44.1": "http://standardterms.edqm.eu",  # eHDSI EDQM
    "2.16.840.1.113883.6.316": "urn:ietf:bcp:47",  # HL7's newer OID for BCP 47 language tags
    "1.0.3166.1": "urn:iso:std:iso:3166",  # the ISO 3166-1 root, used for country codes
}

BY_URI: Final[dict[str, CodeSystem]] = {s.uri: s for s in CODE_SYSTEMS}
BY_OID: Final[dict[str, CodeSystem]] = {s.oid: s for s in CODE_SYSTEMS}
BY_URI.update({alias: BY_URI[canonical] for alias, canonical in URI_ALIASES.items()})


def oid_of_urn(system: str) -> str | None:
    """The OID of a ``urn:oid:`` system, or None."""
    if system.startswith("urn:oid:"):
        oid = system.removeprefix("urn:oid:")
        if oid and all(part.isdigit() for part in oid.split(".")):
            return oid
    return None


def uri_for_oid(oid: str) -> str | None:
    """Canonical FHIR URI of a code system OID, or None when the OID is not a known system."""
    known = BY_OID.get(oid)
    return known.uri if known else OID_ALIASES.get(oid)


def canonical_uri(system: str) -> str:
    """The canonical FHIR URI for any spelling of a known system (alias URI, ``urn:oid:``).

    Unknown systems come back unchanged: this says which URIs name the same system, it does
    not invent one.
    """
    if system in BY_URI:
        return BY_URI[system].uri
    oid = oid_of_urn(system)
    if oid is not None:
        return uri_for_oid(oid) or system
    return system
