"""Assemble the ClinicalDocument: header, then one section per eHDSI section with data, and
always the five sections OpenNCP requires (with the IPS absent/unknown codes when empty)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from lxml import etree

from . import completeness, header, oids
from . import sections_spec as spec
from .datatypes import coded, concept_display
from .inputs import Entry, PatientData, SectionInput
from .narrative import Narrative, xhtml_paragraphs
from .sections import allergies, devices, immunizations, medications, observations, problems, procedures
from .sections.base import Context
from .xmlns import Element, el, template_ids

Builder = Callable[[Context, list[Entry]], None]

BUILDERS: dict[str, Builder] = {
    spec.ALLERGIES: allergies.build,
    spec.MEDICATIONS: medications.build,
    spec.PROBLEMS: lambda ctx, entries: problems.build(ctx, entries, mandatory=True),
    spec.PAST_ILLNESS: lambda ctx, entries: problems.build(ctx, entries, mandatory=False),
    spec.PROCEDURES: procedures.build,
    spec.DEVICES: devices.build,
    spec.IMMUNIZATIONS: immunizations.build,
    spec.VITAL_SIGNS: observations.build_vital_signs,
    spec.PREGNANCY: observations.build_pregnancy,
    spec.SOCIAL_HISTORY: observations.build_social_history,
    spec.RESULTS: observations.build_results,
}

PREFIXES = {
    spec.ALLERGIES: "allergy",
    spec.MEDICATIONS: "med",
    spec.PROBLEMS: "problem",
    spec.PAST_ILLNESS: "pastillness",
    spec.PROCEDURES: "proc",
    spec.DEVICES: "device",
    spec.IMMUNIZATIONS: "immu",
    spec.VITAL_SIGNS: "vital",
    spec.PREGNANCY: "preg",
    spec.SOCIAL_HISTORY: "social",
    spec.RESULTS: "result",
}


def build(data: PatientData) -> bytes:
    doc = el(None, "ClinicalDocument")
    header.build(doc, data)
    body = el(el(doc, "component"), "structuredBody")
    for code in spec.ORDER:
        section_input = data.sections[code]
        if section_input.entries or section_input.narratives or spec.SPECS[code].mandatory:
            _section(body, data, section_input)
    for key, section_input in data.sections.items():
        if key.startswith("extra:"):
            _narrative_section(body, data, section_input, key)
    completeness.check(data, doc)
    xml: bytes = etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml


def _section(body: Element, data: PatientData, section_input: SectionInput) -> None:
    section_spec = spec.SPECS[section_input.code]
    section = el(el(body, "component"), "section", {"classCode": "DOCSECT", "moodCode": "EVN"})
    template_ids(section, *section_spec.template_ids)
    seed = f"{data.patient.full_url}#section-{section_spec.code}"
    el(section, "id", {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, seed)).upper()})
    el(
        section,
        "code",
        {
            "code": section_spec.code,
            "codeSystem": oids.LOINC,
            "codeSystemName": "LOINC",
            "displayName": section_spec.display,
        },
    )
    el(section, "title", text=section_input.title or section_spec.title)
    narrative = Narrative(el(section, "text"), PREFIXES[section_spec.code], [])
    ctx = Context(data, section, narrative, section_input.empty_reason)
    _keep_narratives(narrative, section_input)
    BUILDERS[section_spec.code](ctx, section_input.entries)


def _keep_narratives(narrative: Narrative, section_input: SectionInput) -> None:
    """The Composition's own text of a section without entries, so that nothing said is lost."""
    for div, path in section_input.narratives:
        for paragraph in xhtml_paragraphs(div, path):
            narrative.paragraph(paragraph)


def _narrative_section(body: Element, data: PatientData, section_input: SectionInput, key: str) -> None:
    """A Composition section eHDSI has no entry template for: code, title and narrative only."""
    known = spec.NARRATIVE_TEMPLATES.get(section_input.code)
    section = el(el(body, "component"), "section", {"classCode": "DOCSECT", "moodCode": "EVN"})
    if known:
        template_ids(section, known)
    el(section, "id", {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{data.patient.full_url}#{key}")).upper()})
    coded(section, "code", section_input.concept, section_input.concept_path, prefer=("http://loinc.org",))
    el(section, "title", text=section_input.title or concept_display(section_input.concept) or "Section")
    _keep_narratives(Narrative(el(section, "text"), f"extra{len(body)}", []), section_input)
