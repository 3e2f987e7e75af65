"""Subscriptions under authorization: a subscriber is notified only of resources its token may
read, and only it may bind to its websocket subscription (real server with auth on)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import backend_client_token, bearer, own_server
from tests.fhir_server.subscription_support import Receiver, subscription, wait_status

FHIR_JSON = "application/fhir+json"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with own_server(
        tmp_path_factory.mktemp("subs-auth"), PASSERELLE_SUBSCRIPTION_ALLOWED_HOSTS="127.0.0.1"
    ) as proc:
        yield proc


def client(server: ServerProcess, scope: str) -> httpx.Client:
    with httpx.Client(timeout=30) as raw:
        token = backend_client_token(raw, server, scope, name=f"abonné {uuid.uuid4().hex[:4]}")
    return httpx.Client(
        base_url=server.base, headers={**bearer(token), "Content-Type": FHIR_JSON}, timeout=30
    )


def lab_or_vital(category: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
    }


def test_notified_only_of_readable_resources(server: ServerProcess) -> None:
    admin = client(server, "system/*.cruds")
    lab_only = client(server, "system/Subscription.cruds system/Observation.rs?category=laboratory")
    receiver = Receiver().start()
    try:
        channel = {"type": "rest-hook", "endpoint": receiver.url("/lab"), "payload": "application/fhir+json"}
        sub = lab_only.post(
            "/Subscription", json=subscription("Observation?code=http://loinc.org|2345-7", channel)
        )
        assert sub.status_code == 201, sub.text
        wait_status(lab_only, sub.json()["id"], "active")
        vital = admin.post("/Observation", json=lab_or_vital("vital-signs")).json()
        lab = admin.post("/Observation", json=lab_or_vital("laboratory")).json()
        (note,) = receiver.wait_for("/lab")
        assert orjson.loads(note.body)["id"] == lab["id"]
        import time

        time.sleep(1.0)
        assert all(vital["id"].encode() not in r.body for r in receiver.received)
    finally:
        receiver.stop()


def test_websocket_needs_the_subscribers_token(server: ServerProcess) -> None:
    owner = client(server, "system/Subscription.cruds system/Observation.rs")
    other = client(server, "system/Subscription.cruds system/Observation.rs")
    sub = owner.post(
        "/Subscription", json=subscription("Observation?status=final", {"type": "websocket"})
    ).json()
    wait_status(owner, sub["id"], "active")
    url = server.base.replace("http://", "ws://") + "/websocket"
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=10).close()  # no token: refused at the upgrade
    with connect(url, additional_headers={"Authorization": other.headers["authorization"]}) as ws:
        ws.send(f"bind {sub['id']}")
        assert ws.recv(timeout=10).startswith("error")
    with connect(url, additional_headers={"Authorization": owner.headers["authorization"]}) as ws:
        ws.send(f"bind {sub['id']}")
        assert ws.recv(timeout=10) == f"bound {sub['id']}"
