"""The shared code system table: both directions agree, so a system survives a round trip."""

from __future__ import annotations

import pytest

from cda_transform import systems
from cda_transform.datatypes import system_uri
from cda_transform.to_cda import oids


@pytest.mark.parametrize("uri", [s.uri for s in systems.CODE_SYSTEMS])
def test_every_listed_system_comes_back_under_the_uri_it_was_written_from(uri: str) -> None:
    mapped = oids.code_system(uri)
    assert mapped is not None
    assert system_uri(mapped[0]) == uri


@pytest.mark.parametrize(
    ("oid", "uri"),
    [
        ("2.16.840.1.113883.12.292", "http://hl7.org/fhir/sid/cvx"),
        ("2.16.840.1.113883.6.88", "http://www.nlm.nih.gov/research/umls/rxnorm"),
        ("2.16.840.1.113883.6.69", "http://hl7.org/fhir/sid/ndc"),
        ("2.16.840.1.113883.6.90", "http://hl7.org/fhir/sid/icd-10-cm"),
        ("2.16.840.1.113883.6.3", "http://hl7.org/fhir/sid/icd-10"),  # THO's WHO ICD-10 OID
        ("1.3.6.1.4.1.12559.11.10.1.3.1.44.2", "http://hl7.org/fhir/sid/icd-10"),  # eHDSI's
        ("1.3.6.1.4.1.12559.11.10.1.3.1.44.5", "https://www.orpha.net"),
    ],
)
def test_known_oids_are_read_as_their_canonical_fhir_uri(oid: str, uri: str) -> None:
    assert system_uri(oid) == uri


def test_unknown_oids_stay_urn_oid_and_aliases_normalise() -> None:
    assert system_uri("1.2.250.1.213.2.3.2") == "urn:oid:1.2.250.1.213.2.3.2"
    assert systems.canonical_uri("http://www.orpha.net") == "https://www.orpha.net"
    assert systems.canonical_uri("urn:oid:2.16.840.1.113883.6.96") == "http://snomed.info/sct"
    assert systems.canonical_uri("urn:oid:1.2.250.1.213.2.3.2") == "urn:oid:1.2.250.1.213.2.3.2"
    assert systems.canonical_uri("http://example.org/local") == "http://example.org/local"


def test_the_table_names_each_system_once() -> None:
    """Two entries for one OID (or URI) would make one direction's answer depend on order."""
    assert len({s.oid for s in systems.CODE_SYSTEMS}) == len(systems.CODE_SYSTEMS)
    assert len({s.uri for s in systems.CODE_SYSTEMS}) == len(systems.CODE_SYSTEMS)
    assert not set(systems.OID_ALIASES) & set(systems.BY_OID)
    assert all(target in systems.BY_URI for target in systems.OID_ALIASES.values())


def test_the_terminology_registry_agrees_on_every_oid_it_knows() -> None:
    """terminology keeps its own registry (optional for cda_transform); a disagreement would make
    a code looked up for translation differ from the one written in the Bundle."""
    registry = pytest.importorskip("terminology.systems")
    disagree = {
        oid: (uri, system_uri(oid)) for oid, uri in registry.KNOWN_OIDS.items() if system_uri(oid) != uri
    }
    assert not disagree
