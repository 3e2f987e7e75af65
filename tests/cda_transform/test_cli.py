"""``passerelle cda to-fhir`` / ``to-cda`` through the installed console script: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cda_transform import cda_builder as cb
from tests.cda_transform.conftest import SAMPLES
from tests.conftest import shared_reason

PASSERELLE = Path(sys.executable).parent / "passerelle"
EP = (
    "ehealth__protocol-terminators_epsos-ncp-server_epsos-nc-mock-it_src_main_resources_epstore_"
    "1-canesten-W7.xml"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    if not PASSERELLE.exists():
        pytest.skip("console script passerelle not installed")
    return subprocess.run([str(PASSERELLE), "cda", *args], capture_output=True, text=True, timeout=120)


def test_to_fhir_prints_the_bundle_and_exits_zero(tmp_path: Path) -> None:
    cda = tmp_path / "ps.xml"
    cda.write_bytes(cb.document(cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT)))
    proc = run("to-fhir", str(cda), "--lang", "fr-FR")
    assert proc.returncode == 0, proc.stderr
    bundle = json.loads(proc.stdout)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "document"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"


def test_to_fhir_refuses_a_non_patient_summary_with_an_outcome_and_exit_two() -> None:
    if not (SAMPLES / EP).exists():
        pytest.skip(shared_reason("ehdsi", "samples", EP))
    proc = run("to-fhir", str(SAMPLES / EP))
    assert proc.returncode == 2 and proc.stdout == ""
    outcome = json.loads(proc.stderr)
    assert outcome["resourceType"] == "OperationOutcome"
    assert "ePrescription" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("content", [b"<<<not xml", b""])
def test_to_fhir_bad_input_exit_two(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    proc = run("to-fhir", str(bad))
    assert proc.returncode == 2 and proc.stdout == ""  # "> out.json" captures no error
    issue = json.loads(proc.stderr)["issue"][0]
    assert issue["severity"] == "error" and issue["diagnostics"].startswith(f"{bad} : ")


def test_to_fhir_missing_file_exit_two(tmp_path: Path) -> None:
    proc = run("to-fhir", str(tmp_path / "absent.xml"))
    assert proc.returncode == 2 and proc.stdout == ""
    outcome = json.loads(proc.stderr)
    assert outcome["resourceType"] == "OperationOutcome"
    assert str(tmp_path / "absent.xml") in outcome["issue"][0]["diagnostics"]  # names the file


def test_to_cda_round_trip_and_bad_input(tmp_path: Path) -> None:
    cda = tmp_path / "ps.xml"
    cda.write_bytes(cb.document(cb.section("10160-0", cb.medication_entry(), text=cb.MED_TEXT)))
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(run("to-fhir", str(cda)).stdout)
    proc = run("to-cda", str(bundle_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "<ClinicalDocument" in proc.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = run("to-cda", str(bad))
    assert proc.returncode == 2 and proc.stdout == ""
    assert json.loads(proc.stderr)["resourceType"] == "OperationOutcome"
