"""Code system identity: one canonical URI per code system, whatever spelling a source uses.

CDA documents name code systems by OID, FHIR by URI, and the MVC package itself uses a few
non-canonical URLs (EDQM under an hl7europe.org URL, EMDN under a ValueSet URL, ISO 3166 under
an HTML page). The index keys everything by the canonical URI returned by :func:`SystemRegistry.canonical`.
"""

from __future__ import annotations

# OIDs whose FHIR URI is not simply ``urn:oid:<oid>`` (eHDSI reference §8.3, HL7 terminology).
KNOWN_OIDS: dict[str, str] = {
    "2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "2.16.840.1.113883.6.1": "http://loinc.org",
    "2.16.840.1.113883.6.73": "http://www.whocc.no/atc",
    "1.3.6.1.4.1.12559.11.10.1.3.1.44.2": "http://hl7.org/fhir/sid/icd-10",
    "2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    # Older documents wrongly use the eHDSIIllnessandDisorder value set OID as code system.
    "1.3.6.1.4.1.12559.11.10.1.3.1.42.5": "http://hl7.org/fhir/sid/icd-10",
    "0.4.0.127.0.16.1.1.2.1": "http://standardterms.edqm.eu",
    "1.3.6.1.4.1.12559.11.10.1.3.1.44.1": "http://standardterms.edqm.eu",
    "2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
    "2.16.840.1.113883.5.1150.1": "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips",
    "1.0.3166.1.2.2": "urn:iso:std:iso:3166",
    "1.0.3166.1": "urn:iso:std:iso:3166",
    "2.16.840.1.113883.6.121": "urn:ietf:bcp:47",
    "2.16.840.1.113883.6.316": "urn:ietf:bcp:47",
    "1.3.6.1.4.1.12559.11.10.1.3.1.44.5": "https://www.orpha.net",
    "2.16.840.1.113883.4.642.4.130": "http://hl7.org/fhir/allergy-intolerance-criticality",
}

# Non-canonical URLs seen in real content, mapped to the canonical URI.
EMDN_URI = "urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.44.6"

URL_ALIASES: dict[str, str] = {
    "http://hl7europe.org/fhir/terminology/ehdsi/CodeSystem/edqm-all": "http://standardterms.edqm.eu",
    "http://hl7europe.org/fhir/terminology/ehdsi/ValueSet/eHDSIMedicalDevice": EMDN_URI,
    "http://terminology.hl7.org/5.3.0/CodeSystem-ISO3166Part1.html": "urn:iso:std:iso:3166",
    "http://terminology.hl7.org/CodeSystem/ISO3166Part1": "urn:iso:std:iso:3166",
    "http://www.orpha.net": "https://www.orpha.net",
    "http://snomed.info/sct/": "http://snomed.info/sct",
}


V2_TABLE_OID = "2.16.840.1.113883.12."


def _v2_table(oid: str) -> str | None:
    """HL7 v2 table N has the code system OID 2.16.840.1.113883.12.N (HL7 OID registry)."""
    if oid.startswith(V2_TABLE_OID) and oid[len(V2_TABLE_OID) :].isdigit():
        return f"http://terminology.hl7.org/CodeSystem/v2-{int(oid[len(V2_TABLE_OID) :]):04d}"
    return None


def _looks_like_oid(value: str) -> bool:
    return bool(value) and value[0].isdigit() and all(part.isdigit() for part in value.split("."))


class SystemRegistry:
    """Maps OIDs and aliases to canonical code system URIs; learns OIDs from loaded resources."""

    def __init__(self) -> None:
        self._oid_to_uri: dict[str, str] = dict(KNOWN_OIDS)
        self._aliases: dict[str, str] = dict(URL_ALIASES)
        self._uri_to_oid: dict[str, str] = {}
        for oid, uri in KNOWN_OIDS.items():
            self._uri_to_oid.setdefault(uri, oid)

    def canonical(self, system: str | None) -> str:
        """The canonical URI for a URI, an alias, ``urn:oid:`` form or a bare OID."""
        if not system:
            return ""
        system = system.strip()
        alias = self._aliases.get(system)
        if alias is not None:
            return alias
        if system.startswith("urn:oid:"):
            oid = system[8:]
            return self._oid_to_uri.get(oid) or _v2_table(oid) or system
        if _looks_like_oid(system):
            return self._oid_to_uri.get(system) or _v2_table(system) or "urn:oid:" + system
        return system

    def oid(self, system: str) -> str | None:
        """The OID of a canonical URI, when one is known (for writing CDA)."""
        uri = self.canonical(system)
        if uri.startswith("urn:oid:"):
            return uri[8:]
        return self._uri_to_oid.get(uri)

    def register_oid(self, oid: str, uri: str) -> None:
        """Record that ``oid`` names ``uri`` (from a CodeSystem.identifier), unless already known."""
        if not oid or oid in self._oid_to_uri or uri.startswith("urn:oid:"):
            return
        uri = self.canonical(uri)
        self._oid_to_uri[oid] = uri
        self._uri_to_oid.setdefault(uri, oid)

    def register_alias(self, alias: str, uri: str) -> None:
        if alias and alias != uri:
            self._aliases[alias] = uri


def identifier_oids(resource: dict) -> list[str]:
    """OIDs declared in a resource's ``identifier`` (``urn:oid:`` values)."""
    identifiers = resource.get("identifier") or []
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    found = []
    for ident in identifiers:
        value = (ident or {}).get("value") or ""
        if value.startswith("urn:oid:"):
            found.append(value[8:])
    return found
