"""Safe parsing of CDA documents and namespace-agnostic element access.

Documents arrive from foreign NCPs, so the parser is locked down: no entity expansion,
no DTD loading, no network, no huge-tree mode, and a size limit checked before any parsing
(a 50 MB document is refused without being read into a tree). A DOCTYPE has no business in
an eHDSI CDA; any document carrying one is refused, which covers XXE, billion laughs and
external DTDs in one rule.

Real documents mix two pharmacy namespaces (``urn:epsos-org:ep:medication`` and
``urn:hl7-org:pharm``) and sometimes declare HL7 v3 elements under odd prefixes, so every
lookup here matches on the namespace URI (any of the known ones) plus the local name, never
on a prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from cda_transform.errors import TransformError

V3 = "urn:hl7-org:v3"
PHARM = "urn:hl7-org:pharm"
EPSOS = "urn:epsos-org:ep:medication"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
KNOWN_NS = frozenset({V3, PHARM, EPSOS})

MAX_BYTES = 20 * 1024 * 1024
"""Largest accepted document. The biggest public PS samples are under 2 MB (with images)."""

MAX_ENTRIES = 5000
"""Most entries converted in one document (the richest public sample has 306): a bound on work."""

PS_CODE = "60591-5"
LOINC_OID = "2.16.840.1.113883.6.1"

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

DOCUMENT_NAMES = {
    "60591-5": "Patient Summary",
    "57833-6": "ePrescription",
    "60593-1": "eDispensation",
    "34133-9": "HCER / résumé de soins (CCD)",
    "56445-0": "MRO (Medication Related Overview)",
    "11502-2": "OrCD rapport de laboratoire",
    "34105-7": "OrCD compte rendu d'hospitalisation",
    "18748-4": "OrCD compte rendu d'imagerie",
    "x-clinical-image": "OrCD images médicales",
    "10160-0": "section « historique des médicaments » isolée",
}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(xml: bytes | str, *, max_bytes: int = MAX_BYTES) -> etree._Element:
    """Parse untrusted XML into its root element, or raise a clean ``TransformError``."""
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    if not isinstance(xml, bytes | bytearray):
        raise TransformError("L'entrée doit être un document XML (octets).", code="invalid")
    if len(xml) > max_bytes:
        raise TransformError(
            f"Document trop volumineux ({len(xml)} octets, limite {max_bytes}).", code="too-costly"
        )
    if not xml.strip():
        raise TransformError("Document vide : aucun XML à lire.", code="structure")
    head = bytes(xml[:65536]).replace(b"\x00", b"")
    if _DOCTYPE.search(head):
        raise TransformError(
            "Document refusé : les déclarations DOCTYPE/ENTITY (DTD, entités externes) sont interdites.",
            code="security",
        )
    try:
        root = etree.fromstring(bytes(xml), _parser())
    except etree.XMLSyntaxError as exc:
        raise TransformError(f"XML mal formé : {exc}", code="structure") from None
    except (ValueError, etree.ParserError) as exc:
        raise TransformError(f"XML illisible : {exc}", code="structure") from None
    if root is None:
        raise TransformError("Document vide : aucun élément racine.", code="structure")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.system_url:
        raise TransformError("Document refusé : une DTD est déclarée.", code="security")
    for _ in root.iter(etree.Entity):
        raise TransformError("Document refusé : références d'entités non résolues.", code="security")
    return root


# ---------------------------------------------------------------- element access


def local(el: etree._Element) -> str:
    """Local name of an element (empty for comments and processing instructions)."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _ns(el: etree._Element) -> str:
    tag = el.tag
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    return ""


def is_cda(el: etree._Element) -> bool:
    return isinstance(el.tag, str) and _ns(el) in KNOWN_NS


def kids(el: etree._Element | None, *names: str) -> list[etree._Element]:
    """Children in any known CDA namespace whose local name is one of ``names`` (all when empty)."""
    if el is None:
        return []
    return [c for c in el if is_cda(c) and (not names or local(c) in names)]


