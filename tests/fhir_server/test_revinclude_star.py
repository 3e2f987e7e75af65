"""Regression: ``_revinclude=*`` adds every resource that refers to the matches (it used to be
accepted and silently ignored), and the CapabilityStatement says so."""

from __future__ import annotations

import uuid

import httpx

FHIR_JSON = "application/fhir+json"


def _create(http: httpx.Client, resource: dict[str, object]) -> str:
    r = http.post(f"/{resource['resourceType']}", json=resource, headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_revinclude_star_adds_all_referrers(http: httpx.Client) -> None:
    family = f"Rev{uuid.uuid4().hex[:8]}"
    patient = _create(http, {"resourceType": "Patient", "name": [{"family": family}]})
    other = _create(http, {"resourceType": "Patient", "name": [{"family": family + "x"}]})
    subject = {"reference": f"Patient/{patient}"}
    expected = {
        ("Observation", _create(http, {"resourceType": "Observation", "status": "final",
                                       "code": {"text": "pouls"}, "subject": subject})),
        ("Encounter", _create(http, {"resourceType": "Encounter", "status": "finished",
                                     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                               "code": "VR"}, "subject": subject})),
        ("Group", _create(http, {"resourceType": "Group", "type": "person", "actual": True,
                                 "member": [{"entity": subject}]})),
        ("Patient", _create(http, {"resourceType": "Patient",
                                   "link": [{"other": subject, "type": "seealso"}]})),
    }  # fmt: skip
    _create(http, {"resourceType": "Observation", "status": "final", "code": {"text": "pouls"},
                   "subject": {"reference": f"Patient/{other}"}})  # fmt: skip
    bundle = http.get("/Patient", params={"_id": patient, "_revinclude": "*"}).json()
    matches = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]
               if e["search"]["mode"] == "match"]  # fmt: skip
    included = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]
                if e["search"]["mode"] == "include"}  # fmt: skip
    assert matches == [("Patient", patient)]
    assert included == expected
    # a source type with every one of its reference parameters ("Observation:*") still works
    obs_only = http.get("/Patient", params={"_id": patient, "_revinclude": "Observation:*"}).json()
    assert {e["resource"]["resourceType"] for e in obs_only["entry"] if e["search"]["mode"] == "include"} == {
        "Observation"
    }


def test_capability_lists_revinclude_star(http: httpx.Client) -> None:
    statement = http.get("/metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert "*" in patient["searchRevInclude"]
    assert "Observation:subject" in patient["searchRevInclude"]
