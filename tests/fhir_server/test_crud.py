"""create / read / vread / update / delete over HTTP, checked against FHIR R4 3.1.0 (RESTful API)."""

from __future__ import annotations

import re
import time
from email.utils import format_datetime, parsedate_to_datetime

import httpx
from lxml import etree

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")


def patient(**extra: object) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "name": [{"family": "Lefèvre", "given": ["Hélène"]}],
        "gender": "female",
        "birthDate": "1975-06-02",
        **extra,
    }


def create(http: httpx.Client, resource: dict[str, object]) -> httpx.Response:
    r = http.post(f"/{resource['resourceType']}", json=resource, headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 201, r.text
    return r


def test_create_assigns_id_and_meta_and_answers_location(http: httpx.Client, base: str) -> None:
    sent = patient(id="client-chosen", meta={"versionId": "42", "lastUpdated": "2001-01-01T00:00:00Z"})
    r = create(http, sent)
    body = r.json()
    assert body["id"] != "client-chosen"  # the server ignores a client id on create
    assert body["meta"]["versionId"] == "1"
    assert INSTANT.match(body["meta"]["lastUpdated"])
    assert not body["meta"]["lastUpdated"].startswith("2001")
    assert r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"] == f"{base}/Patient/{body['id']}/_history/1"
    assert r.headers["content-type"].startswith(FHIR_JSON)
    last_modified = parsedate_to_datetime(r.headers["Last-Modified"])
    assert abs(last_modified.timestamp() - time.time()) < 120
    assert body["name"] == sent["name"]


def test_read_returns_exactly_what_create_returned(http: httpx.Client) -> None:
    created = create(http, patient())
    r = http.get(f"/Patient/{created.json()['id']}")
    assert r.status_code == 200
    assert r.json() == created.json()
    assert r.headers["ETag"] == 'W/"1"'


def test_update_versions_and_vread(http: httpx.Client, base: str) -> None:
    pid = create(http, patient()).json()["id"]
    r = http.put(f"/Patient/{pid}", json=patient(id=pid, gender="other"), headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    assert r.headers["ETag"] == 'W/"2"'
    assert r.headers["Location"] == f"{base}/Patient/{pid}/_history/2"
    v1 = http.get(f"/Patient/{pid}/_history/1")
    v2 = http.get(f"/Patient/{pid}/_history/2")
    assert v1.json()["gender"] == "female" and v1.json()["meta"]["versionId"] == "1"
    assert v2.json()["gender"] == "other"
    assert http.get(f"/Patient/{pid}/_history/3").status_code == 404
    assert http.get(f"/Patient/{pid}/_history/abc").status_code == 404


def test_update_as_create_with_client_id(http: httpx.Client) -> None:
    r = http.put("/Patient/fr-ins-1234", json=patient(id="fr-ins-1234"), headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 201
    assert r.json()["id"] == "fr-ins-1234"
    assert r.json()["meta"]["versionId"] == "1"
    r = http.put("/Patient/fr-ins-1234", json=patient(id="fr-ins-1234"), headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 200 and r.json()["meta"]["versionId"] == "2"


def test_delete_is_logical(http: httpx.Client) -> None:
    pid = create(http, patient()).json()["id"]
    r = http.delete(f"/Patient/{pid}")
    assert r.status_code == 204
    assert r.headers["ETag"] == 'W/"2"'
    gone = http.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    assert http.get(f"/Patient/{pid}/_history/1").status_code == 200  # history keeps the old version
    assert http.get(f"/Patient/{pid}/_history/2").status_code == 410  # the deletion itself
    hist = http.get(f"/Patient/{pid}/_history").json()
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "POST"]
    # deleting again, or something that never existed, is not an error (R4 3.1.0.7.1)
    assert http.delete(f"/Patient/{pid}").status_code == 204
    assert http.delete("/Patient/never-there").status_code == 204
    # an update brings it back as a new version
    back = http.put(f"/Patient/{pid}", json=patient(id=pid), headers={"Content-Type": FHIR_JSON})
    assert back.status_code == 201 and back.json()["meta"]["versionId"] == "3"


def test_if_match(http: httpx.Client) -> None:
    pid = create(http, patient()).json()["id"]
    h = {"Content-Type": FHIR_JSON}
    stale = http.put(f"/Patient/{pid}", json=patient(id=pid), headers={**h, "If-Match": 'W/"7"'})
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["code"] == "conflict"
    ok = http.put(f"/Patient/{pid}", json=patient(id=pid), headers={**h, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    assert http.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'}).status_code == 412
    assert http.get(f"/Patient/{pid}").status_code == 200
    assert http.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"2"'}).status_code == 204
    bad = http.put(f"/Patient/{pid}", json=patient(id=pid), headers={**h, "If-Match": "nonsense"})
    assert bad.status_code == 400


def test_conditional_read(http: httpx.Client) -> None:
    r = create(http, patient())
    pid = r.json()["id"]
    same = http.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert same.status_code == 304 and same.content == b""
    assert http.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"0"'}).status_code == 200
    later = format_datetime(parsedate_to_datetime(r.headers["Last-Modified"]).replace(year=2100), usegmt=True)
    assert http.get(f"/Patient/{pid}", headers={"If-Modified-Since": later}).status_code == 304
    earlier = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert http.get(f"/Patient/{pid}", headers={"If-Modified-Since": earlier}).status_code == 200


def test_prefer_return(http: httpx.Client) -> None:
    h = {"Content-Type": FHIR_JSON}
    minimal = http.post("/Patient", json=patient(), headers={**h, "Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.content == b"" and "Location" in minimal.headers
    oo = http.post("/Patient", json=patient(), headers={**h, "Prefer": "return=OperationOutcome"})
    assert oo.status_code == 201 and oo.json()["resourceType"] == "OperationOutcome"
    full = http.post("/Patient", json=patient(), headers={**h, "Prefer": "return=representation"})
    assert full.json()["resourceType"] == "Patient"


def test_xml_in_and_out(http: httpx.Client) -> None:
    xml = (
        '<Patient xmlns="http://hl7.org/fhir"><name><family value="Dupré"/><given value="Élise"/></name>'
        '<gender value="female"/><birthDate value="1990-02-03"/></Patient>'
    )
    r = http.post("/Patient", content=xml.encode(), headers={"Content-Type": FHIR_XML, "Accept": FHIR_XML})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith(FHIR_XML)
    root = etree.fromstring(r.content)
    ns = {"f": "http://hl7.org/fhir"}
    assert root.tag == "{http://hl7.org/fhir}Patient"
    assert root.find("f:name/f:family", ns).get("value") == "Dupré"
    pid = root.find("f:id", ns).get("value")
    as_json = http.get(f"/Patient/{pid}").json()
    assert as_json["name"][0]["given"] == ["Élise"] and as_json["birthDate"] == "1990-02-03"
    via_format = http.get(f"/Patient/{pid}", params={"_format": "xml"})
    assert via_format.headers["content-type"].startswith(FHIR_XML)
    assert etree.fromstring(via_format.content).find("f:meta/f:versionId", ns).get("value") == "1"


def test_accept_negotiation_and_pretty(http: httpx.Client) -> None:
    pid = create(http, patient()).json()["id"]
    assert (
        http.get(f"/Patient/{pid}", headers={"Accept": "application/xml"})
        .headers["content-type"]
        .startswith(FHIR_XML)
    )
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert http.get(f"/Patient/{pid}", headers={"Accept": browser}).status_code == 200
    refused = http.get(f"/Patient/{pid}", headers={"Accept": "image/png"})
    assert refused.status_code == 406 and refused.json()["resourceType"] == "OperationOutcome"
    pretty = http.get(f"/Patient/{pid}", params={"_pretty": "true"})
    assert b"\n  " in pretty.content
    assert pretty.json() == http.get(f"/Patient/{pid}").json()
    assert http.get(f"/Patient/{pid}", params={"_format": "turtle"}).status_code == 406


def test_other_resource_types(http: httpx.Client) -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    r = create(http, obs)
    assert r.json()["valueQuantity"]["value"] == 72
    assert http.get(f"/Observation/{r.json()['id']}").status_code == 200