def kid(el: etree._Element | None, name: str) -> etree._Element | None:
    if el is None:
        return None
    for c in el:
        if is_cda(c) and local(c) == name:
            return c
    return None


def path(el: etree._Element | None, steps: str) -> etree._Element | None:
    """Follow ``a/b/c`` (first match at each step)."""
    for step in steps.split("/"):
        el = kid(el, step)
        if el is None:
            return None
    return el


def path_all(el: etree._Element | None, steps: str) -> list[etree._Element]:
    """All elements reached by ``a/b/c``, branching at every step."""
    current = [el] if el is not None else []
    for step in steps.split("/"):
        current = [c for e in current for c in kids(e, step)]
    return current


def descendants(el: etree._Element, name: str) -> Iterator[etree._Element]:
    for d in el.iter():
        if is_cda(d) and local(d) == name:
            yield d


def template_ids(el: etree._Element | None) -> set[str]:
    return {t.get("root", "") for t in kids(el, "templateId")}


def xsi_type(el: etree._Element) -> str | None:
    """The local part of ``xsi:type``, whatever prefix the document used for it."""
    value = el.get(f"{{{XSI}}}type")
    if not value:
        return None
    return value.split(":", 1)[-1].strip() or None


def text_of(el: etree._Element | None) -> str | None:
    """Normalised text content (all descendant text), or None when blank."""
    if el is None:
        return None
    text = " ".join("".join(el.itertext()).split())
    return text or None


def has_null(el: etree._Element | None) -> bool:
    return el is not None and bool(el.get("nullFlavor"))


def xpath_of(el: etree._Element) -> str:
    """A readable, prefix-free location for warnings, e.g. ``/ClinicalDocument/component/.../entry[2]``."""
    steps: list[str] = []
    node: etree._Element | None = el
    while node is not None and isinstance(node.tag, str):
        parent = node.getparent()
        name = local(node)
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and local(c) == name]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


# ---------------------------------------------------------------- document kind


@dataclass(frozen=True)
class DocumentKind:
    """What the document is: detected from its code and its body, never from templateIds."""

    code: str | None
    level: int | None  # 3 = structuredBody, 1 = nonXMLBody
    language: str | None

    @property
    def name(self) -> str:
        return DOCUMENT_NAMES.get(self.code or "", f"code {self.code!r}")


def detect_kind(root: etree._Element) -> DocumentKind:
    if local(root) != "ClinicalDocument" or _ns(root) != V3:
        found = f"{{{_ns(root)}}}{local(root)}" if _ns(root) else local(root)
        raise TransformError(
            f"Ce n'est pas un document CDA HL7 v3 (élément racine {found}, attendu "
            f"{{{V3}}}ClinicalDocument).",
            code="structure",
            expression="/ClinicalDocument",
        )
    code_el = kid(root, "code")
    code = code_el.get("code") if code_el is not None else None
    body = path(root, "component/structuredBody")
    level = 3 if body is not None else (1 if path(root, "component/nonXMLBody") is not None else None)
    lang_el = kid(root, "languageCode")
    lang = lang_el.get("code") if lang_el is not None else None
    return DocumentKind(code=code, level=level, language=lang)


def require_patient_summary(kind: DocumentKind) -> None:
    """Refuse, with a diagnostic naming the document, everything that is not a PS L1/L3."""
    if kind.code != PS_CODE:
        raise TransformError(
            f"Document CDA de type {kind.name} ({kind.code or 'sans code'}) : ce n'est pas un "
            f"Patient Summary eHDSI (LOINC {PS_CODE}), et ce type n'est pas (encore) pris en charge.",
            code="not-supported",
            expression="/ClinicalDocument/code",
        )
    if kind.level is None:
        raise TransformError(
            "Patient Summary sans corps exploitable (ni structuredBody ni nonXMLBody).",
            code="structure",
            expression="/ClinicalDocument/component",
        )
