"""CDA sections to Composition sections: French title, LOINC code, narrative, entries.

Sections are identified by their LOINC code (never by templateId) and nested sections are
followed. Each CDA ``entry`` yields exactly one resource referenced from the section; a
section without entries gets an ``emptyReason`` (IPS), so absence is always explicit.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform.context import Context
from cda_transform.mappers.dispatch import map_entry
from cda_transform.narrative import XHTML, original_xhtml, serialize, sub
from cda_transform.parse import kid, kids, path_all, text_of
from cda_transform.summary import french_table

TITLES_FR = {
    "10160-0": "Traitements médicamenteux",
    "48765-2": "Allergies, effets indésirables, alertes",
    "11450-4": "Problèmes actifs",
    "11348-0": "Antécédents médicaux",
    "47519-4": "Antécédents chirurgicaux et actes",
    "46264-8": "Dispositifs médicaux",
    "11369-6": "Vaccinations",
    "30954-2": "Résultats d'examens",
    "8716-3": "Signes vitaux",
    "10162-6": "Antécédents de grossesse",
    "29762-2": "Mode de vie",
    "47420-5": "Autonomie et statut fonctionnel",
    "18776-5": "Plan de soins",
    "42348-3": "Directives anticipées",
    "10164-2": "Histoire de la maladie actuelle",
    "29554-3": "Actes (texte libre)",
    "29544-3": "Actes (texte libre)",
    "57828-6": "Prescriptions",
    "60590-7": "Dispensations",
    "104605-1": "Alertes",
    "10182-4": "Voyages",
    "11329-0": "Anamnèse",
    "60591-5": "Synthèse médicale",
}
REQUIRED = ("48765-2", "10160-0", "11450-4", "47519-4", "46264-8")
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
NULL_TO_EMPTY = {
    "NASK": ("notasked", "Not Asked"),
    "MSK": ("withheld", "Information Withheld"),
    "NA": ("notstarted", "Not Started"),
    "ASKU": ("unavailable", "Unavailable"),
}


def section_code(sec: etree._Element) -> str | None:
    code = kid(sec, "code")
    value = code.get("code") if code is not None else None
    return value.strip() if value else None


def build_sections(ctx: Context, body: etree._Element) -> list[dict[str, Any]]:
    return [_section(ctx, sec, depth=0) for comp in kids(body, "component") for sec in kids(comp, "section")]


def _section(ctx: Context, sec: etree._Element, depth: int) -> dict[str, Any]:
    code = section_code(sec)
    original_title = text_of(kid(sec, "title"))
    title = TITLES_FR.get(code or "") or (
        f"Autre section : {original_title}" if original_title else "Autre section"
    )
    out: dict[str, Any] = {"title": title}
    concept = ctx.translator.concept(kid(sec, "code"), text=original_title)
    if concept:
        out["code"] = concept
    resources: list[dict[str, Any]] = []
    refs: list[dict[str, str]] = []
    for entry in kids(sec, "entry"):
        try:
            res = map_entry(ctx, entry, code)
        except Exception as exc:  # a mapper bug must not lose the document; the entry is kept as text
            ctx.warn(
                f"Entrée non structurée suite à une erreur interne ({type(exc).__name__}: {exc}).",
                entry,
                code="exception",
            )
            res = {
                "resourceType": "Observation",
                "status": "unknown",
                "subject": dict(ctx.patient_ref),
                "code": {"text": ctx.translator.reference_text(entry) or "Entrée non convertie"},
                "dataAbsentReason": ctx.translator.absent_reason("INV"),
            }
        refs.append(ctx.add(res))
        resources.append(res)
    index = {e["fullUrl"]: e["resource"] for e in ctx.entries}
    div = etree.Element(f"{{{XHTML}}}div", nsmap={None: XHTML})
    div.append(french_table(title, resources, index))
    original = original_xhtml(kid(sec, "text"), ctx.source_lang)
    if original is not None:
        label = f"Texte d'origine ({ctx.source_lang})" if ctx.source_lang else "Texte d'origine"
        wrapper = sub(div, "div", class_="original")
        sub(wrapper, "h4", label + (f" : {original_title}" if original_title else ""))
        wrapper.append(original)
    out["text"] = {"status": "additional" if original is not None else "generated", "div": serialize(div)}
    if refs:
        out["entry"] = refs
    else:
        flavor = sec.get("nullFlavor") or ""
        reason, display = NULL_TO_EMPTY.get(flavor, ("unavailable", "Unavailable"))
        out["emptyReason"] = ctx.translator.synthetic(EMPTY_REASON, reason, display)
    if depth < 5:
        nested = [_section(ctx, child, depth + 1) for child in path_all(sec, "component/section")]
        if nested:
            out["section"] = nested
            out.pop("emptyReason", None)
    return out


def missing_required(root_sections: list[etree._Element]) -> list[str]:
    present = {section_code(s) for s in root_sections}
    return [c for c in REQUIRED if c not in present]
