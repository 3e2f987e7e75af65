"""ATIH CIM-10 FR à usage PMSI: the nomenclature kit's ``LIBCIM10MULTI.TXT``.

One code per line, ``|``-separated, ISO-8859-1, CRLF: the code written compact and padded
to 6 characters (``A000  ``, ``B24+0 ``), then the MCO/HAD type, the SMR profile, the PSY
type (older kits have one more type column), the short label (upper case, abbreviated)
and the long label, last. The long label is the designation; the WHO notation puts a dot
after the third character (``A00.0``), except for the ATIH's ``+`` extensions (``B24+0``),
which are kept as written. Lines whose code is not an ICD-10 shape are counted as skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

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

COMPACT = re.compile(r"^[A-Z][0-9]{2}[0-9A-Z+]{0,4}$")


def who_notation(compact: str) -> str:
    """``A000`` -> ``A00.0``; ``A00`` and the ATIH ``+`` extensions (``B24+0``) unchanged."""
    if len(compact) > 3 and compact[3] != "+" and "." not in compact:
        return f"{compact[:3]}.{compact[3:]}"
    return compact


def import_atih(path: Path, *, release: str | None = None, progress: Progress = no_progress) -> ImportResult:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("iso-8859-1")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or "|" not in lines[0]:
        raise bad_file(path, "fichier LIBCIM10MULTI.TXT de l'ATIH attendu (champs séparés par |)")
    entries: list[Entry] = []
    skipped = 0
    for line in counted(lines, progress):
        fields = [f.strip() for f in line.split("|")]
        code = fields[0].replace(".", "").upper()
        if len(fields) < 5 or not COMPACT.match(code) or not clean(fields[-1]):
            skipped += 1
            continue
        labels = [("display", clean(fields[-1]))]
        entries.append(Entry(who_notation(code), labels))
    if not entries:
        raise bad_file(path, "aucune ligne au format de l'ATIH (CODE|…|libellé court|libellé long)")
    version = version_token(release or _release_from_name(path) or "inconnue")
    source = BY_FORMAT["atih"]
    resources = supplements(source, version, entries, file_name=path.name)
    return ImportResult(source, version, resources, len(entries), skipped)


def _release_from_name(path: Path) -> str | None:
    match = re.search(r"(20\d{2})", str(path))
    return match.group(1) if match else None
