"""R4 Subscriptions against a real server: rest-hook notifications to a real HTTP server started
here, websocket notifications to a real WebSocket client, status changes, transactions, retries,
and the endpoint rules (https, allow-list, no internal addresses)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from bench.harness import ServerProcess
from tests.conftest import make_server
from tests.fhir_server.subscription_support import Receiver, subscription, wait_status

FHIR_JSON = "application/fhir+json"
HEART = "http://loinc.org|8867-4"


@pytest.fixture(scope="module")
def sub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = make_server(
        tmp_path_factory.mktemp("subs"),
        PASSERELLE_SUBSCRIPTION_ALLOWED_HOSTS="127.0.0.1",
        PASSERELLE_SUBSCRIPTION_BACKOFF="0.1",
        PASSERELLE_SUBSCRIPTION_ATTEMPTS="3",
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def http(sub_server: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
    with httpx.Client(base_url=sub_server.base, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def patient(http: httpx.Client) -> str:
    r = http.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Abonné"}]})
    return str(r.json()["id"])


def observation(patient: str, code: str = "8867-4", value: float = 72) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "valueQuantity": {"value": value, "unit": "/min"},
    }


def create(http: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    r = http.post(f"/{resource['resourceType']}", json=resource)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_rest_hook_with_payload_and_headers(http: httpx.Client, receiver: Receiver, patient: str) -> None:
    channel = {
        "type": "rest-hook",
        "endpoint": receiver.url("/ok/full"),
        "payload": "application/fhir+json",
        "header": ["Authorization: Bearer secret-de-l-abonne"],
    }
    sub = create(http, subscription(f"Observation?code={HEART}&subject=Patient/{patient}", channel))
    wait_status(http, sub["id"], "active")
    other = create(http, observation(patient, code="29463-7"))  # not matching: no notification
    hit = create(http, observation(patient))
    (first,) = receiver.wait_for("/ok/full")
    assert first.headers["authorization"] == "Bearer secret-de-l-abonne"
    assert first.headers["content-type"].startswith("application/fhir+json")
    body = orjson.loads(first.body)
    assert body["id"] == hit["id"] and body["resourceType"] == "Observation"
    # an update that still matches notifies again, with the new version
    hit["valueQuantity"]["value"] = 80
    assert http.put(f"/Observation/{hit['id']}", json=hit).status_code == 200
    second = receiver.wait_for("/ok/full", 2)[1]
    assert orjson.loads(second.body)["meta"]["versionId"] == "2"
    time.sleep(0.5)
    assert other["id"] not in b"".join(r.body for r in receiver.received).decode()
    # off: nothing more
    current = http.get(f"/Subscription/{sub['id']}").json()
    current["status"] = "off"
    assert http.put(f"/Subscription/{sub['id']}", json=current).status_code == 200
    time.sleep(0.3)
    create(http, observation(patient))
    time.sleep(1.0)
    assert len(receiver.at("/ok/full")) == 2


def test_rest_hook_empty_notification(http: httpx.Client, receiver: Receiver, patient: str) -> None:
    sub = create(
        http,
        subscription(
            f"Observation?code={HEART}", {"type": "rest-hook", "endpoint": receiver.url("/ok/empty")}
        ),
    )
    wait_status(http, sub["id"], "active")
    create(http, observation(patient))
    (note,) = receiver.wait_for("/ok/empty")
    assert note.body == b""


def test_transactions_notify_only_once_committed(
    http: httpx.Client, receiver: Receiver, patient: str
) -> None:
    sub = create(
        http,
        subscription(
            f"Observation?code={HEART}&value-quantity=gt150",
            {"type": "rest-hook", "endpoint": receiver.url("/ok/tx"), "payload": "application/fhir+json"},
        ),
    )
    wait_status(http, sub["id"], "active")
    failing = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": observation(patient, value=180),
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": {"resourceType": "Patient", "gender": "inconnu"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    assert http.post("/", json=failing).status_code >= 400  # rolled back: nothing committed
    good = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": observation(patient, value=190),
                "request": {"method": "POST", "url": "Observation"},
            },
            {"resource": observation(patient, value=60), "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    r = http.post("/", json=good)
    assert r.status_code == 200, r.text
    (note,) = receiver.wait_for("/ok/tx")
    assert orjson.loads(note.body)["valueQuantity"]["value"] == 190
    time.sleep(1.0)
    assert len(receiver.at("/ok/tx")) == 1  # the 180 of the failed transaction never notified


def test_delivery_does_not_block_the_write(http: httpx.Client, receiver: Receiver, patient: str) -> None:
    sub = create(
        http,
        subscription(f"Observation?code={HEART}", {"type": "rest-hook", "endpoint": receiver.url("/slow")}),
    )
    wait_status(http, sub["id"], "active")
    created = http.post("/Observation", json=observation(patient), timeout=10)  # the hook is held
    assert created.status_code == 201
    assert receiver.at("/slow") == []  # the endpoint has not answered yet
    receiver.release.set()
    receiver.wait_for("/slow")
    http.delete(f"/Subscription/{sub['id']}")


def test_failing_endpoint_goes_to_error(http: httpx.Client, receiver: Receiver, patient: str) -> None:
    sub = create(
        http,
        subscription(f"Observation?code={HEART}", {"type": "rest-hook", "endpoint": receiver.url("/fail")}),
    )
    wait_status(http, sub["id"], "active")
    create(http, observation(patient))
    failed = wait_status(http, sub["id"], "error")
    assert "500" in failed["error"] and "3 essais" in failed["error"]
    assert len(receiver.at("/fail")) == 3  # retried with backoff, then given up


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ({"type": "rest-hook", "endpoint": "http://10.0.0.7/hook"}, "liste autorisée"),
        ({"type": "rest-hook", "endpoint": "https://169.254.169.254/latest/meta-data"}, "liste autorisée"),
        ({"type": "rest-hook", "endpoint": "https://hooks.example.com/x"}, "liste autorisée"),
        ({"type": "rest-hook", "endpoint": "ftp://127.0.0.1/x"}, "https attendu"),
        ({"type": "rest-hook"}, "endpoint obligatoire"),
        ({"type": "email", "endpoint": "mailto:a@example.fr"}, "non pris en charge"),
        ({"type": "rest-hook", "endpoint": "http://127.0.0.1:9/x", "header": ["sans deux-points"]}, "header"),
    ],
)
def test_refused_endpoints_and_channels(http: httpx.Client, channel: dict[str, Any], reason: str) -> None:
    sub = create(http, subscription(f"Observation?code={HEART}", channel))
    failed = wait_status(http, sub["id"], "error")
    assert reason in failed["error"]


def test_bad_criteria_goes_to_error(http: httpx.Client) -> None:
    for criteria, reason in (
        ("Gadget?x=1", "type de ressource inconnu"),
        ("Observation?couleur=bleu", "criteria refusé"),
    ):
        sub = create(http, subscription(criteria, {"type": "websocket"}))
        assert reason in wait_status(http, sub["id"], "error")["error"]


def test_websocket_bind_and_ping(http: httpx.Client, sub_server: ServerProcess, patient: str) -> None:
    sub = create(http, subscription(f"Observation?code={HEART}", {"type": "websocket"}))
    wait_status(http, sub["id"], "active")
    url = sub_server.base.replace("http://", "ws://") + "/websocket"
    with connect(url, open_timeout=10) as ws:
        ws.send("bind inconnu")
        assert ws.recv(timeout=10).startswith("error inconnu")
        ws.send(f"bind {sub['id']}")
        assert ws.recv(timeout=10) == f"bound {sub['id']}"
        create(http, observation(patient))
        assert ws.recv(timeout=20) == f"ping {sub['id']}"
        create(http, observation(patient, code="29463-7"))  # no ping for a non-matching one
        create(http, observation(patient))
        assert ws.recv(timeout=20) == f"ping {sub['id']}"


def test_capability_lists_websocket(http: httpx.Client) -> None:
    cs = http.get("/metadata").json()
    extensions = cs["rest"][0].get("extension", [])
    urls = [e["valueUri"] for e in extensions if e["url"].endswith("capabilitystatement-websocket")]
    assert urls and urls[0].endswith("/fhir/websocket") and urls[0].startswith("ws")
