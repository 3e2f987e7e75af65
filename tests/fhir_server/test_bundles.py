"""Batch and transaction Bundles, black-box over HTTP (R4 http.html#transaction).

Checked against the specification: a transaction is all or nothing; entries run in the
order DELETE, POST, PUT/PATCH, GET whatever their order in the Bundle; ``urn:uuid:``
fullUrls are replaced by the new ``Type/id`` everywhere they are referenced; each
response entry carries status, location, etag and lastModified; a batch reports each
entry's own outcome.
"""

from __future__ import annotations

import base64
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FHIR_JSON, make_server, shared_path

JSON_HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}


def post_bundle(http: httpx.Client, bundle: dict[str, Any], **headers: str) -> httpx.Response:
    return http.post("/", content=json.dumps(bundle), headers={**JSON_HEADERS, **headers})


def tx(entries: list[dict[str, Any]], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def patient(family: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def test_transaction_rewrites_urn_uuid_references_everywhere(http: httpx.Client) -> None:
    pid = f"urn:uuid:{uuid.uuid4()}"
    oid = f"urn:oid:1.2.3.{uuid.uuid4().int % 100000}"
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "poids"},
        "subject": {"reference": pid},
        "performer": [{"reference": oid}],
        "extension": [{"url": "http://example.org/ext", "valueReference": {"reference": pid}}],
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{pid}">p</a></div>',
        },
    }
    bundle = tx(
        [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": obs,
                "request": {"method": "POST", "url": "Observation"},
            },
            {"fullUrl": pid, "resource": patient("Urn"), "request": {"method": "POST", "url": "Patient"}},
            {
                "fullUrl": oid,
                "resource": {"resourceType": "Practitioner", "name": [{"family": "Oid"}]},
                "request": {"method": "POST", "url": "Practitioner"},
            },
        ]
    )
    r = post_bundle(http, bundle)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["type"] == "transaction-response"
    assert len(answer["entry"]) == 3
    for entry in answer["entry"]:
        response = entry["response"]
        assert response["status"].startswith("201")
        assert response["etag"] == 'W/"1"'
        assert response["location"].count("/") == 3  # Type/id/_history/1
        assert response["lastModified"]
    patient_ref = "/".join(answer["entry"][1]["response"]["location"].split("/")[:2])
    practitioner_ref = "/".join(answer["entry"][2]["response"]["location"].split("/")[:2])
    stored = http.get("/" + "/".join(answer["entry"][0]["response"]["location"].split("/")[:2])).json()
    assert stored["subject"]["reference"] == patient_ref
    assert stored["performer"][0]["reference"] == practitioner_ref
    assert stored["extension"][0]["valueReference"]["reference"] == patient_ref
    assert f'href="{patient_ref}"' in stored["text"]["div"]
    assert "urn:" not in json.dumps(stored)
    history = http.get(f"/{patient_ref}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["POST"]
    assert history["entry"][0]["resource"]["meta"]["versionId"] == "1"


def test_transaction_is_all_or_nothing_and_names_the_entry(http: httpx.Client) -> None:
    kept_id = f"tx-rollback-{uuid.uuid4().hex[:12]}"
    bundle = tx(
        [
            {
                "resource": {**patient("Kept"), "id": kept_id},
                "request": {"method": "PUT", "url": f"Patient/{kept_id}"},
            },
            {"resource": patient("Bad", gender="martian"), "request": {"method": "POST", "url": "Patient"}},
        ]
    )
    r = post_bundle(http, bundle)
    assert r.status_code == 400, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert "Bundle.entry[1]" in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry[1].resource.gender"]
    assert http.get(f"/Patient/{kept_id}").status_code == 404  # the valid entry was rolled back


def test_transaction_processing_order(http: httpx.Client) -> None:
    """The GET listed first still runs last, so it sees the PUT of the same transaction."""
    pid = f"tx-order-{uuid.uuid4().hex[:12]}"
    assert (
        http.put(f"/Patient/{pid}", json={**patient("V1"), "id": pid}, headers=JSON_HEADERS).status_code
        == 201
    )
    delete_id = f"tx-del-{uuid.uuid4().hex[:12]}"
    http.put(f"/Patient/{delete_id}", json={**patient("Gone"), "id": delete_id}, headers=JSON_HEADERS)
    bundle = tx(
        [
            {"request": {"method": "GET", "url": f"Patient/{pid}"}},
            {"resource": {**patient("V2"), "id": pid}, "request": {"method": "PUT", "url": f"Patient/{pid}"}},
            {"request": {"method": "DELETE", "url": f"Patient/{delete_id}"}},
        ]
    )
    r = post_bundle(http, bundle)
    assert r.status_code == 200, r.text
    read, put, delete = r.json()["entry"]
    assert read["response"]["status"].startswith("200")
    assert read["resource"]["name"][0]["family"] == "V2"
    assert put["response"]["status"].startswith("200") and put["response"]["etag"] == 'W/"2"'
    assert delete["response"]["status"].startswith("204")
    assert http.get(f"/Patient/{delete_id}").status_code == 410


def test_transaction_if_match_stale_is_412_and_rolls_back(http: httpx.Client) -> None:
    pid = f"tx-ifmatch-{uuid.uuid4().hex[:12]}"
    http.put(f"/Patient/{pid}", json={**patient("A"), "id": pid}, headers=JSON_HEADERS)
    other = f"tx-other-{uuid.uuid4().hex[:12]}"
    bundle = tx(
        [
            {
                "resource": {**patient("B"), "id": other},
                "request": {"method": "PUT", "url": f"Patient/{other}"},
            },
            {
                "resource": {**patient("C"), "id": pid},
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"7"'},
            },
        ]
    )
    r = post_bundle(http, bundle)
    assert r.status_code == 412, r.text
    assert "Bundle.entry[1]" in r.json()["issue"][0]["diagnostics"]
    assert http.get(f"/Patient/{other}").status_code == 404
    assert http.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "1"


def test_transaction_unresolved_placeholder_is_400(http: httpx.Client) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"urn:uuid:{uuid.uuid4()}"},
    }
    r = post_bundle(http, tx([{"resource": obs, "request": {"method": "POST", "url": "Observation"}}]))
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.subject.reference"]


