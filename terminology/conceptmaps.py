"""R4 ConceptMap indexing and ``$translate``.

Maps are indexed by (source system, source code) and, for ``reverse`` translation, by
(target system, target code), so a translation is a dict lookup followed by a filter on the
map URL, source/target value sets and target system.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Equivalences that do not assert a usable match (R4 ConceptMapEquivalence).
NOT_MATCHING = {"unmatched", "disjoint"}


@dataclass(slots=True, frozen=True)
class MapTarget:
    map_url: str
    source_system: str
    source_code: str
    target_system: str
    target_code: str | None
    target_display: str | None
    equivalence: str
    comment: str | None
    source_vs: str | None
    target_vs: str | None


@dataclass(slots=True)
class TranslationMatch:
    equivalence: str
    system: str | None
    code: str | None
    display: str | None
    source: str  # the ConceptMap URL
    comment: str | None = None

    def to_parameter(self) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"name": "equivalence", "valueCode": self.equivalence}]
        if self.code:
            coding = {"system": self.system, "code": self.code}
            if self.display:
                coding["display"] = self.display
            parts.append({"name": "concept", "valueCoding": coding})
        parts.append({"name": "source", "valueUri": self.source})
        return {"name": "match", "part": parts}


@dataclass(slots=True)
class TranslationResult:
    result: bool
    message: str | None = None
    matches: list[TranslationMatch] = field(default_factory=list)

    def to_parameters(self) -> dict[str, Any]:
        params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": self.result}]
        if self.message:
            params.append({"name": "message", "valueString": self.message})
        params.extend(m.to_parameter() for m in self.matches)
        return {"resourceType": "Parameters", "parameter": params}


class ConceptMapIndex:
    def __init__(self) -> None:
        self.maps: dict[str, dict[str, Any]] = {}
        self._forward: dict[tuple[str, str], list[MapTarget]] = defaultdict(list)
        self._reverse: dict[tuple[str, str], list[MapTarget]] = defaultdict(list)

    def add(self, resource: dict[str, Any], canonical: Callable[[str], str]) -> int:
        """Index a ConceptMap; replaces an earlier map with the same URL. Returns mapping count."""
        url = resource.get("url") or f"ConceptMap/{resource.get('id')}"
        if url in self.maps:
            self._remove(url)
        self.maps[url] = resource
        source_vs = resource.get("sourceUri") or resource.get("sourceCanonical")
        target_vs = resource.get("targetUri") or resource.get("targetCanonical")
        count = 0
        for group in resource.get("group") or []:
            source_system = canonical(group.get("source") or "")
            target_system = canonical(group.get("target") or "")
            for element in group.get("element") or []:
                code = element.get("code")
                if not code:
                    continue
                for target in element.get("target") or [{"equivalence": "unmatched"}]:
                    item = MapTarget(
                        url,
                        source_system,
                        code,
                        target_system,
                        target.get("code"),
                        target.get("display"),
                        target.get("equivalence") or "equivalent",
                        target.get("comment"),
                        source_vs,
                        target_vs,
                    )
                    self._forward[(source_system, code)].append(item)
                    if item.target_code:
                        self._reverse[(target_system, item.target_code)].append(item)
                    count += 1
        return count

    def _remove(self, url: str) -> None:
        for table in (self._forward, self._reverse):
            for key in list(table):
                kept = [t for t in table[key] if t.map_url != url]
                if kept:
                    table[key] = kept
                else:
                    del table[key]

    def translate(
        self,
        system: str,
        code: str,
        *,
        url: str | None = None,
        source_vs: str | None = None,
        target_vs: str | None = None,
        target_system: str | None = None,
        reverse: bool = False,
    ) -> TranslationResult:
        table = self._reverse if reverse else self._forward
        matches: list[TranslationMatch] = []
        for item in table.get((system, code), []):
            if url and item.map_url != url:
                continue
            if source_vs and item.source_vs != source_vs:
                continue
            if target_vs and item.target_vs != target_vs:
                continue
            out_system: str
            out_code: str | None
            out_display: str | None
            if reverse:
                out_system, out_code, out_display = item.source_system, item.source_code, None
            else:
                out_system, out_code, out_display = item.target_system, item.target_code, item.target_display
            if target_system and out_system != target_system:
                continue
            matches.append(
                TranslationMatch(
                    item.equivalence, out_system, out_code, out_display, item.map_url, item.comment
                )
            )
        result = any(m.equivalence not in NOT_MATCHING and m.code for m in matches)
        message = None if result else f"Aucune correspondance pour {system}#{code}"
        return TranslationResult(result, message, matches)
