"""The peers registry: one JSON configuration file listing the foreign NCPs France talks to.

Format (``PASSERELLE_EHDSI_PEERS``, default ``<data-dir>/ehdsi/peers.json``)::

    {"peers": {"HR": {
        "home_community_id": "2.16.17.710.850.1000.990.1",
        "xcpd_url": "https://ncp.hr.example/ehdsi/XCPD_Service",
        "xca_url": "https://ncp.hr.example/ehdsi/XCA_Service",
        "ism_url": "https://ncp.hr.example/ehdsi/ism.xml",          (optional)
        "signing_cert": "certs/hr-signing.pem",                     (PEM file, relative to the file)
        "tls_cert": "certs/hr-tls.pem",                             (optional: pins the server)
        "issuers": ["urn:idp:HR:countryB"],                         (optional: accepted SAML issuers)
        "search_mask": "ism/InternationalSearch_HR.xml"             (ISM file, or inline JSON)
    }}}

Only what the file says is trusted in production; the development CA (``pki.DevCA``) is an
addition the settings switch on for loopback tests and demos.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from .errors import EhdsiError
from .ism import IdentifierField, SearchMask
from .pki import fingerprint


@dataclass
class Peer:
    country: str
    home_community_id: str
    xcpd_url: str
    xca_url: str
    ism_url: str | None = None
    signing_certs: list[x509.Certificate] = field(default_factory=list)
    tls_cert: Path | None = None
    issuers: list[str] = field(default_factory=list)
    search_mask: SearchMask | None = None

    @property
    def fingerprints(self) -> set[str]:
        return {fingerprint(c) for c in self.signing_certs}


class PeerRegistry:
    def __init__(self, peers: dict[str, Peer] | None = None, source: Path | None = None) -> None:
        self.peers = peers or {}
        self.source = source

    def get(self, country: str) -> Peer:
        peer = self.peers.get(country.upper())
        if peer is None:
            raise EhdsiError("ERROR_UNKNOWN_PEER", f"pays {country.upper()} absent du registre des pairs")
        return peer

    def by_certificate(self, cert: x509.Certificate) -> Peer | None:
        fp = fingerprint(cert)
        return next((p for p in self.peers.values() if fp in p.fingerprints), None)

    @classmethod
    def load(cls, path: Path | None) -> PeerRegistry:
        if path is None or not path.exists():
            return cls({}, path)
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"registre des pairs illisible ({path}) : {exc}") from exc
        base = path.parent
        peers = {}
        for country, spec in (raw.get("peers") or {}).items():
            peers[country.upper()] = _peer(country.upper(), spec, base)
        return cls(peers, path)


def _file(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


def _peer(country: str, spec: dict[str, Any], base: Path) -> Peer:
    certs: list[x509.Certificate] = []
    raw_certs = spec.get("signing_cert") or []
    for value in [raw_certs] if isinstance(raw_certs, str) else raw_certs:
        certs.extend(x509.load_pem_x509_certificates(_file(base, value).read_bytes()))
    mask_spec = spec.get("search_mask")
    mask = None
    if isinstance(mask_spec, str):
        mask = SearchMask.from_xml(_file(base, mask_spec).read_bytes())
    elif isinstance(mask_spec, dict):
        mask = SearchMask(
            country,
            [IdentifierField(**f) for f in mask_spec.get("identifiers", [])],
            mask_spec.get("birth_date"),
            mask_spec.get("gender"),
            mask_spec.get("text_fields", {}),
        )
    return Peer(
        country=country,
        home_community_id=str(spec["home_community_id"]),
        xcpd_url=str(spec["xcpd_url"]),
        xca_url=str(spec["xca_url"]),
        ism_url=spec.get("ism_url"),
        signing_certs=certs,
        tls_cert=_file(base, spec["tls_cert"]) if spec.get("tls_cert") else None,
        issuers=list(spec.get("issuers") or []),
        search_mask=mask,
    )
