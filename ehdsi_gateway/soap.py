"""SOAP 1.2 + WS-Addressing envelopes, SOAP faults with eHDSI codes, and MTOM/XOP packaging."""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from . import xmlsafe
from .errors import EhdsiError
from .namespaces import SOAP, WSA, WSSE, XOP

SOAP_CT = "application/soap+xml"


@dataclass
class Envelope:
    """A parsed SOAP 1.2 request: WS-Addressing action and message id, security header, payload."""

    root: etree._Element
    action: str
    message_id: str
    security: etree._Element | None
    payload: etree._Element


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def build(action: str, payload: etree._Element, **kwargs: object) -> bytes:
    """The serialized envelope (see :func:`build_element`)."""
    return etree.tostring(build_element(action, payload, **kwargs), xml_declaration=True, encoding="UTF-8")  # type: ignore[arg-type]


def build_element(
    action: str,
    payload: etree._Element,
    *,
    security: Iterable[etree._Element] = (),
    message_id: str | None = None,
    relates_to: str | None = None,
    to: str | None = None,
) -> etree._Element:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"env": SOAP, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    act = etree.SubElement(header, f"{{{WSA}}}Action")
    act.set(f"{{{SOAP}}}mustUnderstand", "1")
    act.text = action
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = message_id or new_message_id()
    if relates_to:
        etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = relates_to
    if to:
        etree.SubElement(header, f"{{{WSA}}}To").text = to
    assertions = list(security)
    if assertions:
        sec = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        sec.set(f"{{{SOAP}}}mustUnderstand", "1")
        for assertion in assertions:  # copies: the caller reuses its assertions for later messages
            sec.append(copy.deepcopy(assertion))
    body = etree.SubElement(env, f"{{{SOAP}}}Body")
    body.append(payload)
    return env


def parse(data: bytes, *, limit: int = xmlsafe.MAX_BYTES) -> Envelope:
    root = xmlsafe.parse(data, limit=limit, what="message SOAP")
    if root.tag != f"{{{SOAP}}}Envelope":
        raise EhdsiError("ERROR_INVALID_MESSAGE", "l'élément racine n'est pas une enveloppe SOAP 1.2")
    header = root.find(f"{{{SOAP}}}Header")
    body = root.find(f"{{{SOAP}}}Body")
    if body is None:
        raise EhdsiError("ERROR_INVALID_MESSAGE", "enveloppe SOAP sans Body")
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise EhdsiError("ERROR_INVALID_MESSAGE", "le Body SOAP doit contenir un seul élément")
    action = message_id = ""
    security = None
    if header is not None:
        action = (header.findtext(f"{{{WSA}}}Action") or "").strip()
        message_id = (header.findtext(f"{{{WSA}}}MessageID") or "").strip()
        security = header.find(f"{{{WSSE}}}Security")
    return Envelope(root, action, message_id, security, children[0])


