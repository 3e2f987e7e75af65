"""Audit, black-box over HTTP: an AuditEvent for every read, write, search, login, failed login and
refusal, with who, what, outcome and source IP; AuditEvents are immutable and readable by
authorised roles only.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    DR_DURAND,
    DR_MARTIN,
    FHIR_JSON,
    backend_client,
    bearer,
    exchange,
    pkce,
    professional_login,
    professional_token,
    redirect_query,
    register_client,
    root,
)

DCM = "http://dicom.nema.org/resources/ontology/DCM"


server, http = auth_support.server, auth_support.http  # the shared fixtures


@pytest.fixture(scope="module")
def auditor(http: httpx.Client, server: ServerProcess) -> dict[str, Any]:
    """A backend service allowed to read AuditEvents (and to try to change them)."""
    scope = "system/AuditEvent.cruds system/Observation.cruds"
    return backend_client(http, server, scope, name="Journal d'audit")


def events(http: httpx.Client, server: ServerProcess, auditor: dict[str, Any], **params: str) -> list[dict]:
    resp = http.get(
        f"{server.base}/AuditEvent",
        params={"_count": "200", "_sort": "-_lastUpdated", **params},
        headers=bearer(auditor["token"]),
    )
    assert resp.status_code == 200, resp.text
    return [e["resource"] for e in resp.json().get("entry", [])]


def entity_refs(event: dict[str, Any]) -> set[str]:
    return {e["what"]["reference"] for e in event.get("entity", []) if "what" in e}


def test_reads_writes_and_searches_are_audited(http: httpx.Client, server: ServerProcess,
                                                auditor: dict[str, Any]) -> None:  # fmt: skip
    headers = {**bearer(auditor["token"]), "Content-Type": FHIR_JSON}
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "tension"}}
    created = http.post(f"{server.base}/Observation", json=obs, headers=headers)
    assert created.status_code == 201
    ref = f"Observation/{created.json()['id']}"
    assert http.get(f"{server.base}/{ref}", headers=headers).status_code == 200
    assert http.get(f"{server.base}/{ref}/_history/1", headers=headers).status_code == 200
    assert (
        http.get(f"{server.base}/Observation", params={"code:text": "tension"}, headers=headers).status_code
        == 200
    )
    found = events(http, server, auditor, entity=ref)
    by_action = {(e["subtype"][0]["code"], e["action"]) for e in found}
    assert {("create", "C"), ("read", "R")} <= by_action
    for event in found:
        assert event["type"]["code"] == "rest" and event["outcome"] == "0"
        agent = event["agent"][0]
        assert agent["network"]["address"] == "127.0.0.1"
        assert agent["who"]["identifier"]["value"] == auditor["client_id"] and agent["requestor"] is True
        assert event["recorded"]
    searches = [e for e in events(http, server, auditor, subtype="search-type") if e["action"] == "E"]
    assert any(
        "code:text=tension" in (x.get("description") or "") for e in searches for x in e.get("entity", [])
    )


def test_refusals_are_audited(http: httpx.Client, server: ServerProcess, auditor: dict[str, Any]) -> None:
    marker = f"refus-{uuid.uuid4().hex[:8]}"
    assert http.get(f"{server.base}/Patient/{marker}").status_code == 401
    practitioner_app = register_client(server, "confidential", "openid fhirUser user/Observation.rs")
    pro = professional_token(http, server, practitioner_app, "openid fhirUser user/Observation.rs")
    assert http.get(f"{server.base}/Patient/{marker}", headers=bearer(pro)).status_code == 403
    found = events(http, server, auditor, entity=f"Patient/{marker}")
    outcomes = sorted((e["outcome"], e["agent"][0]["who"].get("reference", "anonyme")) for e in found)
    assert outcomes == [("4", pro["fhirUser"]), ("4", "anonyme")]
    assert all("outcomeDesc" in e for e in found)


def test_logins_and_failed_logins_are_audited(http: httpx.Client, server: ServerProcess,
                                               auditor: dict[str, Any]) -> None:  # fmt: skip
    app = register_client(server, "confidential", "openid fhirUser user/*.rs")
    _, challenge = pkce()
    assert (
        professional_login(
            http, server, app["client_id"], "openid user/*.rs", DR_DURAND, challenge
        ).status_code
        == 403
    )
    pro = professional_token(http, server, app, "openid fhirUser user/*.rs")
    logins = events(http, server, auditor, type=f"{DCM}|110114")
    failed = [e for e in logins if e["outcome"] == "4"
              and e["agent"][0]["who"].get("identifier", {}).get("value") == DR_DURAND]  # fmt: skip
    assert failed and "médecine du travail" in failed[0]["outcomeDesc"]
    assert failed[0]["subtype"][0]["code"] == "110122" and failed[0]["action"] == "E"
    ok = [
        e for e in logins if e["outcome"] == "0" and e["agent"][0]["who"].get("reference") == pro["fhirUser"]
    ]
    assert ok and ok[0]["agent"][0]["network"]["address"] == "127.0.0.1"
    # The Practitioner written from the PSC claims at login is audited like any write; later
    # logins with the same claims write (and audit) nothing.
    writes = {e["subtype"][0]["code"] for e in events(http, server, auditor, entity=pro["fhirUser"])}
    assert "create" in writes and "update" not in writes


def test_audit_events_are_immutable(
    http: httpx.Client, server: ServerProcess, auditor: dict[str, Any]
) -> None:
    event = events(http, server, auditor)[0]
    url = f"{server.base}/AuditEvent/{event['id']}"
    headers = {**bearer(auditor["token"]), "Content-Type": FHIR_JSON}
    changed = {**event, "outcome": "0", "outcomeDesc": "effacé"}
    assert http.put(url, content=json.dumps(changed), headers=headers).status_code == 405
    assert http.delete(url, headers=headers).status_code == 405
    patch = [{"op": "replace", "path": "/outcome", "value": "0"}]
    assert (
        http.patch(
            url, json=patch, headers={**headers, "Content-Type": "application/json-patch+json"}
        ).status_code
        == 405
    )
    assert http.get(url, headers=headers).json()["meta"]["versionId"] == "1"


def test_only_authorised_roles_read_audit_events(http: httpx.Client, server: ServerProcess,
                                                  auditor: dict[str, Any]) -> None:  # fmt: skip
    event_id = events(http, server, auditor)[0]["id"]
    app = register_client(server, "confidential", "openid fhirUser user/*.cruds")
    pro = professional_token(http, server, app, "openid fhirUser user/*.cruds")
    assert http.get(f"{server.base}/AuditEvent/{event_id}", headers=bearer(pro)).status_code == 403
    assert http.get(f"{server.base}/AuditEvent", headers=bearer(pro)).status_code == 403
    assert (
        http.get(f"{server.base}/AuditEvent/{event_id}", headers=bearer(auditor["token"])).status_code == 200
    )


def test_break_the_glass_needs_a_reason_and_is_audited(
    http: httpx.Client, server: ServerProcess, auditor: dict[str, Any]
) -> None:
    app = register_client(server, "confidential", "openid fhirUser launch user/*.cruds patient/*.rs")
    pro = professional_token(http, server, app, "openid fhirUser user/*.cruds")
    headers = {**bearer(pro), "Content-Type": FHIR_JSON}
    ids = [
        http.post(
            f"{server.base}/Patient",
            # Dr Martin is the GP of "Suivi" (a care relationship), not of "Inconnu"
            json={
                "resourceType": "Patient",
                "name": [{"family": f}],
                **({"generalPractitioner": [{"reference": gp}]} if gp else {}),
            },
            headers=headers,
        ).json()["id"]
        for f, gp in (("Suivi", pro["fhirUser"]), ("Inconnu", None))
    ]
    launch = http.post(f"{root(server)}/auth/launch", headers=bearer(pro), json={"patient": ids[0]}).json()[
        "launch"
    ]
    scope = "launch openid fhirUser patient/*.rs"
    verifier, challenge = pkce()
    resp = professional_login(http, server, app["client_id"], scope, DR_MARTIN, challenge, launch=launch)
    token = exchange(http, server, app, redirect_query(resp)["code"], verifier).json()
    url = f"{server.base}/Patient/{ids[1]}"
    assert http.get(url, headers=bearer(token)).status_code == 404
    short = http.get(url, headers={**bearer(token), "X-Break-Glass-Reason": "urgence"})
    assert short.status_code == 400 and "motif" in short.json()["issue"][0]["diagnostics"]
    reason = "Urgence vitale : patient inconscient aux urgences"
    opened = http.get(url, headers={**bearer(token), "X-Break-Glass-Reason": quote(reason)})
    assert opened.status_code == 200
    assert (
        http.post(
            url.rsplit("/", 1)[0],
            json={"resourceType": "Patient"},
            headers={**bearer(token), "Content-Type": FHIR_JSON, "X-Break-Glass-Reason": quote(reason)},
        ).status_code
        == 403
    )  # still read-only scopes
    btg = [e for e in events(http, server, auditor, entity=f"Patient/{ids[1]}") if e.get("purposeOfEvent")]
    assert len(btg) >= 1
    event = btg[-1]
    assert (
        event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
        and event["purposeOfEvent"][0]["text"] == reason
    )
    assert {"110113"} <= {s["code"] for s in event["subtype"]}
    assert event["agent"][0]["who"]["reference"] == pro["fhirUser"]
