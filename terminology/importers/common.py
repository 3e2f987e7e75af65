"""What every importer shares: the supplement it writes, its provenance, progress reporting.

An importer turns a publisher's file into FHIR CodeSystem supplements (``content:
supplement``) of the code system the publisher translates: the supplement adds French
designations, never codes (a supplement never makes a code valid). Each supplement is
deterministic for a given file (no import timestamp in its content), so importing the same
file twice stores nothing new, and carries:

- ``url`` (one per source, see :mod:`terminology.importers.sources`) and ``version`` (the
  publisher's release), so a new release is a new version of the same canonical resource;
- ``publisher`` and ``copyright`` (the licence and the attribution the publisher requires);
- the provenance extension (:data:`PROVENANCE_URL`): the importer's format, the file name,
  the release and a note.

Big sources are split in parts of at most :data:`MAX_CONCEPTS` concepts, :data:`MAX_PART_BYTES`
of JSON and :data:`MAX_PART_ELEMENTS` JSON values (``…-part-2``), so a stored resource stays far
below MongoDB's 16 MB document limit and the server's request body and element limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from terminology.errors import TerminologyError
from terminology.importers.sources import Source

BASE = "https://passerelle.fr/fhir"
PROVENANCE_URL = f"{BASE}/StructureDefinition/terminology-provenance"
DESIGNATION_USAGE = "http://terminology.hl7.org/CodeSystem/designation-usage"
MAX_CONCEPTS = 20_000
# Also bounded in bytes: the server refuses bodies over 16 MB (PASSERELLE_MAX_BODY_BYTES).
MAX_PART_BYTES = 8 * 1024 * 1024
# And in JSON values: the server refuses a resource of more than 20,000 (PASSERELLE_MAX_ELEMENTS);
# the header of a part (provenance, property, copyright) takes well under the margin left.
MAX_PART_ELEMENTS = 18_000

INACTIVE_PROPERTY = {
    "code": "inactive",
    "uri": "http://hl7.org/fhir/concept-properties#inactive",
    "description": "Code retiré par l'éditeur (libellé conservé pour les documents anciens)",
    "type": "boolean",
}

# Called once per unit of work read (rows of the file); the CLI plugs a tqdm bar here.
Progress = Callable[[int], None]


def no_progress(_: int) -> None:
    return None


@dataclass(slots=True)
class Entry:
    """One code and its designations in the source's language (first one = preferred)."""

    code: str
    labels: list[tuple[str, str]] = field(default_factory=list)  # (use code, text)
    inactive: bool = False


@dataclass(slots=True)
class ImportResult:
    source: Source
    release: str
    resources: list[dict[str, Any]]
    concepts: int
    skipped: int = 0  # rows without a usable code or label


def bad_file(path: Path, message: str) -> TerminologyError:
    return TerminologyError(f"{path.name} : {message}", "structure", str(path))


def version_token(text: str) -> str:
    """A release label as a FHIR-friendly version: ``2022 05 24`` -> ``2022-05-24``."""
    text = text.strip()
    match = re.fullmatch(r"(\d{4})[ _./-]?(\d{2})[ _./-]?(\d{2})", text)
    if match:
        return "-".join(match.groups())
    return re.sub(r"\s+", "-", text) or "inconnue"


def supplements(
    source: Source,
    release: str,
    entries: Iterable[Entry],
    *,
    file_name: str,
    language: str | None = None,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """The supplement(s) carrying ``entries`` (split every :data:`MAX_CONCEPTS` concepts)."""
    language = language or source.language
    concepts = [_concept(entry, language) for entry in entries if entry.labels]
    concepts.sort(key=lambda c: c["code"])
    parts: list[list[dict[str, Any]]] = [[]]
    size = values = 0
    for concept in concepts:
        length, count = len(orjson.dumps(concept)), _values(concept)
        if parts[-1] and (
            len(parts[-1]) >= MAX_CONCEPTS
            or size + length > MAX_PART_BYTES
            or values + count > MAX_PART_ELEMENTS
        ):
            parts.append([])
            size = values = 0
        parts[-1].append(concept)
        size += length
        values += count
    out = []
    for number, part in enumerate(parts, 1):
        suffix = "" if number == 1 else f"-part-{number}"
        ident = f"{source.ident}{suffix}"
        extension: list[dict[str, Any]] = [
            {"url": "format", "valueCode": source.format},
            {"url": "file", "valueString": file_name},
            {"url": "release", "valueString": release},
            {"url": "note", "valueString": note or source.note},
        ]
        if source.home:
            extension.append({"url": "source", "valueUri": source.home})
        out.append(
            {
                "resourceType": "CodeSystem",
                "id": f"{ident}-{_id_token(release)}"[:64],
                "extension": [{"url": PROVENANCE_URL, "extension": extension}],
                "url": f"{BASE}/CodeSystem/{ident}",
                "version": release,
                "name": "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", ident) if p)[:250],
                "title": source.title + (f" (partie {number})" if number > 1 else ""),
                "status": "active",
                "publisher": source.publisher,
                "copyright": source.copyright,
                "language": language,
                "content": "supplement",
                "supplements": source.system,
                "count": len(part),
                **({"property": [INACTIVE_PROPERTY]} if any("property" in c for c in part) else {}),
                "concept": part,
            }
        )
    return out


def _concept(entry: Entry, language: str) -> dict[str, Any]:
    """Synonyms first, the preferred label last: readers that take "the latest designation" agree."""
    ordered = [(u, t) for u, t in entry.labels[1:] if t != entry.labels[0][1]] + [entry.labels[0]]
    designations = []
    seen: set[str] = set()
    for use, text in ordered:
        if text in seen:
            continue
        seen.add(text)
        designations.append(
            {"language": language, "use": {"system": DESIGNATION_USAGE, "code": use}, "value": text}
        )
    concept: dict[str, Any] = {"code": entry.code, "designation": designations}
    if entry.inactive:
        concept["property"] = [{"code": "inactive", "valueBoolean": True}]
    return concept


def _id_token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "x"


def counted(rows: Iterable[Any], progress: Progress, every: int = 500) -> Iterator[Any]:
    """Yield ``rows``, reporting progress every ``every`` rows (and the remainder at the end)."""
    pending = 0
    for row in rows:
        yield row
        pending += 1
        if pending >= every:
            progress(pending)
            pending = 0
    if pending:
        progress(pending)


def clean(text: Any) -> str:
    """A cell as text, whitespace collapsed (spreadsheets keep stray spaces and line breaks)."""
    if text is None:
        return ""
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    return " ".join(str(text).split())


def _values(node: Any) -> int:
    """JSON values in ``node``, itself included (what the server's element limit counts)."""
    if isinstance(node, dict):
        return 1 + sum(_values(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_values(v) for v in node)
    return 1
