"""Translation coverage of eHDSI CDA documents: which coded elements have a designation.

Reads CDA files, finds every coded element of the eHDSI coded element list (the XPaths
OpenNCP's transformation manager translates), and checks for each distinct code whether the
terminology service has a designation in the target language. Codes are counted once per
value set (a code seen in ten documents counts once), so the figures measure vocabulary
coverage, not document volume.

The coded element list's XPaths are namespace-agnostic (OpenNCP strips namespaces). We parse
safely (no entities, no network) and rename elements of the three CDA namespaces — HL7 v3,
the epSOS pharmacy extension and the HL7 pharmacy extension — to their local names, matching
by namespace URI, never by prefix; elements of any other namespace keep their qualified name
and so never match.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from terminology.content import CODED_ELEMENT_LIST
from terminology.service import TerminologyService
from terminology.valuesets import compose_contains

CDA_NAMESPACES = frozenset({"urn:hl7-org:v3", "urn:epsos-org:ep:medication", "urn:hl7-org:pharm"})
UCUM = "http://unitsofmeasure.org"


@dataclass(slots=True, frozen=True)
class CodedElement:
    path: str
    value_sets: tuple[str, ...]  # OIDs, in the list's order


@dataclass(slots=True)
class ValueSetCoverage:
    found: dict[tuple[str, str], str] = field(default_factory=dict)  # (system, code) -> original display
    translated: set[tuple[str, str]] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        missing = [[s, c, d] for (s, c), d in sorted(self.found.items()) if (s, c) not in self.translated]
        return {"found": len(self.found), "translated": len(self.translated), "missing": missing}


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def load_coded_elements(path: Path = CODED_ELEMENT_LIST) -> list[CodedElement]:
    tree = etree.parse(str(path), safe_parser())
    elements = []
    for item in tree.getroot().iter("codedElement"):
        xpath = (item.findtext("elementPath") or "").strip()
        oids = tuple(v.text.strip() for v in item.iter("valueSet") if v.text and v.text.strip())
        if xpath and oids:
            elements.append(CodedElement(xpath, oids))
    return elements


def localise_cda(root: etree._Element) -> etree._Element:
    """Rename elements of the CDA namespaces to local names (in place) so the list's XPaths apply."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        qname = etree.QName(el)
        if qname.namespace in CDA_NAMESPACES:
            el.tag = qname.localname
    etree.cleanup_namespaces(root)
    return root


CodedValue = tuple[CodedElement, str, str, str | None]


def coded_values(root: etree._Element, elements: Iterable[CodedElement]) -> Iterator[CodedValue]:
    """(coded element, code system as written, code, displayName) for each coded value found."""
    tree = root.getroottree()
    seen: set[tuple[int, str]] = set()
    for element in elements:
        try:
            hits = tree.xpath(element.path)
        except etree.XPathError:
            continue
        for hit in hits if isinstance(hits, list) else []:
            if isinstance(hit, str):  # an attribute such as doseQuantity/@unit (lxml "smart string")
                parent = hit.getparent() if hasattr(hit, "getparent") else None
                key = (id(parent), element.path)
                if key in seen or not hit.strip():
                    continue
                seen.add(key)
                yield element, UCUM, hit.strip(), None
                continue
            if not isinstance(hit, etree._Element):
                continue
            key = (id(hit), ",".join(element.value_sets))
            if key in seen or hit.get("nullFlavor"):
                continue
            seen.add(key)
            code, system = hit.get("code"), hit.get("codeSystem")
            if code and system:
                yield element, system, code.strip(), hit.get("displayName")


def measure(service: TerminologyService, files: Iterable[Path], lang: str = "fr") -> dict[str, Any]:
    """The coverage report for ``files`` (see module doc for how codes are counted)."""
    elements = load_coded_elements()
    per_vs: dict[str, ValueSetCoverage] = {}
    vs_urls: dict[str, str] = {}
    for path in files:
        root = etree.parse(str(path), safe_parser()).getroot()
        localise_cda(root)
        for element, raw_system, code, shown in coded_values(root, elements):
            system = service.canonical_system(raw_system)
            vs_key = _pick_value_set(service, element.value_sets, system, code, vs_urls)
            coverage = per_vs.setdefault(vs_key, ValueSetCoverage())
            key = (system, code)
            if key not in coverage.found or (shown and not coverage.found[key]):
                coverage.found[key] = shown or ""
            if service.display(system, code, lang) is not None:
                coverage.translated.add(key)
    value_sets = {url: cov.to_json() for url, cov in sorted(per_vs.items())}
    return {
        "total": {
            "found": sum(v["found"] for v in value_sets.values()),
            "translated": sum(v["translated"] for v in value_sets.values()),
        },
        "value_sets": value_sets,
    }


def _pick_value_set(
    service: TerminologyService, oids: tuple[str, ...], system: str, code: str, cache: dict[str, str]
) -> str:
    """The first listed value set that contains the code, else the first listed one."""
    urls = []
    for oid in oids:
        if oid not in cache:
            cache[oid] = service.valueset_url(oid) or f"urn:oid:{oid}"
        urls.append(cache[oid])
    if len(urls) > 1:
        for url in urls:
            if url.startswith("urn:oid:"):
                continue
            try:
                if compose_contains(service, service.resolve_valueset(url), system, code) is not None:
                    return url
            except Exception:  # a broken value set must not stop a coverage report
                continue
    return urls[0]


def format_report(report: dict[str, Any], lang: str, max_missing: int = 10) -> str:
    """A human-readable report: one line per value set, then the first missing codes."""
    total = report["total"]
    lines = [
        f"Couverture de traduction ({lang}) : {total['translated']}/{total['found']} codes "
        f"({_pct(total['translated'], total['found'])})",
        "",
    ]
    width = max((len(url) for url in report["value_sets"]), default=10)
    for url, cov in sorted(report["value_sets"].items(), key=lambda kv: -kv[1]["found"]):
        lines.append(
            f"{url:<{width}}  {cov['translated']:>5}/{cov['found']:<5} "
            f"{_pct(cov['translated'], cov['found']):>6}"
        )
        for system, code, shown in cov["missing"][:max_missing]:
            lines.append(f"    manque  {system}#{code}  {shown}")
        if len(cov["missing"]) > max_missing:
            lines.append(f"    ... et {len(cov['missing']) - max_missing} autres")
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"
