"""NCP-A: Passerelle's XCPD/XCA responders, black box over HTTP, with the eHDSI test tool's own
request templates (../shared/ehdsi/ncp-messages) filled in and signed by a foreign NCP's key.

Every answer is validated against the official IHE schemas (../shared/ehdsi/ihe-schemas); every
refusal must be a SOAP 1.2 fault with the eHDSI code (never a 500) and leave an AuditEvent.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from bench.harness import ServerProcess
from ehdsi_gateway import saml, soap, xca, xcpd
from ehdsi_gateway.pki import Credentials

from .conftest import needs_ehdsi
from .support import (
    DUPONT,
    INS,
    NGUYEN,
    Schemas,
    cda_schema,
    fill_assertion,
    fill_request,
    foreign_credentials,
    post_soap,
    query_request,
    retrieve_request,
    signed_pair,
    xcpd_request,
)

pytestmark = needs_ehdsi
NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"


@pytest.fixture(scope="module")
def dk(gw_dir: Path) -> Credentials:
    return foreign_credentials(gw_dir, "DK")


def _fault_code(resp: httpx.Response) -> str:
    assert resp.status_code in (400, 413, 503), resp.status_code
    root = etree.fromstring(resp.content)
    Schemas.assert_valid("soap", root)
    code = root.findtext(f".//{{{NS_SOAP}}}Fault/{{{NS_SOAP}}}Detail/errorCode")
    assert code, resp.text
    return code


def _audit_count(passerelle: ServerProcess, token: str, transaction: str) -> int:
    """How many AuditEvents of the transaction there are (all of them, not one page)."""
    resp = httpx.get(
        f"{passerelle.base}/AuditEvent",
        params={"subtype": f"urn:ihe:event-type-code|{transaction}", "_summary": "count"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def _audits(passerelle: ServerProcess, token: str, transaction: str) -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{passerelle.base}/AuditEvent",
        params={"subtype": f"urn:ihe:event-type-code|{transaction}", "_count": "200", "_sort": "-date"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return [e["resource"] for e in resp.json().get("entry") or []]


@pytest.fixture()
def token(auditor_token: str) -> str:
    return auditor_token


def test_xcpd_template_finds_the_french_patient(ehdsi_url: str, dk: Credentials) -> None:
    resp = post_soap(f"{ehdsi_url}/XCPD_Service", xcpd_request(dk, DUPONT))
    assert resp.status_code == 200, resp.text
    envelope = soap.parse(resp.content)
    assert envelope.action == "urn:hl7-org:v3:PRPA_IN201306UV02:CrossGatewayPatientDiscovery"
    # (the SOAP schema alone cannot check the envelope: its lax Body still resolves HL7 xsi:types)
    Schemas.assert_valid("xcpd-response", envelope.payload)
    result = xcpd.parse_response(envelope.payload)
    assert result.status == "OK" and len(result.matches) == 1
    match = result.matches[0]
    assert (match.family, match.given, match.gender, match.birth_date) == (
        ["Dupont"],
        ["Hélène"],
        "F",
        "19840312",
    )
    assert any(i.root == INS and i.extension == DUPONT for i in match.ids)


def test_xcpd_no_match_answers_nf_with_the_ehdsi_code(ehdsi_url: str, dk: Credentials) -> None:
    resp = post_soap(f"{ehdsi_url}/XCPD_Service", xcpd_request(dk, "299129912345625"))
    assert resp.status_code == 200
    payload = soap.parse(resp.content).payload
    Schemas.assert_valid("xcpd-response", payload)
    result = xcpd.parse_response(payload)
    assert result.status == "NF" and result.error is not None and result.error.code == "ERROR_PI_NO_MATCH"


def test_xcpd_foreign_domain_is_no_match(ehdsi_url: str, dk: Credentials) -> None:
    resp = post_soap(f"{ehdsi_url}/XCPD_Service", xcpd_request(dk, "0410009234", root="1.2.208.176.1.2"))
    result = xcpd.parse_response(soap.parse(resp.content).payload)
    assert result.status == "NF" and result.error is not None and result.error.code == "ERROR_PI_NO_MATCH"


async def test_xcpd_two_patients_with_one_ins_are_multiple_matches(
    ehdsi_url: str, dk: Credentials, fhir: Any
) -> None:
    nir = "155017512345645"
    for given in ("Jean", "Jeanne"):
        await fhir.create(
            {"resourceType": "Patient", "identifier": [{"system": f"urn:oid:{INS}", "value": nir}],
             "name": [{"family": "Double", "given": [given]}]}
        )  # fmt: skip
    resp = post_soap(f"{ehdsi_url}/XCPD_Service", xcpd_request(dk, nir))
    payload = soap.parse(resp.content).payload
    Schemas.assert_valid("xcpd-response", payload)
    result = xcpd.parse_response(payload)
    assert result.status == "AE" and not result.matches
    assert result.error is not None and result.error.code == "ERROR_PI_MULTIPLE_MATCHES"


def _query(ehdsi_url: str, creds: Credentials, nir: str) -> xca.QueryResult:
    resp = post_soap(f"{ehdsi_url}/XCA_Service", query_request(creds, nir))
    assert resp.status_code == 200, resp.text
    envelope = soap.parse(resp.content)
    assert envelope.action == "urn:ihe:iti:2007:CrossGatewayQueryResponse"
    Schemas.assert_valid("xds", envelope.payload)
    return xca.parse_query_response(envelope.payload)


def test_xca_query_and_retrieve_templates_give_a_valid_pivot_and_its_pdf(
    ehdsi_url: str, dk: Credentials
) -> None:
    listed = _query(ehdsi_url, dk, DUPONT)
    assert not listed.errors
    formats = sorted(e.format_code for e in listed.entries)
    assert formats == ["urn:epSOS:ps:ps:2010", "urn:ihe:iti:xds-sd:pdf:2008"]
    for entry in listed.entries:
        assert entry.patient.extension == DUPONT and entry.class_code == "60591-5"
        resp = post_soap(
            f"{ehdsi_url}/XCA_Service", retrieve_request(dk, DUPONT, entry.repository_id, entry.unique_id)
        )
        assert resp.status_code == 200, resp.text
        envelope = soap.parse(resp.content)
        Schemas.assert_valid("xds", envelope.payload)
        got = xca.parse_retrieve_response(envelope.payload)
        assert [d.unique_id for d in got.documents] == [entry.unique_id]
        document = etree.fromstring(got.documents[0].data)
        schema = cda_schema()
        assert schema.validate(document), schema.error_log
        v3 = {"v3": "urn:hl7-org:v3"}
        assert (
            document.xpath("string(v3:recordTarget/v3:patientRole/v3:id/@extension)", namespaces=v3) == DUPONT
        )
        if entry.format_code == "urn:ihe:iti:xds-sd:pdf:2008":
            pdf = base64.b64decode(
                document.xpath("string(v3:component/v3:nonXMLBody/v3:text)", namespaces=v3)
            )
            assert pdf.startswith(b"%PDF")
        else:
            sections = set(
                document.xpath(
                    "v3:component/v3:structuredBody/v3:component/v3:section/v3:code/@code", namespaces=v3
                )
            )
            assert {"48765-2", "10160-0", "11450-4", "47519-4", "46264-8"} <= sections


def test_retrieve_of_another_patients_document_is_refused(ehdsi_url: str, dk: Credentials) -> None:
    listed = _query(ehdsi_url, dk, DUPONT)
    entry = listed.entries[0]
    resp = post_soap(
        f"{ehdsi_url}/XCA_Service", retrieve_request(dk, NGUYEN, entry.repository_id, entry.unique_id)
    )
    assert _fault_code(resp) == "ERROR_UNKNOWN_PATIENT_IDENTIFIER"


def test_xca_query_for_another_patient_than_the_trc_is_refused(ehdsi_url: str, dk: Credentials) -> None:
    resp = post_soap(f"{ehdsi_url}/XCA_Service", query_request(dk, DUPONT, trc_nir=NGUYEN))
    assert _fault_code(resp) == "ERROR_UNKNOWN_PATIENT_IDENTIFIER"


def _self_signed() -> Credentials:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"), x509.NameAttribute(NameOID.COMMON_NAME, "x")]
    )
    now = dt.datetime.now(dt.UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(1).not_valid_before(now - dt.timedelta(days=1))
    cert = builder.not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Credentials(pem, cert.public_bytes(serialization.Encoding.PEM))


def _attacks(dk: Credentials) -> dict[str, tuple[str, bytes, str]]:
    """name -> (endpoint, body, expected eHDSI code)."""
    patient = f"{DUPONT}^^^&{INS}&ISO"
    query_template = "NCP_test-tool_templates_xca_query_request-ps.xml"
    ps_query = {"0410009234^^^&amp;1.2.208.176.1.2&amp;ISO": f"{DUPONT}^^^&amp;{INS}&amp;ISO"}

    def query(*assertions: etree._Element) -> bytes:
        return fill_request(query_template, *assertions, replace=ps_query)

    hcp, trc = signed_pair(dk, patient)
    unsigned_hcp = fill_assertion("NCP_test-tool_templates_xca_hcp.xml")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=6)
    expired_hcp, expired_trc = signed_pair(
        dk, patient, not_before=past, not_on_or_after=past + dt.timedelta(hours=4)
    )
    tampered = etree.fromstring(etree.tostring(hcp).replace(b"Dr. Doolittle", b"Dr. Mallory"))
    stranger_hcp, stranger_trc = signed_pair(_self_signed(), patient)
    unlinked_trc = saml.sign(fill_assertion("NCP_test-tool_templates_xca_trc.xml", patient, "_other"), dk)
    marketing = fill_assertion("NCP_test-tool_templates_xca_hcp.xml")
    for node in marketing.iter("{urn:hl7-org:v3}PurposeOfUse"):
        node.set("code", "MARKETING")
    marketing = saml.sign(marketing, dk)
    marketing_trc = saml.sign(
        fill_assertion("NCP_test-tool_templates_xca_trc.xml", patient, marketing.get("ID")), dk
    )
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><x>&e;</x></env:Body></env:Envelope>'
    )
    laughs = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'
    wrong_action = query(hcp, trc).replace(
        b"urn:ihe:iti:2007:CrossGatewayQuery", b"urn:ihe:iti:2007:RegistryStoredQuery"
    )
    return {
        "no-assertion": ("XCA_Service", query(), "ERROR_HPI_AUTHENTICATION_NOT_RECEIVED"),
        "no-trc": ("XCA_Service", query(hcp), "ERROR_NOT_VALID_TRC_ASSERTION"),
        "unsigned-hcp": ("XCA_Service", query(unsigned_hcp, trc), "ERROR_NOT_VALID_ASSERTION"),
        "expired": ("XCA_Service", query(expired_hcp, expired_trc), "ERROR_NOT_VALID_ASSERTION"),
        "tampered-hcp": ("XCA_Service", query(tampered, trc), "ERROR_NOT_VALID_ASSERTION"),
        "untrusted-signer": ("XCA_Service", query(stranger_hcp, stranger_trc), "ERROR_NOT_VALID_ASSERTION"),
        "trc-not-linked-to-hcp": ("XCA_Service", query(hcp, unlinked_trc), "ERROR_NOT_VALID_TRC_ASSERTION"),
        "purpose-of-use": ("XCA_Service", query(marketing, marketing_trc), "ERROR_POLICY_VIOLATION"),
        "wrong-action": ("XCA_Service", wrong_action, "ERROR_INVALID_MESSAGE"),
        "xcpd-action-at-xca": ("XCA_Service", xcpd_request(dk, DUPONT), "ERROR_INVALID_MESSAGE"),
        "malformed": ("XCPD_Service", b"<env:Envelope xmlns:env='urn:x'><env:Body>", "ERROR_INVALID_MESSAGE"),
        "not-soap": ("XCPD_Service", b'{"resourceType": "Patient"}', "ERROR_INVALID_MESSAGE"),
        "xxe": ("XCPD_Service", xxe, "ERROR_INVALID_MESSAGE"),
        "billion-laughs": ("XCA_Service", laughs, "ERROR_INVALID_MESSAGE"),
        "oversized": ("XCPD_Service", b"<a>" + b"x" * 1_200_000 + b"</a>", "ERROR_INVALID_MESSAGE"),
    }  # fmt: skip


ATTACKS = [
    "no-assertion", "no-trc", "unsigned-hcp", "expired", "tampered-hcp", "untrusted-signer",
    "trc-not-linked-to-hcp", "purpose-of-use", "wrong-action", "xcpd-action-at-xca", "malformed",
    "not-soap", "xxe", "billion-laughs", "oversized",
]  # fmt: skip


@pytest.mark.parametrize("name", ATTACKS)
async def test_bad_requests_get_a_soap_fault_with_the_ehdsi_code_and_an_audit(
    name: str, ehdsi_url: str, dk: Credentials, passerelle: ServerProcess, token: str
) -> None:
    endpoint, body, code = _attacks(dk)[name]
    transaction = "ITI-55" if endpoint == "XCPD_Service" else "ITI-38"
    before = _audit_count(passerelle, token, transaction)
    resp = post_soap(f"{ehdsi_url}/{endpoint}", body)
    assert _fault_code(resp) == code
    failures = [a for a in _audits(passerelle, token, transaction) if a["outcome"] != "0"]
    assert _audit_count(passerelle, token, transaction) == before + 1
    assert failures and failures[0].get("outcomeDesc", "").startswith(code)


def test_a_replayed_message_is_refused(ehdsi_url: str, dk: Credentials) -> None:
    body = query_request(dk, DUPONT)
    assert post_soap(f"{ehdsi_url}/XCA_Service", body).status_code == 200
    assert _fault_code(post_soap(f"{ehdsi_url}/XCA_Service", body)) == "ERROR_SEC_DATA_INTEGRITY_NOT_ENSURED"


def test_france_publishes_its_search_mask(ehdsi_url: str) -> None:
    resp = httpx.get(f"{ehdsi_url}/ism.xml", timeout=30)
    assert resp.status_code == 200
    root = etree.fromstring(resp.content)
    Schemas.assert_valid("ism", root)
    assert root.find(".//{http://ec.europa.eu/sante/ehncp/ism}id").get("domain") == INS


async def test_successful_exchanges_are_audited_with_professional_patient_and_peer(
    ehdsi_url: str, dk: Credentials, passerelle: ServerProcess, token: str
) -> None:
    post_soap(f"{ehdsi_url}/XCPD_Service", xcpd_request(dk, DUPONT))
    event = next(a for a in _audits(passerelle, token, "ITI-55") if a["outcome"] == "0")
    assert event["subtype"][0]["code"] == "ITI-55"
    assert any(a.get("who", {}).get("display") == "Dr. Doolittle" for a in event["agent"])
    assert any(a.get("who", {}).get("display") == "NCP DK" for a in event["agent"])
    assert event["entity"][0]["what"]["identifier"]["value"] == f"{DUPONT}^^^&{INS}&ISO"
