"""Pro Santé Connect logins rewrite the Practitioner and its roles only when the claims changed.

Black-box over HTTP against the shared auth server: four logins of the same professional leave
one version of the Practitioner and of each PractitionerRole (the issue: 4 logins, 4 versions).
"""

from __future__ import annotations

import httpx

from bench.harness import ServerProcess
from fhir_server.identifiers import luhn_check_digit
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    backend_client_token,
    bearer,
    professional_token,
    register_client,
)

# Dr Olivier Faure (médecin conseil, ELSM Lyon).
DR_FAURE = "8" + "9970001010" + luhn_check_digit("9970001010")
SCOPE = "openid fhirUser user/Patient.rs"


server, http = auth_support.server, auth_support.http  # the shared fixtures


def versions(http: httpx.Client, server: ServerProcess, reader: str, reference: str) -> list[str]:
    resp = http.get(f"{server.base}/{reference}/_history", headers=bearer(reader))
    assert resp.status_code == 200, resp.text
    return [e["resource"]["meta"]["versionId"] for e in resp.json().get("entry", [])]


def test_four_logins_leave_one_version(http: httpx.Client, server: ServerProcess) -> None:
    app = register_client(server, "confidential", SCOPE, name="Versions PSC")
    reader = backend_client_token(http, server, "system/Practitioner.rs system/PractitionerRole.rs")
    first = professional_token(http, server, app, SCOPE, DR_FAURE)
    practitioner = first["fhirUser"]
    assert practitioner.startswith("Practitioner/")
    before = versions(http, server, reader, practitioner)
    roles = http.get(
        f"{server.base}/PractitionerRole", params={"practitioner": practitioner}, headers=bearer(reader)
    ).json()["entry"]
    assert roles, "each practice situation becomes a PractitionerRole"
    role_refs = [f"PractitionerRole/{e['resource']['id']}" for e in roles]
    role_before = {ref: versions(http, server, reader, ref) for ref in role_refs}
    for _ in range(3):
        again = professional_token(http, server, app, SCOPE, DR_FAURE)
        assert again["fhirUser"] == practitioner  # matched on the idNat_PS, never duplicated
    assert versions(http, server, reader, practitioner) == before == ["1"]
    assert {ref: versions(http, server, reader, ref) for ref in role_refs} == role_before
    assert all(v == ["1"] for v in role_before.values())
