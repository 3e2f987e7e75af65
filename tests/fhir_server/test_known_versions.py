"""Writes guessed from the versions a server remembers stay exact when another process wrote since.

A server writes an update or a delete without reading the current version first when it
remembers it (``fhir_server.storage.mongo.KnownVersions``). Two real servers share one database
here: each write of one makes what the other remembers stale, and every answer, version number
and history must still be what FHIR says (R4 3.1.0.4 update, 3.1.0.7 delete, 3.1.0.5.1 If-Match).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from bench.harness import ServerProcess
from fhir_server.embedded import EmbeddedMongo

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    tmp = tmp_path_factory.mktemp("known")
    database = f"test_{uuid.uuid4().hex[:12]}"
    uri = os.environ.get("MONGODB_URI")
    with EmbeddedMongo(tmp / "db") if uri is None else _external(uri) as db:
        servers = [
            ServerProcess(tmp / name, mongodb_uri=uri or db.uri, env={"PASSERELLE_DB": database}).start()
            for name in ("a", "b")
        ]
        try:
            clients = [
                httpx.Client(base_url=s.base, headers={"Accept": FHIR_JSON}, timeout=60) for s in servers
            ]
            yield clients[0], clients[1]
            for client in clients:
                client.close()
        finally:
            for server in servers:
                server.stop()


class _external:
    """Stands in for the embedded database when ``MONGODB_URI`` names one."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __enter__(self) -> _external:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _put(client: httpx.Client, pid: str, family: str, if_match: str | None = None) -> httpx.Response:
    headers = {"Content-Type": FHIR_JSON, **({"If-Match": if_match} if if_match else {})}
    body = {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}
    return client.put(f"/Patient/{pid}", json=body, headers=headers)


def _created_by(client: httpx.Client) -> str:
    """A new Patient written by ``client`` (version 1, which that server then remembers)."""
    pid = f"kv-{uuid.uuid4().hex[:8]}"
    assert _put(client, pid, "A1").status_code == 201
    return pid


def _history(client: httpx.Client, pid: str) -> list[tuple[str, str, str | None]]:
    """(version, request method, family) of every version, oldest first."""
    bundle = client.get(f"/Patient/{pid}/_history", params={"_count": "50"}).json()
    out = []
    for entry in reversed(bundle["entry"]):
        resource = entry.get("resource")
        version = entry["response"]["etag"].removeprefix('W/"').removesuffix('"')
        family = resource["name"][0]["family"] if resource else None
        out.append((version, entry["request"]["method"], family))
    return out


def test_blind_update_after_another_server_wrote(pair: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = pair
    pid = _created_by(a)  # a remembers version 1
    assert _put(b, pid, "B2").status_code == 200  # b reads it (unknown to b), writes 2
    answer = _put(a, pid, "A3")  # a's guess (1) is stale
    assert answer.status_code == 200, answer.text
    assert answer.json()["meta"]["versionId"] == "3"
    assert b.get(f"/Patient/{pid}").json()["name"][0]["family"] == "A3"
    assert _history(b, pid) == [("1", "PUT", "A1"), ("2", "PUT", "B2"), ("3", "PUT", "A3")]


def test_update_of_a_resource_another_server_deleted_recreates_it(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = pair
    pid = _created_by(a)
    assert b.delete(f"/Patient/{pid}").status_code in (200, 204)  # version 2, a deletion
    answer = _put(a, pid, "A3")  # a remembers version 1, not deleted
    assert answer.status_code == 201, answer.text  # an update of a deleted resource creates it again
    assert answer.json()["meta"]["versionId"] == "3"
    assert _history(a, pid) == [("1", "PUT", "A1"), ("2", "DELETE", None), ("3", "PUT", "A3")]


def test_if_match_on_a_version_another_server_replaced_is_refused(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = pair
    pid = _created_by(a)
    assert _put(b, pid, "B2").status_code == 200
    refused = _put(a, pid, "A-late", if_match='W/"1"')  # what a remembers, and what its client saw
    assert refused.status_code == 412, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert a.get(f"/Patient/{pid}").json()["name"][0]["family"] == "B2"
    assert [v for v, _, _ in _history(a, pid)] == ["1", "2"]


def test_delete_after_another_server_wrote(pair: tuple[httpx.Client, httpx.Client]) -> None:
    a, b = pair
    pid = _created_by(a)
    assert _put(b, pid, "B2").status_code == 200
    assert a.delete(f"/Patient/{pid}").status_code in (200, 204)  # a's guess (1) is stale
    assert b.get(f"/Patient/{pid}").status_code == 410
    assert _history(b, pid) == [("1", "PUT", "A1"), ("2", "PUT", "B2"), ("3", "DELETE", None)]
    # deleting again deletes nothing (no new version), whoever remembers what
    assert b.delete(f"/Patient/{pid}").status_code in (200, 204)
    assert len(_history(a, pid)) == 3


def test_rolled_back_transaction_is_not_remembered(pair: tuple[httpx.Client, httpx.Client]) -> None:
    a, _ = pair
    pid, other = f"kv-{uuid.uuid4().hex[:8]}", f"kv-{uuid.uuid4().hex[:8]}"
    assert _put(a, pid, "A1").status_code == 201
    assert _put(a, other, "O1").status_code == 201
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "id": pid, "name": [{"family": "rolled-back"}]},
                "request": {"method": "PUT", "url": f"Patient/{pid}"},
            },
            {  # a wrong If-Match: the whole transaction fails after the first entry was written
                "resource": {"resourceType": "Patient", "id": other, "name": [{"family": "O2"}]},
                "request": {"method": "PUT", "url": f"Patient/{other}", "ifMatch": 'W/"7"'},
            },
        ],
    }
    failed = a.post("", json=bundle, headers={"Content-Type": FHIR_JSON})
    assert failed.status_code == 412, failed.text
    answer = _put(a, pid, "A2")
    assert answer.status_code == 200, answer.text
    assert answer.json()["meta"]["versionId"] == "2"
    assert _history(a, pid) == [("1", "PUT", "A1"), ("2", "PUT", "A2")]


def test_many_alternating_writers_keep_history_and_current_in_step(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    a, b = pair
    pid = f"kv-{uuid.uuid4().hex[:8]}"
    writers = [a, b, b, a, a, b, a, b, b, b, a]
    for i, client in enumerate(writers, start=1):
        answer = _put(client, pid, f"w{i}")
        assert answer.status_code == (201 if i == 1 else 200), answer.text
        assert answer.json()["meta"]["versionId"] == str(i)
    assert _history(a, pid) == [(str(i), "PUT", f"w{i}") for i in range(1, len(writers) + 1)]
    for client in (a, b):
        assert client.get(f"/Patient/{pid}").headers["ETag"] == f'W/"{len(writers)}"'
