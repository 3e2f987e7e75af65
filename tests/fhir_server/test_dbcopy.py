"""``passerelle db copy``: a data dir's embedded database moved to another server, byte for byte.

Both ends are real SecantusDB processes (the target stands for the MongoDB replica set): the data
written through the FHIR API is read back through the API of a server started on the copy.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from bench.harness import ServerProcess
from fhir_server.embedded import EmbeddedMongo

REPO = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _copy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", "db", "copy", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _raw(uri: str, db: str) -> dict[str, list[bytes]]:
    with MongoClient(uri) as client:
        database = client[db]
        raw = database.with_options(
            codec_options=database.codec_options.with_options(document_class=RawBSONDocument)
        )
        return {
            name: [doc.raw for doc in raw[name].find({}, sort=[("_id", 1)])]
            for name in sorted(database.list_collection_names())
        }


def _indexes(uri: str, db: str) -> dict[str, list[tuple[str, list[tuple[str, object]], bool, bool]]]:
    with MongoClient(uri) as client:
        database = client[db]
        return {
            name: sorted(
                (i["name"], list(i["key"].items()), bool(i.get("unique")), "expireAfterSeconds" in i)
                for i in database[name].list_indexes()
            )
            for name in database.list_collection_names()
        }


def test_copy_from_a_data_dir_to_another_server(tmp_path: Path) -> None:
    db_name = f"copy_{uuid.uuid4().hex[:8]}"
    source_dir = tmp_path / "source"
    server = ServerProcess(source_dir, env={"PASSERELLE_DB": db_name}).start()
    try:
        with httpx.Client(base_url=server.base, headers=JSON, timeout=60) as http:
            patient = {"resourceType": "Patient", "name": [{"family": "Copie", "given": ["Élodie"]}]}
            created = http.post("/Patient", json=patient)
            assert created.status_code == 201, created.text
            pid = created.json()["id"]
            updated = http.put(f"/Patient/{pid}", json={**patient, "id": pid, "gender": "female"})
            assert updated.status_code == 200, updated.text
            observation = {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "valueQuantity": {
                    "value": 62.5,
                    "unit": "kg",
                    "system": "http://unitsofmeasure.org",
                    "code": "kg",
                },
            }
            assert http.post("/Observation", json=observation).status_code == 201
        with EmbeddedMongo(tmp_path / "target" / "db") as target:
            # the source's server holds the data dir: the copy refuses rather than copy a moving database
            busy = _copy("--from-data-dir", str(source_dir), "--to", target.uri, "--db", db_name)
            assert busy.returncode == 1
            assert "arrêtez le serveur" in busy.stderr
            server.stop()

            done = _copy("--from-data-dir", str(source_dir), "--to", target.uri, "--db", db_name)
            assert done.returncode == 0, done.stderr + done.stdout
            assert "copie terminée" in done.stdout
            assert "history : 3 documents" in done.stdout

            source = EmbeddedMongo(source_dir / "db")
            with source:
                assert _raw(source.uri, db_name) == _raw(target.uri, db_name)  # every byte of every document
                assert _indexes(source.uri, db_name) == _indexes(target.uri, db_name)

            again = _copy("--from-data-dir", str(source_dir), "--to", target.uri, "--db", db_name)
            assert again.returncode != 0
            assert "contient déjà des données" in again.stderr

            # a server on the copy serves the same resources, versions and searches
            moved = ServerProcess(
                tmp_path / "moved", mongodb_uri=target.uri, env={"PASSERELLE_DB": db_name}
            ).start()
            try:
                with httpx.Client(base_url=moved.base, headers=JSON, timeout=60) as http:
                    read = http.get(f"/Patient/{pid}")
                    assert read.status_code == 200
                    assert read.json()["meta"]["versionId"] == "2"
                    assert read.json()["gender"] == "female"
                    history = http.get(f"/Patient/{pid}/_history").json()
                    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
                    found = http.get(
                        "/Observation", params={"subject": f"Patient/{pid}", "code": "29463-7"}
                    ).json()
                    assert [e["resource"]["valueQuantity"]["value"] for e in found["entry"]] == [62.5]
            finally:
                moved.stop()
    finally:
        server.stop()
