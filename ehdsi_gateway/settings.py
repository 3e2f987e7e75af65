"""Gateway settings, from ``PASSERELLE_EHDSI_*`` environment variables (see the README table)."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .peers import PeerRegistry
from .pki import Credentials, DevCA

#: INS-NIR and its test domain (the French identifier domains an NCP-A answers for)
FR_PATIENT_DOMAINS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.10")
FR_HOME_COMMUNITY_ID = "2.16.17.710.812.1000.990.1"


@dataclass
class GatewaySettings:
    data_dir: Path = Path("var")
    country: str = "FR"
    home_community_id: str = FR_HOME_COMMUNITY_ID
    repository_id: str = ""
    patient_domains: tuple[str, ...] = FR_PATIENT_DOMAINS
    hcp_issuer: str = "urn:idp:FR:countryB"
    trc_issuer: str = "urn:ehdsi:FR:trc-sts"
    signing_key: Path | None = None
    signing_cert: Path | None = None
    tls_key: Path | None = None
    tls_cert: Path | None = None
    tls_ca: Path | None = None
    peers_file: Path | None = None
    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 30.0
    fhir_client_id: str = "ehdsi-gateway"
    #: the FHIR API needs no token (``passerelle serve --no-auth``)
    fhir_no_auth: bool = False
    #: PDF of the Patient Summary (L1) offered next to the pivot
    offer_l1: bool = True
    extra_audiences: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.repository_id:
            self.repository_id = f"{self.home_community_id}.2"

    @classmethod
    def from_env(cls, data_dir: Path | None = None, **overrides: object) -> GatewaySettings:
        env = os.environ
        path = lambda name: Path(env[name]) if env.get(name) else None  # noqa: E731
        settings = cls(
            data_dir=data_dir or Path(env.get("PASSERELLE_DATA_DIR", "var")),
            country=env.get("PASSERELLE_EHDSI_COUNTRY", "FR"),
            home_community_id=env.get("PASSERELLE_EHDSI_HOME_COMMUNITY_ID", FR_HOME_COMMUNITY_ID),
            repository_id=env.get("PASSERELLE_EHDSI_REPOSITORY_ID", ""),
            signing_key=path("PASSERELLE_EHDSI_SIGNING_KEY"),
            signing_cert=path("PASSERELLE_EHDSI_SIGNING_CERT"),
            tls_key=path("PASSERELLE_EHDSI_TLS_KEY"),
            tls_cert=path("PASSERELLE_EHDSI_TLS_CERT"),
            tls_ca=path("PASSERELLE_EHDSI_TLS_CA"),
            peers_file=path("PASSERELLE_EHDSI_PEERS"),
            max_bytes=int(env.get("PASSERELLE_EHDSI_MAX_BYTES", 20 * 1024 * 1024)),
            timeout=float(env.get("PASSERELLE_EHDSI_TIMEOUT", 30)),
            fhir_client_id=env.get("PASSERELLE_EHDSI_FHIR_CLIENT_ID", "ehdsi-gateway"),
        )
        for key, value in overrides.items():
            setattr(settings, key, value)
        return settings

    @property
    def ehdsi_dir(self) -> Path:
        return self.data_dir / "ehdsi"

    @property
    def development(self) -> bool:
        """No production signing credentials configured: trust the shared development CA."""
        return self.signing_key is None

    @cached_property
    def dev_ca(self) -> DevCA | None:
        return DevCA(self.data_dir) if self.development else None

    @cached_property
    def signing(self) -> Credentials:
        if self.signing_key is not None and self.signing_cert is not None:
            return Credentials.load(self.signing_key, self.signing_cert)
        assert self.dev_ca is not None
        return self.dev_ca.issue(f"{self.country}-signing", country=self.country)

    @cached_property
    def tls(self) -> Credentials | None:
        if self.tls_key is not None and self.tls_cert is not None:
            return Credentials.load(self.tls_key, self.tls_cert)
        if self.dev_ca is not None:
            return self.dev_ca.issue(f"{self.country}-tls", country=self.country, tls=True)
        return None

    @property
    def tls_ca_file(self) -> Path | None:
        if self.tls_ca is not None:
            return self.tls_ca
        return self.dev_ca.ca_path if self.dev_ca is not None else None

    def ssl_context(self) -> ssl.SSLContext:
        """Client side of mutual TLS: trust the peers' CA (dev CA or configured), present our certificate."""
        ca = self.tls_ca_file
        context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
        tls = self.tls
        if tls is not None and tls.cert_path is not None and tls.key_path is not None:
            context.load_cert_chain(str(tls.cert_path), str(tls.key_path))
        return context

    def peers(self) -> PeerRegistry:
        return PeerRegistry.load(self.peers_file or self.ehdsi_dir / "peers.json")

    @property
    def audiences(self) -> set[str]:
        return {
            f"urn:oid:{self.home_community_id}",
            self.home_community_id,
            f"urn:ehdsi:{self.country}",
        } | set(self.extra_audiences)
