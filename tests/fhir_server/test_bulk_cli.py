"""``passerelle export``: the same exporter from the command line, into a directory, with progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from tests.conftest import REPO, make_server
from tests.fhir_server.bulk_support import FHIR_JSON, seed


def test_cli_export(tmp_path: Path) -> None:
    server = make_server(tmp_path / "srv").start()
    try:
        with httpx.Client(base_url=server.base, headers={"Accept": FHIR_JSON}, timeout=60) as c:
            ids = seed(c, patients=3, observations=2)
            mark = c.post("/Basic", json={"resourceType": "Basic", "code": {"text": "repère"}}).json()
            seed(c, patients=1, observations=0, tag="tard")
        out = tmp_path / "export"
        env = {**os.environ, **server.env}
        if server.mongodb_uri:
            env["MONGODB_URI"] = server.mongodb_uri
        args = [
            sys.executable,
            "-m",
            "apps.cli",
            "export",
            "--data-dir",
            str(server.data_dir),
            "--out",
            str(out),
        ]
        done = subprocess.run(
            [*args, "--type", "Patient,Observation"],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "res/s" in done.stderr or "res]" in done.stderr  # the tqdm progress bar
        manifest = json.loads((out / "manifest.json").read_text())
        by_type = {o["type"]: o for o in manifest["output"]}
        assert by_type["Patient"]["count"] == 4 and by_type["Observation"]["count"] == 3 * 3 + 1
        patients = [orjson.loads(x) for x in (out / "Patient.ndjson").read_bytes().splitlines()]
        assert set(ids) < {p["id"] for p in patients}
        # --since keeps what changed after the instant
        later = tmp_path / "later"
        since = mark["meta"]["lastUpdated"]
        done = subprocess.run(
            [*args[:-1], str(later), "--type", "Patient", "--since", since, "--quiet"],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        (only,) = json.loads((later / "manifest.json").read_text())["output"]
        assert only["count"] == 1
        bad = subprocess.run(
            [*args, "--since", "hier"], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
        )
        assert bad.returncode == 2 and "_since" in bad.stderr
    finally:
        server.stop()
