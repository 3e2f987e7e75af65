"""``passerelle load``: Bundles posted to a running server, failures reported, throughput printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", "load", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_load_posts_bundles_and_reports_rate(tmp_path: Path, base: str, http: httpx.Client) -> None:
    good = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0d4f6a39-0000-4000-8000-000000000001",
                "resource": {"resourceType": "Patient", "name": [{"family": "Chargé"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "poids"},
                    "subject": {"reference": "urn:uuid:0d4f6a39-0000-4000-8000-000000000001"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    (tmp_path / "good.json").write_text(json.dumps(good))
    result = _run(str(tmp_path / "good.json"), "--url", base)
    assert result.returncode == 0, result.stderr
    assert "1/1 Bundles" in result.stdout and "2 ressources" in result.stdout
    assert "ressources/s" in result.stdout

    bad = {**good, "entry": [{**good["entry"][0], "resource": {"resourceType": "Patient", "gender": "x"}}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    result = _run(str(tmp_path / "good.json"), str(tmp_path / "bad.json"), "--url", base)
    assert result.returncode == 1
    assert "bad.json" in result.stderr and "400" in result.stderr
    assert "1/2 Bundles" in result.stdout


def test_load_refuses_missing_files(tmp_path: Path) -> None:
    result = _run(str(tmp_path / "absent.json"), "--url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "absent.json" in result.stderr
