"""PDF copies (reportlab platypus): the readable record of "Télécharger mes données", and a report
(Composition) of "Mes documents médicaux". Built in a worker thread, never on the event loop."""

from __future__ import annotations

import io
from datetime import datetime
from html import escape
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer
from starlette.concurrency import run_in_threadpool

from apps.portal.patient.readable import Section


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": base["Title"],
        "h2": base["Heading2"],
        "body": base["BodyText"],
        "small": ParagraphStyle("small", parent=base["BodyText"], fontSize=8, textColor="#555555"),
    }


def _document(title: str, author: str, story: list[Any]) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, title=title, author=author, leftMargin=18 * mm, rightMargin=18 * mm,
        topMargin=18 * mm, bottomMargin=18 * mm,
    )  # fmt: skip
    doc.build(story)
    return out.getvalue()


def _record_pdf(name: str, sections: list[Section], generated: str) -> bytes:
    s = _styles()
    story: list[Any] = [
        Paragraph(escape(f"Dossier de {name}"), s["title"]),
        Paragraph(escape(f"Copie de vos données, générée le {generated} par Passerelle."), s["small"]),
        Spacer(1, 6 * mm),
    ]
    for section in sections:
        story.append(Paragraph(escape(section.title), s["h2"]))
        for line in section.lines:
            story.append(Paragraph("• " + escape(line), s["body"]))
    if not sections:
        story.append(Paragraph("Aucune donnée.", s["body"]))
    return _document(f"Dossier de {name}", "Passerelle", story)


async def record_pdf(name: str, sections: list[Section]) -> bytes:
    generated = datetime.now().strftime("%d/%m/%Y à %H:%M")
    return await run_in_threadpool(_record_pdf, name, sections, generated)


def _report_pdf(title: str, patient: str, lines: list[tuple[str, str]]) -> bytes:
    s = _styles()
    story: list[Any] = [
        Paragraph(escape(title), s["title"]),
        Paragraph(escape(patient), s["small"]),
        Spacer(1, 5 * mm),
    ]
    for heading, text in lines:
        if heading:
            story.append(Paragraph(escape(heading), s["h2"]))
        for para in text.split("\n"):
            if para.strip():
                story.append(Paragraph(escape(para), s["body"]))
    return _document(title, "Passerelle", story)


async def report_pdf(title: str, patient: str, lines: list[tuple[str, str]]) -> bytes:
    return await run_in_threadpool(_report_pdf, title, patient, lines)
