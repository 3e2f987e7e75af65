"""NCP-B: France is the country of treatment; a French professional reads a foreign patient's summary.

The flow (``../shared/docs/ehdsi.md`` §3), in three calls so that the portal can put the
professional's confirmation between them:

1. :meth:`CrossBorderQuery.identify`: identity traits checked against the country's search mask,
   an HCP assertion issued and signed, XCPD ITI-55 -> the patient's demographics (or a French
   error: no match, several matches, peer error, timeout);
2. :meth:`CrossBorderQuery.record_consent`: identity confirmed, need-to-know and the patient
   information notice (PIN) -> a FHIR ``Consent``; no document query without it;
3. :meth:`CrossBorderQuery.fetch_summary`: TRC assertion, XCA ITI-38 FindDocuments, ITI-39
   retrieve (MTOM/XOP or inline), XSD validation and ``cda_transform.to_fhir`` into the French
   document Bundle (originals kept as Binary + DocumentReference, Provenance of the translation),
   stored through the FHIR API and returned. A translation failure still returns the originals,
   with the reason.

Every step writes an AuditEvent (through the FHIR API).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from cda_transform import TransformError, to_fhir

from . import saml, soap, xca, xcpd
from .audit import FhirAuditSink, audit_event
from .errors import EhdsiError
from .fhir_client import FhirClient
from .identity import Demographics, PatientId, Traits, fhir_date, hl7_date
from .ism import SearchMask
from .namespaces import (
    ACTION_XCA_QUERY,
    ACTION_XCA_RETRIEVE,
    ACTION_XCPD,
    FORMAT_PDF,
    FORMAT_PIVOT,
    PS_CLASS_CODE,
)
from .peers import Peer, PeerRegistry
from .settings import GatewaySettings

GENDER_TO_FHIR = {"M": "male", "F": "female", "UN": "unknown"}
PURPOSE_ACT_REASON = {"TREATMENT": "TREAT", "EMERGENCY": "ETREAT"}
DEMO_PROFESSIONAL = saml.Professional(identifier="10100000017", name="Dr Claire Martin")
PIN_VERSION = "2024-01"


@dataclass
class Identification:
    """The outcome of ITI-55: who the peer says the patient is, and the assertion that asked."""

    peer: Peer
    patient_id: PatientId
    demographics: Demographics
    professional: saml.Professional
    purpose: str
    hcp: etree._Element
    patient_reference: str = ""
    trc: etree._Element | None = None
    peer_seconds: float = 0.0


@dataclass
class SummaryResult:
    """The French document Bundle as stored, and what happened on the way."""

    bundle: dict[str, Any]
    translated: bool
    level: str  # "L3" or "L1"
    reason: str | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    documents: list[xca.DocumentEntry] = field(default_factory=list)
    peer_seconds: float = 0.0


class CrossBorderQuery:
    """The NCP-B flow against one peer registry, reading and writing through ``fhir``."""

    def __init__(
        self,
        settings: GatewaySettings,
        fhir: FhirClient,
        *,
        peers: PeerRegistry | None = None,
        timeout: float | None = None,
    ) -> None:
        self.settings = settings
        self.fhir = fhir
        self.peers = peers if peers is not None else settings.peers()
        self.timeout = timeout if timeout is not None else settings.timeout
        self.audit = FhirAuditSink(fhir)
        self._http: httpx.AsyncClient | None = None

    # --- transport ----------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                verify=self.settings.ssl_context(),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def _post(
        self, url: str, action: str, body: bytes
    ) -> tuple[etree._Element, dict[str, bytes], float]:
        """POST one SOAP request; the response payload (faults raised), its MTOM parts, the peer's time."""
        started = time.perf_counter()
        try:
            resp = await self._client().post(
                url,
                content=body,
                headers={"Content-Type": f'{soap.SOAP_CT}; charset=UTF-8; action="{action}"'},
            )
        except httpx.TimeoutException as exc:
            raise EhdsiError(
                "ERROR_TIMEOUT", f"pas de réponse en {self.timeout:g} s ({url})", sender=False
            ) from exc
        except httpx.HTTPError as exc:
            raise EhdsiError("ERROR_CONNECTION_NOT_POSSIBLE", f"{url} : {exc}", sender=False) from exc
        elapsed = time.perf_counter() - started
        peer_time = _server_timing(resp.headers.get("server-timing"), elapsed)
        content_type = resp.headers.get("content-type", "")
        data = resp.content
        parts: dict[str, bytes] = {}
        if content_type.lower().startswith("multipart/related"):
            data, parts = await asyncio.to_thread(soap.split_multipart, data, content_type)
        try:
            root = await asyncio.to_thread(soap.xmlsafe.parse, data, what="réponse du pair")
        except EhdsiError as exc:
            raise EhdsiError(
                "ERROR_GENERIC", f"réponse illisible du pair (HTTP {resp.status_code})", sender=False
            ) from exc
        fault = soap.parse_fault(root)
        if fault is not None:
            raise fault
        envelope = soap.parse(data)
        return envelope.payload, parts, peer_time

    # --- peers and traits ---------------------------------------------------------------------

    async def resolve_peer(self, country: str, peer_url: str | None = None) -> Peer:
        if peer_url:
            base = peer_url.rstrip("/")
            known = self.peers.peers.get(country.upper())
            peer = Peer(
                country=country.upper(),
                home_community_id=known.home_community_id if known else "",
                xcpd_url=f"{base}/XCPD_Service",
                xca_url=f"{base}/XCA_Service",
                ism_url=f"{base}/ism.xml",
            )
        else:
            peer = self.peers.get(country)
        if peer.search_mask is None and peer.ism_url:
            peer.search_mask = await self._fetch_mask(peer.ism_url)
        return peer

    async def _fetch_mask(self, url: str) -> SearchMask | None:
        try:
            resp = await self._client().get(url)
        except httpx.TimeoutException as exc:
            raise EhdsiError("ERROR_TIMEOUT", f"masque de recherche non reçu ({url})", sender=False) from exc
        except httpx.HTTPError as exc:
            raise EhdsiError("ERROR_CONNECTION_NOT_POSSIBLE", f"{url} : {exc}", sender=False) from exc
        if resp.status_code != 200:
            return None
        return await asyncio.to_thread(SearchMask.from_xml, resp.content)

    # --- 1. identify --------------------------------------------------------------------------

    async def identify(
        self,
        country: str,
        patient_id: str,
        *,
        birth_date: str | None = None,
        gender: str | None = None,
        family: str | None = None,
        given: str | None = None,
        professional: saml.Professional = DEMO_PROFESSIONAL,
        purpose: str = "TREATMENT",
        peer_url: str | None = None,
    ) -> Identification:
        if purpose not in saml.PURPOSES:
            raise EhdsiError(
                "ERROR_POLICY_VIOLATION", f"finalité inconnue : {purpose} (TREATMENT ou EMERGENCY)"
            )
        await self._require_psc(professional, country)
        peer = await self.resolve_peer(country, peer_url)
        mask = peer.search_mask
        pid = mask.patient_id(patient_id) if mask is not None else PatientId.parse(patient_id)
        if gender and gender.upper() not in ("M", "F", "UN"):
            raise EhdsiError("ERROR_INVALID_TRAITS", f"sexe invalide : {gender} (M, F ou UN)")
        traits = Traits(
            [pid], hl7_date(birth_date), gender.upper() if gender else None, family, given, peer.country
        )
        if mask is not None:
            mask.check(traits)
        hcp = await asyncio.to_thread(self._hcp, professional, purpose, peer)
        await self._audit("ITI-40", professional=professional, peer=peer, description="assertion HCP émise")
        request = xcpd.build_request(
            traits, sender=self.settings.home_community_id, receiver=peer.home_community_id or "2.16.17.710"
        )
        try:
            payload, _, peer_time = await self._post(
                peer.xcpd_url, ACTION_XCPD, soap.build(ACTION_XCPD, request, security=[hcp])
            )
            result = xcpd.parse_response(payload)
            if result.error is not None:
                raise result.error
            if result.status == "NF" or not result.matches:
                raise EhdsiError("ERROR_PI_NO_MATCH", sender=False)
            if result.status != "OK":
                raise EhdsiError("ERROR_PI_GENERIC", f"réponse XCPD {result.status}", sender=False)
            if len(result.matches) > 1:
                raise EhdsiError("ERROR_PI_MULTIPLE_MATCHES", sender=False)
        except EhdsiError as error:
            await self._audit("ITI-55", professional=professional, peer=peer, patient=pid.cx, error=error)
            raise
        match = result.matches[0]
        # the peer may answer with its own identifier first: keep the one asked for when it is there
        found = next((i for i in match.ids if i == pid), match.ids[0] if match.ids else pid)
        if not peer.home_community_id:
            peer.home_community_id = _custodian(payload) or peer.home_community_id
        ident = Identification(peer, found, match, professional, purpose, hcp, peer_seconds=peer_time)
        await self._audit("ITI-55", professional=professional, peer=peer, patient=found.cx)
        return ident

    async def _require_psc(self, professional: saml.Professional, country: str) -> None:
        """The service is for professionals authenticated by Pro Santé Connect (CPS/e-CPS) only:
        anything lower (a local account's password + SMS code) is refused before any network
        call, and the refusal is audited."""
        if professional.assurance in saml.PSC_ASSURANCE:
            return
        error = EhdsiError(
            "ERROR_POLICY_VIOLATION",
            "service transfrontalier réservé aux professionnels connectés avec Pro Santé Connect "
            f"(CPS ou e-CPS) ; niveau d'authentification « {professional.assurance} » insuffisant",
        )
        peer = self.peers.peers.get(country.upper()) or Peer(country.upper(), "", "", "")
        await self._audit("ITI-55", professional=professional, peer=peer, error=error)
        raise error

    def _hcp(self, professional: saml.Professional, purpose: str, peer: Peer) -> etree._Element:
        assertion = saml.build_hcp(
            professional,
            issuer=self.settings.hcp_issuer,
            home_community_id=self.settings.home_community_id,
            purpose=purpose,
            audience=f"urn:ehdsi:{peer.country}",
        )
        return saml.sign(assertion, self.settings.signing)

    # --- 2. consent ---------------------------------------------------------------------------

    async def record_consent(
        self,
        ident: Identification,
        *,
        identity_confirmed: bool,
        need_to_know: bool,
        pin_signed: bool,
        pin_version: str = PIN_VERSION,
    ) -> dict[str, Any]:
        """The professional's confirmation as a FHIR Consent (and the foreign patient, once)."""
        missing = [
            label
            for label, ok in (
                ("identité du patient confirmée", identity_confirmed),
                ("besoin d'en connaître", need_to_know),
                ("notice d'information signée par le patient", pin_signed),
            )
            if not ok
        ]
        if missing:
            error = EhdsiError("ERROR_NO_CONSENT", "manque : " + ", ".join(missing))
            await self._audit(
                "CONSENT",
                professional=ident.professional,
                peer=ident.peer,
                patient=ident.patient_id.cx,
                error=error,
            )
            raise error
        patient = await self._foreign_patient(ident)
        ident.patient_reference = f"Patient/{patient['id']}"
        now = dt.datetime.now(dt.UTC)
        consent = {
            "resourceType": "Consent",
            "status": "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [
                {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}
            ],
            "patient": {"reference": ident.patient_reference},
            "dateTime": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "performer": [
                {
                    "identifier": {
                        "system": "urn:oid:1.2.250.1.71.4.2.1",
                        "value": f"8{ident.professional.identifier}",
                    },
                    "display": ident.professional.name,
                }
            ],
            "policy": [{"uri": f"urn:ehdsi:patient-information-notice:{pin_version}"}],
            "verification": [
                {
                    "verified": True,
                    "verificationDate": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                }
            ],
            "provision": {
                "type": "permit",
                "period": {
                    "start": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "end": (now + saml.VALIDITY).isoformat(timespec="seconds").replace("+00:00", "Z"),
                },
                "purpose": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": PURPOSE_ACT_REASON[ident.purpose],
                    }
                ],
                "class": [{"system": "http://loinc.org", "code": PS_CLASS_CODE}],
            },
        }
        stored = await self.fhir.create(consent)
        await self._audit(
            "CONSENT", professional=ident.professional, peer=ident.peer, patient=ident.patient_id.cx,
            reference=ident.patient_reference, description=f"Consent/{stored.get('id')} (PIN {pin_version})",
        )  # fmt: skip
        return stored

    async def _foreign_patient(self, ident: Identification) -> dict[str, Any]:
        demo = ident.demographics
        pid = ident.patient_id
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "identifier": [{"system": f"urn:oid:{i.root}", "value": i.extension} for i in demo.ids or [pid]],
        }
        if demo.family or demo.given:
            patient["name"] = [
                {k: v for k, v in (("family", " ".join(demo.family)), ("given", demo.given)) if v}
            ]
        if demo.gender in GENDER_TO_FHIR:
            patient["gender"] = GENDER_TO_FHIR[demo.gender]
        birth = fhir_date(demo.birth_date)
        if birth:
            patient["birthDate"] = birth
        address = {
            k: v
            for k, v in (
                ("city", demo.city),
                ("postalCode", demo.postal_code),
                ("country", demo.country or ident.peer.country),
            )
            if v
        }
        if demo.street:
            address["line"] = [demo.street]
        patient["address"] = [address]
        return await self.fhir.create(patient, if_none_exist=f"identifier=urn:oid:{pid.root}|{pid.extension}")

    # --- 3. query, retrieve, translate, store -----------------------------------------------

    def _require_consent(self, ident: Identification, consent: dict[str, Any]) -> None:
        if (
            consent.get("resourceType") != "Consent"
            or consent.get("status") != "active"
            or not consent.get("id")
            or (consent.get("patient") or {}).get("reference") != ident.patient_reference
        ):
            raise EhdsiError(
                "ERROR_NO_CONSENT", "consentement enregistré requis avant toute recherche de documents"
            )

    async def list_documents(self, ident: Identification, consent: dict[str, Any]) -> list[xca.DocumentEntry]:
        """ITI-38 FindDocuments for the Patient Summary: the pivot (L3) and PDF (L1) entries."""
        self._require_consent(ident, consent)
        await self._require_psc(ident.professional, ident.peer.country)
        peer, pid, prof = ident.peer, ident.patient_id, ident.professional
        if ident.trc is None:
            ident.trc = await asyncio.to_thread(self._trc, ident)
            await self._audit(
                "ITI-40", professional=prof, peer=peer, patient=pid.cx, description="assertion TRC émise"
            )
        try:
            payload, _, t = await self._post(
                peer.xca_url,
                ACTION_XCA_QUERY,
                soap.build(ACTION_XCA_QUERY, xca.build_query(pid), security=[ident.hcp, ident.trc]),
            )
            ident.peer_seconds += t
            listed = xca.parse_query_response(payload)
            entries = [
                e for e in listed.entries if e.format_code in (FORMAT_PIVOT, FORMAT_PDF)
            ] or listed.entries
            if not entries:
                raise listed.errors[0] if listed.errors else EhdsiError("ERROR_PS_NOT_FOUND", sender=False)
        except EhdsiError as error:
            await self._audit("ITI-38", professional=prof, peer=peer, patient=pid.cx, error=error)
            raise
        await self._audit(
            "ITI-38", professional=prof, peer=peer, patient=pid.cx, description=f"{len(entries)} document(s)"
        )
        return entries

    async def fetch_summary(
        self, ident: Identification, consent: dict[str, Any], document: str | None = None
    ) -> SummaryResult:
        """Retrieve, translate and store the summary: the latest pivot with a PDF, or ``document``."""
        entries = await self.list_documents(ident, consent)
        peer, pid, prof = ident.peer, ident.patient_id, ident.professional
        if document is not None:
            chosen = [e for e in entries if e.unique_id == document]
            if not chosen:
                raise EhdsiError("ERROR_GENERIC_DOCUMENT_MISSING", document, sender=False)
        else:
            pivots = sorted(
                (e for e in entries if e.format_code == FORMAT_PIVOT), key=lambda e: e.creation_time
            )
            pdfs = sorted((e for e in entries if e.format_code == FORMAT_PDF), key=lambda e: e.creation_time)
            chosen = [*pivots[-1:], *pdfs[-1:]] or entries[-1:]
        entries = chosen
        security = [ident.hcp, ident.trc]
        peer_seconds = ident.peer_seconds
        documents: dict[str, bytes] = {}
        try:
            for (home, repo), group in _by_repository(entries, peer.home_community_id).items():
                request = xca.build_retrieve(home, repo, [e.unique_id for e in group])
                payload, parts, t = await self._post(
                    peer.xca_url,
                    ACTION_XCA_RETRIEVE,
                    soap.build(ACTION_XCA_RETRIEVE, request, security=security),
                )
                peer_seconds += t
                got = xca.parse_retrieve_response(payload, parts)
                documents.update({d.unique_id: d.data for d in got.documents})
                if not got.documents and got.errors:
                    raise got.errors[0]
            if not documents:
                raise EhdsiError("ERROR_GENERIC_DOCUMENT_MISSING", sender=False)
        except EhdsiError as error:
            await self._audit("ITI-39", professional=prof, peer=peer, patient=pid.cx, error=error)
            raise
        await self._audit(
            "ITI-39",
            professional=prof,
            peer=peer,
            patient=pid.cx,
            description=f"{len(documents)} document(s) reçu(s)",
        )
        pivot = next(
            (
                documents[e.unique_id]
                for e in entries
                if e.format_code == FORMAT_PIVOT and e.unique_id in documents
            ),
            None,
        )
        pdf = next(
            (
                documents[e.unique_id]
                for e in entries
                if e.format_code == FORMAT_PDF and e.unique_id in documents
            ),
            None,
        )
        if pivot is None and pdf is None:
            pivot = next(iter(documents.values()))
        result = await self._translate_and_store(ident, pivot, pdf)
        result.documents = entries
        result.peer_seconds = peer_seconds
        return result

    def _trc(self, ident: Identification) -> etree._Element:
        assertion = saml.build_trc(
            ident.hcp,
            patient_id=ident.patient_id.cx,
            purpose=ident.purpose,
            issuer=self.settings.trc_issuer,
            audience=f"urn:ehdsi:{ident.peer.country}",
        )
        return saml.sign(assertion, self.settings.signing)

    async def _translate_and_store(
        self, ident: Identification, pivot: bytes | None, pdf: bytes | None
    ) -> SummaryResult:
        main = pivot if pivot is not None else pdf
        assert main is not None
        level = "L3" if pivot is not None else "L1"
        reason = None
        try:
            converted = await asyncio.to_thread(to_fhir, main, lang="fr-FR")
            bundle, outcome = converted.bundle, converted.outcome
            if pivot is not None and pdf is not None:
                companion = await asyncio.to_thread(to_fhir, pdf, lang="fr-FR")
                _merge_originals(bundle, companion.bundle)
            translated = True
        except TransformError as exc:
            reason = str(exc)
            translated = False
            outcome = exc.to_operation_outcome()
            bundle = _originals_only(ident, [d for d in (pivot, pdf) if d is not None], reason)
        _link_patient(bundle, ident.patient_reference)
        stored = await self.fhir.create(bundle)
        failure = None if translated else EhdsiError("ERROR_PS_GENERIC", reason or "")
        kept = "traduit" if translated else "original seul"
        await self._audit(
            "PIVOT_TRANSLATION",
            professional=ident.professional,
            peer=ident.peer,
            patient=ident.patient_id.cx,
            reference=ident.patient_reference,
            error=failure,
            description=f"Bundle/{stored.get('id')} ({level}, {kept})",
        )
        return SummaryResult(stored, translated, level, reason, outcome)

    async def run(
        self,
        country: str,
        patient_id: str,
        *,
        pin_signed: bool = True,
        **identify: Any,
    ) -> SummaryResult:
        """The whole flow for an operator who already confirmed identity, need-to-know and PIN."""
        ident = await self.identify(country, patient_id, **identify)
        consent = await self.record_consent(
            ident, identity_confirmed=True, need_to_know=True, pin_signed=pin_signed
        )
        return await self.fetch_summary(ident, consent)

    async def _audit(
        self,
        transaction: str,
        *,
        professional: saml.Professional,
        peer: Peer,
        patient: str | None = None,
        reference: str | None = None,
        error: EhdsiError | None = None,
        description: str | None = None,
    ) -> None:
        await self.audit.record(
            audit_event(
                transaction,
                outcome="success" if error is None else "failure",
                error_code=error.code if error else None,
                description=(error.detail if error else description),
                professional=professional.identifier,
                professional_name=professional.name,
                patient=patient,
                patient_reference=reference,
                peer=peer.country,
                role="initiator",
                source=f"Passerelle NCP-B {self.settings.country}",
            )
        )


