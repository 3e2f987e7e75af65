"""Helpers of the gateway tests: processes (Passerelle with auth, the mock peer), signed messages."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from bench.harness import ServerProcess
from ehdsi_gateway import saml
from ehdsi_gateway.pki import Credentials, DevCA
from fhir_server.embedded import free_port
from tests.conftest import REPO, SHARED

EHDSI = SHARED / "ehdsi"
SCHEMAS = EHDSI / "ihe-schemas"
TEMPLATES = EHDSI / "ncp-messages"
SAMPLES = EHDSI / "samples"
INS = "1.2.250.1.213.1.4.8"
DUPONT = "284037512345678"  # demo patient Hélène Dupont, born 1984-03-12
NGUYEN = "176122A12345612"
SOAP_CT = "application/soap+xml; charset=UTF-8"


def _schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / path)))


class Schemas:
    """The official IHE schemas of ../shared, compiled once."""

    _cache: dict[str, etree.XMLSchema] = {}  # noqa: RUF012

    @classmethod
    def get(cls, name: str) -> etree.XMLSchema:
        paths = {
            "xcpd-request": "hl7v3/NE2008/multicacheschemas/PRPA_IN201305UV02.xsd",
            "xcpd-response": "hl7v3/NE2008/multicacheschemas/PRPA_IN201306UV02.xsd",
            "xds": "xds/IHEXDSB.xsd",
            "soap": "soap/soap-1.2-envelope.xsd",
            "ism": "ism/ehdsi-ism-2023.xsd",
        }
        if name not in cls._cache:
            cls._cache[name] = _schema(paths[name])
        return cls._cache[name]

    @classmethod
    def assert_valid(cls, name: str, node: etree._Element) -> None:
        schema = cls.get(name)
        copy = etree.fromstring(etree.tostring(node))
        assert schema.validate(copy), "\n".join(f"{e.line}: {e.message}" for e in schema.error_log)


def cda_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(REPO / "cda_transform/xsd/current/CDA_Pharma.xsd")))


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def fill_assertion(
    template: str, patient_cx: str | None = None, hcp_id: str | None = None, **times: Any
) -> etree._Element:
    """An assertion template of ../shared/ehdsi/ncp-messages with its placeholders filled (unsigned)."""
    now = dt.datetime.now(dt.UTC)
    text = (TEMPLATES / template).read_text()
    values = {
        "assertion-id": f"_{uuid.uuid4()}",
        "issue-instant": iso(now),
        "not-before": iso(times.get("not_before", now - dt.timedelta(minutes=1))),
        "not-on-or-after": iso(times.get("not_on_or_after", now + dt.timedelta(hours=4))),
        "authn-instant": iso(now),
        "hcp-assertion-id": hcp_id or "",
    }
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if patient_cx:
        text = text.replace("0410009234^^^&amp;1.2.208.176.1.2&amp;ISO", patient_cx.replace("&", "&amp;"))
    return etree.fromstring(text.encode())


def signed_pair(creds: Credentials, patient_cx: str, **times: Any) -> tuple[etree._Element, etree._Element]:
    """The DK test tool's HCP and TRC assertions, filled and signed with ``creds``."""
    hcp = saml.sign(fill_assertion("NCP_test-tool_templates_xca_hcp.xml", **times), creds)
    trc = saml.sign(fill_assertion("NCP_test-tool_templates_xca_trc.xml", patient_cx, hcp.get("ID")), creds)
    return hcp, trc


def _xml(node: etree._Element) -> str:
    return etree.tostring(node).decode()


def fill_request(template: str, *assertions: etree._Element, replace: dict[str, str] | None = None) -> bytes:
    text = (TEMPLATES / template).read_text()
    text = text.replace("{{message-id}}", f"urn:uuid:{uuid.uuid4()}")
    names = ["{{hcp-assertion|safe}}", "{{trc-assertion|safe}}"]
    for name, assertion in zip(names, assertions, strict=False):
        text = text.replace(name, _xml(assertion))
    for name in names:
        text = text.replace(name, "")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def xcpd_request(creds: Credentials, nir: str, root: str = INS) -> bytes:
    hcp = saml.sign(fill_assertion("NCP_test-tool_templates_xcpd_hcp.xml"), creds)
    template_id = '<value extension="0410009234" root="1.2.208.176.1.2" />'
    ours = f'<value extension="{nir}" root="{root}"/>'
    return fill_request("NCP_test-tool_templates_xcpd_request.xml", hcp, replace={template_id: ours})


def query_request(creds: Credentials, nir: str, trc_nir: str | None = None) -> bytes:
    hcp, trc = signed_pair(creds, f"{trc_nir or nir}^^^&{INS}&ISO")
    return fill_request(
        "NCP_test-tool_templates_xca_query_request-ps.xml",
        hcp,
        trc,
        replace={"0410009234^^^&amp;1.2.208.176.1.2&amp;ISO": f"{nir}^^^&amp;{INS}&amp;ISO"},
    )


def retrieve_request(creds: Credentials, nir: str, repository: str, unique_id: str) -> bytes:
    hcp, trc = signed_pair(creds, f"{nir}^^^&{INS}&ISO")
    return fill_request(
        "NCP_test-tool_templates_xca_retrieve_request-ps.xml",
        hcp,
        trc,
        replace={
            "<xdsb:RepositoryUniqueId>1.2.208.176.7.2.987654321</xdsb:RepositoryUniqueId>": (
                f"<xdsb:RepositoryUniqueId>{repository}</xdsb:RepositoryUniqueId>"
            ),
            "<xdsb:DocumentUniqueId>1.2.208.176.7.2.987654321^478299832581102L3</xdsb:DocumentUniqueId>": (
                f"<xdsb:DocumentUniqueId>{unique_id}</xdsb:DocumentUniqueId>"
            ),
        },
    )


def foreign_credentials(data_dir: Path, country: str = "DK") -> Credentials:
    """A foreign NCP's signing key, issued by the shared development CA of ``data_dir``."""
    return DevCA(data_dir).issue(f"{country}-signing", country=country)


class MockPeer:
    """``passerelle gateway mock-peer`` as a separate process on a free loopback port."""

    def __init__(self, data_dir: Path, country: str = "HR", *, slow: float = 10.0, tls: bool = False) -> None:
        self.data_dir = data_dir
        self.country = country
        self.port = free_port()
        self.slow = slow
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"mock-{country}.log"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/ehdsi"

    def start(self) -> MockPeer:
        cmd = [
            sys.executable, "-m", "apps.cli", "gateway", "mock-peer", "--country", self.country,
            "--port", str(self.port), "--data-dir", str(self.data_dir), "--slow-seconds", str(self.slow),
            *(["--tls"] if self.tls else []),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log_path.read_text())
            try:
                with socket_ready(self.port):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("mock peer did not start:\n" + self.log_path.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.process = None


class socket_ready:
    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def start_passerelle(data_dir: Path, **env: str) -> ServerProcess:
    """``passerelle serve --demo`` with authorization on, its own database."""
    env.setdefault("PASSERELLE_DB", f"test_{uuid.uuid4().hex[:12]}")
    return ServerProcess(
        data_dir, mongodb_uri=os.environ.get("MONGODB_URI"), env=env, extra_args=["--demo"], auth=True
    ).start()


def post_soap(url: str, body: bytes, content_type: str = SOAP_CT) -> httpx.Response:
    return httpx.post(url, content=body, headers={"Content-Type": content_type}, timeout=120)
