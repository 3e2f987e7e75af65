"""CRUD, versioning and history driven by an independent FHIR client library (fhirpy)."""

from __future__ import annotations

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound


@pytest.fixture()
def client(base: str) -> SyncFHIRClient:
    return SyncFHIRClient(base)


def test_crud_and_versioning_through_fhirpy(client: SyncFHIRClient, base: str) -> None:
    pat = client.resource("Patient", name=[{"family": "Bernard", "given": ["Chloé"]}], gender="female")
    pat.save()
    assert pat.id and pat["meta"]["versionId"] == "1"

    fetched = client.reference("Patient", pat.id).to_resource()
    assert fetched["name"][0]["given"] == ["Chloé"]

    fetched["birthDate"] = "1988-11-30"
    fetched.save()
    assert fetched["meta"]["versionId"] == "2"
    assert client.reference("Patient", pat.id).to_resource()["birthDate"] == "1988-11-30"

    history = httpx.get(f"{base}/Patient/{pat.id}/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]

    fetched.delete()
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", pat.id).to_resource()


def test_update_as_create_through_fhirpy(client: SyncFHIRClient) -> None:
    org = client.resource("Organization", id="finess-750712184", name="AP-HP Hôpital Bichat")
    org.save()
    again = client.reference("Organization", "finess-750712184").to_resource()
    assert again["name"] == "AP-HP Hôpital Bichat" and again["meta"]["versionId"] == "1"
