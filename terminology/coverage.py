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

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from terminology.checkdigits import invalid_reason
from terminology.content import CODED_ELEMENT_LIST
from terminology.importers import BY_SYSTEM, SOURCES, imported_source
from terminology.resolution import candidates
from terminology.service import TerminologyService
from terminology.valuesets import compose_contains

PART_SUFFIX = re.compile(r"\s*\(partie \d+\)$")
CDA_NAMESPACES = frozenset({"urn:hl7-org:v3", "urn:epsos-org:ep:medication", "urn:hl7-org:pharm"})
UCUM = "http://unitsofmeasure.org"


@dataclass(slots=True, frozen=True)
class CodedElement:
    path: str
    value_sets: tuple[str, ...]  # OIDs, in the list's order


CATEGORIES = ("translated", "licence", "invalid", "unknown_system", "untranslated")
CATEGORY_LABELS = {
    "translated": "traduits",
    "licence": "non traduisibles sans une source sous licence (source nommée)",
    "invalid": "codes invalides",
    "unknown_system": "systèmes de codes inconnus",
    "untranslated": "non traduits (système ouvert sans libellé français)",
}


@dataclass(slots=True, frozen=True)
class Verdict:
    """Why a code is or is not translated: ``category`` is one of :data:`CATEGORIES`."""

    category: str
    system: str  # the system the code was judged in (after resolution)
    code: str
    reason: str | None = None  # French
    source: str | None = None  # the optional source that would translate it (licence)
    translation: str | None = None
    origin: str | None = None  # title of the resource the French designation came from


def classify(service: TerminologyService, system: str, code: str, lang: str, loaded: set[str]) -> Verdict:
    """Translated, or why not: a source under licence, an invalid code, an unknown system."""
    found = service.designation(system, code, lang)
    if found is not None:
        return Verdict(
            "translated", found.system, found.code, found.note, None, found.value,
            found.source.get("title") or found.source.get("url"),
        )  # fmt: skip
    canonical = service.canonical_system(system)
    target, target_code, note = canonical, code, None
    for candidate in candidates(service, canonical, code):
        if service.system_entry(candidate.system) is not None:
            target, target_code, note = candidate.system, candidate.code, candidate.note
            break
    reason = invalid_reason(target, target_code)
    if reason:
        return Verdict("invalid", target, target_code, reason)
    entry = service.system_entry(target)
    source = BY_SYSTEM.get(target)
    if entry is None and source is None:
        return Verdict("unknown_system", target, target_code, f"Système de codes inconnu : {system}")
    if (
        entry is not None
        and source is None
        and entry.content == "complete"
        and entry.get(target_code) is None
    ):
        return Verdict("invalid", target, target_code, f"Code inconnu dans {entry.url} (système complet)")
    if source is not None:
        why = f"{source.title} — {source.licence}"
        if source.ident in loaded:
            why = f"absent de la source chargée : {why}"
        if note:
            why = f"{note} ; {why}"
        return Verdict("licence", target, target_code, why, source.title)
    return Verdict("untranslated", target, target_code, note or "aucun libellé français")


