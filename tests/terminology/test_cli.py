"""``passerelle terminology coverage`` through the installed console script, and the file readers.

``terminology load`` stores into the server: tests/fhir_server/test_terminology_load.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from terminology.readers import read_resources
from terminology.service import TerminologyService
from tests.conftest import SHARED, needs_shared

from .conftest import FIXTURES

PASSERELLE = Path(sys.executable).parent / "passerelle"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PASSERELLE), "terminology", *args], capture_output=True, text=True, timeout=120
    )


def test_readers_accept_fhir_xml_bundles_and_mtc_exports() -> None:
    service = TerminologyService()
    for name in ("cs-demo.xml", "bundle-demo.json", "mtc-artdecor.xml"):
        service.load_resources(read_resources(FIXTURES / name))
    system = "https://passerelle.fr/fhir/CodeSystem/demo-triage"
    assert service.display(system, "urgent", "fr") == "Urgent (triage)"
    expansion = service.expand("https://passerelle.fr/fhir/ValueSet/demo-urgent")
    assert sorted(c["code"] for c in expansion["expansion"]["contains"]) == ["urgent", "very-urgent"]
    assert [m.code for m in service.translate("routine", system).matches] == ["R"]
    assert service.display("http://standardterms.edqm.eu", "20001000", "fr") == "Voie auriculaire (MTC)"
    assert (
        service.valueset_url("1.3.6.1.4.1.12559.11.10.1.3.1.42.99")
        == "urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.42.99"
    )


def test_coverage_json_matches_hand_count() -> None:
    result = run("coverage", "--json", str(FIXTURES / "mini_ps.xml"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    vs = "http://terminology.ehdsi.eu/ValueSet/"
    assert report["total"] == {
        "found": 10, "translated": 8, "licence": 2, "invalid": 0, "unknown_system": 0, "untranslated": 0,
    }  # fmt: skip
    counts = {url: (v["found"], v["translated"]) for url, v in report["value_sets"].items()}
    assert counts == {
        vs + "eHDSIActiveIngredient": (1, 0),
        vs + "eHDSIAdministrativeGender": (1, 1),
        vs + "eHDSIConfidentiality": (1, 1),
        vs + "eHDSIDocumentCode": (1, 1),
        vs + "eHDSIDoseForm": (1, 1),
        vs + "eHDSIIllnessandDisorder": (1, 0),
        vs + "eHDSIRouteofAdministration": (1, 1),
        vs + "eHDSISection": (2, 2),
        vs + "eHDSIUnit": (1, 1),
    }
    assert report["value_sets"][vs + "eHDSIIllnessandDisorder"]["missing"] == [
        ["http://hl7.org/fhir/sid/icd-10", "J00", "Acute nasopharyngitis [common cold]"]
    ]
    assert report["value_sets"][vs + "eHDSIActiveIngredient"]["missing"] == [
        ["http://www.whocc.no/atc", "N02BE01", "paracetamol"]
    ]


@needs_shared("ehdsi", "samples")
def test_coverage_text_report_on_real_samples() -> None:
    samples = SHARED / "ehdsi" / "samples"
    files = [
        samples / "django__LU_CELESTINA_DOE-CALLA_38430827_3.xml",
        samples / "ehealth__translations-and-mappings-ws_src_test_resources_2-1234-W7.xml",
    ]
    result = run("coverage", "--lang", "fr", *map(str, files))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Couverture de traduction (fr) :")
    assert "eHDSISection" in result.stdout and "licence " in result.stdout
    assert "Sources optionnelles chargées : aucune" in result.stdout


def test_coverage_add_files_extend_the_default_content(tmp_path: Path) -> None:
    supplement = {
        "resourceType": "CodeSystem",
        "url": "https://example.org/fr-icd10",
        "status": "active",
        "content": "supplement",
        "supplements": "http://hl7.org/fhir/sid/icd-10",
        "concept": [{"code": "J00", "designation": [{"language": "fr", "value": "Rhinopharyngite aiguë"}]}],
    }
    extra = tmp_path / "fr-icd10.json"
    extra.write_text(json.dumps(supplement))
    result = run("coverage", "--json", "--add", str(extra), str(FIXTURES / "mini_ps.xml"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total"]["translated"] == 9  # J00 now has a French designation
    illness = report["value_sets"]["http://terminology.ehdsi.eu/ValueSet/eHDSIIllnessandDisorder"]
    assert (illness["found"], illness["translated"], illness["missing"]) == (1, 1, [])
