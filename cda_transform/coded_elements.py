"""The eHDSI coded element list: which CDA elements must be translated, and how strictly.

``data/coded_element_list_ehdsi.xml`` (vendored from OpenNCP's Transformation Manager) lists
namespace-agnostic XPaths: OpenNCP strips namespaces before evaluating them. We keep the
namespaces (two pharmacy namespaces coexist) and instead rewrite every element step into a
``*[local-name()=...]`` test, so the same expressions work on the untouched document.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lxml import etree

LIST_PATH = Path(__file__).parent / "data" / "coded_element_list_ehdsi.xml"

USAGE_TAGS = {3: "patientSummaryCDAl3", 1: "patientSummaryCDAl1pdf"}

_TOKEN = re.compile(r"('[^']*'|\"[^\"]*\")|(@?[A-Za-z_][\w.-]*)(\s*\()?")
_KEYWORDS = {"and", "or", "div", "mod"}
_LOCK = threading.Lock()  # compiled XPath objects are shared process-wide: evaluate one at a time


@dataclass(frozen=True)
class CodedElement:
    xpath: str
    usage: str  # R, RNFA, O (NA entries are not loaded)
    value_sets: tuple[str, ...]
    compiled: etree.XPath


def agnostic_xpath(expr: str) -> str:
    """Rewrite ``/a/b[@x='y']/c`` into namespace-agnostic local-name() steps.

    ``@type`` is the namespace-stripped form of ``xsi:type`` and is rewritten to match any
    attribute named ``type``.
    """

    def repl(m: re.Match[str]) -> str:
        quoted, name, paren = m.groups()
        if quoted:
            return quoted
        if paren:  # a function call such as local-name( or not(
            return m.group(0)
        if name.startswith("@"):
            return f"@*[local-name()='{name[1:]}']" if name == "@type" else name
        if name in _KEYWORDS:
            return name
        return f"*[local-name()='{name}']"

    return _TOKEN.sub(repl, expr)


@lru_cache(maxsize=2)
def coded_elements(level: int) -> tuple[CodedElement, ...]:
    """Entries that apply to a Patient Summary of the given level (3 or 1)."""
    tag = USAGE_TAGS[level]
    root = etree.parse(str(LIST_PATH), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    out: list[CodedElement] = []
    for item in root.iter("codedElement"):
        xpath = (item.findtext("elementPath") or "").strip()
        usage = (item.findtext(f"usage/{tag}") or "NA").strip()
        if not xpath or usage == "NA" or xpath.rsplit("/", 1)[-1].startswith("@"):  # UCUM unit attributes
            continue
        value_sets = tuple((v.text or "").strip() for v in item.findall("valueSet"))
        out.append(CodedElement(xpath, usage, value_sets, etree.XPath(agnostic_xpath(xpath))))
    return tuple(out)


def select(root: etree._Element, level: int) -> dict[etree._Element, CodedElement]:
    """Every element of the document covered by the list, with the entry that covers it.

    The returned dict keeps the lxml proxies alive, so identity lookups (``el in result``)
    stay valid while mapping.
    """
    found: dict[etree._Element, CodedElement] = {}
    tree = root.getroottree()
    with _LOCK:
        results = []
        for item in coded_elements(level):
            try:
                results.append((item, item.compiled(tree)))
            except etree.XPathError:
                continue
    for item, hits in results:
        for el in hits if isinstance(hits, list) else []:
            if isinstance(el, etree._Element) and el not in found:
                found[el] = item
    return found
