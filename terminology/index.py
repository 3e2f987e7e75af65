"""The in-memory concept index: (system, code) -> concept, with designations and hierarchy.

Everything the engine answers comes from here, so the hot paths (``display`` for every coded
element of a CDA document) are plain dict lookups. Code systems come from CodeSystem resources
(complete or fragment) and, for systems that have no CodeSystem resource (SNOMED CT, LOINC,
ATC, ICD-10... as carried by the MVC), from the concepts that value sets enumerate: those
systems are marked ``fragment`` because the index only knows the codes someone listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

DESIGNATION_USAGE = "http://terminology.hl7.org/CodeSystem/designation-usage"


@dataclass(slots=True, frozen=True)
class Designation:
    """One designation; ``source`` is the canonical URL of the resource that brought it."""

    language: str
    value: str
    use: str | None = None  # designation-usage code, or another system's code
    use_system: str | None = None
    source: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"language": self.language, "value": self.value}
        if self.use:
            out["use"] = {"system": self.use_system or DESIGNATION_USAGE, "code": self.use}
        return out


_EMPTY: frozenset[str] = frozenset()


def link(parent: Concept | None, child: Concept | None, parent_code: str, child_code: str) -> None:
    """Record parent_code -> child_code on whichever of the two concepts exist."""
    if child is not None and parent_code not in child.parents:
        child.parents = {*child.parents, parent_code}
    if parent is not None and child_code not in parent.children:
        parent.children = {*parent.children, child_code}


@dataclass(slots=True)
class Concept:
    code: str
    display: str | None = None
    definition: str | None = None
    designations: list[Designation] = field(default_factory=list)
    # Shared empty frozensets until a link is added: most concepts (MVC enumerations) have none,
    # and an empty set per concept costs ~200 bytes over 200,000 concepts.
    parents: frozenset[str] | set[str] = _EMPTY
    children: frozenset[str] | set[str] = _EMPTY
    properties: list[tuple[str, Any]] = field(default_factory=list)
    inactive: bool = False
    abstract: bool = False


@dataclass(slots=True)
class CodeSystemEntry:
    """A code system as the index knows it; ``content`` is FHIR's CodeSystem.content."""

    url: str
    version: str | None = None
    name: str | None = None
    title: str | None = None
    content: str = "complete"
    language: str | None = None
    case_sensitive: bool = True
    hierarchical: bool = False
    publisher: str | None = None
    copyright: str | None = None
    concepts: dict[str, Concept] = field(default_factory=dict)
    # lower-cased code -> code, for case-insensitive systems (EDQM says caseSensitive=false)
    folded: dict[str, str] = field(default_factory=dict)
    from_resource: bool = False

    def get(self, code: str) -> Concept | None:
        concept = self.concepts.get(code)
        if concept is None and not self.case_sensitive:
            real = self.folded.get(code.lower())
            if real is not None:
                concept = self.concepts.get(real)
        return concept

    def add(self, concept: Concept) -> Concept:
        existing = self.concepts.get(concept.code)
        if existing is not None:
            if not existing.display and concept.display:
                existing.display = concept.display
            return existing
        self.concepts[concept.code] = concept
        if not self.case_sensitive:
            self.folded[concept.code.lower()] = concept.code
        return concept

    def descendants(self, code: str) -> Iterator[str]:
        """All codes below ``code`` (not including it), breadth first, each once."""
        seen: set[str] = set()
        start = self.get(code)
        if start is None:
            return
        queue = list(start.children)
        while queue:
            current = queue.pop()
            if current in seen:
                continue
            seen.add(current)
            yield current
            concept = self.concepts.get(current)
            if concept is not None:
                queue.extend(concept.children)

    def ancestors(self, code: str) -> set[str]:
        found: set[str] = set()
        concept = self.get(code)
        queue = list(concept.parents) if concept else []
        while queue:
            current = queue.pop()
            if current in found:
                continue
            found.add(current)
            parent = self.concepts.get(current)
            if parent is not None:
                queue.extend(parent.parents)
        return found


