"""``passerelle gateway query|peers`` as an operator runs them (subprocesses, real HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.harness import ServerProcess
from ehdsi_gateway.mock_peer import home_community_of
from ehdsi_gateway.pki import DevCA
from tests.conftest import REPO

from .conftest import needs_samples
from .support import MockPeer

pytestmark = needs_samples


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", "gateway", *args],
        capture_output=True, text=True, cwd=REPO, timeout=300, env={**os.environ},
    )  # fmt: skip


def test_query_writes_the_french_document_bundle(
    passerelle: ServerProcess, mock_peer: MockPeer, gw_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "synthese.json"
    done = _cli(
        "query", "--country", "HR", "--id", "3843082788^^^&1.3.182.2.4.2&ISO", "--purpose", "EMERGENCY",
        "--peer-url", mock_peer.url, "--data-dir", str(gw_dir), "--fhir-url", passerelle.base,
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    bundle = json.loads(out.read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "document" and bundle["id"]
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"


def test_query_failures_exit_2_with_a_french_message(
    passerelle: ServerProcess, mock_peer: MockPeer, gw_dir: Path
) -> None:
    for patient, code, words in (
        ("NOMATCH^^^&2.999.1&ISO", "ERROR_PI_NO_MATCH", "Aucun patient"),
        ("MULTI^^^&2.999.1&ISO", "ERROR_PI_MULTIPLE_MATCHES", "Plusieurs patients"),
        ("NOPS^^^&2.999.1&ISO", "ERROR_PS_NOT_FOUND", "Aucune synthèse"),
    ):
        done = _cli(
            "query", "--country", "HR", "--id", patient, "--peer-url", mock_peer.url,
            "--data-dir", str(gw_dir), "--fhir-url", passerelle.base,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout
        assert code in done.stderr and words in done.stderr
        assert not done.stdout


def test_peers_lists_the_registry_and_checks_each_endpoint(
    mock_peer: MockPeer, gw_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "op"
    (data_dir / "ehdsi").mkdir(parents=True)
    cert = DevCA(gw_dir).issue("HR-signing", country="HR").cert_path
    peers = {
        "peers": {
            "HR": {
                "home_community_id": home_community_of("HR"),
                "xcpd_url": f"{mock_peer.url}/XCPD_Service",
                "xca_url": f"{mock_peer.url}/XCA_Service",
                "signing_cert": str(cert),
                "search_mask": {"identifiers": [{"domain": "1.3.182.2.4.2", "format": "^\\d{10}$"}]},
            },
            "CY": {
                "home_community_id": "2.999.6789.1000.990.1",
                "xcpd_url": "http://127.0.0.1:9/ehdsi/XCPD_Service",
                "xca_url": "http://127.0.0.1:9/ehdsi/XCA_Service",
            },
        }
    }
    (data_dir / "ehdsi" / "peers.json").write_text(json.dumps(peers))
    done = _cli("peers", "--data-dir", str(data_dir), "--json")
    assert done.returncode == 1, done.stderr  # CY is down
    listed = {p["country"]: p for p in json.loads(done.stdout)["peers"]}
    assert listed["HR"]["xcpd_check"] == "ok" and listed["HR"]["xca_check"] == "ok"
    assert listed["HR"]["search_mask"] == ["1.3.182.2.4.2"] and len(listed["HR"]["signing_certificates"]) == 1
    assert listed["CY"]["xcpd_check"].startswith("injoignable")
    text = _cli("peers", "--data-dir", str(data_dir), "--no-check")
    assert text.returncode == 0 and "HR" in text.stdout and "CY" in text.stdout


def test_query_as_a_registered_professional_signs_their_identity(
    passerelle: ServerProcess, mock_peer: MockPeer, gw_dir: Path
) -> None:
    audit = gw_dir / "ehdsi" / "mock-HR-audit.jsonl"
    done = _cli(
        "query", "--country", "HR", "--id", "9999002M^^^&2.16.470.1.100.1.1.1000.990.1.1&ISO",
        "--as", "99700366240", "--peer-url", mock_peer.url, "--data-dir", str(gw_dir),
        "--fhir-url", passerelle.base,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    last = [json.loads(line) for line in audit.read_text().splitlines()][-1]
    names = [a.get("who", {}).get("display") for a in last["agent"]]
    # the demo GP of the FHIR directory (dev PSC idNat 899700366240), as the peer saw her
    assert any("Marie Martin" in (name or "") for name in names), names
    unknown = _cli(
        "query", "--country", "HR", "--id", "NOMATCH^^^&2.999.1&ISO", "--as", "19999999999",
        "--peer-url", mock_peer.url, "--data-dir", str(gw_dir), "--fhir-url", passerelle.base,
    )  # fmt: skip
    assert unknown.returncode == 2 and "ERROR_HPI_NO_INFORMATION" in unknown.stderr
