"""The translated document Bundle (``cda_transform`` output, as the gateway stored it) as screens show it.

Every coding built from the CDA carries its translation status (``cda_transform.extensions``):
the French designation when the terminology service has one, else the document's own text,
marked « non traduit ». Each section keeps the original narrative (``div.original``) beside the
French rendering.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from lxml import etree, html

from cda_transform.extensions import ORIGINAL_DISPLAY, TRANSLATION_STATUS
from cda_transform.summary import describe

GENDER_FR = {"male": "Masculin", "female": "Féminin", "other": "Autre", "unknown": "Inconnu"}
UNAVAILABLE = "Information indisponible"
SAFE_TAGS = {
    "div", "p", "span", "br", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
    "ul", "ol", "li", "b", "i", "u", "em", "strong", "sub", "sup", "h1", "h2", "h3", "h4", "h5",
    "h6", "col", "colgroup", "pre", "code",
}  # fmt: skip
SAFE_ATTRS = {"colspan", "rowspan", "lang", "title"}


@dataclass
class CodingView:
    code: str
    system: str
    display: str
    translated: bool
    original: str = ""


@dataclass
class EntryView:
    what: str
    details: list[str]
    codings: list[CodingView]


@dataclass
class SectionView:
    title: str
    loinc: str
    original_title: str
    entries: list[EntryView] = field(default_factory=list)
    original_html: str = ""
    empty: bool = False
    children: list[SectionView] = field(default_factory=list)
    depth: int = 0
    document_only: bool = False  # an L1 summary: the content is the original PDF


@dataclass
class Original:
    index: int
    content_type: str
    title: str
    data: bytes


def _status(coding: dict[str, Any]) -> str | None:
    return next(
        (e.get("valueCode") for e in coding.get("extension") or [] if e.get("url") == TRANSLATION_STATUS),
        None,
    )


def codings_of(value: Any, out: list[CodingView], seen: set[tuple[str, str, str]]) -> None:
    """Every coding carrying a translation status, anywhere in ``value`` (document order)."""
    if isinstance(value, dict):
        status = _status(value) if "code" in value else None
        if status is not None:
            key = (value.get("system", ""), value["code"], status)
            if key not in seen:
                seen.add(key)
                original = next(
                    (
                        e.get("valueString", "")
                        for e in value.get("extension") or []
                        if e.get("url") == ORIGINAL_DISPLAY
                    ),
                    "",
                )
                out.append(
                    CodingView(value["code"], value.get("system", ""), value.get("display") or value["code"],
                               status == "translated", original)
                )  # fmt: skip
        for key, item in value.items():
            if key != "extension" or status is None:
                codings_of(item, out, seen)
    elif isinstance(value, list):
        for item in value:
            codings_of(item, out, seen)


def sanitize(fragment: str) -> str:
    """The original narrative, reduced to harmless markup (it comes from another country)."""
    if not fragment.strip():
        return ""
    try:
        root = html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    for el in list(root.iter()):
        if not isinstance(el.tag, str):
            el.drop_tree()
            continue
        tag = el.tag.split("}")[-1].lower()
        if tag in ("script", "style", "iframe", "object", "embed", "link", "meta"):
            el.drop_tree()
            continue
        if el is not root and tag not in SAFE_TAGS:
            el.drop_tag()
            continue
        for attr in list(el.attrib):
            if attr not in SAFE_ATTRS:
                del el.attrib[attr]
    return html.tostring(root, encoding="unicode")


def _split_narrative(div: str) -> str:
    """The ``div.original`` part of a section narrative (its heading removed), as sanitised HTML."""
    if not div:
        return ""
    try:
        root = etree.fromstring(div.encode())
    except etree.XMLSyntaxError:
        return ""
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.endswith("div") and node.get("class") == "original":
            body = [c for c in node if not (isinstance(c.tag, str) and c.tag.endswith("h4"))]
            text = "".join(etree.tostring(c, encoding="unicode") for c in body)
            return sanitize(text.replace(' xmlns="http://www.w3.org/1999/xhtml"', ""))
    return ""


LINKED_TYPES = {"Medication", "Device", "Substance", "Observation"}


def _linked(res: dict[str, Any], index: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """What an entry points at and shows with it (its Medication, Device, member Observations)."""
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            target = (
                index.get(value.get("reference", "")) if isinstance(value.get("reference"), str) else None
            )
            if target is not None and target.get("resourceType") in LINKED_TYPES and target not in found:
                found.append(target)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(res)
    return found


def _section(sec: dict[str, Any], index: dict[str, dict[str, Any]], depth: int) -> SectionView:
    code = sec.get("code") or {}
    loinc = next(
        (c.get("code", "") for c in code.get("coding") or [] if c.get("system") == "http://loinc.org"), ""
    )
    view = SectionView(sec.get("title", "Section"), loinc, code.get("text", ""), depth=depth)
    for ref in sec.get("entry") or []:
        res = index.get(ref.get("reference", ""))
        if res is None:
            continue
        if res.get("resourceType") == "DocumentReference":
            view.document_only = True  # the L1 section points at the original document
            continue
        what, details = describe(res, index)
        codings: list[CodingView] = []
        seen: set[tuple[str, str, str]] = set()
        codings_of(res, codings, seen)
        for linked in _linked(res, index):
            codings_of(linked, codings, seen)
        parts = [details] if isinstance(details, str) else list(details)
        view.entries.append(EntryView(what, [d for d in parts if d], codings))
    view.original_html = _split_narrative((sec.get("text") or {}).get("div", ""))
    view.children = [_section(s, index, depth + 1) for s in sec.get("section") or []]
    view.empty = not view.entries and not view.children and not view.document_only
    return view


def sections(bundle: dict[str, Any]) -> list[SectionView]:
    index = {e.get("fullUrl", ""): e.get("resource", {}) for e in bundle.get("entry") or []}
    comp = next((r for r in index.values() if r.get("resourceType") == "Composition"), None)
    if comp is None:
        return []
    return [_section(s, index, 0) for s in comp.get("section") or []]


def date_fr(value: str) -> str:
    """``1951-04-25`` (or a dateTime) as ``25/04/1951``; anything else unchanged."""
    if len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return f"{value[8:10]}/{value[5:7]}/{value[:4]}"
    if len(value) == 7 and value[4] == "-":
        return f"{value[5:7]}/{value[:4]}"
    return value


def _name(resource: dict[str, Any] | None) -> tuple[str, str]:
    names = (resource or {}).get("name") or []
    if not names:
        return "", ""
    n = names[0]
    return n.get("family", "") if isinstance(n.get("family"), str) else "", " ".join(n.get("given") or [])


def administrative(bundle: dict[str, Any]) -> dict[str, str]:
    patient = next(
        (
            e["resource"]
            for e in bundle.get("entry") or []
            if e.get("resource", {}).get("resourceType") == "Patient"
        ),
        {},
    )
    family, given = _name(patient)
    ident = next(iter(patient.get("identifier") or []), {})
    address = next(iter(patient.get("address") or []), {})
    town = " ".join(p for p in (address.get("postalCode"), address.get("city")) if p)
    lines = [*address.get("line", []), town, address.get("country", "")]
    return {
        "Nom": family.upper() or UNAVAILABLE,
        "Prénom": given or UNAVAILABLE,
        "Sexe": GENDER_FR.get(patient.get("gender", ""), UNAVAILABLE),
        "Date de naissance": date_fr(patient.get("birthDate", "")) or UNAVAILABLE,
        "Identifiant": ident.get("value", UNAVAILABLE) if ident else UNAVAILABLE,
        "Adresse": ", ".join(x for x in lines if x) or UNAVAILABLE,
    }


def document_info(bundle: dict[str, Any], country: str) -> dict[str, str]:
    entries = [e.get("resource", {}) for e in bundle.get("entry") or []]
    index = {e.get("fullUrl", ""): e.get("resource", {}) for e in bundle.get("entry") or []}
    comp = next((r for r in entries if r.get("resourceType") == "Composition"), {})
    authors = [index.get(a.get("reference", ""), {}) for a in comp.get("author") or []]
    people = [a for a in authors if a.get("resourceType") in ("Practitioner", "PractitionerRole")]
    nature = "manuelle (validée par un professionnel)" if people else "automatique (générée par le système)"
    names = []
    for a in authors:
        if a.get("resourceType") == "Device":
            names.append(" ".join(d.get("name", "") for d in a.get("deviceName") or []) or "Système")
        elif a.get("resourceType") == "PractitionerRole":
            prac = index.get((a.get("practitioner") or {}).get("reference", ""), {})
            org = index.get((a.get("organization") or {}).get("reference", ""), {})
            names.append(
                " ".join(p for p in (*reversed(_name(prac)), org.get("name", "")) if p) or "Professionnel"
            )
        else:
            names.append(" ".join(p for p in reversed(_name(a)) if p) or a.get("name", "") or "Auteur")
    language = ""
    for r in entries:
        if r.get("resourceType") == "DocumentReference":
            language = next(
                (c["attachment"].get("language", "") for c in r.get("content") or [] if c.get("attachment")),
                "",
            )
            if language:
                break
    return {
        "Pays": country,
        "Nature": nature,
        "Langue d'origine": language or UNAVAILABLE,
        "Auteur": ", ".join(n for n in names if n) or UNAVAILABLE,
        "Date de création": date_fr(comp.get("date", "")) or UNAVAILABLE,
    }


def originals(bundle: dict[str, Any]) -> list[Original]:
    out = []
    for i, entry in enumerate(bundle.get("entry") or []):
        res = entry.get("resource", {})
        if res.get("resourceType") == "Binary" and res.get("data"):
            ctype = res.get("contentType", "application/octet-stream")
            title = "Document original (PDF)" if ctype == "application/pdf" else "Document original (CDA XML)"
            out.append(Original(i, ctype, title, base64.b64decode(res["data"])))
    return out
