"""The terminology service: resources in, answers out (lookup, validate, expand, translate...).

A :class:`TerminologyService` is fed FHIR CodeSystem / ValueSet / ConceptMap resources as
dicts, whatever their origin (vendored files, the FHIR server's stored resources),
and answers the terminology operations synchronously from its in-memory index.
Big sources can be registered lazily: they are read the first time a question needs their
code system or value set, so the common case (French display of a handful of codes) does
not pay for 60,000 LOINC or SPOR substance codes.
"""

from __future__ import annotations

import datetime as _dt
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from terminology.conceptmaps import ConceptMapIndex, TranslationResult
from terminology.errors import TerminologyError
from terminology.index import CodeSystemEntry, Concept, ConceptIndex, Designation, language_matches
from terminology.systems import SystemRegistry, identifier_oids
from terminology.valuesets import Member, compose_contains, expand_compose, fold

DEFAULT_MAX_EXPANSION = 10_000
# Hard ceiling for paged expansions (count given): protects memory, not response size.
DEFAULT_MAX_PAGED_EXPANSION = 250_000

Loader = Callable[[], Iterable[dict[str, Any]]]


@dataclass(slots=True)
class LookupResult:
    system: str
    code: str
    display: str | None
    name: str | None
    version: str | None
    designations: list[Designation] = field(default_factory=list)
    properties: list[tuple[str, Any]] = field(default_factory=list)
    abstract: bool = False
    inactive: bool = False

    def to_parameters(self) -> dict[str, Any]:
        """The R4 ``CodeSystem-lookup`` out parameters (name, version, display, designation, property)."""
        params: list[dict[str, Any]] = [{"name": "name", "valueString": self.name or self.system}]
        if self.version:
            params.append({"name": "version", "valueString": self.version})
        if self.display:
            params.append({"name": "display", "valueString": self.display})
        for d in self.designations:
            parts: list[dict[str, Any]] = [{"name": "language", "valueCode": d.language}]
            if d.use:
                parts.append({"name": "use", "valueCoding": d.to_fhir()["use"]})
            parts.append({"name": "value", "valueString": d.value})
            params.append({"name": "designation", "part": parts})
        for code, value in self.properties:
            part: dict[str, Any] = {"name": "code", "valueCode": code}
            params.append({"name": "property", "part": [part, _value_part(value)]})
        return {"resourceType": "Parameters", "parameter": params}


def _value_part(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"name": "value", "valueBoolean": value}
    if isinstance(value, int):
        return {"name": "value", "valueInteger": value}
    if isinstance(value, dict):
        return {"name": "value", "valueCoding": value}
    return {"name": "value", "valueString": str(value)}


@dataclass(slots=True)
class ValidationResult:
    result: bool
    message: str | None = None
    display: str | None = None
    system: str | None = None
    code: str | None = None

    def to_parameters(self) -> dict[str, Any]:
        """The R4 ``$validate-code`` out parameters: result, message, display (R4 has no code/system)."""
        params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": self.result}]
        if self.message:
            params.append({"name": "message", "valueString": self.message})
        if self.display:
            params.append({"name": "display", "valueString": self.display})
        return {"resourceType": "Parameters", "parameter": params}


@dataclass(slots=True, frozen=True)
class Designated:
    """A designation with its provenance: ``source`` has url, version, title, publisher, copyright."""

    value: str
    system: str
    code: str
    source: dict[str, Any]
    note: str | None = None  # how the code was resolved, when it was (French)


