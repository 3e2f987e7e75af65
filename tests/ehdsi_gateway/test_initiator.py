"""NCP-B: Passerelle's initiating flow over real HTTP against a foreign NCP-A process (the mock
peer) and against Passerelle's own NCP-A (France <-> France round trip)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from bench.harness import ServerProcess
from ehdsi_gateway import EhdsiError, FhirClient, GatewaySettings, saml, soap, xca
from ehdsi_gateway.errors import VOCABULARY
from ehdsi_gateway.identity import PatientId
from ehdsi_gateway.initiator import CrossBorderQuery
from ehdsi_gateway.mock_peer import home_community_of
from ehdsi_gateway.namespaces import ACTION_XCA_QUERY, ACTION_XCA_RETRIEVE
from ehdsi_gateway.peers import PeerRegistry

from .conftest import needs_samples
from .support import DUPONT, INS, SAMPLES, MockPeer, Schemas

pytestmark = needs_samples
MARIO = "9999002M^^^&2.16.470.1.100.1.1.1000.990.1.1&ISO"  # MT sample, PS L3


@pytest.fixture()
async def flow(settings: GatewaySettings, fhir: FhirClient) -> AsyncIterator[CrossBorderQuery]:
    query = CrossBorderQuery(settings, fhir, peers=PeerRegistry(), timeout=3)
    yield query
    await query.aclose()


@pytest.mark.parametrize(
    ("scenario", "code"),
    [
        ("NOMATCH", "ERROR_PI_NO_MATCH"),
        ("MULTI", "ERROR_PI_MULTIPLE_MATCHES"),
        ("NOPS", "ERROR_PS_NOT_FOUND"),
        ("NIERROR", "ERROR_PI_GENERIC"),
        ("SLOW", "ERROR_TIMEOUT"),
    ],
)
async def test_each_scenario_gives_its_french_error(
    scenario: str, code: str, flow: CrossBorderQuery, mock_peer: MockPeer
) -> None:
    started = time.monotonic()
    with pytest.raises(EhdsiError) as caught:
        await flow.run("HR", f"{scenario}^^^&2.999.1&ISO", peer_url=mock_peer.url)
    assert caught.value.code == code
    assert caught.value.french().startswith(VOCABULARY[code][0])
    if scenario == "SLOW":  # the initiator's own timeout (3 s), not the peer's 10 s delay
        assert time.monotonic() - started < 8


async def test_l1_only_summary_is_stored_with_its_pdf(flow: CrossBorderQuery, mock_peer: MockPeer) -> None:
    result = await flow.run("HR", "L1ONLY^^^&2.999.1&ISO", peer_url=mock_peer.url)
    assert result.level == "L1" and result.translated
    types = [e["resource"]["resourceType"] for e in result.bundle["entry"]]
    assert result.bundle["id"] and types[0] == "Composition"
    assert any(
        e["resource"]["resourceType"] == "Binary" and e["resource"]["contentType"] == "application/pdf"
        for e in result.bundle["entry"]
    )


async def test_traits_outside_the_peers_search_mask_never_leave_france(
    flow: CrossBorderQuery, mock_peer: MockPeer, gw_dir: Path
) -> None:
    audit = gw_dir / "ehdsi" / "mock-HR-audit.jsonl"
    before = audit.read_text().count("\n") if audit.exists() else 0
    with pytest.raises(EhdsiError) as caught:
        await flow.run("HR", "123^^^&1.2.3.4.5&ISO", peer_url=mock_peer.url)
    assert caught.value.code == "ERROR_INVALID_TRAITS" and "1.2.3.4.5" in caught.value.french()
    assert (audit.read_text().count("\n") if audit.exists() else 0) == before


async def test_unknown_country_and_missing_consent_are_refused(
    flow: CrossBorderQuery, mock_peer: MockPeer
) -> None:
    with pytest.raises(EhdsiError) as caught:
        await flow.run("ZZ", "1")
    assert caught.value.code == "ERROR_UNKNOWN_PEER"
    ident = await flow.identify("HR", MARIO, peer_url=mock_peer.url)
    with pytest.raises(EhdsiError) as caught:
        await flow.record_consent(ident, identity_confirmed=True, need_to_know=True, pin_signed=False)
    assert caught.value.code == "ERROR_NO_CONSENT" and "notice" in caught.value.french()
    with pytest.raises(EhdsiError) as caught:
        await flow.fetch_summary(ident, {"resourceType": "Consent", "status": "active", "id": "x"})
    assert caught.value.code == "ERROR_NO_CONSENT"


async def test_summary_flow_stores_translation_consent_and_audit(
    flow: CrossBorderQuery,
    mock_peer: MockPeer,
    fhir: FhirClient,
    passerelle: ServerProcess,
    auditor_token: str,
) -> None:
    ident = await flow.identify("HR", MARIO, birth_date=None, peer_url=mock_peer.url)
    assert ident.demographics.family == ["Borg"]
    consent = await flow.record_consent(ident, identity_confirmed=True, need_to_know=True, pin_signed=True)
    assert consent["provision"]["purpose"][0]["code"] == "TREAT"
    result = await flow.fetch_summary(ident, consent)
    assert result.translated and result.level == "L3"
    stored = await fhir.json("GET", f"Bundle/{result.bundle['id']}")
    assert stored["type"] == "document"
    composition = stored["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition" and composition["language"].startswith("fr")
    kinds = {e["resource"]["resourceType"] for e in stored["entry"]}
    assert {"Binary", "DocumentReference", "Provenance"} <= kinds
    patient = await fhir.json("GET", ident.patient_reference)
    assert patient["identifier"][0]["value"] == "9999002M"
    headers = {"Authorization": f"Bearer {auditor_token}", "Accept": "application/fhir+json"}
    for transaction in ("ITI-40", "ITI-55", "CONSENT", "ITI-38", "ITI-39", "PIVOT_TRANSLATION"):
        resp = httpx.get(
            f"{passerelle.base}/AuditEvent",
            params={"subtype": f"urn:ihe:event-type-code|{transaction}", "_count": "200"},
            headers=headers,
            timeout=60,
        )
        events = [e["resource"] for e in resp.json().get("entry") or []]
        assert any(
            e["source"]["observer"]["display"] == "Passerelle NCP-B FR"
            and any(a.get("who", {}).get("display") == "NCP HR" for a in e["agent"])
            for e in events
        ), transaction


def test_the_mock_peer_answers_retrieve_with_mtom_xop(mock_peer: MockPeer, settings: GatewaySettings) -> None:
    pid = PatientId.parse(MARIO)
    professional = saml.Professional("1", "Dr X")
    hcp = saml.build_hcp(professional, issuer="urn:x", home_community_id="1.2.3", purpose="TREATMENT")
    hcp = saml.sign(hcp, settings.signing)
    trc = saml.sign(
        saml.build_trc(hcp, patient_id=pid.cx, purpose="TREATMENT", issuer="urn:x"), settings.signing
    )
    listed = httpx.post(
        f"{mock_peer.url}/XCA_Service",
        content=soap.build(ACTION_XCA_QUERY, xca.build_query(pid), security=[hcp, trc]),
        headers={"Content-Type": soap.SOAP_CT},
        timeout=30,
    )
    entry = xca.parse_query_response(soap.parse(listed.content).payload).entries[0]
    request = xca.build_retrieve(entry.home_community_id, entry.repository_id, [entry.unique_id])
    resp = httpx.post(
        f"{mock_peer.url}/XCA_Service",
        content=soap.build(ACTION_XCA_RETRIEVE, request, security=[hcp, trc]),
        headers={"Content-Type": soap.SOAP_CT},
        timeout=30,
    )
    assert resp.headers["content-type"].startswith("multipart/related")
    root, parts = soap.split_multipart(resp.content, resp.headers["content-type"])
    payload = soap.parse(root).payload
    assert payload.find(".//{http://www.w3.org/2004/08/xop/include}Include") is not None
    document = xca.parse_retrieve_response(payload, parts).documents[0]
    assert etree.fromstring(document.data).tag == "{urn:hl7-org:v3}ClinicalDocument"
    inline = xca.build_retrieve_response([document])  # the same answer, inline, is schema-valid
    Schemas.assert_valid("xds", inline)


def _samples() -> list[tuple[str, str]]:
    index = SAMPLES / "INDEX.tsv"
    if not index.exists():
        return []
    rows = [line.split("\t") for line in index.read_text().splitlines()[1:]]
    return [(row[0], row[1]) for row in rows if row[1] in ("PS-L3", "PS-L1")]


def _first_patient(path: Path) -> str:
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    node = root.find("{urn:hl7-org:v3}recordTarget/{urn:hl7-org:v3}patientRole/{urn:hl7-org:v3}id")
    assert node is not None
    return f"{node.get('extension')}^^^&{node.get('root')}&ISO"


@pytest.mark.parametrize(("name", "kind"), _samples(), ids=[n for n, _ in _samples()])
async def test_every_sample_summary_is_served_retrieved_and_translated(
    name: str, kind: str, flow: CrossBorderQuery, mock_peer: MockPeer
) -> None:
    path = SAMPLES / name
    data = path.read_bytes()
    unique_id = f"{home_community_of('HR')}.2^{hashlib.sha1(data).hexdigest()[:24]}"
    ident = await flow.identify("HR", _first_patient(path), peer_url=mock_peer.url)
    consent = await flow.record_consent(ident, identity_confirmed=True, need_to_know=True, pin_signed=True)
    listed = await flow.list_documents(ident, consent)
    assert unique_id in {e.unique_id for e in listed}, "sample not served by the mock peer"
    result = await flow.fetch_summary(ident, consent, document=unique_id)
    assert result.translated, result.reason
    assert result.level == kind[-2:]
    assert result.bundle["type"] == "document" and result.bundle["id"]
    originals = [e["resource"] for e in result.bundle["entry"] if e["resource"]["resourceType"] == "Binary"]
    assert originals, "the original document must be kept"
    if kind == "PS-L1":
        assert any(b["contentType"] == "application/pdf" for b in originals)


async def test_france_to_france_round_trip_gives_back_the_record(
    settings: GatewaySettings, fhir: FhirClient, ehdsi_url: str
) -> None:
    flow = CrossBorderQuery(settings, fhir, peers=PeerRegistry(), timeout=60)
    try:
        result = await flow.run("FR", DUPONT, peer_url=ehdsi_url)  # a bare INS: France's search mask domain
    finally:
        await flow.aclose()
    assert result.translated and result.level == "L3"
    record = await fhir.search_all(
        "Patient/demo-pat-dupont/$everything", {"_type": "Condition,AllergyIntolerance,Observation"}
    )
    came_back = [e["resource"] for e in result.bundle["entry"]]
    came_back += [c for r in list(came_back) for c in r.get("contained") or []]  # e.g. a panel's members

    def codes(resources: list[dict[str, Any]], kind: str, texts: bool) -> set[tuple[str, str]]:
        """(system, code) of each statement's code; its text too (always, or when it has no coding)."""
        found = set()
        for r in resources:
            if r["resourceType"] != kind:
                continue
            concept = (r.get("code") or {}) if kind != "AllergyIntolerance" or r.get("code") else {}
            codings = [(c["system"], c["code"]) for c in concept.get("coding") or [] if c.get("system")]
            found.update(codings)
            if concept.get("text") and (texts or not codings):
                found.add(("text", concept["text"]))
        return found

    for kind in ("Condition", "AllergyIntolerance", "Observation"):
        assert codes(record, kind, False), kind
        assert codes(record, kind, False) <= codes(came_back, kind, True), kind
        if kind != "Observation":  # observations may come back grouped (a panel and its members)
            assert sum(r["resourceType"] == kind for r in record) == sum(
                r["resourceType"] == kind for r in came_back
            )
    patient = next(r for r in came_back if r["resourceType"] == "Patient")
    assert patient["birthDate"] == "1984-03-12" and patient["name"][0]["family"] == "Dupont"
    assert any(i["value"] == DUPONT and i["system"] == f"urn:oid:{INS}" for i in patient["identifier"])


