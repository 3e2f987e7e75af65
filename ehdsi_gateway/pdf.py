"""The L1 Patient Summary: a PDF rendering of the pivot CDA, wrapped in an eHDSI L1 CDA.

The PDF lists the header (patient, author, date) and every section with its narrative as
plain text; the L1 CDA keeps the L3 header and carries the PDF in ``nonXMLBody``
(``…1.1.7``, ``mediaType="application/pdf" representation="B64"``).
"""

from __future__ import annotations

import base64
import copy
import uuid

from fpdf import FPDF, XPos, YPos
from lxml import etree

V3 = "urn:hl7-org:v3"
L3_TEMPLATE = "1.3.6.1.4.1.12559.11.10.1.3.1.1.3"
L1_TEMPLATE = "1.3.6.1.4.1.12559.11.10.1.3.1.1.7"
_REPLACE = {
    "œ": "oe",
    "Œ": "OE",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
    "–": "-",
    "—": "-",
    "…": "...",
    "€": "EUR",
}


def _latin1(value: str) -> str:
    for a, b in _REPLACE.items():
        value = value.replace(a, b)
    return value.encode("latin-1", "replace").decode("latin-1")


def _line(pdf: FPDF, height: int, text: str) -> None:
    pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _t(node: etree._Element | None) -> str:
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def render_pdf(cda: bytes) -> bytes:
    root = etree.fromstring(cda, etree.XMLParser(resolve_entities=False, no_network=True))
    ns = {"v3": V3}
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    _line(pdf, 8, _latin1(_t(root.find("v3:title", ns)) or "Synthèse médicale"))
    patient = root.find("v3:recordTarget/v3:patientRole/v3:patient", ns)
    pdf.set_font("Helvetica", "", 10)
    if patient is not None:
        name = " ".join(_t(n) for n in patient.iterfind("v3:name/*", ns))
        birth = patient.find("v3:birthTime", ns)
        line = f"Patient : {name}"
        if birth is not None and birth.get("value"):
            v = birth.get("value", "")
            line += f" - né(e) le {v[6:8]}/{v[4:6]}/{v[:4]}"
        _line(pdf, 6, _latin1(line))
    for pid in root.iterfind("v3:recordTarget/v3:patientRole/v3:id", ns):
        _line(pdf, 6, _latin1(f"Identifiant : {pid.get('extension', '')}"))
    when = root.find("v3:effectiveTime", ns)
    if when is not None and when.get("value"):
        v = when.get("value", "")
        _line(pdf, 6, _latin1(f"Document du {v[6:8]}/{v[4:6]}/{v[:4]}"))
    for section in root.iterfind(".//v3:structuredBody/v3:component/v3:section", ns):
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        _line(pdf, 7, _latin1(_t(section.find("v3:title", ns)) or "Section"))
        pdf.set_font("Helvetica", "", 9)
        text = section.find("v3:text", ns)
        rows = text.iterfind(".//v3:tr", ns) if text is not None else []
        wrote = False
        for row in rows:
            cells = [_t(c) for c in row if isinstance(c.tag, str)]
            _line(pdf, 5, _latin1(" | ".join(c for c in cells if c)))
            wrote = True
        if not wrote:
            _line(pdf, 5, _latin1(_t(text) or "-"))
    return bytes(pdf.output())


def l1_document(l3: bytes, pdf: bytes) -> bytes:
    """The L1 CDA: the L3 header with the PDF as ``nonXMLBody``."""
    root = etree.fromstring(l3, etree.XMLParser(resolve_entities=False, no_network=True))
    l1 = copy.deepcopy(root)
    for tpl in l1.iterfind(f"{{{V3}}}templateId"):
        if tpl.get("root") == L3_TEMPLATE:
            tpl.set("root", L1_TEMPLATE)
    doc_id = l1.find(f"{{{V3}}}id")
    if doc_id is not None:
        doc_id.attrib.clear()
        doc_id.set("root", str(uuid.uuid4()))
    component = l1.find(f"{{{V3}}}component")
    if component is not None:
        for child in list(component):
            component.remove(child)
    else:
        component = etree.SubElement(l1, f"{{{V3}}}component")
    body = etree.SubElement(component, f"{{{V3}}}nonXMLBody")
    text = etree.SubElement(body, f"{{{V3}}}text", mediaType="application/pdf", representation="B64")
    text.text = base64.b64encode(pdf).decode()
    return etree.tostring(l1, xml_declaration=True, encoding="UTF-8")
