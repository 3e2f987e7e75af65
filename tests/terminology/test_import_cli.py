"""``passerelle terminology import`` into a running server: stored, versioned, used at once.

The console script writes the supplements through the FHIR API of a server started by the
test (real process, embedded database); the server's terminology service answers with the
new French designations right after the import, without restart; a second import of the
same file stores nothing; a new release is a new version of the same canonical resource.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import SHARED, make_server, needs_shared

PASSERELLE = Path(sys.executable).parent / "passerelle"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATIH_URL = "https://passerelle.fr/fhir/CodeSystem/fr-cim10-atih"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PASSERELLE), "terminology", "import", *args],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip


def validate(http: httpx.Client, system: str, code: str) -> dict[str, object]:
    answer = http.get(
        "/CodeSystem/$validate-code", params={"url": system, "code": code, "displayLanguage": "fr"}
    )
    assert answer.status_code == 200, answer.text
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in answer.json()["parameter"]
    }


def test_import_into_a_running_server(tmp_path: Path) -> None:
    kit = tmp_path / "LIBCIM10MULTI.TXT"
    kit.write_bytes(
        "J00   |0|NNN|0|RHINOPHARYNGITE AIGUE|Rhinopharyngite aiguë [rhume banal]\r\n"
        "D093  |0|NNN|0|CA IN SITU THYROIDE|Carcinome in situ de la thyroïde\r\n".encode("iso-8859-1")
    )
    with make_server(tmp_path / "var") as server:
        http = httpx.Client(base_url=server.base, headers={"Accept": "application/fhir+json"}, timeout=60)
        assert validate(http, ICD10, "J00")["display"] != "Rhinopharyngite aiguë [rhume banal]"

        first = run("--url", server.base, "--release", "2024", str(kit))
        assert first.returncode == 0, first.stderr
        assert "2 codes traduits" in first.stdout and "1 ressource(s) nouvelle(s)" in first.stdout
        assert "CC BY-NC-ND" in first.stdout  # the licence is stated
        assert "enregistrement" in first.stderr  # the progress bar
        # used at once by the running server, the Czech national code resolved to D09.3
        assert validate(http, ICD10, "J00")["display"] == "Rhinopharyngite aiguë [rhume banal]"
        czech = validate(http, "urn:oid:1.2.203.24341.11.2.1", "D093")
        assert czech["result"] is True and czech["display"] == "Carcinome in situ de la thyroïde"

        again = run("--url", server.base, "--release", "2024", "--format", "atih", str(kit))
        assert again.returncode == 0 and "1 inchangée(s)" in again.stdout

        kit.write_bytes(b"J00   |0|NNN|0|RHINOPHARYNGITE|Rhinopharyngite aigue (2025)\r\n")
        newer = run("--url", server.base, "--release", "2025", str(kit))
        assert newer.returncode == 0 and "1 ressource(s) nouvelle(s)" in newer.stdout
        stored = http.get("/CodeSystem", params={"url": ATIH_URL}).json()
        versions = sorted(e["resource"]["version"] for e in stored["entry"])
        assert versions == ["2024", "2025"]
        resource = stored["entry"][0]["resource"]
        assert resource["content"] == "supplement" and "ATIH" in resource["copyright"]
        assert validate(http, ICD10, "J00")["display"] == "Rhinopharyngite aigue (2025)"  # latest wins

        bad = tmp_path / "bad.txt"
        bad.write_text("not a publisher file\n")
        refused = run("--url", server.base, str(bad))
        assert refused.returncode == 2 and "--format" in refused.stderr
        broken = run("--url", server.base, "--format", "atih", str(bad))
        assert broken.returncode == 1 and "LIBCIM10MULTI" in broken.stderr


@needs_shared("terminology-sources", "ans-atc-fr")
def test_import_the_ans_atc_export(tmp_path: Path) -> None:
    path = SHARED / "terminology-sources" / "ans-atc-fr" / "ATC-2023.xls"
    with make_server(tmp_path / "var") as server:
        http = httpx.Client(base_url=server.base, headers={"Accept": "application/fhir+json"}, timeout=60)
        result = run("--url", server.base, "--quiet", str(path))
        assert result.returncode == 0, result.stderr
        assert "version 2022-05-24" in result.stdout
        found = validate(http, "http://www.whocc.no/atc", "N02BE01")
        assert found["result"] is True and found["display"] == "paracétamol"
        orphanet = SHARED / "terminology-sources" / "orphanet-fr" / "orphanet-nomenclature-fr-2023-06-22.csv"
        if orphanet.is_file():
            result = run("--url", server.base, "--quiet", str(orphanet))
            assert result.returncode == 0, result.stderr
            assert "10839 codes traduits" in result.stdout and "CC BY 4.0" in result.stdout
            assert validate(http, "https://www.orpha.net", "58")["display"] == "Maladie d'Alexander"
