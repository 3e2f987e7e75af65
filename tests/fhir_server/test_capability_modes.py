"""``GET [base]/metadata`` beyond the full statement: SMART security, ``_summary``, ``mode``, gzip.

Expected values come from the specifications: R4 3.1.0.3.1 (``mode=full|normative|terminology``,
the last one returns a TerminologyCapabilities), R4 3.1.1.5.8 (``_summary=true``: the elements
marked summary in the base definition, tagged SUBSETTED), SMART App Launch v1
(``rest.security``: the ``oauth-uris`` extension and the ``SMART-on-FHIR`` service code).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import root, shared_server

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
SUBSETTED = "SUBSETTED"


@pytest.fixture(scope="module")
def auth_server() -> ServerProcess:
    return shared_server()[0]


@pytest.fixture(scope="module")
def plain() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


def test_security_names_the_smart_endpoints(plain: httpx.Client, auth_server: ServerProcess) -> None:
    statement = plain.get(f"{auth_server.base}/metadata", headers={"Accept": "application/fhir+json"}).json()
    security = statement["rest"][0]["security"]
    codings = [c for s in security["service"] for c in s["coding"]]
    assert {"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"} in [
        {"system": c["system"], "code": c["code"]} for c in codings
    ]
    (uris,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    endpoints = {e["url"]: e["valueUri"] for e in uris["extension"]}
    config = plain.get(f"{root(auth_server)}/.well-known/smart-configuration").json()
    assert endpoints["authorize"] == config["authorization_endpoint"]
    assert endpoints["token"] == config["token_endpoint"]
    assert endpoints.get("revoke") == config["revocation_endpoint"]
    assert "register" not in endpoints  # no dynamic registration: not claimed


def test_no_security_without_authorization(http: httpx.Client) -> None:
    assert "security" not in http.get("/metadata").json()["rest"][0]


def _tags(resource: dict[str, Any]) -> set[str]:
    return {t["code"] for t in resource.get("meta", {}).get("tag", [])}


def test_summary_true_keeps_only_summary_elements(http: httpx.Client) -> None:
    full = http.get("/metadata")
    summary = http.get("/metadata", params={"_summary": "true"})
    assert summary.status_code == 200
    body = summary.json()
    assert body["resourceType"] == "CapabilityStatement" and SUBSETTED in _tags(body)
    assert body["fhirVersion"] == "4.0.1" and body["kind"] == "instance" and body["format"]
    patient = next(r for r in body["rest"][0]["resource"] if r["type"] == "Patient")
    # rest.resource.type and .operation are summary elements; interaction, searchParam are not
    assert "operation" in patient and "searchParam" not in patient and "interaction" not in patient
    assert "searchRevInclude" not in patient
    assert len(summary.content) * 10 < len(full.content)


@pytest.mark.parametrize("value", ["count", "maybe"])
def test_summary_count_or_unknown_is_400(http: httpx.Client, value: str) -> None:
    resp = http.get("/metadata", params={"_summary": value})
    assert resp.status_code == 400
    assert resp.json()["issue"][0]["expression"] == ["_summary"]


def test_elements_keep_the_mandatory_ones(http: httpx.Client) -> None:
    body = http.get("/metadata", params={"_elements": "software"}).json()
    assert set(body) - {"resourceType", "meta"} == {
        "software",
        "status",
        "date",
        "kind",
        "fhirVersion",
        "format",
    }
    assert SUBSETTED in _tags(body)


def test_mode_terminology_is_a_terminology_capabilities(http: httpx.Client) -> None:
    resp = http.get("/metadata", params={"mode": "terminology"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["resourceType"] == "TerminologyCapabilities"
    assert body["kind"] == "instance" and body["status"] == "active" and body["date"]
    systems = {c["uri"] for c in body["codeSystem"]}
    assert {
        "http://loinc.org",
        "http://snomed.info/sct",
        "http://hl7.org/fhir/administrative-gender",
    } <= systems
    assert body["expansion"]["paging"] is True
    assert {p["name"] for p in body["expansion"]["parameter"]} >= {"filter", "count", "offset"}
    xml = http.get("/metadata", params={"mode": "terminology", "_format": "xml"})
    assert xml.status_code == 200 and b"<TerminologyCapabilities" in xml.content


def test_mode_full_and_normative_are_the_statement(http: httpx.Client) -> None:
    for mode in ("full", "normative"):
        assert http.get("/metadata", params={"mode": mode}).json()["resourceType"] == "CapabilityStatement"


def test_unknown_mode_is_400(http: httpx.Client) -> None:
    resp = http.get("/metadata", params={"mode": "everything"})
    assert resp.status_code == 400
    assert resp.json()["issue"][0]["expression"] == ["mode"]


def test_the_statement_travels_gzipped_when_accepted(base: str) -> None:
    with httpx.Client(timeout=60) as client:
        req = client.build_request("GET", f"{base}/metadata", headers={"Accept-Encoding": "gzip"})
        resp = client.send(req, stream=True)
        raw = b"".join(resp.iter_raw())
        resp.close()
    assert resp.headers["content-encoding"] == "gzip"
    statement = gzip.decompress(raw)
    assert statement.startswith(b"{") and b'"CapabilityStatement"' in statement
    assert len(raw) * 10 < len(statement)
    for refused in ("identity", "gzip;q=0, identity"):
        plain = httpx.get(f"{base}/metadata", headers={"Accept-Encoding": refused}, timeout=60)
        assert "content-encoding" not in plain.headers, refused
