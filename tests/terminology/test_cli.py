"""``passerelle terminology load|coverage`` through the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from terminology.readers import read_resources
from terminology.service import TerminologyService

from .conftest import FIXTURES, SHARED

PASSERELLE = Path(sys.executable).parent / "passerelle"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PASSERELLE), "terminology", *args], capture_output=True, text=True, timeout=120
    )


def test_load_is_idempotent(tmp_path: Path) -> None:
    files = [FIXTURES / "cs-demo.xml", FIXTURES / "bundle-demo.json", FIXTURES / "mtc-artdecor.xml"]
    first = run("load", "--data-dir", str(tmp_path), *map(str, files))
    assert first.returncode == 0, first.stderr
    assert "4 nouvelles, 0 mises à jour, 0 inchangées" in first.stdout
    assert "[3/3]" in first.stderr  # per-file progress
    stored = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.json"))
    second = run("load", "--data-dir", str(tmp_path), *map(str, files))
    assert second.returncode == 0, second.stderr
    assert "0 nouvelles, 0 mises à jour, 4 inchangées" in second.stdout
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.json")) == stored
    assert "CodeSystem 1, ConceptMap 1, ValueSet 2" in second.stdout


def test_load_reports_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run("load", "--data-dir", str(tmp_path / "var"), str(bad), str(FIXTURES / "cs-demo.xml"))
    assert result.returncode == 1
    assert "JSON invalide" in result.stderr and "1/2 fichiers chargés" in result.stdout


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
    result = run("coverage", "--json", "--data-dir", "/nonexistent", str(FIXTURES / "mini_ps.xml"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    vs = "http://terminology.ehdsi.eu/ValueSet/"
    assert report["total"] == {"found": 10, "translated": 8}
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


@pytest.mark.skipif(not (SHARED / "ehdsi" / "samples").is_dir(), reason="needs ../shared/ehdsi/samples")
def test_coverage_text_report_on_real_samples() -> None:
    samples = SHARED / "ehdsi" / "samples"
    files = [
        samples / "django__LU_CELESTINA_DOE-CALLA_38430827_3.xml",
        samples / "ehealth__translations-and-mappings-ws_src_test_resources_2-1234-W7.xml",
    ]
    result = run("coverage", "--lang", "fr", "--data-dir", "/nonexistent", *map(str, files))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Couverture de traduction (fr) :")
    assert "eHDSISection" in result.stdout and "manque" in result.stdout
