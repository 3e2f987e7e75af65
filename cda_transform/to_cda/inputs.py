"""Read the input Bundle: parse, validate structurally, index by reference, route to sections.

Everything the builders need is gathered here once, so that each refusal happens before any
XML is written and carries the FHIRPath of the faulty element in the input Bundle.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ..errors import TransformError
from . import sections_spec as spec

ACCEPTED_TYPES = ("document", "collection", "searchset")

#: resources that are never statements of their own in a Patient Summary: the people and things
#: statements point to, and administrative or grouping resources (a DiagnosticReport groups
#: Observations, which are carried one by one). Any other type that has no eHDSI section
#: (CarePlan, Goal, FamilyMemberHistory ...) is refused rather than dropped.
SUPPORT_TYPES = {
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Medication",
    "Device",
    "Substance",
    "RelatedPerson",
    "Location",
    "Composition",
    "Provenance",
    "Binary",
    "DocumentReference",
    "OperationOutcome",
    "Bundle",
    "Encounter",
    "EpisodeOfCare",
    "Claim",
    "ExplanationOfBenefit",
    "Coverage",
    "Account",
    "CareTeam",
    "Specimen",
    "AuditEvent",
    "Appointment",
    "Schedule",
    "Slot",
    "Task",
    "Communication",
    "Consent",
    "Endpoint",
    "HealthcareService",
    "Group",
    "Person",
    "DiagnosticReport",
}


@dataclass
class Entry:
    """One Bundle entry with the FHIRPath of its resource (``Bundle.entry[i].resource``)."""

    resource: dict[str, Any]
    path: str
    full_url: str

    @property
    def type(self) -> str:
        return str(self.resource["resourceType"])


@dataclass
class SectionInput:
    """The entries of one eHDSI section and, for a Composition section, its own data."""

    code: str
    entries: list[Entry] = field(default_factory=list)
    title: str | None = None
    empty_reason: str | None = None
    #: Composition narratives (XHTML div, FHIRPath) of sections that say things without entries
    narratives: list[tuple[str, str]] = field(default_factory=list)
    #: for a section eHDSI does not define: its code as given, and the FHIRPath of that code
    concept: dict[str, Any] | None = None
    concept_path: str = ""


@dataclass
class PatientData:
    bundle: dict[str, Any]
    entries: list[Entry]
    patient: Entry
    composition: Entry | None
    sections: dict[str, SectionInput]
    _index: dict[str, Entry]

    def resolve(self, reference: dict[str, Any] | None, path: str, *, required: bool = False) -> Entry | None:
        """The entry a Reference points to; a dangling reference is refused, not ignored."""
        ref = (reference or {}).get("reference")
        if not ref:
            if required:
                raise TransformError("Référence manquante", expression=path)
            return None
        found = self._index.get(ref) or self._index.get(ref.split("/_history/")[0])
        if found is None and ref.startswith("#"):
            found = self._contained(ref[1:], path)
        if found is None:
            raise TransformError(
                f"La référence « {ref} » ne désigne aucune ressource du Bundle",
                expression=f"{path}.reference",
            )
        return found

    def _contained(self, local_id: str, path: str) -> Entry | None:
        """A ``#id`` reference: the resource contained in the entry that ``path`` lies in."""
        owner = next((e for e in self.entries if path == e.path or path.startswith(f"{e.path}.")), None)
        if owner is None:
            return None
        for index, inner in enumerate(owner.resource.get("contained") or []):
            if isinstance(inner, dict) and inner.get("id") == local_id and inner.get("resourceType"):
                return Entry(inner, f"{owner.path}.contained[{index}]", f"{owner.full_url}#{local_id}")
        return None

    def of_type(self, *types: str) -> list[Entry]:
        return [e for e in self.entries if e.type in types]


