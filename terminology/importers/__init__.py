"""Importers of the publishers' own French distributions (``passerelle terminology import``).

Each reads one publisher format and returns CodeSystem supplements (see
:mod:`terminology.importers.common` for what they carry)::

    from terminology.importers import import_file
    result = import_file([Path("ATC-2023.xls")], "smt")
    result.resources  # [CodeSystem supplement of http://www.whocc.no/atc, version 2022-05-24]

Formats: ``smt`` (ANS SMT export, .xls/.csv), ``orphanet`` (Orphadata XML or CSV), ``atih``
(CIM-10 FR LIBCIM10MULTI.TXT), ``loinc`` (linguistic variant CSV), ``snomed`` (RF2
description file + language refset). :func:`detect_format` guesses one from the file.
"""

from __future__ import annotations

from pathlib import Path

from terminology.importers.atih import import_atih
from terminology.importers.common import PROVENANCE_URL, ImportResult, Progress, no_progress
from terminology.importers.loinc import import_loinc
from terminology.importers.orphanet import import_orphanet
from terminology.importers.smt import import_smt
from terminology.importers.snomed import import_snomed
from terminology.importers.sources import BY_FORMAT, BY_IDENT, BY_SYSTEM, SOURCES, Source

FORMATS = ("smt", "orphanet", "atih", "loinc", "snomed")


def detect_format(path: Path) -> str | None:
    """The importer format of ``path`` from its name and first bytes, or None."""
    name = path.name.lower()
    if path.is_dir():
        return "snomed" if any(path.rglob("sct2_Description_*")) else None
    if name.startswith(("sct2_description_", "der2_crefset_language")):
        return "snomed"
    if name.endswith(".xls") or name.endswith(".xlsx"):
        return "smt"
    if "linguisticvariant" in name:
        return "loinc"
    head = path.read_bytes()[:2048]
    text = head.decode("utf-8", "replace")
    if b"<JDBOR" in head or text.lower().startswith("orpha_code"):
        return "orphanet"
    if "libcim10" in name:
        return "atih"
    first = text.splitlines()[0] if text else ""
    if first.count("|") >= 4 and first.split("|")[0].strip()[:3].isalnum():
        return "atih"
    if "LOINC_NUM" in first:
        return "loinc"
    if name.endswith(".csv") and ("libell" in first.lower() or "code" in first.lower()):
        return "smt"
    return None


def import_file(
    paths: list[Path],
    fmt: str,
    *,
    system: str | None = None,
    release: str | None = None,
    language: str | None = None,
    progress: Progress = no_progress,
) -> ImportResult:
    """Read the publisher file(s) in format ``fmt`` into supplements (nothing is stored here)."""
    if fmt == "snomed":
        return import_snomed(paths, release=release, language=language, progress=progress)
    if len(paths) != 1:
        raise ValueError(f"le format {fmt} lit un seul fichier")
    path = paths[0]
    if fmt == "smt":
        return import_smt(path, system=system, release=release, progress=progress)
    if fmt == "orphanet":
        return import_orphanet(path, release=release, progress=progress)
    if fmt == "atih":
        return import_atih(path, release=release, progress=progress)
    if fmt == "loinc":
        return import_loinc(path, release=release, progress=progress)
    raise ValueError(f"format inconnu : {fmt} (attendu : {', '.join(FORMATS)})")


def imported_source(resource: dict) -> tuple[Source, str] | None:
    """(source, release) when ``resource`` is a supplement written by an importer."""
    for ext in resource.get("extension") or []:
        if ext.get("url") != PROVENANCE_URL:
            continue
        parts = {e.get("url"): e for e in ext.get("extension") or []}
        if "format" not in parts:
            return None
        url = resource.get("url") or ""
        ident = url.rsplit("/", 1)[-1].split("-part-")[0]
        source = BY_IDENT.get(ident) or BY_SYSTEM.get(resource.get("supplements") or "")
        if source is None:
            return None
        return source, str(resource.get("version") or parts.get("release", {}).get("valueString") or "")
    return None


__all__ = [
    "BY_FORMAT",
    "BY_SYSTEM",
    "FORMATS",
    "SOURCES",
    "ImportResult",
    "Source",
    "detect_format",
    "import_file",
    "imported_source",
]
