"""Namespaces and the tiny element helpers every builder uses.

The pivot CDA has three namespaces: HL7 v3 (default), the HL7 pharmacy extension
``urn:hl7-org:pharm`` (the current eHDSI one, not the old ``urn:epsos-org:ep:medication``)
and ``xsi`` for the ``xsi:type`` of polymorphic values.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from lxml import etree

V3: Final = "urn:hl7-org:v3"
PHARM: Final = "urn:hl7-org:pharm"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP: Final = {None: V3, "pharm": PHARM, "xsi": XSI}
XSI_TYPE: Final = f"{{{XSI}}}type"

Element: TypeAlias = etree._Element


def el(
    parent: Element | None,
    tag: str,
    attrs: dict[str, str | None] | None = None,
    text: str | None = None,
    *,
    ns: str = V3,
) -> Element:
    """Make (and append, when ``parent`` is given) an element; ``None`` attribute values are skipped."""
    qname = f"{{{ns}}}{tag}"
    node = etree.Element(qname, nsmap=NSMAP) if parent is None else etree.SubElement(parent, qname)
    for key, value in (attrs or {}).items():
        if value is not None:
            node.set(key, value)
    if text is not None:
        node.text = text
    return node


def pel(
    parent: Element, tag: str, attrs: dict[str, str | None] | None = None, text: str | None = None
) -> Element:
    """Element in the pharmacy extension namespace."""
    return el(parent, tag, attrs, text, ns=PHARM)


def template_ids(parent: Element, *roots: str) -> None:
    for root in roots:
        el(parent, "templateId", {"root": root})


def set_xsi_type(node: Element, type_name: str) -> Element:
    node.set(XSI_TYPE, type_name)
    return node
