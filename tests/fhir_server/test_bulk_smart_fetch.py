"""An unmodified third-party Bulk Data client, ``smart-fetch`` (PyPI, by the SMART Health IT /
Cumulus team), exports from a real server with authorization on: SMART Backend Services
authentication (its own signed JWT assertion), kick-off with its default ``_typeFilter``,
polling, download."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import (
    backend_client_token,
    bearer,
    own_server,
    register_client,
)
from tests.fhir_server.bulk_support import FHIR_JSON, seed

SMART_FETCH = shutil.which("smart-fetch", path=str(Path(sys.executable).parent)) or shutil.which(
    "smart-fetch"
)
pytestmark = pytest.mark.skipif(SMART_FETCH is None, reason="needs smart-fetch (pip install '.[test]')")
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with own_server(tmp_path_factory.mktemp("smart-fetch")) as proc:
        yield proc


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines() if line.strip()]


def test_smart_fetch_bulk_export(server: ServerProcess, tmp_path: Path) -> None:
    from joserfc.jwk import KeySet, RSAKey

    with httpx.Client(timeout=60) as raw:
        admin = backend_client_token(raw, server, "system/*.cruds", name="admin")
    with httpx.Client(base_url=server.base, headers=bearer(admin), timeout=60) as http:
        patients = seed(http, patients=3, observations=1)
        vital = {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{patients[0]}"},
        }
        created = http.post("/Observation", json=vital, headers={"Content-Type": FHIR_JSON})
        assert created.status_code == 201
    key = RSAKey.generate_key(2048, parameters={"kid": "smart-fetch", "alg": "RS384"})
    client = register_client(
        server, "backend", "system/*.read", jwks=KeySet([key]).as_dict(private=False), name="smart-fetch"
    )
    private = KeySet([key]).as_dict(private=True)
    private["keys"][0]["key_ops"] = ["sign"]  # what smart-fetch looks for in a JWKS
    key_file = tmp_path / "key.jwks"
    key_file.write_text(json.dumps(private))
    out = tmp_path / "export"
    done = subprocess.run(
        [SMART_FETCH or "smart-fetch", "bulk", "--fhir-url", server.base,
         "--smart-client-id", client["client_id"], "--smart-key", str(key_file),
         "--type", "Patient,Observation", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    exported = {p["id"] for f in out.glob("Patient.*.ndjson.gz") for p in _lines(f)}
    assert exported == set(patients)
    # smart-fetch asks Observations by category (_typeFilter): only the vital sign, not the others
    observations = [o for f in out.glob("Observation.*.ndjson.gz") for o in _lines(f)]
    assert [o["id"] for o in observations] == [created.json()["id"]]
