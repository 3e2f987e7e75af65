"""The responding gateway (NCP-A): ``POST /XCPD_Service`` (ITI-55), ``POST /XCA_Service`` (ITI-38/39).

Every request is parsed safely (no DTD, bounded size), its WS-Addressing action checked
against the endpoint, its assertions verified (:class:`Guard`), and only then handed to the
national connector. Every refusal is a SOAP 1.2 fault carrying the eHDSI code (HTTP 400 for
the sender's fault, 503 when our own infrastructure fails; never a bare 500), and every
request, accepted or not, leaves an AuditEvent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import saml, soap, xca, xcpd
from .audit import AuditSink, audit_event
from .connector import NationalConnector
from .errors import EhdsiError
from .identity import PatientId
from .namespaces import (
    ACTION_XCA_QUERY,
    ACTION_XCA_QUERY_RESPONSE,
    ACTION_XCA_RETRIEVE,
    ACTION_XCA_RETRIEVE_RESPONSE,
    ACTION_XCPD,
    ACTION_XCPD_RESPONSE,
)
from .peers import PeerRegistry
from .pki import DevCA

log = logging.getLogger("passerelle.ehdsi")


class ReplayCache:
    """WS-Addressing MessageIDs seen within the assertion lifetime: a replayed message is refused."""

    def __init__(self, ttl: float = 4 * 3600 + 300, max_entries: int = 200_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._seen: dict[str, float] = {}

    def check_and_add(self, key: str) -> bool:
        now = time.monotonic()
        if len(self._seen) > self.max_entries:
            self._seen = {k: t for k, t in self._seen.items() if t > now}
        expiry = self._seen.get(key)
        if expiry is not None and expiry > now:
            return False
        self._seen[key] = now + self.ttl
        return True


@dataclass
class Caller:
    """Who is asking: the verified HCP (and TRC) assertions and the peer country they come from."""

    hcp: saml.AssertionInfo
    trc: saml.AssertionInfo | None
    country: str

    @property
    def professional(self) -> str:
        return self.hcp.subject

    @property
    def professional_name(self) -> str:
        return self.hcp.first(saml.SUBJECT_ID)


class Guard:
    """Assertion checks of every request (``../shared/docs/ehdsi.md`` §4.2-4.3)."""

    def __init__(
        self, peers: PeerRegistry, dev_ca: DevCA | None, audiences: set[str], replay: ReplayCache
    ) -> None:
        self.peers = peers
        self.dev_ca = dev_ca
        self.audiences = audiences
        self.replay = replay

    def trusted(self, cert: x509.Certificate) -> bool:
        if self.peers.by_certificate(cert) is not None:
            return True
        return self.dev_ca is not None and self.dev_ca.issued(cert)

    def country_of(self, cert: x509.Certificate) -> str:
        peer = self.peers.by_certificate(cert)
        if peer is not None:
            return peer.country
        names = cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)
        return str(names[0].value) if names else "??"

    def check(self, envelope: soap.Envelope, *, need_trc: bool) -> Caller:
        if not envelope.message_id:
            raise EhdsiError("ERROR_INVALID_MESSAGE", "wsa:MessageID absent")
        hcp_el, trc_el = saml.find_assertions(envelope.security)
        if hcp_el is None:
            raise EhdsiError(
                "ERROR_HPI_AUTHENTICATION_NOT_RECEIVED", "aucune assertion HCP dans wsse:Security"
            )
        hcp = saml.verify(hcp_el, trusted=self.trusted, audiences=self.audiences)
        country = self.country_of(hcp.certificate)
        self._issuer(hcp, country)
        if not hcp.role:
            raise EhdsiError("ERROR_HPI_INSUFFICIENT_INFORMATION", "rôle (ISCO-08) du professionnel absent")
        if hcp.purpose not in saml.PURPOSES:
            raise EhdsiError(
                "ERROR_POLICY_VIOLATION", f"finalité (purpose of use) refusée : {hcp.purpose or 'absente'}"
            )
        trc = None
        if need_trc:
            if trc_el is None:
                raise EhdsiError("ERROR_NOT_VALID_TRC_ASSERTION", "aucune assertion TRC")
            trc = saml.verify(trc_el, trusted=self.trusted, audiences=self.audiences)
            if self.country_of(trc.certificate) != country:
                raise EhdsiError(
                    "ERROR_NOT_VALID_TRC_ASSERTION", "TRC et HCP signées par deux pays différents"
                )
            self._issuer(trc, country)
            if hcp.id not in trc.advice_ids:
                raise EhdsiError(
                    "ERROR_NOT_VALID_TRC_ASSERTION", "Advice/AssertionIDRef ne désigne pas l'assertion HCP"
                )
            if trc.purpose not in saml.PURPOSES:
                raise EhdsiError(
                    "ERROR_POLICY_VIOLATION", f"finalité de la TRC refusée : {trc.purpose or 'absente'}"
                )
            if not trc.first(saml.SUBJECT_ID):
                raise EhdsiError("ERROR_NOT_VALID_TRC_ASSERTION", "identifiant du patient absent de la TRC")
        # replay: checked last, so that a refused message can be corrected and sent again
        if not self.replay.check_and_add(f"{country}|{envelope.message_id}"):
            raise EhdsiError(
                "ERROR_SEC_DATA_INTEGRITY_NOT_ENSURED", f"message rejoué ({envelope.message_id})"
            )
        return Caller(hcp, trc, country)

    def _issuer(self, info: saml.AssertionInfo, country: str) -> None:
        peer = self.peers.peers.get(country)
        if peer is not None and peer.issuers and info.issuer not in peer.issuers:
            raise EhdsiError("ERROR_NOT_VALID_ASSERTION", f"émetteur d'assertion inconnu : {info.issuer}")
        if not info.issuer:
            raise EhdsiError("ERROR_NOT_VALID_ASSERTION", "émetteur (Issuer) absent")


def trc_patient(caller: Caller) -> PatientId:
    assert caller.trc is not None
    try:
        return PatientId.parse(caller.trc.first(saml.SUBJECT_ID))
    except EhdsiError as exc:
        raise EhdsiError("ERROR_NOT_VALID_TRC_ASSERTION", "identifiant patient de la TRC illisible") from exc


@dataclass
class ResponderConfig:
    home_community_id: str
    guard: Guard
    audit: AuditSink
    max_bytes: int = 20 * 1024 * 1024
    #: ITI-39 answers: True always MTOM/XOP, False always inline base64, None as the request came
    mtom: bool | None = None
    source: str = "Passerelle eHDSI NCP-A"
    ism: bytes | None = None


def _soap_response(body: bytes, status: int = 200, action: str | None = None) -> Response:
    ct = f"{soap.SOAP_CT}; charset=UTF-8" + (f'; action="{action}"' if action else "")
    return Response(body, status_code=status, media_type=None, headers={"Content-Type": ct})


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise EhdsiError(
            "ERROR_INVALID_MESSAGE", f"message trop volumineux ({declared} octets, limite {limit})"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise EhdsiError("ERROR_INVALID_MESSAGE", f"message trop volumineux (limite {limit} octets)")
        chunks.append(chunk)
    return b"".join(chunks)


def create_responder(config: ResponderConfig, connector: NationalConnector) -> Starlette:
    """The ASGI app of the two responders (mount it under ``/ehdsi``)."""

    async def handle(
        request: Request,
        actions: dict[
            str, tuple[str, Callable[[soap.Envelope, dict[str, bytes], bool], Awaitable[Response]]]
        ],
    ) -> Response:
        envelope: soap.Envelope | None = None
        transaction = next(iter(actions.values()))[0]
        try:
            data = await _read_body(request, config.max_bytes)
            content_type = request.headers.get("content-type", "")
            parts: dict[str, bytes] = {}
            is_mtom = content_type.lower().startswith("multipart/related")
            if is_mtom:
                data, parts = await asyncio.to_thread(
                    soap.split_multipart, data, content_type, limit=config.max_bytes
                )
            envelope = await asyncio.to_thread(soap.parse, data, limit=config.max_bytes)
            if envelope.action not in actions:
                raise EhdsiError(
                    "ERROR_INVALID_MESSAGE",
                    f"action WS-Addressing « {envelope.action or 'absente'} » non servie ici",
                )
            transaction, handler = actions[envelope.action]
            return await handler(envelope, parts, is_mtom)
        except EhdsiError as error:
            await config.audit.record(
                audit_event(
                    transaction, outcome="failure" if error.sender else "major", error_code=error.code,
                    description=error.detail, peer_address=request.client.host if request.client else None,
                    source=config.source,
                )
            )  # fmt: skip
            status = 400 if error.sender else 503
            body = soap.fault(error, relates_to=envelope.message_id if envelope else None)
            return _soap_response(body, status)
        except Exception as exc:  # a bug must still answer a SOAP fault, and say so in the log
            log.exception("eHDSI responder failure")
            error = EhdsiError("ERROR_GENERIC", type(exc).__name__, sender=False)
            await config.audit.record(
                audit_event(transaction, outcome="major", error_code=error.code, source=config.source)
            )
            return _soap_response(
                soap.fault(error, relates_to=envelope.message_id if envelope else None), 503
            )

    async def xcpd_endpoint(envelope: soap.Envelope, parts: dict[str, bytes], mtom: bool) -> Response:
        caller = config.guard.check(envelope, need_trc=False)
        traits = xcpd.parse_request(envelope.payload)
        error: EhdsiError | None = None
        matches = []
        try:
            matches = await connector.find_patients(traits)
            if not matches:
                error = EhdsiError("ERROR_PI_NO_MATCH")
            elif len(matches) > 1:
                error, matches = EhdsiError("ERROR_PI_MULTIPLE_MATCHES"), []
        except EhdsiError as exc:
            if exc.code == "ERROR_GENERIC" and not exc.sender:
                raise
            error = exc
        response = xcpd.build_response(
            envelope.payload, matches, home_community_id=config.home_community_id, error=error
        )
        await config.audit.record(
            audit_event(
                "ITI-55", outcome="success" if error is None else "minor",
                error_code=error.code if error else None, professional=caller.professional,
                professional_name=caller.professional_name, patient=traits.ids[0].cx, peer=caller.country,
                source=config.source,
            )
        )  # fmt: skip
        body = soap.build(ACTION_XCPD_RESPONSE, response, relates_to=envelope.message_id)
        return _soap_response(body, action=ACTION_XCPD_RESPONSE)

    async def query_endpoint(envelope: soap.Envelope, parts: dict[str, bytes], mtom: bool) -> Response:
        caller = config.guard.check(envelope, need_trc=True)
        query = xca.parse_query(envelope.payload)
        if trc_patient(caller) != query.patient:
            raise EhdsiError("ERROR_UNKNOWN_PATIENT_IDENTIFIER", f"{query.patient.cx} ≠ patient de la TRC")
        errors: list[EhdsiError] = []
        entries: list[xca.DocumentEntry] = []
        try:
            entries = await connector.list_documents(query.patient, query.class_codes)
            if not entries:
                errors = [EhdsiError("ERROR_PS_NOT_FOUND")]
        except EhdsiError as exc:
            if exc.code == "ERROR_GENERIC" and not exc.sender:
                raise
            errors = [exc]
        response = xca.build_query_response(entries, errors)
        await config.audit.record(
            audit_event(
                "ITI-38", outcome="success" if not errors else "minor",
                error_code=errors[0].code if errors else None, professional=caller.professional,
                professional_name=caller.professional_name, patient=query.patient.cx, peer=caller.country,
                source=config.source, description=f"{len(entries)} document(s)",
            )
        )  # fmt: skip
        return _soap_response(
            soap.build(ACTION_XCA_QUERY_RESPONSE, response, relates_to=envelope.message_id),
            action=ACTION_XCA_QUERY_RESPONSE,
        )

    async def retrieve_endpoint(envelope: soap.Envelope, parts: dict[str, bytes], mtom: bool) -> Response:
        caller = config.guard.check(envelope, need_trc=True)
        requests = xca.parse_retrieve(envelope.payload)
        patient = trc_patient(caller)
        documents, errors = [], []
        for item in requests:
            if item.home_community_id and item.home_community_id != config.home_community_id:
                errors.append(
                    EhdsiError(
                        "ERROR_GENERIC_DOCUMENT_MISSING", f"communauté inconnue {item.home_community_id}"
                    )
                )
                continue
            found = await connector.retrieve(item.repository_id, item.unique_id)
            if found is None:
                errors.append(EhdsiError("ERROR_GENERIC_DOCUMENT_MISSING", item.unique_id))
                continue
            owners, document = found
            if patient not in owners:
                # a document of another patient than the TRC's: refused, and said as such
                raise EhdsiError(
                    "ERROR_UNKNOWN_PATIENT_IDENTIFIER", "document d'un autre patient que celui de la TRC"
                )
            documents.append(document)
        send_mtom = config.mtom if config.mtom is not None else mtom
        attachments: list[tuple[str, bytes, str]] | None = [] if send_mtom else None
        response = xca.build_retrieve_response(documents, errors, attachments=attachments)
        await config.audit.record(
            audit_event(
                "ITI-39", outcome="success" if not errors else "minor",
                error_code=errors[0].code if errors else None, professional=caller.professional,
                professional_name=caller.professional_name, patient=patient.cx, peer=caller.country,
                source=config.source, description=", ".join(d.unique_id for d in documents),
            )
        )  # fmt: skip
        if attachments is None:
            return _soap_response(
                soap.build(ACTION_XCA_RETRIEVE_RESPONSE, response, relates_to=envelope.message_id),
                action=ACTION_XCA_RETRIEVE_RESPONSE,
            )
        env = soap.build_element(ACTION_XCA_RETRIEVE_RESPONSE, response, relates_to=envelope.message_id)
        payload, ct = soap.mtom(env, attachments, ACTION_XCA_RETRIEVE_RESPONSE)
        return Response(payload, headers={"Content-Type": ct})

    async def timed(request: Request, actions: Any) -> Response:
        started = time.perf_counter()
        response = await handle(request, actions)
        # the peer's own share of an exchange, for the initiator's figures (bench/)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response

    async def xcpd_route(request: Request) -> Response:
        return await timed(request, {ACTION_XCPD: ("ITI-55", xcpd_endpoint)})

    async def xca_route(request: Request) -> Response:
        return await timed(
            request,
            {
                ACTION_XCA_QUERY: ("ITI-38", query_endpoint),
                ACTION_XCA_RETRIEVE: ("ITI-39", retrieve_endpoint),
            },
        )

    async def ism_route(request: Request) -> Response:
        if config.ism is None:
            return Response("masque de recherche non publié", status_code=404, media_type="text/plain")
        return Response(config.ism, media_type="application/xml")

    return Starlette(
        routes=[
            Route("/XCPD_Service", xcpd_route, methods=["POST"]),
            Route("/XCA_Service", xca_route, methods=["POST"]),
            Route("/ism.xml", ism_route, methods=["GET"]),
        ]
    )
