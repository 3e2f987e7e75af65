"""``passerelle terminology load``: files into the server's database as versioned FHIR resources.

Run as a user would (the console script, starting its own server on the data dir), twice
with the same files (no new version), then with a changed file and bad ones; a server started
afterwards on the same database answers from what was loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.conftest import REPO, make_server

FIXTURES = REPO / "tests" / "terminology" / "fixtures"
PASSERELLE = Path(sys.executable).parent / "passerelle"
TRIAGE = "https://passerelle.fr/fhir/CodeSystem/demo-triage"


def load(data_dir: Path, db: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PASSERELLE_DB": db}
    return subprocess.run(
        [str(PASSERELLE), "terminology", "load", "--data-dir", str(data_dir), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_load_is_idempotent_versioned_and_served(tmp_path: Path) -> None:
    db = f"test_{uuid.uuid4().hex[:12]}"
    data_dir = tmp_path / "var"
    files = [FIXTURES / "cs-demo.xml", FIXTURES / "bundle-demo.json", FIXTURES / "mtc-artdecor.xml"]
    first = load(data_dir, db, *files)
    assert first.returncode == 0, first.stderr
    assert "4 nouvelles, 0 mises à jour, 0 inchangées" in first.stdout
    assert "[3/3]" in first.stderr  # per-file progress
    assert "CodeSystem 1, ConceptMap 1, ValueSet 2" in first.stdout  # the Patient of the Bundle is skipped
    second = load(data_dir, db, *files)
    assert second.returncode == 0, second.stderr
    assert "0 nouvelles, 0 mises à jour, 4 inchangées" in second.stdout

    changed = tmp_path / "cs-demo.xml"
    changed.write_text(
        (FIXTURES / "cs-demo.xml").read_text().replace('value="Routine"', 'value="Routine (J+1)"')
    )
    duplicate = tmp_path / "duplicate.json"
    duplicate.write_text(
        json.dumps(
            {
                "resourceType": "CodeSystem",
                "url": "https://example.org/dup",
                "status": "active",
                "content": "complete",
                "concept": [{"code": "a"}, {"code": "a"}],
            }
        )
    )
    refused = tmp_path / "refused.json"  # status outside its required value set: the server says 400
    refused.write_text(
        json.dumps({"resourceType": "ValueSet", "url": "https://example.org/vs-bad", "status": "banana"})
    )
    third = load(data_dir, db, changed, duplicate, refused)
    assert third.returncode == 1
    assert "1/3 fichiers chargés : 0 nouvelles, 1 mises à jour, 0 inchangées" in third.stdout
    assert "ERREUR" in third.stderr and "CodeSystem.concept[1].code" in third.stderr
    assert "HTTP 400" in third.stderr and "ValueSet.status" in third.stderr

    # A server started on the same database: versions as loaded, content served from start-up.
    with make_server(tmp_path / "var", PASSERELLE_DB=db, PASSERELLE_TERMINOLOGY_MAX_EXPANSION="3") as server:
        http = httpx.Client(base_url=server.base, headers={"Accept": "application/fhir+json"}, timeout=60)
        versions = {}
        for rtype in ("CodeSystem", "ValueSet", "ConceptMap"):
            for entry in http.get(f"/{rtype}").json().get("entry", []):
                versions[entry["resource"]["url"]] = entry["resource"]["meta"]["versionId"]
        assert versions == {
            TRIAGE: "2",
            "https://passerelle.fr/fhir/ValueSet/demo-urgent": "1",
            "https://passerelle.fr/fhir/ConceptMap/demo-triage-to-v3": "1",
            "urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.42.99": "1",
        }
        assert http.get("/CodeSystem/_history").json()["total"] == 2
        lookup = http.get("/CodeSystem/$lookup", params={"system": TRIAGE, "code": "routine"}).json()
        assert {"name": "display", "valueString": "Routine (J+1)"} in lookup["parameter"]
        expansion = http.get(
            "/ValueSet/$expand", params={"url": "https://passerelle.fr/fhir/ValueSet/demo-urgent"}
        )
        assert sorted(c["code"] for c in expansion.json()["expansion"]["contains"]) == [
            "urgent",
            "very-urgent",
        ]
        # The configured limit: administrative-gender has 4 codes, more than 3.
        gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
        too_big = http.get("/ValueSet/$expand", params={"url": gender})
        assert too_big.status_code == 422 and too_big.json()["issue"][0]["code"] == "too-costly"
        paged = http.get("/ValueSet/$expand", params={"url": gender, "count": "2"})
        assert paged.status_code == 200 and paged.json()["expansion"]["total"] == 4