def test_transaction_patch_entry_with_binary_json_patch(http: httpx.Client) -> None:
    pid = f"tx-patch-{uuid.uuid4().hex[:12]}"
    http.put(f"/Patient/{pid}", json={**patient("P"), "id": pid}, headers=JSON_HEADERS)
    ops = [{"op": "add", "path": "/gender", "value": "female"}]
    binary = {
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64.b64encode(json.dumps(ops).encode()).decode(),
    }
    r = post_bundle(http, tx([{"resource": binary, "request": {"method": "PATCH", "url": f"Patient/{pid}"}}]))
    assert r.status_code == 200, r.text
    assert r.json()["entry"][0]["response"]["etag"] == 'W/"2"'
    assert http.get(f"/Patient/{pid}").json()["gender"] == "female"


def test_batch_entries_are_independent(http: httpx.Client) -> None:
    bundle = tx(
        [
            {"resource": patient("Ok"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": patient("Ko", gender="martian"), "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": f"Patient/absent-{uuid.uuid4().hex[:8]}"}},
        ],
        kind="batch",
    )
    r = post_bundle(http, bundle)
    assert r.status_code == 200, r.text
    ok, bad, missing = r.json()["entry"]
    assert r.json()["type"] == "batch-response"
    assert ok["response"]["status"].startswith("201")
    assert http.get("/" + "/".join(ok["response"]["location"].split("/")[:2])).status_code == 200
    assert bad["response"]["status"].startswith("400")
    assert bad["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[1].resource.gender"]
    assert missing["response"]["status"].startswith("404")


@pytest.mark.parametrize(
    "body",
    [
        patient("NotABundle"),
        {"resourceType": "Bundle", "type": "collection", "entry": []},
        tx([{"resource": patient("x")}]),  # no request
        tx([{"resource": patient("x"), "request": {"method": "POST", "url": "Nope"}}]),
        tx([{"resource": patient("x"), "request": {"method": "TRACE", "url": "Patient"}}]),
    ],
)
def test_bad_bundles_are_400(http: httpx.Client, body: dict[str, Any]) -> None:
    r = post_bundle(http, body)
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0].get("expression")


def test_entry_limit_is_413(tmp_path: Path) -> None:
    with make_server(tmp_path, PASSERELLE_BUNDLE_MAX_ENTRIES="2") as server:
        bundle = tx(
            [{"resource": patient(str(i)), "request": {"method": "POST", "url": "Patient"}} for i in range(3)]
        )
        r = httpx.post(server.base + "/", content=json.dumps(bundle), headers=JSON_HEADERS, timeout=120)
        assert r.status_code == 413
        assert "2" in r.json()["issue"][0]["diagnostics"]


def _synthea_bundles(count: int) -> list[dict[str, Any]]:
    out = []
    with tarfile.open(shared_path("datasets", "synthea-r4", "bundles.tar.gz")) as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".json")), key=lambda m: m.size)
        for member in members[:count]:
            handle = tar.extractfile(member)
            assert handle is not None
            out.append(json.load(handle))
    return out


def test_synthea_bundles_load_as_transactions(http: httpx.Client) -> None:
    """A subset in the default suite (the full 117 are loaded by ``passerelle load``)."""
    for bundle in _synthea_bundles(3):
        r = post_bundle(http, bundle, Prefer="return=minimal")
        assert r.status_code == 200, r.text[:2000]
        statuses = {e["response"]["status"] for e in r.json()["entry"]}
        assert statuses == {"201 Created"}
        patient_entry = next(e for e in r.json()["entry"] if e["response"]["location"].startswith("Patient/"))
        assert (
            http.get("/" + "/".join(patient_entry["response"]["location"].split("/")[:2])).status_code == 200
        )


def test_transaction_in_xml(http: httpx.Client) -> None:
    from fhir_server.rest.formats import Format, render

    pid = f"urn:uuid:{uuid.uuid4()}"
    bundle = tx(
        [{"fullUrl": pid, "resource": patient("Xml"), "request": {"method": "POST", "url": "Patient"}}]
    )
    xml = render(bundle, Format(xml=True))
    headers = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"}
    r = http.post("/", content=xml, headers=headers)
    assert r.status_code == 200, r.text
    assert b"<Bundle" in r.content and b"transaction-response" in r.content
    assert b"201 Created" in r.content