class ConceptIndex:
    """Code systems by canonical URL, plus designations contributed by supplements."""

    def __init__(self) -> None:
        self.systems: dict[str, CodeSystemEntry] = {}
        # Designations from supplements for codes no code system or value set has defined yet:
        # kept aside so a supplement never makes a code "known" (valid), merged when it is.
        self.orphans: dict[str, dict[str, list[Designation]]] = {}

    def system(self, url: str) -> CodeSystemEntry | None:
        return self.systems.get(url)

    def ensure_system(self, url: str, content: str = "fragment") -> CodeSystemEntry:
        entry = self.systems.get(url)
        if entry is None:
            entry = CodeSystemEntry(url=url, content=content)
            self.systems[url] = entry
        return entry

    def concept(self, system: str, code: str) -> Concept | None:
        entry = self.systems.get(system)
        return entry.get(code) if entry is not None else None

    def add_codesystem(self, resource: dict[str, Any], url: str) -> CodeSystemEntry:
        """Index a CodeSystem resource (not a supplement) under its canonical ``url``."""
        entry = self.systems.get(url)
        previous = entry
        content = resource.get("content") or "complete"
        if entry is None or not entry.from_resource or content == "complete":
            entry = CodeSystemEntry(url=url)
            if previous is not None and content != "complete":
                entry.concepts = previous.concepts
            self.systems[url] = entry
        entry.from_resource = True
        entry.version = resource.get("version")
        entry.name = resource.get("name")
        entry.title = resource.get("title")
        entry.content = content
        entry.language = resource.get("language")
        entry.case_sensitive = resource.get("caseSensitive", True) is not False
        entry.publisher = resource.get("publisher")
        entry.copyright = resource.get("copyright")
        self._add_concepts(entry, resource.get("concept") or [], None, url)
        pending = self.orphans.get(url)
        if pending:
            for code in list(pending):
                adopted = entry.get(code)
                if adopted is not None:
                    self._adopt(url, adopted)
        if previous is not None and previous is not entry:
            # Keep designations that supplements attached before the code system arrived.
            for code, old in previous.concepts.items():
                new = entry.concepts.get(code)
                if new is None:
                    continue
                for designation in old.designations:
                    if designation not in new.designations:
                        new.designations.append(designation)
        return entry

    def _add_concepts(
        self, entry: CodeSystemEntry, concepts: Iterable[dict[str, Any]], parent: str | None, source: str
    ) -> None:
        stack = [(c, parent) for c in reversed(list(concepts))]
        while stack:
            raw, parent_code = stack.pop()
            code = raw.get("code")
            if not code:
                continue
            concept = entry.add(
                Concept(code=code, display=raw.get("display"), definition=raw.get("definition"))
            )
            for d in raw.get("designation") or []:
                designation = _designation(d, source)
                if designation is not None and designation not in concept.designations:
                    concept.designations.append(designation)
            for prop in raw.get("property") or []:
                self._add_property(entry, concept, prop)
            if parent_code is not None:
                link(entry.concepts.get(parent_code), concept, parent_code, code)
                entry.hierarchical = True
            for child in reversed(raw.get("concept") or []):
                stack.append((child, code))
        self._link_pending(entry)

    @staticmethod
    def _add_property(entry: CodeSystemEntry, concept: Concept, prop: dict[str, Any]) -> None:
        pcode = prop.get("code")
        value = next((v for k, v in prop.items() if k.startswith("value")), None)
        if pcode is None:
            return
        concept.properties.append((pcode, value))
        if pcode in ("parent", "subsumedBy") and isinstance(value, str):
            link(None, concept, value, concept.code)
            entry.hierarchical = True
        elif pcode == "child" and isinstance(value, str):
            link(concept, None, concept.code, value)
            entry.hierarchical = True
        elif pcode == "notSelectable" and value is True:
            concept.abstract = True
        elif (pcode == "status" and value in ("retired", "inactive")) or (
            pcode == "inactive" and value is True
        ):
            concept.inactive = True

    @staticmethod
    def _link_pending(entry: CodeSystemEntry) -> None:
        """Make parent/child links symmetric (property-declared links name codes seen later)."""
        if not entry.hierarchical:
            return
        for code, concept in entry.concepts.items():
            for parent in list(concept.parents):
                link(entry.concepts.get(parent), None, parent, code)
            for child in list(concept.children):
                link(None, entry.concepts.get(child), code, child)

    def add_supplement(
        self, system: str, concepts: Iterable[dict[str, Any]], source: str, language: str | None
    ) -> int:
        """Attach designations of a CodeSystem supplement to the concepts of ``system``.

        Concepts the index does not know yet are created as fragment members so that a
        designation loaded before its code system (or for a system we only know partially)
        is kept, not dropped. A supplement ``display`` in a declared language counts as a
        designation in that language.
        """
        entry = self.systems.get(system)
        added = 0
        stack = list(concepts)
        while stack:
            raw = stack.pop()
            stack.extend(raw.get("concept") or [])
            code = raw.get("code")
            if not code:
                continue
            concept: Concept | _Holder | None = entry.get(code) if entry is not None else None
            if concept is None:
                concept = _Holder(self.orphans.setdefault(system, {}).setdefault(code, []))
            new: list[Designation] = []
            if raw.get("display") and language:
                new.append(Designation(language=language, value=raw["display"], use="display", source=source))
            for d in raw.get("designation") or []:
                designation = _designation(d, source, default_language=language)
                if designation is not None:
                    new.append(designation)
            for designation in new:
                if designation not in concept.designations:
                    concept.designations.append(designation)
                    added += 1
        return added

    def _adopt(self, system: str, concept: Concept) -> None:
        pending = self.orphans.get(system)
        if not pending:
            return
        for designation in pending.pop(concept.code, ()):
            if designation not in concept.designations:
                concept.designations.append(designation)

    def orphan_designations(self, system: str, code: str) -> list[Designation]:
        return self.orphans.get(system, {}).get(code, [])

    def add_enumerated(
        self,
        system: str,
        code: str,
        display: str | None,
        source: str,
        designations: Iterable[dict[str, Any]] = (),
    ) -> None:
        """Record a concept a value set lists; creates a fragment system when none is known."""
        entry = self.systems.get(system)
        if entry is None:
            entry = self.ensure_system(system, content="fragment")
        concept = entry.get(code)
        if concept is None:
            if entry.from_resource and entry.content == "complete":
                return  # a complete system does not grow from value sets listing unknown codes
            concept = entry.add(Concept(code=code, display=display))
            self._adopt(system, concept)
        elif not concept.display and display:
            concept.display = display
        for d in designations:
            designation = _designation(d, source)
            if designation is not None and designation not in concept.designations:
                concept.designations.append(designation)


class _Holder:
    """Stands in for a concept while its designations wait in ``ConceptIndex.orphans``."""

    __slots__ = ("designations",)

    def __init__(self, designations: list[Designation]) -> None:
        self.designations = designations


def _designation(raw: dict[str, Any], source: str, default_language: str | None = None) -> Designation | None:
    value = raw.get("value")
    language = raw.get("language") or default_language
    if not value or not language:
        return None
    use = raw.get("use") or {}
    return Designation(
        language=language, value=value, use=use.get("code"), use_system=use.get("system"), source=source
    )


def language_matches(wanted: str, actual: str | None) -> int:
    """How well a designation language fits a request: 2 exact, 1 same base language, 0 none.

    ``fr`` and ``fr-FR`` fall back to each other (and to ``fr-BE``, ``fr-LU``...), never to
    another language.
    """
    if not actual:
        return 0
    wanted_l, actual_l = wanted.lower(), actual.lower()
    if wanted_l == actual_l:
        return 2
    if wanted_l.split("-")[0] == actual_l.split("-")[0]:
        return 1
    return 0
