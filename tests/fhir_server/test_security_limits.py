"""Issue 12, finding 9: large inputs get a clear 4xx ``too-costly`` OperationOutcome, never a 500.

Black-box over HTTP against real servers (``--no-auth``: the limits hold for every caller).
The inputs are the outside probe's: a 15 MB ``family`` (its search values blew the stored
document up to ~195 MB: a 500 ``DocumentTooLarge``), ``name:contains`` with 5,000 characters (a
pattern over the database's cap: a 500), a Patient with 60,000 names (seconds of work on the event
loop). The limits are configurable (``PASSERELLE_MAX_*``, ``PASSERELLE_SEARCH_VALUE_MAX``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness import ServerProcess
from tests.conftest import FHIR_JSON, make_server

HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}


def _too_costly(resp: httpx.Response, status: int = 400) -> dict[str, object]:
    assert resp.status_code == status, resp.text[:500]
    issue = resp.json()["issue"][0]
    assert issue["code"] == "too-costly", issue
    return issue  # type: ignore[no-any-return]


@pytest.fixture()
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, headers=HEADERS, timeout=120) as c:
        yield c


def test_a_huge_string_is_refused_with_its_path(client: httpx.Client) -> None:
    resp = client.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "x" * 15_000_000}]})
    issue = _too_costly(resp)
    assert issue["expression"] == ["Patient.name[0].family"]


def test_base64_data_is_bounded_by_the_body_limit_only(client: httpx.Client) -> None:
    import base64

    data = base64.b64encode(b"\0" * 400_000).decode()
    resp = client.post(
        "/Binary", json={"resourceType": "Binary", "contentType": "application/pdf", "data": data}
    )
    assert resp.status_code == 201, resp.text[:300]


def test_too_many_elements_are_refused(client: httpx.Client) -> None:
    names = [{"family": f"Nom{i}", "given": ["A"]} for i in range(60_000)]
    _too_costly(client.post("/Patient", json={"resourceType": "Patient", "name": names}))
    # the same through a transaction entry
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "name": names},
                "request": {"method": "POST", "url": "Patient"},
            }
        ],
    }
    resp = client.post("/", json=bundle)
    assert resp.status_code == 400, resp.text[:300]
    assert any(i["code"] == "too-costly" for i in resp.json()["issue"]), resp.text[:500]
    # the server is still answering
    assert client.get("/metadata").status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"name:contains": "a" * 5000},
        {"name": "a" * 5000},
        {"family:exact": "a" * 300},
        {"identifier": "urn:x|" + "9" * 300},
        {"_filter": 'name co "' + "." * 600 + '"'},
        {"url:below": "http://example.org/" + "a" * 2000},
    ],
)
def test_long_search_values_are_refused(client: httpx.Client, params: dict[str, str]) -> None:
    base_type = "ValueSet" if "url:below" in params else "Patient"
    _too_costly(client.get(f"/{base_type}", params=params))
    form = client.post(
        f"/{base_type}/_search", data=params, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    _too_costly(form)


def test_ordinary_searches_still_work(client: httpx.Client) -> None:
    created = client.post(
        "/Patient", json={"resourceType": "Patient", "name": [{"family": "Limites-Ordinaires"}]}
    )
    assert created.status_code == 201
    found = client.get("/Patient", params={"name:contains": "mites-ordin"})
    assert found.status_code == 200 and found.json().get("total", len(found.json().get("entry", []))) >= 1


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with small configured limits, and one whose string limit is above what the database stores."""
    server = make_server(
        Path(tmp_path_factory.mktemp("limits")),
        PASSERELLE_MAX_STRING_LENGTH="100",
        PASSERELLE_MAX_ELEMENTS="50",
        PASSERELLE_SEARCH_VALUE_MAX="20",
    ).start()
    yield server
    server.stop()


def test_the_limits_are_configurable(tight: ServerProcess) -> None:
    with httpx.Client(base_url=tight.base, headers=HEADERS, timeout=60) as c:
        assert (
            c.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "x" * 100}]}).status_code
            == 201
        )
        _too_costly(c.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "x" * 101}]}))
        names = [{"family": f"N{i}"} for i in range(30)]
        _too_costly(c.post("/Patient", json={"resourceType": "Patient", "name": names}))
        assert c.get("/Patient", params={"name": "x" * 20}).status_code == 200
        _too_costly(c.get("/Patient", params={"name": "x" * 21}))


def test_a_document_too_large_to_store_is_a_413(tmp_path: Path) -> None:
    server = make_server(tmp_path, PASSERELLE_MAX_STRING_LENGTH="20000000").start()
    try:
        with httpx.Client(base_url=server.base, headers=HEADERS, timeout=120) as c:
            resp = c.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "x" * 3_000_000}]})
            _too_costly(resp, 413)
            assert c.get("/metadata").status_code == 200
    finally:
        server.stop()
