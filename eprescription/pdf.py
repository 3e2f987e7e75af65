"""The ordonnance as a PDF, laid out like a French paper ordonnance (reportlab, A4).

Top left the prescriber (name, specialty, address, RPPS always with its Code 128 bar code as
the arrêté du 10 août 2010 asks for paper ordonnances, FINESS when there is one), top right
the date and the patient's legal details (name, birth date, sex, weight when known), then the
lines with their posology, quantity, duration, refills, substitution and reimbursement, the
electronic signature mention, and at the bottom of the last page the pharmacy zone: the QR
code (drawn as vector squares from ``qrcode``'s matrix, so it stays sharp at any scale) and
the instructions for pharmacists. Rendering is CPU work: callers run it off the event loop.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass, field

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab.graphics.barcode import code128
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from eprescription.model import LineView
from eprescription.numbers import display

WIDTH, HEIGHT = A4
MARGIN = 18 * mm
QR_SIZE = 46 * mm
PHARMACY_ZONE = 62 * mm


@dataclass
class Prescriber:
    name: str  # "Dr Marie MARTIN"
    rpps: str
    specialty: str = ""
    address: list[str] = field(default_factory=list)
    phone: str = ""
    finess: str = ""
    structure: str = ""


@dataclass
class PatientInfo:
    name: str  # "DUPONT Alice"
    birth_date: str  # "17/05/1980"
    sex: str  # "Féminin"
    weight: str = ""  # "62 kg"


@dataclass
class OrdonnanceDocument:
    number: str
    title: str  # "Ordonnance", "Ordonnance d'examens biologiques"...
    issued: str  # "06/12/2026 à 10:42"
    prescriber: Prescriber
    patient: PatientInfo
    lines: list[LineView]
    signature: str  # the electronic signature mention
    qr_url: str
    pharmacy_text: list[str]
    teleconsultation: bool = False


def _safe(text: str) -> str:
    """Text the standard PDF fonts (WinAnsi) can show: other characters fall back to their base letter."""
    out = []
    for ch in text or "":
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", ch).encode("cp1252", "ignore").decode("cp1252")
            out.append(base or "?")
    return "".join(out)


class _Writer:
    def __init__(self, doc: OrdonnanceDocument) -> None:
        self.doc = doc
        self.buffer = io.BytesIO()
        self.c = canvas.Canvas(self.buffer, pagesize=A4, pageCompression=1)
        self.c.setTitle(_safe(f"{doc.title} n° {display(doc.number)}"))
        self.c.setAuthor(_safe(doc.prescriber.name))
        self.c.setSubject("Ordonnance signée électroniquement")
        self.page = 1
        self.y = HEIGHT - MARGIN

    def text(self, x: float, y: float, value: str, size: float = 10, bold: bool = False) -> None:
        self.c.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        self.c.drawString(x, y, _safe(value))

    def wrap(self, value: str, width: float, size: float) -> list[str]:
        words, lines, current = _safe(value).split(), [], ""
        for word in words:
            candidate = f"{current} {word}".strip()
            if self.c.stringWidth(candidate, "Helvetica", size) <= width or not current:
                current = candidate
            else:
                lines.append(current)
                current = word
        if current:
            lines.append(current)
        return lines

    def header(self) -> None:
        doc, p = self.doc, self.doc.prescriber
        y = HEIGHT - MARGIN
        self.text(MARGIN, y, p.name, 13, bold=True)
        y -= 5.5 * mm
        for line in [p.specialty, p.structure, *p.address, f"Tél. {p.phone}" if p.phone else ""]:
            if line:
                self.text(MARGIN, y, line, 9.5)
                y -= 4.5 * mm
        self.text(MARGIN, y, f"N° RPPS : {p.rpps}", 9.5, bold=True)
        y -= 1 * mm
        barcode = code128.Code128(p.rpps, barHeight=8 * mm, barWidth=0.3 * mm, humanReadable=False)
        barcode.drawOn(self.c, MARGIN - 2 * mm, y - 9 * mm)
        y -= 14 * mm
        if p.finess:
            self.text(MARGIN, y, f"N° FINESS : {p.finess}", 9.5, bold=True)
            y -= 1 * mm
            bar = code128.Code128(p.finess, barHeight=8 * mm, barWidth=0.3 * mm, humanReadable=False)
            bar.drawOn(self.c, MARGIN - 2 * mm, y - 9 * mm)
            y -= 14 * mm
        right = WIDTH / 2 + 10 * mm
        ry = HEIGHT - MARGIN
        self.text(right, ry, f"Le {doc.issued}", 10)
        ry -= 8 * mm
        self.text(right, ry, "Patient(e)", 9, bold=True)
        ry -= 5 * mm
        self.text(right, ry, doc.patient.name, 11, bold=True)
        ry -= 5 * mm
        self.text(right, ry, f"Né(e) le {doc.patient.birth_date}", 10)
        ry -= 4.5 * mm
        self.text(right, ry, f"Sexe : {doc.patient.sex}", 10)
        if doc.patient.weight:
            ry -= 4.5 * mm
            self.text(right, ry, f"Poids : {doc.patient.weight}", 10)
        self.y = min(y, ry) - 6 * mm
        self.c.setFont("Helvetica-Bold", 15)
        self.c.drawCentredString(WIDTH / 2, self.y, _safe(doc.title.upper()))
        self.y -= 5 * mm
        self.c.setFont("Helvetica", 9)
        mention = f"N° {display(doc.number)}" + (" — Téléconsultation" if doc.teleconsultation else "")
        self.c.drawCentredString(WIDTH / 2, self.y, _safe(mention))
        self.y -= 8 * mm

    def footer(self, last: bool) -> None:
        self.c.setFont("Helvetica", 8)
        self.c.drawCentredString(
            WIDTH / 2, 8 * mm, _safe(f"Ordonnance n° {display(self.doc.number)} — page {self.page}")
        )
        if not last:
            self.c.showPage()
            self.page += 1
            self.y = HEIGHT - MARGIN
            self.text(MARGIN, self.y, f"{self.doc.prescriber.name} — {self.doc.patient.name} (suite)", 9)
            self.y -= 10 * mm

    def need(self, height: float, bottom: float) -> None:
        if self.y - height < bottom:
            self.footer(last=False)

    def lines(self) -> None:
        width = WIDTH - 2 * MARGIN - 8 * mm
        for index, line in enumerate(self.doc.lines, 1):
            details = [line.posology] if line.posology else []
            extra = []
            if line.quantity:
                extra.append(f"Quantité : {line.quantity}")
            if line.duration:
                extra.append(f"Durée : {line.duration}")
            if line.refills:
                extra.append(f"À renouveler {line.refills} fois")
            if extra:
                details.append(" — ".join(extra))
            if line.note:
                details.append(line.note)
            flags = []
            if not line.substitution:
                flags.append("Non substituable")
            flags.append("Remboursable" if line.reimbursable else "Non remboursable (NR)")
            wrapped = [(t, 9.5) for d in details for t in self.wrap(d, width, 9.5)]
            self.need(6 * mm + 4.5 * mm * (len(wrapped) + 1), 20 * mm)
            self.text(MARGIN, self.y, f"{index}.", 11, bold=True)
            for title_line in self.wrap(line.title, width, 11):
                self.text(MARGIN + 8 * mm, self.y, title_line, 11, bold=True)
                self.y -= 5 * mm
            for value, size in wrapped:
                self.text(MARGIN + 8 * mm, self.y, value, size)
                self.y -= 4.5 * mm
            self.text(MARGIN + 8 * mm, self.y, " · ".join(flags), 9, bold=not line.reimbursable)
            self.y -= 7 * mm

    def signature(self) -> None:
        wrapped = self.wrap(self.doc.signature, WIDTH - 2 * MARGIN, 9)
        self.need(5 * mm * (len(wrapped) + 1), PHARMACY_ZONE + 14 * mm)
        self.y -= 2 * mm
        for value in wrapped:
            self.text(MARGIN, self.y, value, 9)
            self.y -= 4.5 * mm

    def pharmacy_zone(self) -> None:
        if self.y < PHARMACY_ZONE + 14 * mm:
            self.footer(last=False)
        top = 14 * mm + PHARMACY_ZONE
        self.c.setLineWidth(0.8)
        self.c.rect(MARGIN, 14 * mm, WIDTH - 2 * MARGIN, PHARMACY_ZONE)
        self.text(MARGIN + 4 * mm, top - 6 * mm, "Zone réservée au pharmacien", 10, bold=True)
        self._qr(MARGIN + 4 * mm, 14 * mm + (PHARMACY_ZONE - QR_SIZE) / 2 - 2 * mm)
        x = MARGIN + QR_SIZE + 10 * mm
        y = top - 13 * mm
        width = WIDTH - MARGIN - x - 4 * mm
        for paragraph in self.doc.pharmacy_text:
            for value in self.wrap(paragraph, width, 8.5):
                self.text(x, y, value, 8.5)
                y -= 4 * mm
            y -= 1.5 * mm

    def _qr(self, x: float, y: float) -> None:
        code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
        code.add_data(self.doc.qr_url)
        code.make(fit=True)
        matrix = code.get_matrix()  # includes the quiet zone
        cell = QR_SIZE / len(matrix)
        self.c.setFillColorRGB(0, 0, 0)
        for row, values in enumerate(matrix):
            for col, dark in enumerate(values):
                if dark:
                    self.c.rect(x + col * cell, y + QR_SIZE - (row + 1) * cell, cell, cell, stroke=0, fill=1)

    def render(self) -> bytes:
        self.header()
        self.lines()
        self.signature()
        self.pharmacy_zone()
        self.footer(last=True)
        self.c.save()
        return self.buffer.getvalue()


def render(doc: OrdonnanceDocument) -> bytes:
    """The PDF bytes of ``doc``."""
    return _Writer(doc).render()