def loaded_sources(service: TerminologyService) -> list[dict[str, str]]:
    """The optional publisher sources loaded in ``service`` (importer supplements), by title."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for meta in service.codesystems.values():
        found = imported_source(meta)
        if found is not None:
            source, release = found
            out[(source.ident, release)] = {
                "id": source.ident, "title": source.title, "version": release, "licence": source.licence,
            }  # fmt: skip
    return sorted(out.values(), key=lambda s: (s["id"], s["version"]))


@dataclass(slots=True)
class ValueSetCoverage:
    found: dict[tuple[str, str], str] = field(default_factory=dict)  # (system, code) -> original display
    verdicts: dict[tuple[str, str], Verdict] = field(default_factory=dict)

    @property
    def translated(self) -> set[tuple[str, str]]:
        return {k for k, v in self.verdicts.items() if v.category == "translated"}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"found": len(self.found)}
        for category in CATEGORIES:
            out[category] = sum(1 for v in self.verdicts.values() if v.category == category)
        out["missing"] = [
            [s, c, d]
            for (s, c), d in sorted(self.found.items())
            if self.verdicts[(s, c)].category != "translated"
        ]
        out["details"] = [
            {"system": s, "code": c, "display": d, "category": v.category, "reason": v.reason,
             **({"source": v.source} if v.source else {}),
             **({"resolved": f"{v.system}#{v.code}"} if (v.system, v.code) != (s, c) else {})}
            for (s, c), d in sorted(self.found.items())
            if (v := self.verdicts[(s, c)]).category != "translated"
        ]  # fmt: skip
        return out


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
    loaded = loaded_sources(service)
    loaded_ids = {s["id"] for s in loaded}
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
            if key not in coverage.verdicts:
                coverage.verdicts[key] = classify(service, system, code, lang, loaded_ids)
    value_sets = {url: cov.to_json() for url, cov in sorted(per_vs.items())}
    total: dict[str, int] = {"found": sum(v["found"] for v in value_sets.values())}
    for category in CATEGORIES:
        total[category] = sum(v[category] for v in value_sets.values())
    return {
        "total": total,
        "breakdown": breakdown(per_vs.values()),
        "sources": {"loaded": loaded, "optional": [
            {"id": s.ident, "title": s.title, "system": s.system, "licence": s.licence} for s in SOURCES
        ]},
        "value_sets": value_sets,
    }  # fmt: skip


def breakdown(coverages: Iterable[ValueSetCoverage]) -> dict[str, dict[str, int]]:
    """Per category, how many codes (counted as in the totals) each reason accounts for.

    ``translated``: the resource the French designation comes from (its title: publisher and
    code system); ``licence``: the optional source that would translate the code, with its
    licence; ``invalid`` and ``unknown_system``: each code with its reason.
    """
    out: dict[str, dict[str, int]] = {category: {} for category in CATEGORIES}
    for coverage in coverages:
        for (system, code), verdict in coverage.verdicts.items():
            if verdict.category == "translated":
                key = PART_SUFFIX.sub("", verdict.origin or "?")  # an importer's parts are one source
            elif verdict.category == "licence":
                source = BY_SYSTEM.get(verdict.system)
                key = f"{source.title} — {source.licence}" if source else (verdict.source or "?")
            else:
                key = f"{system}#{code} — {verdict.reason or ''}"
            out[verdict.category][key] = out[verdict.category].get(key, 0) + 1
    return {
        category: dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        for category, counts in out.items()
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
    """A human-readable report: totals per category, sources, one line per value set, then why not."""
    total = report["total"]
    found = total["found"]
    lines = [
        f"Couverture de traduction ({lang}) : {total['translated']}/{found} codes "
        f"({_pct(total['translated'], found)})",
    ]
    for category in CATEGORIES[1:]:
        lines.append(f"  {CATEGORY_LABELS[category]} : {total.get(category, 0)}")
    loaded = report.get("sources", {}).get("loaded", [])
    lines.append(
        "Sources optionnelles chargées : "
        + (", ".join(f"{s['title']} ({s['version']})" for s in loaded) if loaded else "aucune")
    )
    licence = total.get("licence", 0)
    lines.append(
        f"Avec toutes les sources sous licence chargées : au plus {total['translated'] + licence}/{found} "
        f"({_pct(total['translated'] + licence, found)}) ; restent les codes invalides et de système inconnu"
    )
    parts = report.get("breakdown", {})
    if parts:
        lines.append("")
        lines.append("Détail par catégorie (source de la désignation, source qui traduirait, raison) :")
        for category in CATEGORIES:
            counts = parts.get(category, {})
            if not counts:
                continue
            lines.append(f"  {CATEGORY_LABELS[category]} : {total.get(category, 0)}")
            for key, n in counts.items():
                lines.append(f"    {n:>4}  {key}")
    lines.append("")
    width = max((len(url) for url in report["value_sets"]), default=10)
    for url, cov in sorted(report["value_sets"].items(), key=lambda kv: -kv[1]["found"]):
        lines.append(
            f"{url:<{width}}  {cov['translated']:>5}/{cov['found']:<5} "
            f"{_pct(cov['translated'], cov['found']):>6}"
        )
        details = cov.get("details", [])
        for item in details[:max_missing]:
            lines.append(
                f"    {item['category']:<14} {item['system']}#{item['code']}  {item['display']}"
                f"  — {item['reason']}"
            )
        if len(details) > max_missing:
            lines.append(f"    ... et {len(details) - max_missing} autres")
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"