def parse(source: dict[str, Any] | bytes | str) -> dict[str, Any]:
    if isinstance(source, bytes | str):
        try:
            source = json.loads(source)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TransformError(
                f"L'entrée n'est pas du JSON : {exc}", code="structure", expression="Bundle"
            ) from exc
    if not isinstance(source, dict):
        raise TransformError("L'entrée n'est pas un objet JSON", code="structure", expression="Bundle")
    if source.get("resourceType") != "Bundle":
        raise TransformError(
            f"Un Bundle est attendu, reçu {source.get('resourceType')!r}",
            code="structure",
            expression="Bundle.resourceType",
        )
    if source.get("type") not in ACCEPTED_TYPES:
        raise TransformError(
            f"Bundle.type doit valoir {', '.join(ACCEPTED_TYPES)}",
            code="not-supported",
            expression="Bundle.type",
        )
    return source


def _fhirpath(base: str, loc: tuple[int | str, ...]) -> str:
    path = base
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate(resource: Any, path: str) -> None:
    """Structural validation with the fhir.resources R4B models (R4-compatible for these types)."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise TransformError("Entrée sans ressource ni resourceType", code="structure", expression=path)
    try:
        model = get_fhir_model_class(resource["resourceType"])
    except KeyError as exc:
        raise TransformError(
            f"Type de ressource inconnu {resource['resourceType']!r}",
            code="structure",
            expression=f"{path}.resourceType",
        ) from exc
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if p != "__root__")
        raise TransformError(
            f"{resource['resourceType']} n'est pas une ressource FHIR valide : {first['msg']}",
            code="structure",
            expression=_fhirpath(path, loc),
        ) from exc


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def check_xml_text(node: Any, path: str) -> None:
    """Refuse strings that XML 1.0 cannot hold (control characters): FHIR tolerates some of them."""
    if isinstance(node, str):
        if _NOT_XML.search(node):
            raise TransformError("Caractère de contrôle interdit en XML", expression=path)
    elif isinstance(node, dict):
        for key, value in node.items():
            check_xml_text(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            check_xml_text(value, f"{path}[{index}]")


def load(source: dict[str, Any] | bytes | str) -> PatientData:
    bundle = parse(source)
    entries: list[Entry] = []
    index: dict[str, Entry] = {}
    for i, raw in enumerate(bundle.get("entry") or []):
        path = f"Bundle.entry[{i}].resource"
        resource = raw.get("resource") if isinstance(raw, dict) else None
        validate(resource, path)
        assert isinstance(resource, dict)
        check_xml_text(resource, path)
        if "modifierExtension" in resource:
            raise TransformError(
                "Une modifierExtension change le sens de la ressource : non prise en charge",
                code="not-supported",
                expression=f"{path}.modifierExtension",
            )
        full_url = raw.get("fullUrl") or f"{resource['resourceType']}/{resource.get('id', i)}"
        entry = Entry(resource, path, full_url)
        entries.append(entry)
        index[full_url] = entry
        if resource.get("id"):
            index[f"{resource['resourceType']}/{resource['id']}"] = entry
    composition = None
    if bundle["type"] == "document":
        if not entries or entries[0].type != "Composition":
            raise TransformError(
                "Un Bundle de type document doit commencer par une Composition",
                code="structure",
                expression="Bundle.entry[0].resource",
            )
        composition = entries[0]
    data = PatientData(bundle, entries, _patient(entries, composition, index), composition, {}, index)
    data.sections = route(data)
    return data


def _patient(entries: list[Entry], composition: Entry | None, index: dict[str, Entry]) -> Entry:
    if composition is not None:
        ref = (composition.resource.get("subject") or {}).get("reference")
        found = index.get(ref or "")
        if found is None or found.type != "Patient":
            raise TransformError(
                "Composition.subject ne désigne aucun Patient du Bundle",
                expression=f"{composition.path}.subject",
            )
        return found
    patients = [e for e in entries if e.type == "Patient"]
    if not patients:
        raise TransformError(
            "Le Bundle ne contient aucun Patient", expression="Bundle.entry.resource.ofType(Patient)"
        )
    if len(patients) > 1:
        raise TransformError(
            "Une synthèse patient concerne un seul patient ; le Bundle en contient plusieurs",
            expression=patients[1].path,
        )
    return patients[0]


def route(data: PatientData) -> dict[str, SectionInput]:
    """Assign every clinical resource to one eHDSI section.

    Composition sections decide first (by their LOINC code); clinical resources that no
    section references are routed by type, so none is lost. Observations that another
    Observation includes (``hasMember``, e.g. an estimated delivery date) stay with it.
    """
    sections: dict[str, SectionInput] = {code: SectionInput(code) for code in spec.ORDER}
    members = _member_ids(data)
    placed: set[int] = set(members)
    if data.composition is not None:
        _route_composition(data, sections, placed)
    for entry in data.entries:
        if id(entry) in placed or entry.type in SUPPORT_TYPES:
            continue
        code = spec.section_for(entry.resource)
        if code is None:
            raise TransformError(
                f"{entry.type} n'a pas de place dans une synthèse patient eHDSI",
                code="not-supported",
                expression=entry.path,
            )
        sections[code].entries.append(entry)
        placed.add(id(entry))
    return sections


def _route_composition(data: PatientData, sections: dict[str, SectionInput], placed: set[int]) -> None:
    assert data.composition is not None
    comp = data.composition.resource
    comp_path = data.composition.path
    codes = {c.get("code") for c in (comp.get("type") or {}).get("coding") or []}
    if spec.PS_DOCUMENT_CODE not in codes:
        raise TransformError(
            "La Composition n'est pas une synthèse patient (LOINC 60591-5)",
            code="not-supported",
            expression=f"{comp_path}.type",
        )

    def walk(section_list: list[dict[str, Any]], path: str) -> None:
        for s_index, section in enumerate(section_list):
            s_path = f"{path}.section[{s_index}]"
            loinc = next(
                (
                    c.get("code")
                    for c in (section.get("code") or {}).get("coding") or []
                    if c.get("system") == "http://loinc.org"
                ),
                None,
            )
            target = sections.get(loinc) if loinc else None
            div = (section.get("text") or {}).get("div")
            if target is None and div and not section.get("entry"):
                # a narrative-only section eHDSI has no entries for (advance directives ...)
                target = sections.setdefault(
                    f"extra:{s_path}",
                    SectionInput(loinc or "", concept=section.get("code"), concept_path=f"{s_path}.code"),
                )
            if target is not None:
                target.title = target.title or section.get("title")
                reason = (section.get("emptyReason") or {}).get("coding") or []
                target.empty_reason = target.empty_reason or (reason[0].get("code") if reason else None)
                if div and not section.get("entry"):
                    target.narratives.append((div, f"{s_path}.text.div"))
            for e_index, reference in enumerate(section.get("entry") or []):
                entry = data.resolve(reference, f"{s_path}.entry[{e_index}]", required=True)
                assert entry is not None
                if id(entry) in placed or entry.type in SUPPORT_TYPES:
                    continue
                code = loinc if target is not None and spec.accepts(loinc, entry.resource) else None
                code = code or spec.section_for(entry.resource)
                if code is None:
                    raise TransformError(
                        f"{entry.type} n'a pas de place dans une synthèse patient eHDSI",
                        code="not-supported",
                        expression=f"{s_path}.entry[{e_index}]",
                    )
                sections[code].entries.append(entry)
                placed.add(id(entry))
            walk(section.get("section") or [], s_path)

    walk(comp.get("section") or [], comp_path)


def _member_ids(data: PatientData) -> set[int]:
    members: set[int] = set()
    for entry in data.of_type("Observation"):
        for m_index, reference in enumerate(entry.resource.get("hasMember") or []):
            member = data.resolve(reference, f"{entry.path}.hasMember[{m_index}]")
            if member is not None:
                members.add(id(member))
    return members
