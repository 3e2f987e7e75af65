"""Bulk Data export under SMART Backend Services authorization, against a real server with auth on:
who may start an export, what each token gets, who may poll and download, and the audit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import (
    backend_client_token,
    bearer,
    own_server,
    professional_token,
    register_client,
)
from tests.fhir_server.bulk_support import ASYNC, FHIR_JSON, download, kick_off, seed, wait


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with own_server(tmp_path_factory.mktemp("bulk-auth")) as proc:
        yield proc


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def admin(http: httpx.Client, server: ServerProcess) -> httpx.Client:
    token = backend_client_token(http, server, "system/*.cruds", name="admin")
    client = httpx.Client(base_url=server.base, headers=bearer(token), timeout=60)
    seed(client, patients=3, observations=2)
    lab = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
    }
    assert client.post("/Observation", json=lab, headers={"Content-Type": FHIR_JSON}).status_code == 201
    return client


def reader(http: httpx.Client, server: ServerProcess, scope: str) -> httpx.Client:
    token = backend_client_token(http, server, scope, name=f"lecteur {uuid.uuid4().hex[:4]}")
    return httpx.Client(base_url=server.base, headers=bearer(token), timeout=60)


def test_backend_export_only_to_its_client(
    http: httpx.Client, server: ServerProcess, admin: httpx.Client
) -> None:
    mine = reader(http, server, "system/*.read")
    status = kick_off(mine, "/$export", params={"_type": "Patient,Observation"})
    # without a token: 401; another backend client, even one that may read everything: 404
    assert httpx.get(status, headers={"Accept": FHIR_JSON}).status_code == 401
    other = reader(http, server, "system/*.read")
    assert other.get(status).status_code == 404
    done, _ = wait(mine, status)
    assert done.status_code == 200, done.text
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True
    files = download(mine, manifest)
    assert len(files["Patient"]) == 3 and len(files["Observation"]) == 10
    url = manifest["output"][0]["url"]
    assert httpx.get(url).status_code == 401
    assert other.get(url).status_code == 404
    assert other.delete(status).status_code == 404
    assert mine.get(status).status_code == 200  # still there after the other's attempt


def test_narrow_scope_exports_only_its_types(
    http: httpx.Client, server: ServerProcess, admin: httpx.Client
) -> None:
    narrow = reader(http, server, "system/Patient.rs")
    denied = narrow.get("/$export", params={"_type": "Observation"}, headers=ASYNC)
    assert denied.status_code == 403, denied.text
    done, _ = wait(narrow, kick_off(narrow, "/$export"))
    assert {o["type"] for o in done.json()["output"]} == {"Patient"}


def test_granular_scope_applied_to_each_resource(
    http: httpx.Client, server: ServerProcess, admin: httpx.Client
) -> None:
    lab = reader(http, server, "system/Observation.rs?category=laboratory")
    done, _ = wait(lab, kick_off(lab, "/$export", params={"_type": "Observation"}))
    files = download(lab, done.json())
    (only,) = files["Observation"]
    assert only["code"]["coding"][0]["code"] == "2345-7"


def test_non_system_token_refused(http: httpx.Client, server: ServerProcess, admin: httpx.Client) -> None:
    anonymous = httpx.get(f"{server.base}/$export", headers=ASYNC)
    assert anonymous.status_code == 401
    # a practitioner's app (Pro Santé Connect login), even with user/*.rs: not a backend service
    ehr = register_client(server, "confidential", "openid fhirUser user/*.rs", name="Logiciel cabinet")
    token = professional_token(http, server, ehr, "openid fhirUser user/*.rs")
    refused = http.get(f"{server.base}/$export", headers={**bearer(token), **ASYNC})
    assert refused.status_code == 403, refused.text


def test_export_is_audited(http: httpx.Client, server: ServerProcess, admin: httpx.Client) -> None:
    mine = reader(http, server, "system/*.read")
    status = kick_off(mine, "/$export", params={"_type": "Patient"})
    done, _ = wait(mine, status)
    assert done.status_code == 200
    job = status.rsplit("/", 1)[1]
    auditor = reader(http, server, "system/AuditEvent.rs")
    events = auditor.get("/AuditEvent", params={"_count": 200, "_sort": "-_lastUpdated"}).json()
    texts = [e["resource"].get("outcomeDesc", "") for e in events.get("entry", [])]
    assert any(f"Export en masse {job} terminé : 3 ressources (Patient)" in t for t in texts), texts[:5]