class TerminologyService:
    """An in-process terminology server over an in-memory concept index."""

    def __init__(
        self,
        max_expansion_size: int = DEFAULT_MAX_EXPANSION,
        max_paged_expansion_size: int = DEFAULT_MAX_PAGED_EXPANSION,
    ) -> None:
        self.max_expansion_size = max_expansion_size
        self.max_paged_expansion_size = max_paged_expansion_size
        self.registry = SystemRegistry()
        self.index = ConceptIndex()
        self.conceptmaps = ConceptMapIndex()
        self.valuesets: dict[str, dict[str, Any]] = {}
        self.codesystems: dict[str, dict[str, Any]] = {}  # canonical url -> resource metadata (no concepts)
        self._vs_by_oid: dict[str, str] = {}
        self._lazy_by_system: dict[str, list[int]] = {}
        self._lazy_by_url: dict[str, list[int]] = {}
        self._lazy_loaders: dict[int, Loader] = {}
        self._lazy_systems: dict[int, list[str]] = {}
        self._lock = threading.RLock()

    # -- feeding -------------------------------------------------------------------------------

    def load_resources(self, resources: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Add resources (or Bundles of them); returns how many of each type were loaded."""
        counts: dict[str, int] = {}
        with self._lock:
            for resource in resources:
                for item in _flatten(resource):
                    rtype = self.add_resource(item)
                    if rtype:
                        counts[rtype] = counts.get(rtype, 0) + 1
        return counts

    def add_resource(self, resource: dict[str, Any]) -> str | None:
        rtype = resource.get("resourceType")
        if rtype == "CodeSystem":
            self._add_codesystem(resource)
        elif rtype == "ValueSet":
            self._add_valueset(resource)
        elif rtype == "ConceptMap":
            self.conceptmaps.add(resource, self.registry.canonical)
        else:
            return None
        return rtype

    def add_lazy_source(self, loader: Loader, urls: Iterable[str] = (), systems: Iterable[str] = ()) -> None:
        """Register resources to load on first need of one of their URLs or code systems."""
        with self._lock:
            key = len(self._lazy_loaders) + 1
            self._lazy_loaders[key] = loader
            for url in urls:
                self._lazy_by_url.setdefault(url, []).append(key)
            canonical = [self.registry.canonical(system) for system in systems]
            self._lazy_systems[key] = canonical
            for system in canonical:
                self._lazy_by_system.setdefault(system, []).append(key)

    def _run_lazy(self, keys: list[int] | None) -> None:
        if not keys:
            return
        with self._lock:
            for key in list(keys):
                loader = self._lazy_loaders.pop(key, None)
                if loader is not None:
                    self.load_resources(loader())

    def load_all(self) -> None:
        """Load every lazy source now (for measurements and full-corpus tools)."""
        self._run_lazy(list(self._lazy_loaders))

    def _add_codesystem(self, resource: dict[str, Any]) -> None:
        raw_url = resource.get("url") or ""
        url = self.registry.canonical(raw_url)
        for oid in identifier_oids(resource):
            self.registry.register_oid(oid, url)
        if resource.get("content") == "supplement":
            target = self.registry.canonical(resource.get("supplements") or "")
            if not target:
                raise TerminologyError("Supplément sans « supplements »", "invalid", "CodeSystem.supplements")
            self.index.add_supplement(
                target, resource.get("concept") or [], raw_url, resource.get("language")
            )
        else:
            self.index.add_codesystem(resource, url)
        self.codesystems[raw_url or url] = {k: v for k, v in resource.items() if k not in ("concept", "text")}

    def _add_valueset(self, resource: dict[str, Any]) -> None:
        url = resource.get("url")
        if not url:
            url = f"ValueSet/{resource.get('id')}"
        self.valuesets[url] = resource
        for oid in identifier_oids(resource):
            self._vs_by_oid[oid] = url
        compose = resource.get("compose")
        if not isinstance(compose, dict):
            return
        for include in compose.get("include") or []:
            if not isinstance(include, dict) or not include.get("system"):
                continue
            system = self.registry.canonical(include["system"])
            for concept in include.get("concept") or []:
                if isinstance(concept, dict) and concept.get("code"):
                    self.index.add_enumerated(
                        system, concept["code"], concept.get("display"), url, concept.get("designation") or ()
                    )

    # -- resolution (ComposeContext) --------------------------------------------------------------

    def canonical_system(self, system: str) -> str:
        return self.registry.canonical(system)

    def known_systems(self) -> dict[str, str | None]:
        """Code systems the service answers for, loaded or not yet (canonical URL -> version)."""
        with self._lock:
            out: dict[str, str | None] = dict.fromkeys(self._lazy_by_system)
            for url, meta in self.codesystems.items():
                if meta.get("content") == "supplement":
                    continue
                out[self.registry.canonical(url)] = meta.get("version")
        return out

    def system_entry(self, system: str) -> CodeSystemEntry | None:
        system = self.registry.canonical(system)
        self._run_lazy(self._lazy_by_system.get(system))
        return self.index.systems.get(system)

    def resolve_valueset(self, url: str) -> dict[str, Any]:
        base = url.split("|", 1)[0]
        oid = base[8:] if base.startswith("urn:oid:") else (base if base[:1].isdigit() else None)
        if oid is not None:
            base = self._vs_by_oid.get(oid, base)
        if base not in self.valuesets:
            self._run_lazy(self._lazy_by_url.get(base))
            if oid is not None:
                self._run_lazy(self._lazy_by_url.get(f"urn:oid:{oid}"))
                base = self._vs_by_oid.get(oid, base)
        vs = self.valuesets.get(base)
        if vs is None:
            raise TerminologyError(f"ValueSet inconnue : {url}", "not-found", "ValueSet.url")
        return vs

    def valueset_url(self, url_or_oid: str) -> str | None:
        """The canonical URL of a value set given by URL or OID, or None when unknown."""
        try:
            return self.resolve_valueset(url_or_oid).get("url")
        except TerminologyError:
            return None

    def valueset_systems(self, oid: str) -> list[str]:
        """The code systems a value set (given by OID) draws from, without loading a lazy one."""
        url = self._vs_by_oid.get(oid)
        found: list[str] = []
        if url is not None:
            compose = self.valuesets.get(url, {}).get("compose")
            for include in (compose or {}).get("include") or [] if isinstance(compose, dict) else []:
                if isinstance(include, dict) and include.get("system"):
                    system = self.registry.canonical(include["system"])
                    if system not in found:
                        found.append(system)
            return found
        for key in self._lazy_by_url.get(f"urn:oid:{oid}", []):
            for system in self._lazy_systems.get(key, []):
                if system not in found:
                    found.append(system)
        return found

    def source_info(self, source: str | None) -> dict[str, Any]:
        """Metadata (url, version, title, publisher, copyright) of the resource a designation came from."""
        meta = self.codesystems.get(source or "") or self.valuesets.get(source or "") or {}
        out = {"url": source}
        for key in ("version", "title", "publisher", "copyright"):
            if meta.get(key):
                out[key] = meta[key]
        if not meta.get("title") and meta.get("name"):
            out["title"] = meta["name"]
        return out

    # -- operations ------------------------------------------------------------------------------

    def _known_system(self, system: str, expression: str) -> CodeSystemEntry:
        if not system:
            raise TerminologyError("Paramètre « system » manquant", "invalid", expression)
        entry = self.system_entry(system)
        if entry is None:
            raise TerminologyError(f"Système de codes inconnu : {system}", "not-found", expression)
        return entry

    def lookup(
        self,
        system: str,
        code: str,
        version: str | None = None,
        display_language: str | None = None,
        properties: Iterable[str] | None = None,
    ) -> LookupResult:
        """``CodeSystem/$lookup``. Unknown system or code: ``not-found`` (404)."""
        entry = self._known_system(system, "system")
        concept = entry.get(code) if code else None
        if concept is None:
            hint = " (contenu partiel du système)" if entry.content != "complete" else ""
            raise TerminologyError(f"Code inconnu : {code} dans {entry.url}{hint}", "not-found", "code")
        wanted = set(properties) if properties else None
        props = [(p, v) for p, v in concept.properties if wanted is None or p in wanted]
        if wanted is None or "parent" in wanted:
            props += [("parent", p) for p in sorted(concept.parents)]
        if wanted is None or "child" in wanted:
            props += [("child", c) for c in sorted(concept.children)]
        display = concept.display
        if display_language:
            display = self._display_in(entry, concept, display_language) or concept.display
        # R4 makes display 1..1: the preferred designation, else the code itself
        display = display or _preferred_designation(concept.designations) or concept.code
        return LookupResult(
            entry.url,
            concept.code,
            display,
            entry.title or entry.name,
            version or entry.version,
            list(concept.designations),
            props,
            concept.abstract,
            concept.inactive,
        )

    def display(self, system: str, code: str, lang: str = "fr") -> str | None:
        """The designation of a code in language ``lang``, or None: never another language's.

        This is the translator's hot path: a couple of dict lookups, no lazy loading for
        non-English requests (French comes only from eagerly loaded sources).
        """
        canonical = self.registry.canonical(system)
        entry = self.index.systems.get(canonical)
        concept = entry.get(code) if entry is not None else None
        if concept is None and lang.lower().startswith("en") and canonical in self._lazy_by_system:
            entry = self.system_entry(canonical)
            concept = entry.get(code) if entry is not None else None
        if entry is None or concept is None:
            orphans = self.index.orphan_designations(canonical, code)
            found = _pick_designation(orphans, lang) if orphans else None
        else:
            found = self._display_in(entry, concept, lang)
        if found is None:
            designated = self._resolved_designation(canonical, code, lang)
            return designated.value if designated is not None else None
        return found

    def designation(self, system: str, code: str, lang: str = "fr") -> Designated | None:
        """Like :meth:`display`, with where the text comes from and how the code was resolved.

        ``source`` is the resource that brought the designation (a supplement, a value set or
        the code system itself); ``system``/``code`` are the pair it was found under, which
        differ from the ones asked when :mod:`terminology.resolution` resolved them (``note``).
        """
        canonical = self.registry.canonical(system)
        return self._direct(canonical, code, lang) or self._resolved_designation(canonical, code, lang)

    def _direct(self, canonical: str, code: str, lang: str) -> Designated | None:
        entry = self.index.systems.get(canonical)
        concept = entry.get(code) if entry is not None else None
        if entry is None or concept is None:
            picked = _pick(self.index.orphan_designations(canonical, code), lang)
            if picked is None:
                return None
            return Designated(picked.value, canonical, code, self.source_info(picked.source))
        picked = _pick(concept.designations, lang)
        if picked is not None:
            return Designated(picked.value, canonical, concept.code, self.source_info(picked.source))
        native = entry.language or ("en" if entry.from_resource or entry.content == "fragment" else None)
        if concept.display and language_matches(lang, native):
            info = {"url": entry.url, "title": entry.title or entry.name, "version": entry.version,
                    "publisher": entry.publisher}  # fmt: skip
            return Designated(concept.display, canonical, concept.code, {k: v for k, v in info.items() if v})
        return None

    def _resolved_designation(self, canonical: str, code: str, lang: str) -> Designated | None:
        from terminology.resolution import candidates

        for candidate in candidates(self, canonical, code):
            found = self._direct(candidate.system, candidate.code, lang)
            if found is not None:
                return Designated(found.value, found.system, found.code, found.source, candidate.note)
        return None

    @staticmethod
    def _display_in(entry: CodeSystemEntry, concept: Concept, lang: str) -> str | None:
        best = _pick_designation(concept.designations, lang)
        if best is not None:
            return best
        native = entry.language or ("en" if entry.from_resource or entry.content == "fragment" else None)
        if concept.display and language_matches(lang, native):
            return concept.display
        return None

    def validate_code(
        self,
        code: str,
        system: str | None = None,
        valueset: str | dict[str, Any] | None = None,
        display: str | None = None,
        version: str | None = None,
        display_language: str | None = None,
    ) -> ValidationResult:
        """``ValueSet/$validate-code`` (``valueset`` given) or ``CodeSystem/$validate-code``.

        An unknown value set or code system is an error (404); an unknown code or a code
        outside the value set is an answer (``result`` false with a message). ``version`` is
        accepted for the operation's signature; the index holds one version per code system.
        """
        if not code:
            raise TerminologyError("Paramètre « code » manquant", "invalid", "code")
        if valueset is not None:
            vs = valueset if isinstance(valueset, dict) else self.resolve_valueset(valueset)
            if not system:
                raise TerminologyError("Paramètre « system » manquant", "invalid", "system")
            canonical = self.registry.canonical(system)
            self.system_entry(canonical)
            member = compose_contains(self, vs, canonical, code)
            if member is None:
                return ValidationResult(
                    False,
                    f"Le code {canonical}#{code} n'est pas dans la ValueSet "
                    f"{vs.get('url') or vs.get('name')}",
                    None,
                    canonical,
                    code,
                )
            return self._check_display(member, display, display_language)
        if not system:
            raise TerminologyError("Paramètre « system » manquant", "invalid", "system")
        canonical = self.registry.canonical(system)
        entry = self.system_entry(canonical)
        concept = entry.get(code) if entry is not None else None
        if concept is None:
            resolved = self._validate_resolved(canonical, code, display, display_language)
            if resolved is not None:
                return resolved
        if entry is None:
            return ValidationResult(False, f"Système de codes inconnu : {system}", None, canonical, code)
        if concept is None:
            from terminology.checkdigits import invalid_reason

            reason = invalid_reason(entry.url, code)
            hint = " (le système n'est connu que partiellement)" if entry.content != "complete" else ""
            return ValidationResult(
                False, reason or f"Code inconnu : {code} dans {entry.url}{hint}", None, entry.url, code
            )
        return self._check_display(
            Member(entry.url, concept.code, concept.display, concept), display, display_language
        )

    def _validate_resolved(
        self, canonical: str, code: str, display: str | None, display_language: str | None
    ) -> ValidationResult | None:
        """A valid code once resolved (national ICD-10, value-set OID, published map), with the note."""
        from terminology.resolution import candidates

        for candidate in candidates(self, canonical, code):
            entry = self.system_entry(candidate.system)
            concept = entry.get(candidate.code) if entry is not None else None
            if entry is None or concept is None:
                continue
            result = self._check_display(
                Member(entry.url, concept.code, concept.display, concept), display, display_language
            )
            note = f"Code résolu en {entry.url}#{concept.code} : {candidate.note}"
            result.message = f"{note}. {result.message}" if result.message else note
            return result
        return None

    def _check_display(
        self, member: Member, display: str | None, display_language: str | None
    ) -> ValidationResult:
        shown = member.display
        if display_language and member.concept is not None:
            entry = self.index.systems.get(member.system)
            if entry is not None:
                shown = self._display_in(entry, member.concept, display_language) or shown
        if display:
            candidates: set[str] = {member.display} if member.display else set()
            if member.concept is not None and member.concept.display:
                candidates.add(member.concept.display)
                candidates.update(d.value for d in member.concept.designations)
            folded = {fold(c) for c in candidates if c}
            if folded and fold(display) not in folded:
                return ValidationResult(
                    False,
                    f"Libellé incorrect pour {member.system}#{member.code} : "
                    f"« {display} », attendu « {member.display} »",
                    shown,
                    member.system,
                    member.code,
                )
        return ValidationResult(True, None, shown, member.system, member.code)

    def expand(
        self,
        url: str | None = None,
        valueset: dict[str, Any] | None = None,
        filter: str | None = None,
        count: int | None = None,
        offset: int = 0,
        display_language: str | None = None,
        include_designations: bool = False,
        active_only: bool = False,
    ) -> dict[str, Any]:
        """``ValueSet/$expand``; returns the ValueSet with its ``expansion``.

        Without ``count`` an expansion larger than ``max_expansion_size`` is refused with
        ``too-costly``; with ``count`` it is paged (up to ``max_paged_expansion_size``).
        """
        if count is not None and (not isinstance(count, int) or count < 0):
            raise TerminologyError("« count » doit être un entier positif", "invalid", "count")
        if not isinstance(offset, int) or offset < 0:
            raise TerminologyError("« offset » doit être un entier positif", "invalid", "offset")
        if valueset is None:
            if not url:
                raise TerminologyError("Indiquez « url » ou une « valueSet »", "invalid", "url")
            valueset = self.resolve_valueset(url)
        with self._lock:
            members = expand_compose(self, valueset, self.max_paged_expansion_size)
        items = list(members.values())
        if active_only:
            items = [m for m in items if m.concept is None or not m.concept.inactive]
        displays = [self._member_display(m, display_language) for m in items]
        if filter:
            needle = fold(filter)
            kept = [(m, d) for m, d in zip(items, displays, strict=True) if _text_matches(m, d, needle)]
            items, displays = [m for m, _ in kept], [d for _, d in kept]
        total = len(items)
        if count is None and total > self.max_expansion_size:
            raise TerminologyError(
                f"Expansion trop volumineuse ({total} codes, limite {self.max_expansion_size}) : utilisez "
                "« count »/« offset » ou « filter »",
                "too-costly",
                "ValueSet",
            )
        end = total if count is None else offset + count
        contains = []
        for member, shown in zip(items[offset:end], displays[offset:end], strict=True):
            item: dict[str, Any] = {"system": member.system, "code": member.code}
            if member.version:
                item["version"] = member.version
            if shown:
                item["display"] = shown
            if member.concept is not None:
                if member.concept.abstract:
                    item["abstract"] = True
                if member.concept.inactive:
                    item["inactive"] = True
                if include_designations and member.concept.designations:
                    item["designation"] = [d.to_fhir() for d in member.concept.designations]
            contains.append(item)
        parameters: list[dict[str, Any]] = [{"name": "offset", "valueInteger": offset}]
        if count is not None:
            parameters.append({"name": "count", "valueInteger": count})
        if filter:
            parameters.append({"name": "filter", "valueString": filter})
        if display_language:
            parameters.append({"name": "displayLanguage", "valueCode": display_language})
        if include_designations:
            parameters.append({"name": "includeDesignations", "valueBoolean": True})
        out = {k: v for k, v in valueset.items() if k not in ("compose", "text", "expansion")}
        out["resourceType"] = "ValueSet"
        out["expansion"] = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "total": total,
            "offset": offset,
            "parameter": parameters,
            "contains": contains,
        }
        return out

    def _member_display(self, member: Member, lang: str | None) -> str | None:
        if lang and member.concept is not None:
            entry = self.index.systems.get(member.system)
            if entry is not None:
                shown = self._display_in(entry, member.concept, lang)
                if shown:
                    return shown
        return member.display

    def subsumes(self, code_a: str, code_b: str, system: str) -> str:
        """``CodeSystem/$subsumes``: equivalent, subsumes, subsumed-by or not-subsumed."""
        entry = self._known_system(system, "system")
        for name, code in (("codeA", code_a), ("codeB", code_b)):
            if not code or entry.get(code) is None:
                raise TerminologyError(f"Code inconnu : {code} dans {entry.url}", "not-found", name)
        if not entry.hierarchical and entry.content != "complete":
            raise TerminologyError(f"Hiérarchie non disponible pour {entry.url}", "not-supported", "system")
        a = entry.get(code_a).code  # type: ignore[union-attr]
        b = entry.get(code_b).code  # type: ignore[union-attr]
        if a == b:
            return "equivalent"
        if a in entry.ancestors(b):
            return "subsumes"
        if b in entry.ancestors(a):
            return "subsumed-by"
        return "not-subsumed"

    def translate(
        self,
        code: str,
        system: str,
        url: str | None = None,
        source: str | None = None,
        target: str | None = None,
        target_system: str | None = None,
        reverse: bool = False,
    ) -> TranslationResult:
        """``ConceptMap/$translate`` over every loaded ConceptMap (or the one named by ``url``)."""
        if not code or not system:
            raise TerminologyError("Paramètres « code » et « system » requis", "invalid", "code")
        if url and url not in self.conceptmaps.maps:
            raise TerminologyError(f"ConceptMap inconnue : {url}", "not-found", "url")
        return self.conceptmaps.translate(
            self.registry.canonical(system),
            code,
            url=url,
            source_vs=source,
            target_vs=target,
            target_system=self.registry.canonical(target_system) if target_system else None,
            reverse=reverse,
        )


_PREFERRED = frozenset({"preferred", "display", "900000000000548007"})  # SNOMED CT "Preferred"


def _preferred_designation(designations: list[Designation]) -> str | None:
    """A concept's own display is missing (partial sources): a designation marked preferred, else
    one in English, else the first usable one (never a definition)."""
    usable = [d for d in designations if d.use != "definition" and d.value]
    for candidates in (
        [d for d in usable if d.use in _PREFERRED],
        [d for d in usable if language_matches("en", d.language)],
        usable,
    ):
        if candidates:
            return candidates[0].value
    return None


def _pick_designation(designations: list[Designation], lang: str) -> str | None:
    picked = _pick(designations, lang)
    return picked.value if picked is not None else None


def _pick(designations: list[Designation], lang: str) -> Designation | None:
    """The designation in ``lang`` from the latest source that has one (exact tag preferred within it).

    Sources load from the least to the most trusted, so the latest source wins; within one
    source ``fr-FR`` beats ``fr`` for a ``fr-FR`` request, and any ``fr-*`` serves ``fr``;
    a ``synonym`` is used only when its source gives no preferred designation.
    """
    best: Designation | None = None
    best_rank = (0, 0)
    for designation in reversed(designations):
        if designation.use == "definition":
            continue
        score = language_matches(lang, designation.language)
        if not score:
            continue
        rank = (0 if designation.use == "synonym" else 1, score)
        if best is None or (designation.source == best.source and rank > best_rank):
            best, best_rank = designation, rank
        if best_rank == (1, 2):
            break
    return best


def _text_matches(member: Member, shown: str | None, needle: str) -> bool:
    texts = [member.code, member.display or "", shown or ""]
    if member.concept is not None:
        texts.extend(d.value for d in member.concept.designations)
    return any(needle in fold(t) for t in texts if t)


def _flatten(resource: dict[str, Any]) -> Iterable[dict[str, Any]]:
    if not isinstance(resource, dict):
        raise TerminologyError("Ressource FHIR attendue (objet JSON)", "invalid", "resource")
    if resource.get("resourceType") == "Bundle":
        for entry in resource.get("entry") or []:
            inner = (entry or {}).get("resource")
            if isinstance(inner, dict):
                yield from _flatten(inner)
    else:
        yield resource
