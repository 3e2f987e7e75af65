"""display(system, code, lang): French when we have it, None otherwise, never English as French."""

from __future__ import annotations

from terminology import display
from terminology.content import FR_DIR, FR_FILES, read_json
from terminology.service import TerminologyService
from terminology.tools.build_content import PROVENANCE_URL

from .conftest import SNOMED, V3_GENDER


def test_french_designations_from_each_source() -> None:
    # ANS FR language pack
    assert display("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "MTH", "fr") == "Mère"
    assert (
        display("http://terminology.hl7.org/CodeSystem/v3-TimingEvent", "ACM", "fr")
        == "Avant le petit-déjeuner"
    )
    # our labels: sections, display labels, small closed value sets (they override the ANS wording)
    assert display("http://loinc.org", "48765-2", "fr") == "Allergies, effets indésirables, alertes"
    assert display("urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.44.4", "19", "fr") == "Date de naissance"
    assert display(SNOMED, "278147001", "fr") == "Groupe sanguin O, Rh(D) positif"
    assert display(V3_GENDER, "UN", "fr") == "Indifférencié"
    assert display("http://standardterms.edqm.eu", "10221000", "fr") == "Comprimé pelliculé"
    assert display("urn:iso:std:iso:3166", "HR", "fr") == "Croatie"
    assert display("2.16.840.1.113883.6.121", "fr-BE", "fr") == "français (Belgique)"
    # harvested from French sample documents
    assert display("http://hl7.org/fhir/sid/icd-10", "I10", "fr") == "Hypertension essentielle (primitive)"


def test_code_systems_by_oid_and_language_fallback() -> None:
    assert display("2.16.840.1.113883.5.1", "F", "fr") == "Féminin"
    assert display("urn:oid:2.16.840.1.113883.5.1", "F", "fr-FR") == "Féminin"
    assert display(V3_GENDER, "F", "fr-BE") == "Féminin"
    assert display("0.4.0.127.0.16.1.1.2.1", "20053000", "fr") == "Voie orale"


def test_no_french_means_none_never_english() -> None:
    assert display("http://hl7.org/fhir/sid/icd-10", "J00", "fr") is None  # no open French ICD-10 source
    assert display("http://www.whocc.no/atc", "N02BE01", "fr") is None
    assert display("http://loinc.org", "2345-7", "fr") is None
    assert display(V3_GENDER, "F", "de") is None  # R4 carries Dutch, not German
    assert display("http://example.org/unknown", "x", "fr") is None
    # English is there when asked for
    assert display("http://hl7.org/fhir/sid/icd-10", "J00", "en") == "Acute nasopharyngitis [common cold]"
    assert display(V3_GENDER, "F", "nl") == "Vrouw"


def test_every_french_resource_records_its_provenance() -> None:
    for name in FR_FILES:
        path = FR_DIR / name
        if not path.exists():
            continue
        for resource in read_json(path):
            assert resource["content"] == "supplement" and resource["supplements"]
            assert resource["publisher"] and resource["copyright"]
            notes = [e for e in resource.get("extension", []) if e["url"] == PROVENANCE_URL]
            assert notes and any(part["url"] == "note" for part in notes[0]["extension"])


def test_load_resources_extends_a_service() -> None:
    service = TerminologyService()
    # a supplement loaded before its code system is kept, but does not make the code valid
    service.load_resources(
        [
            {
                "resourceType": "CodeSystem",
                "url": "https://example.org/fr-supp",
                "status": "active",
                "content": "supplement",
                "supplements": "https://example.org/cs",
                "language": "fr",
                "concept": [{"code": "a", "display": "Alpha (fr)"}, {"code": "zz", "display": "Inconnu"}],
            }
        ]
    )
    assert service.display("https://example.org/cs", "a", "fr") == "Alpha (fr)"
    service.load_resources(
        [
            {
                "resourceType": "Bundle",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "CodeSystem",
                            "url": "https://example.org/cs",
                            "status": "active",
                            "content": "complete",
                            "concept": [{"code": "a", "display": "Alpha"}],
                        }
                    }
                ],
            }
        ]
    )
    assert service.display("https://example.org/cs", "a", "fr") == "Alpha (fr)"
    assert service.display("https://example.org/cs", "a", "en") == "Alpha"
    assert service.validate_code("a", "https://example.org/cs").result
    assert not service.validate_code("zz", "https://example.org/cs").result


def test_french_display_does_not_load_big_sources() -> None:
    from terminology.content import load_default_content

    service = TerminologyService()
    load_default_content(service)
    pending = len(service._lazy_loaders)
    assert pending > 0
    assert (
        service.display("http://hl7.org/fhir/sid/icd-10", "I10", "fr")
        == "Hypertension essentielle (primitive)"
    )
    assert service.display("http://loinc.org", "2345-7", "fr") is None
    assert len(service._lazy_loaders) == pending
    assert service.validate_code("I10", "http://hl7.org/fhir/sid/icd-10").result  # loads ICD-10 on demand
    assert len(service._lazy_loaders) < pending
