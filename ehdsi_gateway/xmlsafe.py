"""Parsing untrusted XML: no DTD, no entities, no network, bounded size and depth."""

from __future__ import annotations

from lxml import etree

from .errors import EhdsiError

#: default largest SOAP message accepted (a PS L3 with its L1 PDF is well under 10 MB)
MAX_BYTES = 20 * 1024 * 1024


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse(data: bytes, *, limit: int = MAX_BYTES, what: str = "message") -> etree._Element:
    """Parse ``data``; any DOCTYPE (XXE, billion laughs), oversize or malformed input is refused."""
    if len(data) > limit:
        raise EhdsiError(
            "ERROR_INVALID_MESSAGE", f"{what} trop volumineux ({len(data)} octets, limite {limit})"
        )
    head = data[:4096].lstrip()
    if b"<!DOCTYPE" in data[:65536].upper() or b"<!ENTITY" in data[:65536].upper():
        raise EhdsiError("ERROR_INVALID_MESSAGE", f"{what} : DTD et entités interdites")
    if not head.startswith(b"<"):
        raise EhdsiError("ERROR_INVALID_MESSAGE", f"{what} : ce n'est pas du XML")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise EhdsiError("ERROR_INVALID_MESSAGE", f"{what} : XML mal formé ({exc.msg})") from exc
    if root.getroottree().docinfo.doctype:
        raise EhdsiError("ERROR_INVALID_MESSAGE", f"{what} : DTD interdite")
    return root


def text(node: etree._Element | None) -> str:
    return "".join(node.itertext()).strip() if node is not None else ""
