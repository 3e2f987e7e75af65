"""Keys and certificates: the gateway's signing and TLS credentials, and the development CA.

In development a gateway and a mock peer given the same ``--data-dir`` share one CA
(``<data-dir>/ehdsi/pki/ca.pem``) and each gets its own key and certificate signed by it, so
they trust each other with no setup. In production the certificates come from the operator
(settings) and trust comes from the peers registry only.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Credentials:
    """A private key and its certificate (PEM), with the files they live in (for TLS)."""

    key_pem: bytes
    cert_pem: bytes
    key_path: Path | None = None
    cert_path: Path | None = None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @classmethod
    def load(cls, key_path: Path, cert_path: Path) -> Credentials:
        return cls(key_path.read_bytes(), cert_path.read_bytes(), key_path, cert_path)


def _name(common_name: str, country: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if country:
        attrs.insert(0, x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    return x509.Name(attrs)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


class DevCA:
    """The development certificate authority under ``<data-dir>/ehdsi/pki``."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "ehdsi" / "pki"
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:  # gateway and mock peer may start together
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.dir / "ca.pem").exists():
                self._create()
        self.key = serialization.load_pem_private_key((self.dir / "ca.key").read_bytes(), None)
        self.cert_pem = (self.dir / "ca.pem").read_bytes()
        self.cert = x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def ca_path(self) -> Path:
        return self.dir / "ca.pem"

    def _create(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        name = _name("Passerelle eHDSI development CA")
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        _write_private(self.dir / "ca.key", _key_pem(key))
        (self.dir / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, *, country: str | None = None, tls: bool = False) -> Credentials:
        """The key and certificate ``name`` (created once, then reused from disk)."""
        key_path, cert_path = self.dir / f"{name}.key", self.dir / f"{name}.pem"
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not cert_path.exists():
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                now = dt.datetime.now(dt.UTC)
                builder = (
                    x509.CertificateBuilder()
                    .subject_name(_name(name, country))
                    .issuer_name(self.cert.subject)
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - dt.timedelta(minutes=5))
                    .not_valid_after(now + dt.timedelta(days=825))
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                )
                if tls:
                    builder = builder.add_extension(
                        x509.SubjectAlternativeName(
                            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                        ),
                        critical=False,
                    ).add_extension(
                        x509.ExtendedKeyUsage(
                            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                        ),
                        critical=False,
                    )
                cert = builder.sign(self.key, hashes.SHA256())  # type: ignore[arg-type]
                _write_private(key_path, _key_pem(key))
                cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Credentials.load(key_path, cert_path)

    def issued(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` was signed by this CA and is within its validity."""
        if cert.issuer != self.cert.subject:
            return False
        try:
            self.cert.public_key().verify(  # type: ignore[call-arg,union-attr]
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
            )
        except Exception:
            return False
        now = dt.datetime.now(dt.UTC)
        return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()