async def test_mutual_tls_with_the_development_ca(
    gw_dir: Path, settings: GatewaySettings, fhir: FhirClient, tmp_path: Path
) -> None:
    peer = MockPeer(gw_dir, "LU", tls=True).start()
    try:
        flow = CrossBorderQuery(settings, fhir, peers=PeerRegistry(), timeout=10)
        try:
            ident = await flow.identify("LU", MARIO, peer_url=peer.url)
            assert ident.demographics.family == ["Borg"]
        finally:
            await flow.aclose()
        # a client that presents no certificate is turned away during the TLS handshake
        stranger = GatewaySettings(data_dir=tmp_path, tls_ca=settings.tls_ca_file)
        stranger.__dict__["tls"] = None
        flow = CrossBorderQuery(stranger, fhir, peers=PeerRegistry(), timeout=10)
        try:
            with pytest.raises(EhdsiError) as caught:
                await flow.identify("LU", MARIO, peer_url=peer.url)
            assert caught.value.code in ("ERROR_CONNECTION_NOT_POSSIBLE", "ERROR_TIMEOUT")
        finally:
            await flow.aclose()
    finally:
        peer.stop()


async def test_a_summary_that_cannot_be_translated_is_still_returned_with_the_reason(
    gw_dir: Path, settings: GatewaySettings, fhir: FhirClient, tmp_path: Path
) -> None:
    """As OpenNCP does: the original comes back (stored as Binary + DocumentReference) with the reason."""
    source = etree.parse(str(SAMPLES / "django__MT_Mario_Borg_9999002M_3.xml")).getroot()
    v3 = "{urn:hl7-org:v3}"
    for body in source.findall(f"{v3}component"):
        source.remove(body)  # neither structuredBody nor nonXMLBody: no Patient Summary to translate
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "sans-corps.xml").write_bytes(etree.tostring(source, xml_declaration=True, encoding="UTF-8"))
    peer = MockPeer(gw_dir, "MT", documents=folder).start()
    flow = CrossBorderQuery(settings, fhir, peers=PeerRegistry(), timeout=30)
    try:
        result = await flow.run("MT", MARIO, peer_url=peer.url)
    finally:
        await flow.aclose()
        peer.stop()
    assert not result.translated and result.reason
    assert result.bundle["id"] and result.bundle["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in result.bundle["entry"]]
    assert kinds == ["Binary", "DocumentReference"]
    reference = result.bundle["entry"][1]["resource"]
    assert "non traduite" in reference["description"] and reference["subject"]["reference"].startswith(
        "Patient/"
    )
    assert result.outcome["resourceType"] == "OperationOutcome"


def test_the_mock_peer_publishes_a_valid_search_mask_of_its_documents_domains(mock_peer: MockPeer) -> None:
    resp = httpx.get(f"{mock_peer.url}/ism.xml", timeout=30)
    root = etree.fromstring(resp.content)
    Schemas.assert_valid("ism", root)
    domains = {n.get("domain") for n in root.iter("{http://ec.europa.eu/sante/ehncp/ism}id")}
    assert {"2.999.1", "2.16.470.1.100.1.1.1000.990.1.1", "1.3.182.2.4.2"} <= domains


async def test_a_professional_without_pro_sante_connect_never_reaches_a_peer(
    flow: CrossBorderQuery, mock_peer: MockPeer, gw_dir: Path
) -> None:
    """A local account's password + SMS code (acr "2fa") is below PSC: refused before any message
    leaves France, with a French reason naming Pro Santé Connect."""
    audit = gw_dir / "ehdsi" / "mock-HR-audit.jsonl"
    before = audit.read_text().count("\n") if audit.exists() else 0
    weak = saml.Professional(identifier="99700012349", name="Dr Antoine Lemaire", assurance="2fa")
    with pytest.raises(EhdsiError) as caught:
        await flow.identify("HR", MARIO, professional=weak, peer_url=mock_peer.url)
    assert caught.value.code == "ERROR_POLICY_VIOLATION"
    assert "Pro Santé Connect" in caught.value.french() and "2fa" in caught.value.french()
    assert (audit.read_text().count("\n") if audit.exists() else 0) == before