def fault(error: EhdsiError, *, relates_to: str | None = None) -> bytes:
    """A SOAP 1.2 fault: ``env:Sender``/``env:Receiver``, the eHDSI code as Subcode and Detail."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"env": SOAP, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    etree.SubElement(header, f"{{{WSA}}}Action").text = "http://www.w3.org/2005/08/addressing/soap/fault"
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = new_message_id()
    if relates_to:
        etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = relates_to
    body = etree.SubElement(env, f"{{{SOAP}}}Body")
    fault_el = etree.SubElement(body, f"{{{SOAP}}}Fault")
    code = etree.SubElement(fault_el, f"{{{SOAP}}}Code")
    etree.SubElement(code, f"{{{SOAP}}}Value").text = "env:Sender" if error.sender else "env:Receiver"
    sub = etree.SubElement(code, f"{{{SOAP}}}Subcode")
    etree.SubElement(sub, f"{{{SOAP}}}Value").text = (
        f"env:{error.code}" if ":" not in error.code else error.code
    )
    reason = etree.SubElement(fault_el, f"{{{SOAP}}}Reason")
    text = etree.SubElement(reason, f"{{{SOAP}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = error.description + (f" ({error.detail})" if error.detail else "")
    text_fr = etree.SubElement(reason, f"{{{SOAP}}}Text")
    text_fr.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    text_fr.text = error.french()
    detail = etree.SubElement(fault_el, f"{{{SOAP}}}Detail")
    etree.SubElement(detail, "errorCode").text = error.code
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def parse_fault(root: etree._Element) -> EhdsiError | None:
    """The eHDSI error of a SOAP fault answer, or None when the body is not a fault."""
    node = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    if node is None:
        return None
    code = (node.findtext("./{*}Detail/errorCode") or "").strip()
    if not code:
        sub = (node.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Subcode/{{{SOAP}}}Value") or "").strip()
        code = sub.split(":", 1)[-1] if sub else "ERROR_GENERIC"
    reason = (node.findtext(f"{{{SOAP}}}Reason/{{{SOAP}}}Text") or "").strip()
    return EhdsiError(code, reason, sender=False)


# --- MTOM / XOP -------------------------------------------------------------------------------


def mtom(
    envelope: etree._Element, attachments: list[tuple[str, bytes, str]], action: str
) -> tuple[bytes, str]:
    """Package an envelope and the attachments its ``xop:Include`` point to (see :func:`xop_attach`)."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    start = f"<root.{uuid.uuid4().hex}@passerelle>"
    parts: list[bytes] = []
    root_xml = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    parts.append(
        (
            f'--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="{SOAP_CT}"\r\n'
            f"Content-Transfer-Encoding: binary\r\nContent-ID: {start}\r\n\r\n"
        ).encode()
        + root_xml
        + b"\r\n"
    )
    for cid, data, mime in attachments:
        parts.append(
            (
                f"--{boundary}\r\nContent-Type: {mime}\r\nContent-Transfer-Encoding: binary\r\n"
                f"Content-ID: <{cid}>\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
        f'start="{start}"; start-info="{SOAP_CT}"; action="{action}"'
    )
    return body, content_type


def split_multipart(
    data: bytes, content_type: str, *, limit: int = xmlsafe.MAX_BYTES
) -> tuple[bytes, dict[str, bytes]]:
    """The root part (SOAP envelope) and the attachments by Content-ID of a multipart/related body."""
    if len(data) > limit:
        raise EhdsiError("ERROR_INVALID_MESSAGE", "réponse MTOM trop volumineuse")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + data
    )
    if not message.is_multipart():
        raise EhdsiError("ERROR_INVALID_MESSAGE", "réponse multipart/related illisible")
    start = (message.get_param("start") or "").strip()  # type: ignore[union-attr]
    root: bytes | None = None
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        cid = (part.get("Content-ID") or "").strip()
        payload = part.get_payload(decode=True) or b""
        if root is None and (not start or cid == start):
            root = payload
        else:
            parts[cid.strip("<>")] = payload
    if root is None:
        raise EhdsiError("ERROR_INVALID_MESSAGE", "réponse MTOM sans partie racine")
    return root, parts


def resolve_xop(node: etree._Element, parts: dict[str, bytes]) -> bytes:
    """The bytes of a base64Binary element: inline base64 or an ``xop:Include`` of an attachment."""
    include = node.find(f"{{{XOP}}}Include")
    if include is None:
        try:
            return base64.b64decode("".join((node.text or "").split()), validate=True)
        except ValueError as exc:
            raise EhdsiError("ERROR_INVALID_MESSAGE", "document base64 illisible") from exc
    href = include.get("href", "")
    cid = href.removeprefix("cid:")
    from urllib.parse import unquote

    for key in (cid, unquote(cid)):
        if key in parts:
            return parts[key]
    raise EhdsiError("ERROR_INVALID_MESSAGE", f"pièce MTOM absente : {href}")


def xop_attach(
    node: etree._Element, data: bytes, mime: str, attachments: list[tuple[str, bytes, str]]
) -> None:
    """Make ``node`` an ``xop:Include`` of a new attachment, recorded in ``attachments`` for :func:`mtom`."""
    cid = f"{uuid.uuid4().hex}@passerelle"
    include = etree.SubElement(node, f"{{{XOP}}}Include", nsmap={"xop": XOP})
    include.set("href", f"cid:{cid}")
    attachments.append((cid, data, mime))
