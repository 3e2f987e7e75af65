"""Bad input never gives a 5xx: each case answers the right 4xx with an OperationOutcome."""

from __future__ import annotations

import httpx
import pytest

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"


def assert_outcome(r: httpx.Response, status: int, expression: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"] and all(i["diagnostics"] for i in outcome["issue"])
    if expression is not None:
        found = [e for i in outcome["issue"] for e in i.get("expression", [])]
        assert expression in found, found
    return outcome


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"resourceType": "Patient",}', b"[1, 2]", b'"Patient"', b"", b"\xff\xfe\x00"],
)
def test_malformed_json(http: httpx.Client, body: bytes) -> None:
    assert_outcome(http.post("/Patient", content=body, headers={"Content-Type": FHIR_JSON}), 400)


@pytest.mark.parametrize(
    "body",
    [
        b"<Patient xmlns='http://hl7.org/fhir'><gender value='male'/>",
        b"<Patient><gender value='male'/></Patient>",
        b"not xml at all",
    ],
)
def test_malformed_xml(http: httpx.Client, body: bytes) -> None:
    assert_outcome(http.post("/Patient", content=body, headers={"Content-Type": FHIR_XML}), 400)


def test_xml_external_entity_is_refused(http: httpx.Client) -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&x;"/></name></Patient>'
    )
    r = http.post("/Patient", content=xxe, headers={"Content-Type": FHIR_XML})
    assert_outcome(r, 400)
    assert "root:" not in r.text


def test_billion_laughs_is_refused(http: httpx.Client) -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        b'<Patient xmlns="http://hl7.org/fhir"><name><family value="&d;"/></name></Patient>'
    )
    assert_outcome(http.post("/Patient", content=lol, headers={"Content-Type": FHIR_XML}), 400)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "image/png"])
def test_wrong_content_type(http: httpx.Client, ctype: str) -> None:
    r = http.post("/Patient", content=b'{"resourceType":"Patient"}', headers={"Content-Type": ctype})
    assert_outcome(r, 415)


def test_missing_content_type(http: httpx.Client) -> None:
    r = http.post("/Patient", content=b'{"resourceType":"Patient"}', headers={"Content-Type": ""})
    assert r.status_code in (400, 415)
    assert r.json()["resourceType"] == "OperationOutcome"


def test_body_type_differs_from_url(http: httpx.Client) -> None:
    r = http.post(
        "/Patient",
        json={"resourceType": "Observation", "status": "final"},
        headers={"Content-Type": FHIR_JSON},
    )
    assert_outcome(r, 400, "resourceType")


def test_update_id_mismatch_and_missing(http: httpx.Client) -> None:
    h = {"Content-Type": FHIR_JSON}
    mismatch = http.put("/Patient/abc", json={"resourceType": "Patient", "id": "xyz"}, headers=h)
    assert_outcome(mismatch, 400, "Patient.id")
    missing = http.put("/Patient/abc", json={"resourceType": "Patient"}, headers=h)
    assert_outcome(missing, 400, "Patient.id")
    assert http.get("/Patient/abc").status_code == 404  # nothing was stored


def test_unknown_type(http: httpx.Client) -> None:
    assert_outcome(http.get("/Banana/1"), 404)
    assert_outcome(
        http.post("/Banana", json={"resourceType": "Banana"}, headers={"Content-Type": FHIR_JSON}), 404
    )
    assert_outcome(http.get("/Banana/_history"), 404)


@pytest.mark.parametrize("bad_id", ["a_b", "x" * 65, "é", "a%20b"])
def test_invalid_id_characters(http: httpx.Client, bad_id: str) -> None:
    assert_outcome(http.get(f"/Patient/{bad_id}"), 400)
    r = http.put(
        f"/Patient/{bad_id}",
        json={"resourceType": "Patient", "id": bad_id},
        headers={"Content-Type": FHIR_JSON},
    )
    assert_outcome(r, 400)


def test_invalid_content_is_rejected_with_location(http: httpx.Client) -> None:
    h = {"Content-Type": FHIR_JSON}
    assert_outcome(
        http.post("/Patient", json={"resourceType": "Patient", "gender": "banana"}, headers=h),
        400,
        "Patient.gender",
    )
    assert_outcome(
        http.post("/Patient", json={"resourceType": "Patient", "birthDate": "02/06/1975"}, headers=h),
        400,
        "Patient.birthDate",
    )
    bad_ref = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/"},
    }
    assert_outcome(http.post("/Observation", json=bad_ref, headers=h), 400)


def test_invalid_update_keeps_stored_version(http: httpx.Client) -> None:
    h = {"Content-Type": FHIR_JSON}
    assert (
        http.put(
            "/Patient/keep-me", json={"resourceType": "Patient", "id": "keep-me", "gender": "male"}, headers=h
        ).status_code
        == 201
    )
    bad = http.put(
        "/Patient/keep-me", json={"resourceType": "Patient", "id": "keep-me", "gender": "banana"}, headers=h
    )
    assert_outcome(bad, 400)
    current = http.get("/Patient/keep-me").json()
    assert current["gender"] == "male" and current["meta"]["versionId"] == "1"


def test_oversized_body_is_refused(http: httpx.Client) -> None:
    big = (
        b'{"resourceType":"Patient","text":{"status":"generated","div":"<div>'
        + b"x" * (17 * 1024 * 1024)
        + b'</div>"}}'
    )
    r = http.post("/Patient", content=big, headers={"Content-Type": FHIR_JSON})
    assert_outcome(r, 413)


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert_outcome(http.get("/Patient/1/_history/1/extra"), 404)
    assert_outcome(http.request("TRACE", "/Patient/1"), 405)
    # PATCH is routed: a body that is neither JSON Patch nor a Parameters resource is a 400
    assert_outcome(http.patch("/Patient/1", content=b"{}", headers={"Content-Type": FHIR_JSON}), 400)


def test_bad_query_flags(http: httpx.Client) -> None:
    assert_outcome(http.get("/metadata", params={"_pretty": "maybe"}), 400)
