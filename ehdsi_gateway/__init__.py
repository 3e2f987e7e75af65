"""eHDSI National Contact Point: France as NCP-A (responders) and NCP-B (initiating flow).

Public surface:

* ``create_app(settings, fhir) -> Starlette``: the responding gateway to mount under ``/ehdsi``
  (``POST /XCPD_Service`` ITI-55, ``POST /XCA_Service`` ITI-38/39, ``GET /ism.xml`` France's
  search mask). French data is read through ``fhir`` only.
* ``GatewaySettings`` (``GatewaySettings.from_env(data_dir)``), ``FhirClient`` (HTTP or
  ``FhirClient.in_process(lambda: asgi_app)``), ``PeerRegistry``.
* The NCP-B flow, for the portal and the CLI (``ehdsi_gateway.initiator``):
  ``CrossBorderQuery(settings, fhir)`` with ``identify(country, patient_id, ...)`` ->
  ``Identification``, ``record_consent(...)`` -> the FHIR ``Consent``, and
  ``fetch_summary(...)`` -> ``SummaryResult`` (the French document Bundle as stored, the
  original documents, the translation outcome); ``run(...)`` chains the three.
  Every refusal is an ``EhdsiError`` whose ``french()`` is the message to show.
* ``EhdsiError`` and its vocabulary (``ehdsi_gateway.errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from .errors import EhdsiError
from .fhir_client import BackendToken, FhirClient
from .peers import PeerRegistry
from .settings import GatewaySettings

__all__ = [
    "EhdsiError",
    "FhirClient",
    "GatewaySettings",
    "PeerRegistry",
    "create_app",
    "france_search_mask",
    "in_process_app",
]


def france_search_mask(settings: GatewaySettings) -> bytes:
    """France's International Search Mask: the INS-NIR (15 characters with its key), birth date."""
    from .ism import IdentifierField, SearchMask

    fields = [
        IdentifierField(
            domain, r"^[1-478]\d{4}(\d{2}|2A|2B)\d{8}$", True, "label.ism.nationalPersonIdentifier", "INS"
        )
        for domain in settings.patient_domains[:1]
    ]
    return SearchMask(settings.country, fields, birth_date=False, gender=False).to_xml()


def create_app(settings: GatewaySettings, fhir: FhirClient) -> Starlette:
    """France's responding gateway (NCP-A), reading French data through ``fhir`` only."""
    from .audit import FhirAuditSink
    from .france import FranceConnector
    from .responder import Guard, ReplayCache, ResponderConfig, create_responder

    if fhir.token is None and not settings.fhir_no_auth:
        key = settings.ehdsi_dir / "fhir-client.jwk"
        BackendToken.ensure_key(key)
        fhir.token = BackendToken(settings.fhir_client_id, key)
    guard = Guard(settings.peers(), settings.dev_ca, settings.audiences, ReplayCache())
    config = ResponderConfig(
        home_community_id=settings.home_community_id,
        guard=guard,
        audit=FhirAuditSink(fhir),
        max_bytes=settings.max_bytes,
        source=f"Passerelle NCP-A {settings.country}",
        ism=france_search_mask(settings),
    )
    app = create_responder(config, FranceConnector(fhir, settings))
    app.state.fhir = fhir
    app.state.settings = settings
    return app


def in_process_app(data_dir: Path, no_auth: bool, asgi: Callable[[], Any]) -> Starlette:
    """:func:`create_app` for ``passerelle serve``: settings from the environment, FHIR through ``asgi()``."""
    settings = GatewaySettings.from_env(data_dir, fhir_no_auth=no_auth)
    return create_app(settings, FhirClient.in_process(asgi))
