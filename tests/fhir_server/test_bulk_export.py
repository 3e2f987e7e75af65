"""Bulk Data v2 ``$export`` tried as an EHR vendor's client would: plain httpx against a real
``passerelle serve`` process (no authorization here; see test_bulk_auth.py), following the IG's
flow: kick-off (GET and POST Parameters), polling, manifest, download, cancel, errors, restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness import ServerProcess
from tests.conftest import make_server
from tests.fhir_server.bulk_support import ASYNC, FHIR_JSON, download, kick_off, seed, wait


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # small files, so that one type spans several; slow enough that a poll sees it running
    proc = make_server(
        tmp_path_factory.mktemp("bulk"), PASSERELLE_BULK_FILE_MAX_BYTES="3000", PASSERELLE_BULK_MAX_RATE="400"
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(bulk_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bulk_server.base, headers={"Accept": FHIR_JSON}, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def patients(client: httpx.Client) -> list[str]:
    return seed(client, patients=6, observations=3)


def test_system_export_manifest_and_files(client: httpx.Client, patients: list[str]) -> None:
    before = client.get("/Observation", params={"_summary": "count"}).json()["total"]
    status = kick_off(client, "/$export")
    done, polls = wait(client, status)
    assert polls, "the export never reported progress (202 + X-Progress)"
    assert done.status_code == 200, done.text
    assert done.headers["content-type"].startswith("application/json")
    assert "expires" in done.headers
    manifest = done.json()
    assert manifest["request"].endswith("/fhir/$export")
    assert manifest["requiresAccessToken"] is False
    assert manifest["error"] == []
    assert "deleted" not in manifest  # only for _since exports
    assert manifest["transactionTime"].endswith("+00:00")
    files = download(client, manifest)
    # every Observation stored, each once; split into several files (3000-byte limit)
    assert len([o for o in manifest["output"] if o["type"] == "Observation"]) > 1
    ids = [o["id"] for o in files["Observation"]]
    assert len(ids) == len(set(ids)) == before
    assert set(patients) <= {p["id"] for p in files["Patient"]}


def test_post_parameters_patient_level(client: httpx.Client, patients: list[str]) -> None:
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient,Observation"},
            {"name": "patient", "valueReference": {"reference": f"Patient/{patients[0]}"}},
            {"name": "patient", "valueReference": {"reference": f"Patient/{patients[1]}"}},
        ],
    }
    status = kick_off(
        client, "/Patient/$export", method="POST", json=params, headers={"Content-Type": FHIR_JSON}
    )
    done, _ = wait(client, status)
    assert done.status_code == 200, done.text
    files = download(client, done.json())
    assert sorted(p["id"] for p in files["Patient"]) == sorted(patients[:2])
    assert len(files["Observation"]) == 8  # 4 per patient
    assert {o["subject"]["reference"] for o in files["Observation"]} == {f"Patient/{p}" for p in patients[:2]}


def test_group_export_with_type_filter(client: httpx.Client, patients: list[str]) -> None:
    group = client.post(
        "/Group",
        json={
            "resourceType": "Group",
            "type": "person",
            "actual": True,
            "member": [
                {"entity": {"reference": f"Patient/{patients[2]}"}},
                {"entity": {"reference": f"Patient/{patients[3]}"}, "inactive": True},
            ],
        },
        headers={"Content-Type": FHIR_JSON},
    )
    assert group.status_code == 201
    gid = group.json()["id"]
    # a Group with members is searchable like any resource
    found = client.get("/Group", params={"member": f"Patient/{patients[2]}"}).json()
    assert gid in [e["resource"]["id"] for e in found.get("entry", [])]
    status = kick_off(
        client,
        f"/Group/{gid}/$export",
        params={"_type": "Observation", "_typeFilter": "Observation?code=http://loinc.org|29463-7"},
    )
    done, _ = wait(client, status)
    files = download(client, done.json())
    assert list(files) == ["Observation"]
    (only,) = files["Observation"]  # the active member's weight, not the inactive one's
    assert only["subject"]["reference"] == f"Patient/{patients[2]}"
    assert only["code"]["coding"][0]["code"] == "29463-7"


def test_since_lists_changes_and_deletions(client: httpx.Client, patients: list[str]) -> None:
    marker = client.post("/Basic", json={"resourceType": "Basic", "code": {"text": "repère"}})
    mark = marker.json()["meta"]["lastUpdated"]  # after every resource seeded
    time.sleep(0.05)
    changed = client.get(f"/Patient/{patients[5]}").json()
    changed["gender"] = "female"
    assert client.put(f"/Patient/{patients[5]}", json=changed, headers={"Content-Type": FHIR_JSON}).is_success
    obs = client.get("/Observation", params={"subject": f"Patient/{patients[4]}", "_count": 1}).json()
    gone = obs["entry"][0]["resource"]["id"]
    assert client.delete(f"/Observation/{gone}").is_success
    since = client.get(f"/Patient/{patients[5]}").json()["meta"]["lastUpdated"]
    assert since > mark
    status = kick_off(client, "/$export", params={"_since": mark, "_type": "Patient,Observation"})
    done, _ = wait(client, status)
    manifest = done.json()
    files = download(client, manifest)
    assert [p["id"] for p in files.get("Patient", [])] == [patients[5]]
    assert "Observation" not in files
    assert len(manifest["deleted"]) == 1
    bundle = client.get(manifest["deleted"][0]["url"]).text.strip()
    assert f'"url":"Observation/{gone}"' in bundle and '"method":"DELETE"' in bundle


def test_elements_marks_subsetted(client: httpx.Client, patients: list[str]) -> None:
    status = kick_off(client, "/$export", params={"_type": "Patient", "_elements": "name"})
    done, _ = wait(client, status)
    files = download(client, done.json())
    sample = files["Patient"][0]
    assert "name" in sample and "gender" not in sample
    assert any(t.get("code") == "SUBSETTED" for t in sample["meta"].get("tag", []))


def test_cancel_removes_job_and_files(client: httpx.Client, patients: list[str]) -> None:
    status = kick_off(client, "/$export")
    done, _ = wait(client, status)
    url = done.json()["output"][0]["url"]
    assert client.get(url).status_code == 200
    r = client.delete(status)
    assert r.status_code == 202
    assert client.get(status).status_code == 404
    assert client.get(url).status_code == 404
    assert client.delete(status).status_code == 404


def test_cancel_while_running(client: httpx.Client, bulk_server: ServerProcess, patients: list[str]) -> None:
    status = kick_off(client, "/$export")
    r = client.delete(status)
    assert r.status_code == 202
    assert client.get(status).status_code == 404
    job = status.rsplit("/", 1)[1]
    time.sleep(1)
    assert not (bulk_server.data_dir / "bulk" / job).exists()


@pytest.mark.parametrize(
    ("url", "params", "headers", "where"),
    [
        ("/$export", {}, {"Prefer": ""}, None),
        ("/$export", {"_outputFormat": "text/csv"}, {}, "_outputFormat"),
        ("/$export", {"_type": "Patient,Gadget"}, {}, "_type"),
        ("/$export", {"_since": "hier"}, {}, "_since"),
        ("/$export", {"_since": "2024-01-01T00:00:00"}, {}, "_since"),
        ("/$export", {"_typeFilter": "Observation"}, {}, "_typeFilter"),
        ("/$export", {"_typeFilter": "Observation?_sort=date"}, {}, "_typeFilter"),
        ("/$export", {"_typeFilter": "Observation?couleur=bleu"}, {}, None),
        ("/$export", {"includeAssociatedData": "LatestProvenanceResources"}, {}, "includeAssociatedData"),
        ("/$export", {"_mystere": "1"}, {}, "_mystere"),
        ("/$export", {"patient": "Patient/x"}, {}, "patient"),
        ("/Patient/$export", {"patient": "Patient/x"}, {}, "patient"),  # patient: POST only
        ("/Patient/$export", {"_type": "Organization"}, {}, "_type"),  # outside the compartment
        ("/Observation/$export", {}, {}, None),
        ("/Group/$export", {}, {}, None),
    ],
)
def test_unsupported_kick_off_is_400(
    client: httpx.Client, url: str, params: dict[str, str], headers: dict[str, str], where: str | None
) -> None:
    r = client.get(url, params=params, headers={**ASYNC, **headers})
    assert r.status_code == 400, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if where:
        assert outcome["issue"][0]["expression"] == [where]


def test_lenient_ignores_unsupported(client: httpx.Client) -> None:
    headers = {"Prefer": "respond-async, handling=lenient"}
    r = client.get("/$export", params={"_type": "Patient", "_mystere": "1"}, headers=headers)
    assert r.status_code == 202, r.text
    assert "_mystere" in r.json()["issue"][0]["diagnostics"]
    done, _ = wait(client, r.headers["content-location"])
    assert done.status_code == 200


def test_unknown_group_and_job(client: httpx.Client) -> None:
    assert client.get("/Group/absent/$export", headers=ASYNC).status_code == 404
    base = str(client.base_url).rstrip("/")
    assert client.get(f"{base}/_bulk/status/{'0' * 32}").status_code == 404
    assert client.get(f"{base}/_bulk/status/..%2F..").status_code == 404
    assert client.get(f"{base}/_bulk/files/{'0' * 32}/Patient.ndjson").status_code == 404


def test_unknown_patient_reported_in_error_file(client: httpx.Client, patients: list[str]) -> None:
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient"},
            {"name": "patient", "valueReference": {"reference": f"Patient/{patients[0]}"}},
            {"name": "patient", "valueReference": {"reference": "Patient/inconnu"}},
        ],
    }
    status = kick_off(
        client, "/Patient/$export", method="POST", json=params, headers={"Content-Type": FHIR_JSON}
    )
    done, _ = wait(client, status)
    manifest = done.json()
    assert [p["id"] for p in download(client, manifest)["Patient"]] == [patients[0]]
    (error,) = manifest["error"]
    text = client.get(error["url"]).text
    assert "Patient/inconnu" in text and '"OperationOutcome"' in text


def test_capability_statement_declares_export(client: httpx.Client) -> None:
    cs = client.get("/metadata").json()
    assert "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data" in cs["instantiates"]
    rest = cs["rest"][0]
    assert {
        "name": "export",
        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
    } in rest["operation"]
    by_type = {r["type"]: r for r in rest["resource"]}
    assert {o["definition"] for o in by_type["Patient"]["operation"] if o["name"] == "export"} == {
        "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
    }
    assert {o["definition"] for o in by_type["Group"]["operation"] if o["name"] == "export"} == {
        "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
    }


def test_state_at_transaction_time(client: httpx.Client, patients: list[str]) -> None:
    """A Patient updated after the kick-off is exported as it was at transactionTime."""
    status = kick_off(client, "/$export", params={"_type": "Observation,Patient"})
    target = client.get(f"/Patient/{patients[1]}").json()
    version = target["meta"]["versionId"]
    target["gender"] = "other"
    assert client.put(f"/Patient/{patients[1]}", json=target, headers={"Content-Type": FHIR_JSON}).is_success
    done, _ = wait(client, status)
    exported = {p["id"]: p for p in download(client, done.json())["Patient"]}
    assert exported[patients[1]]["meta"]["versionId"] == version
    assert "gender" not in exported[patients[1]] or exported[patients[1]]["gender"] != "other"


def test_restart_mid_export_resumes(tmp_path: Path) -> None:
    """SIGKILL the server while an export runs: the restarted server finishes it, with every
    resource exactly once, and never shows a manifest before that."""
    server = make_server(
        tmp_path,
        PASSERELLE_BULK_MAX_RATE="40",
        PASSERELLE_BULK_LEASE="2",
        PASSERELLE_BULK_EXPIRY="8",
        PASSERELLE_BULK_FILE_MAX_BYTES="4000",
    ).start()
    try:
        with httpx.Client(base_url=server.base, headers={"Accept": FHIR_JSON}, timeout=60) as c:
            ids = seed(c, patients=12, observations=4)
            status = _kill_mid_export(server, c)
            first = c.get(status)
            assert first.status_code == 202  # resumed, not a half manifest
            done, _ = wait(c, status, timeout=120)
            assert done.status_code == 200, done.text
            files = download(c, done.json())
            obs = [o["id"] for o in files["Observation"]]
            assert len(obs) == len(set(obs)) == 12 * 5
            assert sorted(p["id"] for p in files["Patient"]) == sorted(ids)
            # PASSERELLE_BULK_EXPIRY: the job and its files go away once expired
            job_dir = server.data_dir / "bulk" / status.rsplit("/", 1)[1]
            assert job_dir.is_dir()
            deadline = time.monotonic() + 30
            while c.get(status).status_code != 404 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert c.get(status).status_code == 404
            assert c.get(done.json()["output"][0]["url"]).status_code == 404
            assert not job_dir.exists()
    finally:
        server.stop()


def _kill_mid_export(server: ServerProcess, c: httpx.Client) -> str:
    """Start an export, SIGKILL the server once it has written Observations, start it again."""
    status = kick_off(c, "/$export", params={"_type": "Observation,Patient"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = c.get(status)
        assert r.status_code == 202
        progress = r.headers["x-progress"]
        if "Observation : " in progress and not progress.startswith("Observation : 0 "):
            break
        time.sleep(0.1)
    server.kill_hard()
    server.start()
    return status


def test_interrupted_too_often_fails_cleanly(tmp_path: Path) -> None:
    """Past PASSERELLE_BULK_MAX_ATTEMPTS starts, an interrupted export is failed: a 5xx with an
    OperationOutcome on the status URL, never a manifest, and its partial files removed."""
    server = make_server(
        tmp_path, PASSERELLE_BULK_MAX_RATE="40", PASSERELLE_BULK_LEASE="2", PASSERELLE_BULK_MAX_ATTEMPTS="1"
    ).start()
    try:
        with httpx.Client(base_url=server.base, headers={"Accept": FHIR_JSON}, timeout=60) as c:
            seed(c, patients=12, observations=4)
            status = _kill_mid_export(server, c)
            done, _ = wait(c, status, timeout=60)
            assert done.status_code == 500, done.text
            outcome = done.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert "interrompu" in outcome["issue"][0]["diagnostics"]
            assert not (server.data_dir / "bulk" / status.rsplit("/", 1)[1]).exists()
    finally:
        server.stop()
