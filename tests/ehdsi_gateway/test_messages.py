"""The gateway's own messages against the IHE schemas, and the XUA assertion checks, in process."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from ehdsi_gateway import EhdsiError, saml, soap, xca, xcpd
from ehdsi_gateway.identity import Demographics, PatientId, Traits
from ehdsi_gateway.ism import IdentifierField, SearchMask
from ehdsi_gateway.namespaces import ACTION_XCPD, DS, SAML
from ehdsi_gateway.pki import DevCA

from .conftest import needs_ehdsi
from .support import SCHEMAS, Schemas

PID = PatientId("1.2.250.1.213.1.4.8", "284037512345678")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return DevCA(tmp_path_factory.mktemp("pki"))


def _pair(ca: DevCA, country: str = "FR") -> tuple[etree._Element, etree._Element]:
    creds = ca.issue(f"{country}-signing", country=country)
    hcp = saml.build_hcp(
        saml.Professional("10100000017", "Dr Claire Martin"),
        issuer="urn:idp:FR:countryB", home_community_id="2.16.17.710.812.1000.990.1", purpose="TREATMENT",
        audience="urn:ehdsi:HR",
    )  # fmt: skip
    hcp = saml.sign(hcp, creds)
    trc = saml.sign(
        saml.build_trc(hcp, patient_id=PID.cx, purpose="TREATMENT", issuer="urn:ehdsi:FR:trc"), creds
    )
    return hcp, trc


def _reparse(node: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(node))


@needs_ehdsi
def test_initiating_messages_are_valid_against_the_ihe_schemas(ca: DevCA) -> None:
    hcp, trc = _pair(ca)
    traits = Traits([PID], "19840312", "F", "Dupont", "Hélène", "FR")
    Schemas.assert_valid("xcpd-request", xcpd.build_request(traits, sender="1.2.3", receiver="1.2.4"))
    Schemas.assert_valid("xds", xca.build_query(PID))
    Schemas.assert_valid("xds", xca.build_retrieve("1.2.4", "1.2.4.2", ["1.2.4.2^abc"]))
    envelope = etree.fromstring(
        soap.build("urn:ihe:iti:2007:CrossGatewayQuery", xca.build_query(PID), security=[hcp, trc])
    )
    Schemas.assert_valid("soap", envelope)
    request = xcpd.build_request(traits, sender="1.2.3", receiver="1.2.4")
    match = Demographics([PID], ["Dupont"], ["Hélène"], "F", "19840312", "1 rue", "Lyon", "69007", "FR")
    for matches, error in (
        ([match], None),
        ([], EhdsiError("ERROR_PI_NO_MATCH")),
        ([], EhdsiError("ERROR_PI_GENERIC")),
    ):
        Schemas.assert_valid(
            "xcpd-response", xcpd.build_response(request, matches, home_community_id="1.2.4", error=error)
        )
    entry = xca.DocumentEntry(
        "1.2.4.2^x", "1.2.4.2", "1.2.4", PID, "urn:epSOS:ps:ps:2010", creation_time="20261206"
    )
    Schemas.assert_valid("xds", xca.build_query_response([entry]))
    Schemas.assert_valid("xds", xca.build_query_response([], [EhdsiError("ERROR_PS_NOT_FOUND")]))
    doc = xca.RetrievedDocument("1.2.4", "1.2.4.2", "1.2.4.2^x", "text/xml", b"<x/>")
    Schemas.assert_valid(
        "xds", xca.build_retrieve_response([doc], [EhdsiError("ERROR_GENERIC_DOCUMENT_MISSING")])
    )


@needs_ehdsi
def test_the_shared_ism_of_denmark_is_read_and_ours_are_valid() -> None:
    mask = SearchMask.from_xml((SCHEMAS / "ism" / "InternationalSearch_DK.xml").read_bytes())
    assert mask.country == "DK" and mask.default_domain == "1.2.208.176.1.2"
    mask.check(Traits([mask.patient_id("041000-9234")]))
    with pytest.raises(EhdsiError) as caught:
        mask.check(Traits([mask.patient_id("12345")]))
    assert caught.value.code == "ERROR_INVALID_TRAITS" and "format" in caught.value.french()
    Schemas.assert_valid("ism", etree.fromstring(mask.to_xml()))


def test_search_mask_mandatory_traits() -> None:
    mask = SearchMask("HR", [IdentifierField("1.2.3", r"\d+")], birth_date=True, gender=True)
    with pytest.raises(EhdsiError) as caught:
        mask.check(Traits([PatientId("1.2.3", "12")]))
    assert "date de naissance" in caught.value.french() and "sexe" in caught.value.french()
    mask.check(Traits([PatientId("1.2.3", "12")], "19800101", "F"))
    with pytest.raises(EhdsiError):
        PatientId.parse("12^^^&not-an-oid&ISO")


def test_signed_assertions_verify_and_say_who_for_what(ca: DevCA) -> None:
    hcp, trc = _pair(ca)
    info = saml.verify(_reparse(hcp), trusted=ca.issued, audiences={"urn:ehdsi:HR"})
    assert (info.role, info.purpose, info.first(saml.SUBJECT_ID)) == ("221", "TREATMENT", "Dr Claire Martin")
    signature = hcp.find(f"{{{DS}}}Signature")
    assert signature is not None and hcp.index(signature) == 1  # right after Issuer, as SAML requires
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    assert (
        method is not None and method.get("Algorithm") == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    trc_info = saml.verify(_reparse(trc), trusted=ca.issued)
    assert trc_info.advice_ids == [info.id] and trc_info.first(saml.SUBJECT_ID) == PID.cx


def test_assertion_attacks_are_refused(ca: DevCA, tmp_path: Path) -> None:
    hcp, _ = _pair(ca)
    # another CA's certificate: signature fine, signer not trusted
    other = DevCA(tmp_path)
    with pytest.raises(EhdsiError, match="pair enregistré"):
        saml.verify(_reparse(_pair(other)[0]), trusted=ca.issued)
    # wrong audience
    with pytest.raises(EhdsiError, match="autre public"):
        saml.verify(_reparse(hcp), trusted=ca.issued, audiences={"urn:ehdsi:LU"})
    # expired (checked at a later instant)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)
    with pytest.raises(EhdsiError, match="expirée"):
        saml.verify(_reparse(hcp), trusted=ca.issued, now=later)
    # signature wrapping: the signed assertion moved under a forged one carrying the same ID
    forged = copy.deepcopy(hcp)
    for value in forged.iter(f"{{{SAML}}}AttributeValue"):
        if value.text == "Dr Claire Martin":
            value.text = "Dr Mallory"
    original = copy.deepcopy(hcp)
    forged.remove(forged.find(f"{{{DS}}}Signature"))
    wrapper = etree.SubElement(forged, f"{{{SAML}}}Advice")
    wrapper.append(original)
    forged.insert(1, copy.deepcopy(hcp.find(f"{{{DS}}}Signature")))
    with pytest.raises(EhdsiError):
        saml.verify(_reparse(forged), trusted=ca.issued)


def test_soap_fault_and_safe_parsing() -> None:
    fault = etree.fromstring(soap.fault(EhdsiError("ERROR_PI_NO_MATCH", "x")))
    error = soap.parse_fault(fault)
    assert error is not None and error.code == "ERROR_PI_NO_MATCH"
    for bad in (b"<!DOCTYPE x []><x/>", b"not xml", b"<a>" * 3, b"<x/>" + b" " * 100):
        with pytest.raises(EhdsiError):
            soap.parse(bad, limit=50)
    ok = soap.build(ACTION_XCPD, etree.Element("{urn:hl7-org:v3}x"))
    assert soap.parse(ok).action == ACTION_XCPD
