"""Regression: ``CodeSystem/$lookup`` always answers ``display`` (1..1 in R4's CodeSystem-lookup):
the preferred designation when the source gives no display, else the code."""

from __future__ import annotations

import uuid

import httpx

FHIR_JSON = "application/fhir+json"


def _display(parameters: dict[str, object]) -> list[str]:
    return [p["valueString"] for p in parameters["parameter"] if p["name"] == "display"]  # type: ignore[index,union-attr]


def test_loinc_code_known_only_by_a_french_designation(http: httpx.Client) -> None:
    r = http.get("/CodeSystem/$lookup", params={"system": "http://loinc.org", "code": "85354-9"})
    assert r.status_code == 200, r.text
    body = r.json()
    (display,) = _display(body)
    designations = [
        part["valueString"]
        for p in body["parameter"]
        if p["name"] == "designation"
        for part in p["part"]
        if part["name"] == "value"
    ]
    assert display in designations  # the designation the server holds, not an empty answer


def test_concept_without_display_or_designation_answers_its_code(http: httpx.Client) -> None:
    url = f"http://example.fr/CodeSystem/sans-libelle-{uuid.uuid4().hex[:8]}"
    code_system = {
        "resourceType": "CodeSystem",
        "url": url,
        "status": "active",
        "content": "complete",
        "concept": [{"code": "A1"}, {"code": "B2", "display": "Libellé B2"}],
    }
    created = http.post("/CodeSystem", json=code_system, headers={"Content-Type": FHIR_JSON})
    assert created.status_code == 201, created.text
    bare = http.get("/CodeSystem/$lookup", params={"system": url, "code": "A1"})
    assert bare.status_code == 200, bare.text
    assert _display(bare.json()) == ["A1"]
    named = http.get("/CodeSystem/$lookup", params={"system": url, "code": "B2"})
    assert _display(named.json()) == ["Libellé B2"]