def _server_timing(header: str | None, fallback: float) -> float:
    """The peer's own processing time from ``Server-Timing: app;dur=<ms>``, else the round trip."""
    match = re.search(r"dur=([0-9.]+)", header or "")
    return float(match.group(1)) / 1000 if match else fallback


def _custodian(payload: etree._Element) -> str | None:
    node = payload.find(".//{urn:hl7-org:v3}custodian/{urn:hl7-org:v3}assignedEntity/{urn:hl7-org:v3}id")
    return node.get("root") if node is not None else None


def _by_repository(
    entries: list[xca.DocumentEntry], home: str
) -> dict[tuple[str, str], list[xca.DocumentEntry]]:
    groups: dict[tuple[str, str], list[xca.DocumentEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.home_community_id or home, entry.repository_id), []).append(entry)
    return groups


def _merge_originals(bundle: dict[str, Any], companion: dict[str, Any]) -> None:
    """Add the L1's Binary + DocumentReference (the PDF and its CDA) to the L3's Bundle."""
    patient = next(
        (e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"), None
    )
    for entry in companion.get("entry") or []:
        resource = entry["resource"]
        if resource["resourceType"] not in ("Binary", "DocumentReference"):
            continue
        if resource["resourceType"] == "DocumentReference" and patient:
            resource["subject"] = {"reference": patient}
        if any(e.get("fullUrl") == entry.get("fullUrl") for e in bundle["entry"]):
            continue
        bundle["entry"].append(entry)


def _link_patient(bundle: dict[str, Any], reference: str) -> None:
    """Say which stored Patient the document is about (the Bundle's own Patient is a copy)."""
    if not reference:
        return
    for entry in bundle.get("entry") or []:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"].setdefault("link", []).append(
                {"other": {"reference": reference}, "type": "seealso"}
            )


def _originals_only(ident: Identification, documents: list[bytes], reason: str) -> dict[str, Any]:
    """A ``collection`` Bundle of the untranslated originals (Binary + DocumentReference)."""
    import base64

    entries = []
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for data in documents:
        binary_url = f"urn:uuid:{uuid.uuid4()}"
        entries.append(
            {
                "fullUrl": binary_url,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "text/xml",
                    "data": base64.b64encode(data).decode(),
                },
            }
        )
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "type": {
                        "coding": [
                            {
                                "system": "http://loinc.org",
                                "code": PS_CLASS_CODE,
                                "display": "Patient summary Document",
                            }
                        ]
                    },
                    "subject": {"reference": ident.patient_reference}
                    if ident.patient_reference
                    else {"display": ident.patient_id.cx},
                    "date": now,
                    "description": f"Synthèse originale ({ident.peer.country}), non traduite : {reason}"[
                        :1000
                    ],
                    "content": [{"attachment": {"contentType": "text/xml", "url": binary_url}}],
                },
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "timestamp": now, "entry": entries}
