"""The query-shape table of docs/scaling.md is what the server really sends to the database.

A real auth-enabled ``passerelle serve`` runs with ``PASSERELLE_QUERY_SHAPES`` set (the driver's
command listener of :mod:`fhir_server.dbshapes` records every command's shape), and a
representative workload runs against it over HTTP: patient sign-up and login (SMS code), a
professional's login through the dev Pro Santé Connect, a backend client, CRUD, conditional
interactions, PATCH, history, the search mix (chains, ``_has``, ``_include``, ``_revinclude``,
sorts, paging, totals), transaction and batch Bundles, ``$everything``, ``$validate``, terminology,
a Subscription, a Bulk Data export, the audit trail. The test fails when a shape is missing from
the document or when the document lists one the workload no longer produces.

Regenerate the table (after a change of the index layout or of the queries):

    PASSERELLE_QUERY_SHAPES_WRITE=1 .venv/bin/python -m pytest tests/fhir_server/test_query_shapes.py -q
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

from bench.harness import ServerProcess
from fhir_server import dbshapes
from tests.fhir_server.auth_support import (
    FHIR_JSON,
    SmtpSink,
    backend_client_token,
    bearer,
    patient_signup,
    patient_token,
    professional_token,
    register_client,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.cruds"
PRO_SCOPE = "openid fhirUser user/*.cruds"


def _ok(resp: httpx.Response, *codes: int) -> httpx.Response:
    assert resp.status_code in (codes or (200,)), (
        f"{resp.request.method} {resp.request.url}: {resp.text[:500]}"
    )
    return resp


def _workload(http: httpx.Client, base: str, system: dict[str, str], auditor: dict[str, str],
              pro: dict[str, str], me: dict[str, str], patient_id: str) -> None:  # fmt: skip
    """Every kind of request the server answers, each once (the shapes, not the volume, matter)."""
    json_headers = {**system, "Content-Type": FHIR_JSON}
    # CRUD, conditional interactions, PATCH, history
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1800575115001"}],
        "name": [{"family": "Martin", "given": ["Paul"]}],
        "gender": "male",
        "birthDate": "1980-05-17",
    }
    created = _ok(http.post(f"{base}/Patient", json=patient, headers=json_headers), 201).json()
    pid = created["id"]
    _ok(http.get(f"{base}/Patient/{pid}", headers=system))
    _ok(http.get(f"{base}/Patient/{pid}/_history/1", headers=system))
    _ok(
        http.put(
            f"{base}/Patient/{pid}", json={**patient, "id": pid, "gender": "other"}, headers=json_headers
        )
    )
    _ok(
        http.patch(
            f"{base}/Patient/{pid}",
            json=[{"op": "replace", "path": "/gender", "value": "male"}],
            headers={**system, "Content-Type": "application/json-patch+json"},
        )
    )
    _ok(http.get(f"{base}/Patient/{pid}/_history", headers=system))
    _ok(http.get(f"{base}/Patient/_history", headers=system))
    _ok(http.get(f"{base}/_history", params={"_count": "5"}, headers=system))
    _ok(
        http.post(
            f"{base}/Patient",
            json=patient,
            headers={**json_headers, "If-None-Exist": "identifier=urn:oid:1.2.250.1.213.1.4.8|1800575115001"},
        ),
        200,
    )
    _ok(
        http.put(
            f"{base}/Patient",
            params={"identifier": "urn:oid:1.2.250.1.213.1.4.8|1800575115001"},
            json={**patient, "gender": "male"},
            headers=json_headers,
        ),
        200,
    )
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": "Body height"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-01-02T10:00:00+01:00",
        "valueQuantity": {"value": 180, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"},
    }
    obs = _ok(http.post(f"{base}/Observation", json=observation, headers=json_headers), 201).json()
    # transaction (placeholders, conditional reference) and batch
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:8c1f0f4e-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": "Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|1800575115001"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "resource": {
                    **observation,
                    "encounter": {"reference": "urn:uuid:8c1f0f4e-0000-4000-8000-000000000001"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {"request": {"method": "GET", "url": f"Patient/{pid}"}},
        ],
    }
    _ok(http.post(base, json=transaction, headers=json_headers))
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Observation?code=http://loinc.org|8302-2"}},
            {"request": {"method": "DELETE", "url": f"Observation/{obs['id']}"}},
        ],
    }
    _ok(http.post(base, json=batch, headers=json_headers))
    # the search mix
    searches = [
        ("Patient", {"family": "Martin"}),
        ("Patient", {"name": "paul", "_sort": "-birthdate"}),
        ("Patient", {"identifier": "urn:oid:1.2.250.1.213.1.4.8|1800575115001"}),
        ("Patient", {"_id": pid, "_revinclude": "Observation:subject"}),
        ("Patient", {"_has:Observation:subject:code": "8302-2"}),
        ("Patient", {"_content": "martin"}),
        ("Observation", {"code": "http://loinc.org|8302-2", "_count": "1"}),
        ("Observation", {"subject": f"Patient/{pid}", "_sort": "-date", "_include": "Observation:subject"}),
        ("Observation", {"subject:Patient.family": "Martin"}),
        ("Observation", {"date": "ge2026-01-01", "value-quantity": "gt100", "_total": "accurate"}),
        ("Observation", {"patient": pid, "_summary": "count"}),
        ("Observation", {"_lastUpdated": "gt2000-01-01", "_elements": "code"}),
        ("Encounter", {"subject": f"Patient/{pid}"}),
    ]
    for type_, params in searches:
        bundle = _ok(http.get(f"{base}/{type_}", params=params, headers=system)).json()
        for link in bundle.get("link", []):
            if link["relation"] == "next":
                _ok(http.get(link["url"], headers=system))
    _ok(http.post(f"{base}/Observation/_search", data={"code": "8302-2"}, headers=system))
    _ok(
        http.get(
            f"{base}/",
            params={"_type": "Patient,Observation", "_lastUpdated": "gt2000-01-01"},
            headers=system,
        )
    )
    # operations
    _ok(http.get(f"{base}/Patient/{pid}/$everything", headers=system))
    _ok(http.post(f"{base}/Patient/$validate", json=patient, headers=json_headers))
    _ok(http.get(f"{base}/Patient/{pid}/$meta", headers=system))
    _ok(
        http.get(
            f"{base}/ValueSet/$expand",
            params={"url": "http://hl7.org/fhir/ValueSet/administrative-gender"},
            headers=system,
        )
    )
    _ok(
        http.get(
            f"{base}/CodeSystem/$lookup",
            params={"system": "http://hl7.org/fhir/administrative-gender", "code": "male"},
            headers=system,
        )
    )
    # a Subscription (rest-hook to a loopback port nobody listens on: the shapes of its set-up)
    subscription = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Suivi des observations",
        "criteria": f"Observation?subject=Patient/{pid}",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook", "payload": FHIR_JSON},
    }
    http.post(f"{base}/Subscription", json=subscription, headers=json_headers)
    # conditional delete, then delete and read of a deleted resource
    _ok(
        http.delete(f"{base}/Observation", params={"code": "http://loinc.org|8302-2"}, headers=system),
        200,
        204,
    )
    _ok(http.delete(f"{base}/Patient/{pid}", headers=system), 200, 204)
    _ok(http.get(f"{base}/Patient/{pid}", headers=system), 410)
    # a professional and a patient: their compartment rules
    _ok(http.get(f"{base}/Patient", params={"family": "Dupont"}, headers=pro))
    _ok(http.get(f"{base}/Patient/{patient_id}", headers=me))
    _ok(http.get(f"{base}/Observation", headers=me))
    # the audit trail
    _ok(http.get(f"{base}/AuditEvent", params={"_count": "5", "_sort": "-date"}, headers=auditor))
    # Bulk Data export, kicked off and polled to the end
    kick = _ok(http.get(f"{base}/Patient/$export", headers={**system, "Prefer": "respond-async"}), 202)
    status_url = kick.headers["Content-Location"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        polled = http.get(status_url, headers=system)
        if polled.status_code == 200:
            for item in polled.json().get("output", []):
                _ok(http.get(item["url"], headers={**system, "Accept": "application/fhir+ndjson"}))
            break
        assert polled.status_code == 202, polled.text
        time.sleep(0.5)
    _ok(http.delete(status_url, headers=system), 202, 404)


def _start(tmp: Path, smtp_port: int, env: dict[str, str]) -> ServerProcess:
    """As ``auth_support.start_server``, with time for a first start on a loaded machine."""
    tmp.mkdir(parents=True, exist_ok=True)
    rules = tmp / "rules.json"
    rules.write_text(json.dumps({"excluded_sectors": {"SA99": "d'un assureur privé"}}))
    full = {
        "PASSERELLE_DB": f"shapes_{uuid.uuid4().hex[:12]}",
        "PASSERELLE_DEV_PSC": "1",
        "PASSERELLE_SMTP_PORT": str(smtp_port),
        "PASSERELLE_ELIGIBILITY": str(rules),
        **env,
    }
    return ServerProcess(tmp, mongodb_uri=os.environ.get("MONGODB_URI"), env=full, auth=True).start(
        timeout=600
    )


def test_scaling_document_lists_every_query_shape(tmp_path: Path) -> None:
    shapes = tmp_path / "shapes.jsonl"
    with SmtpSink() as smtp:
        # a short lease and a slow export: the export always spans lease renewals, whose shapes
        # would otherwise appear or not with the timing
        env = {
            dbshapes.ENV: str(shapes),
            "PASSERELLE_SEARCH_WORDS": "1",
            "PASSERELLE_BULK_LEASE": "1",
            "PASSERELLE_BULK_MAX_RATE": "3",
        }
        server = _start(tmp_path / "server", smtp.port, env)
        try:
            base = f"http://127.0.0.1:{server.port}/fhir"
            with httpx.Client(timeout=60, follow_redirects=False) as http:
                system = bearer(backend_client_token(http, server, "system/*.cruds", name="shapes"))
                auditor = bearer(backend_client_token(http, server, "system/AuditEvent.rs", name="audit"))
                app = register_client(server, "public", f"{PATIENT_SCOPE} {PRO_SCOPE}", name="shapes app")
                pro = bearer(professional_token(http, server, app, PRO_SCOPE))
                email = f"shapes-{uuid.uuid4().hex[:6]}@example.fr"
                patient_id = patient_signup(http, server, smtp.mailbox, email, "+33600000099")
                me = bearer(patient_token(http, server, app, PATIENT_SCOPE, email, "+33600000099"))
                _workload(http, base, system, auditor, pro, me, patient_id)
        finally:
            server.stop()
    observed = dbshapes.shape_rows(dbshapes.load(shapes))
    assert len(observed) > 30, observed  # the recorder sees the server's commands
    document = DOC.read_text(encoding="utf-8")
    if os.environ.get("PASSERELLE_QUERY_SHAPES_WRITE") == "1":
        DOC.write_text(dbshapes.update_document(document, observed), encoding="utf-8")
        pytest.skip(f"{DOC} rewritten with {len(observed)} shapes")
    documented = dbshapes.documented_rows(document)
    missing = [r for r in observed if r[:3] not in {d[:3] for d in documented}]
    stale = [d for d in documented if d[:3] not in {r[:3] for r in observed}]
    hint = f"regenerate: PASSERELLE_QUERY_SHAPES_WRITE=1 .venv/bin/python -m pytest {Path(__file__).name}"
    assert not missing, f"shapes the server sends that docs/scaling.md does not list ({hint}):\n" + "\n".join(
        map(str, missing)
    )
    assert not stale, f"shapes docs/scaling.md lists that the server no longer sends ({hint}):\n" + "\n".join(
        map(str, stale)
    )
    changed = [r for r in observed if r not in documented]
    assert not changed, f"transaction or origin columns out of date ({hint}):\n" + "\n".join(
        map(str, changed)
    )
