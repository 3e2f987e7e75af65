"""LOINC linguistic variants: ``AccessoryFiles/LinguisticVariants/frFR<id>LinguisticVariant.csv``.

A comma-separated, double-quoted UTF-8 file with a header: ``LOINC_NUM``, ``COMPONENT``,
``PROPERTY``, ``TIME_ASPCT``, ``SYSTEM``, ``SCALE_TYP``, ``METHOD_TYP``, ``CLASS``,
``SHORTNAME``, ``LONG_COMMON_NAME``, ``RELATEDNAMES2``, ``LinguisticVariantDisplayName``
(recent releases add ``ConsumerName``), all in the variant's language. The designation is
the variant's ``LONG_COMMON_NAME``, else its ``LinguisticVariantDisplayName``, else the fully
specified name built from the six parts (``COMPONENT:PROPERTY:TIME_ASPCT:SYSTEM:SCALE_TYP:
METHOD_TYP``). The language comes from the file name (``frFR`` -> ``fr-FR``, ``frBE`` ->
``fr-BE``), else ``fr-FR``. Codes failing the LOINC check digit are skipped.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from terminology.checkdigits import loinc_valid
from terminology.importers.common import (
    Entry,
    ImportResult,
    Progress,
    bad_file,
    clean,
    counted,
    no_progress,
    supplements,
    version_token,
)
from terminology.importers.sources import BY_FORMAT

PARTS = ("COMPONENT", "PROPERTY", "TIME_ASPCT", "SYSTEM", "SCALE_TYP", "METHOD_TYP")


def import_loinc(path: Path, *, release: str | None = None, progress: Progress = no_progress) -> ImportResult:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_file(path, "variante linguistique LOINC attendue en UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = {(h or "").strip().upper(): h for h in reader.fieldnames or []}
    if "LOINC_NUM" not in header or not ({"LONG_COMMON_NAME", "LINGUISTICVARIANTDISPLAYNAME"} & set(header)):
        raise bad_file(
            path, "colonnes LOINC_NUM et LONG_COMMON_NAME / LinguisticVariantDisplayName attendues"
        )
    match = re.match(r"([a-z]{2})([A-Z]{2})(\d*)LinguisticVariant", path.name)
    language = f"{match.group(1)}-{match.group(2)}" if match else "fr-FR"

    def col(row: dict[str, str], name: str) -> str:
        key = header.get(name)
        return clean(row.get(key)) if key else ""

    entries: list[Entry] = []
    skipped = 0
    for row in counted(reader, progress):
        code = col(row, "LOINC_NUM")
        if not loinc_valid(code):
            skipped += 1
            continue
        formal = ":".join(col(row, p) for p in PARTS)
        label = col(row, "LONG_COMMON_NAME") or col(row, "LINGUISTICVARIANTDISPLAYNAME")
        if not label and col(row, "COMPONENT"):
            label = formal.rstrip(":")
        if not label:
            skipped += 1
            continue
        labels = [("display", label)]
        variant = col(row, "LINGUISTICVARIANTDISPLAYNAME")
        if variant and variant != label:
            labels.append(("synonym", variant))
        entries.append(Entry(code, labels))
    version = version_token(release or _release_from_path(path) or "inconnue")
    source = BY_FORMAT["loinc"]
    resources = supplements(source, version, entries, file_name=path.name, language=language)
    return ImportResult(source, version, resources, len(entries), skipped)


def _release_from_path(path: Path) -> str | None:
    match = re.search(r"Loinc_(\d+\.\d+)", str(path), re.IGNORECASE)
    return match.group(1) if match else None
