"""Section narrative (``section/text``): one French table per section, one row per entry.

Each row carries an ``ID`` that the coded entry points to (``text/reference``,
``originalText/reference``), which is how eHDSI display tools and translators find the
human-readable form of a coded element.
"""

from __future__ import annotations

import re
from html.entities import name2codepoint

from lxml import etree

from ..errors import TransformError
from .xmlns import Element, el

_XHTML = "{http://www.w3.org/1999/xhtml}"
_BLOCKS = {
    "div",
    "p",
    "ul",
    "ol",
    "li",
    "table",
    "tr",
    "br",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "caption",
    "pre",
    "dl",
    "dt",
    "dd",
    "blockquote",
}


class Narrative:
    """A table filled row by row while the entries are built, under an already placed ``text``."""

    def __init__(self, text: Element, prefix: str, headers: list[str]) -> None:
        self.prefix = prefix
        self.count = 0
        self.text = text
        self.headers = headers
        self.tbody: Element | None = None

    def _table(self) -> Element:
        if self.tbody is None:
            table = el(self.text, "table", {"border": "1"})
            head_row = el(el(table, "thead"), "tr")
            for header in self.headers:
                el(head_row, "th", text=header)
            self.tbody = el(table, "tbody")
        return self.tbody

    def row(self, cells: list[str]) -> str:
        """Append a row and return its ID; the first cell also gets an ID (``<id>-label``)."""
        self.count += 1
        row_id = f"{self.prefix}-{self.count}"
        tr = el(self._table(), "tr", {"ID": row_id})
        for index, cell in enumerate(cells):
            el(tr, "td", {"ID": f"{row_id}-label"} if index == 0 else None, text=cell or "")
        return row_id

    def paragraph(self, content: str) -> str:
        self.count += 1
        par_id = f"{self.prefix}-{self.count}"
        el(self.text, "paragraph", {"ID": par_id}, text=content)
        return par_id


def fr_date(value: str | None) -> str:
    """FHIR date/dateTime shown as in the source (date part), for the narrative."""
    if not value:
        return ""
    return value[:10]


def fr_period(start: str | None, end: str | None) -> str:
    if start and end:
        return f"du {fr_date(start)} au {fr_date(end)}"
    if start:
        return f"depuis le {fr_date(start)}"
    if end:
        return f"jusqu'au {fr_date(end)}"
    return ""


_HTML_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}


def _numeric_entity(match: re.Match[str]) -> str:
    """HTML named entities (``&nbsp;`` ...) that real narratives use become character references."""
    name = match.group(1)
    if name in _XML_ENTITIES or name not in name2codepoint:
        return match.group(0)
    return f"&#{name2codepoint[name]};"


def xhtml_paragraphs(div: str, path: str) -> list[str]:
    """The text of a FHIR narrative, one string per block (paragraph, list item, table row ...).

    CDA narrative is not XHTML, so the markup is not copied; all of its text is, in order, cut
    at block boundaries. Undeclared entities (``&nbsp;``) are tolerated, not refused.
    """
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(_HTML_ENTITY.sub(_numeric_entity, div).encode(), parser=parser)
    if root is None:
        raise TransformError("Narratif XHTML illisible", expression=path)
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = " ".join("".join(current).split())
        current.clear()
        if text:
            paragraphs.append(text)

    def visit(node: etree._Element) -> None:
        block = isinstance(node.tag, str) and node.tag.replace(_XHTML, "") in _BLOCKS
        if block:
            flush()
        if isinstance(node.tag, str) and node.text:
            current.append(node.text)
        for child in node:
            visit(child)
            if child.tail:
                current.append(child.tail)
        if block:
            flush()
        elif isinstance(node.tag, str) and node.tag.replace(_XHTML, "") in ("td", "th"):
            current.append(" ")  # cells of a row stay on one line, apart

    visit(root)
    flush()
    return paragraphs
