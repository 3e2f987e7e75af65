"""Section narratives: the original CDA narrative made into safe FHIR XHTML.

The CDA narrative block is a small closed vocabulary; it is rebuilt element by element into
the XHTML subset FHIR allows, so nothing from the source (scripts, event attributes,
``javascript:`` links, foreign elements, images) can reach a clinician's browser. Unknown
elements are flattened to their text, so no words are lost.
"""

from __future__ import annotations

import re

from lxml import etree

from cda_transform.parse import is_cda, local, text_of

XHTML = "http://www.w3.org/1999/xhtml"

_SIMPLE = {
    "br": "br",
    "sub": "sub",
    "sup": "sup",
    "tr": "tr",
    "td": "td",
    "th": "th",
    "thead": "thead",
    "tbody": "tbody",
    "tfoot": "tfoot",
    "col": "col",
    "colgroup": "colgroup",
    "item": "li",
}
_BLOCK = {"paragraph", "list", "table", "div"}
_CELL_ATTRS = {"colspan", "rowspan", "align", "valign", "width", "span"}
_SAFE_VALUE = re.compile(r"^[\w%.,\- ]{1,40}$")
_SAFE_LANG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_SAFE_HREF = re.compile(r"^(https?://|mailto:|#)[^\s\"'<>]*$", re.IGNORECASE)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str | None) -> str | None:
    return _XML_BAD.sub("", text) if text else text


def narrative_ids(root: etree._Element) -> dict[str, str]:
    """Every narrative ``ID`` of the document with its text, for ``reference/@value`` lookups."""
    out: dict[str, str] = {}
    for el in root.iter():
        if isinstance(el.tag, str):
            ident = el.get("ID")
            if ident and ident not in out:
                out[ident] = text_of(el) or ""
    return {k: v for k, v in out.items() if v}


def _has_block(el: etree._Element) -> bool:
    return any(is_cda(c) and local(c) in _BLOCK for c in el)


def _convert(src: etree._Element, parent: etree._Element) -> None:
    """Append the XHTML rendering of ``src``'s content to ``parent``."""
    if src.text:
        _append_text(parent, src.text)
    for child in src:
        if not isinstance(child.tag, str):  # comments, PIs
            if child.tail:
                _append_text(parent, child.tail)
            continue
        out = _element_for(child, parent)
        if out is None:
            # Unknown or unsafe element: keep its words, drop the element.
            words = text_of(child)
            if words:
                _append_text(parent, f" {words} ")
        else:
            _convert(child, out)
        if child.tail:
            _append_text(parent, child.tail)


def _element_for(child: etree._Element, parent: etree._Element) -> etree._Element | None:
    if not is_cda(child):
        return None
    name = local(child)
    parent_name = etree.QName(parent).localname
    if name in _SIMPLE:
        tag = _SIMPLE[name]
    elif name == "paragraph":
        tag = "div" if _has_block(child) else "p"
    elif name == "content":
        tag = "div" if _has_block(child) else "span"
    elif name == "list":
        tag = "ol" if child.get("listType") == "ordered" else "ul"
    elif name == "table":
        tag = "table"
    elif name == "caption":
        tag = "caption" if parent_name == "table" else "b"
    elif name == "footnote":
        tag = "span"
    elif name == "footnoteRef":
        tag = "sup"
    elif name == "linkHtml":
        tag = "a"
    elif name == "renderMultiMedia":
        el = etree.SubElement(parent, f"{{{XHTML}}}span")
        el.text = "[contenu multimédia non affiché]"
        return el
    else:
        return None
    el = etree.SubElement(parent, f"{{{XHTML}}}{tag}")
    for attr in _CELL_ATTRS:
        value = child.get(attr)
        if value and _SAFE_VALUE.match(value) and tag in {"td", "th", "col", "colgroup", "tr", "table"}:
            el.set(attr, value)
    style = child.get("styleCode")
    if style and _SAFE_VALUE.match(style):
        el.set("class", style)
    lang = child.get("language")
    if lang and _SAFE_LANG.match(lang):
        el.set("lang", lang)
    if tag == "a":
        href = (child.get("href") or "").strip()
        if _SAFE_HREF.match(href):
            el.set("href", href)
    return el


def _append_text(parent: etree._Element, text: str) -> None:
    text = _clean(text) or ""
    if not text:
        return
    if len(parent):
        last = parent[-1]
        last.tail = (last.tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def original_xhtml(text_el: etree._Element | None, lang: str | None) -> etree._Element | None:
    """The section's ``text`` as an XHTML ``div`` (or None when it has no words)."""
    if text_el is None or not text_of(text_el):
        return None
    div = etree.Element(f"{{{XHTML}}}div", nsmap={None: XHTML})
    div.set("class", "cda-original-narrative")
    if lang and _SAFE_LANG.match(lang):
        div.set("lang", lang)
    _convert(text_el, div)
    return div


def element(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.Element(f"{{{XHTML}}}{tag}", nsmap={None: XHTML})
    if text:
        el.text = _clean(text)
    for k, v in attrs.items():
        el.set(k.rstrip("_"), v)
    return el


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{XHTML}}}{tag}")
    if text:
        el.text = _clean(text)
    for k, v in attrs.items():
        el.set(k.rstrip("_"), v)
    return el


def serialize(div: etree._Element) -> str:
    return etree.tostring(div, encoding="unicode", method="xml")
