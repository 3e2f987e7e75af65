"""Session fixtures: Passerelle (auth on, demo data, the gateway registered as a backend client)
and a mock foreign NCP (HR) sharing its development CA, both real processes on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bench.harness import ServerProcess
from ehdsi_gateway import FhirClient, GatewaySettings
from ehdsi_gateway.fhir_client import BackendToken
from tests.conftest import SHARED, needs_shared, shared_reason

from .support import MockPeer, start_passerelle

needs_ehdsi = pytest.mark.skipif(
    not (SHARED / "ehdsi/ihe-schemas").exists() or not (SHARED / "ehdsi/ncp-messages").exists(),
    reason=shared_reason("ehdsi", "ihe-schemas") + " (or ehdsi/ncp-messages)",
)
needs_samples = needs_shared("ehdsi", "samples")


@pytest.fixture(scope="session")
def gw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ehdsi")


@pytest.fixture(scope="session")
def passerelle(gw_dir: Path) -> Iterator[ServerProcess]:
    # ``serve --demo`` registers the gateway's backend client itself (as ``make run`` does)
    server = start_passerelle(gw_dir, PASSERELLE_EHDSI_MAX_BYTES="1000000")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ehdsi_url(passerelle: ServerProcess) -> str:
    return passerelle.base.removesuffix("/fhir") + "/ehdsi"


@pytest.fixture(scope="session")
def mock_peer(gw_dir: Path) -> Iterator[MockPeer]:
    if not (SHARED / "ehdsi/samples").exists():
        pytest.skip("needs ../shared/ehdsi/samples")
    peer = MockPeer(gw_dir, "HR", slow=10).start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def settings(gw_dir: Path) -> GatewaySettings:
    return GatewaySettings(data_dir=gw_dir)


@pytest.fixture()
async def fhir(passerelle: ServerProcess, settings: GatewaySettings) -> AsyncIterator[FhirClient]:
    """The gateway's FHIR client over HTTP, with the registered backend client's token."""
    client = FhirClient(
        passerelle.base, token=BackendToken("ehdsi-gateway", settings.ehdsi_dir / "fhir-client.jwk")
    )
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def auditor_token(passerelle: ServerProcess) -> str:
    """A backend client allowed to read AuditEvents (the gateway itself may only create them)."""
    import httpx

    from tests.fhir_server.auth_support import backend_client_token

    with httpx.Client(timeout=60) as http:
        return backend_client_token(http, passerelle, "system/AuditEvent.rs", name="auditeur")
