"""SNOMED CT RF2: a French edition or translation (description file + language reference set).

Files (tab-separated UTF-8, header row, as in every RF2 release):

- ``sct2_Description_{Snapshot|Full}[-fr]_<namespace>_<date>.txt``: ``id``, ``effectiveTime``,
  ``active``, ``moduleId``, ``conceptId``, ``languageCode``, ``typeId``, ``term``,
  ``caseSignificanceId``;
- ``der2_cRefset_Language{Snapshot|Full}[-fr]_<namespace>_<date>.txt``: ``id``,
  ``effectiveTime``, ``active``, ``moduleId``, ``refsetId``, ``referencedComponentId``,
  ``acceptabilityId``.

Give both files, or a release folder (they are found under it). Full files are reduced to
the latest row per id. A concept's designation is its active synonym (``typeId``
900000000000013009) marked preferred (900000000000548007) by an active row of the language
refset; acceptable synonyms (900000000000549004) become ``synonym`` designations; fully
specified names are not used as display. Only descriptions whose ``languageCode`` is the
wanted language are kept (``fr`` by default), and only the refsets given (default: every
refset that marks French descriptions).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from terminology.importers.common import (
    Entry,
    ImportResult,
    Progress,
    bad_file,
    no_progress,
    supplements,
    version_token,
)
from terminology.importers.sources import BY_FORMAT

SYNONYM = "900000000000013009"
FSN = "900000000000003001"
PREFERRED = "900000000000548007"
ACCEPTABLE = "900000000000549004"
DESCRIPTION_COLUMNS = ["id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId",
                       "term", "caseSignificanceId"]  # fmt: skip
LANGUAGE_COLUMNS = ["id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId",
                    "acceptabilityId"]  # fmt: skip


def find_files(paths: list[Path]) -> tuple[Path, Path]:
    candidates: list[Path] = []
    for path in paths:
        candidates.extend(sorted(p for p in path.rglob("*.txt")) if path.is_dir() else [path])
    descriptions = [p for p in candidates if p.name.startswith("sct2_Description_")]
    languages = [p for p in candidates if p.name.startswith("der2_cRefset_Language")]
    for group in (descriptions, languages):  # prefer Snapshot files when a release folder is given
        group.sort(key=lambda p: ("Snapshot" not in p.name, p.name))
    if not descriptions or not languages:
        where = ", ".join(str(p) for p in paths)
        raise bad_file(
            Path(where), "fichiers RF2 sct2_Description_… et der2_cRefset_Language… attendus (les deux)"
        )
    return descriptions[0], languages[0]


def _rows(path: Path, columns: list[str], progress: Progress) -> Iterator[dict[str, str]]:
    """The latest row per ``id`` (Full files hold every historical row)."""
    latest: dict[str, dict[str, str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if [c.strip() for c in reader.fieldnames or []][: len(columns)] != columns:
            raise bad_file(path, f"en-tête RF2 attendu : {' '.join(columns)}")
        pending = 0
        for row in reader:
            current = latest.get(row["id"])
            if current is None or row["effectiveTime"] >= current["effectiveTime"]:
                latest[row["id"]] = row
            pending += 1
            if pending == 5000:
                progress(pending)
                pending = 0
        progress(pending)
    return iter(latest.values())


def import_snomed(
    paths: list[Path],
    *,
    release: str | None = None,
    language: str | None = None,
    refsets: set[str] | None = None,
    progress: Progress = no_progress,
) -> ImportResult:
    description_file, language_file = find_files(paths)
    base_language = (language or "fr").split("-")[0].lower()
    descriptions: dict[str, tuple[str, str, str]] = {}  # description id -> (concept, type, term)
    skipped = 0
    for row in _rows(description_file, DESCRIPTION_COLUMNS, progress):
        if row["active"] != "1" or row["languageCode"].lower() != base_language or not row["term"].strip():
            skipped += 1
            continue
        descriptions[row["id"]] = (row["conceptId"], row["typeId"], " ".join(row["term"].split()))
    preferred: dict[str, str] = {}
    acceptable: dict[str, list[str]] = {}
    for row in _rows(language_file, LANGUAGE_COLUMNS, progress):
        if row["active"] != "1" or (refsets and row["refsetId"] not in refsets):
            continue
        found = descriptions.get(row["referencedComponentId"])
        if found is None or found[1] == FSN:
            continue
        concept, _, term = found
        if row["acceptabilityId"] == PREFERRED:
            preferred.setdefault(concept, term)
        elif row["acceptabilityId"] == ACCEPTABLE:
            acceptable.setdefault(concept, []).append(term)
    if not preferred:
        raise bad_file(language_file, f"aucun terme préféré en « {base_language} » dans ce refset de langue")
    entries = [
        Entry(concept, [("display", term)] + [("synonym", t) for t in sorted(acceptable.get(concept, []))])
        for concept, term in preferred.items()
    ]
    match = re.search(r"_(\d{8})\.txt$", description_file.name)
    version = version_token(release or (match.group(1) if match else "inconnue"))
    tag = language or ("fr-FR" if base_language == "fr" else base_language)
    source = BY_FORMAT["snomed"]
    resources = supplements(source, version, entries, file_name=description_file.name, language=tag)
    return ImportResult(source, version, resources, len(entries), skipped)
