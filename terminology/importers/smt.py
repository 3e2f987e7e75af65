"""ANS SMT (serveur multi-terminologies) exports: Excel 97 (``.xls``), ``.xlsx`` or CSV.

The SMT exports a terminology as one table whose first row names the columns. For the ATC
(``terminologie-atc``): ``Niveau code``, ``ATC_code``, ``ATC_codePere``, ``Libellé anglais``,
``Libellé français``, ``Commentaires``, ``Création``, ``Modification``, ``Inactivation``; the
sheet is named after the release (``2022 05 24``). Columns are found by name, not position
(the SMT adds columns between releases): the code is the first column whose name contains
"code" but not "père"/"parent"/"niveau", the label the first one naming French
("français"/"fr"), else the first "libellé" that is not English. A row with an
``Inactivation`` date is marked inactive.

Which code system the export translates: the ATC when a column is named ``ATC_…``,
otherwise the ``system`` argument (the SMT's canonical URL or OID of that terminology).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from pathlib import Path
from typing import Any

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
from terminology.importers.sources import ATC, BY_FORMAT, Source


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


def read_table(path: Path) -> tuple[list[list[Any]], str | None]:
    """Rows (header first) and the sheet name (the SMT names it after the release) of an export."""
    name = path.name.lower()
    if name.endswith(".xls"):
        import xlrd

        try:
            book = xlrd.open_workbook(str(path), on_demand=True)
        except xlrd.XLRDError as exc:
            raise bad_file(path, f"classeur Excel illisible ({exc})") from exc
        sheet = book.sheet_by_index(0)
        return [sheet.row_values(r) for r in range(sheet.nrows)], sheet.name
    if name.endswith(".xlsx"):
        raise bad_file(path, "format .xlsx : réenregistrez l'export SMT en .xls ou .csv")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=";,\t|")
    except csv.Error:
        dialect = csv.excel
    return list(csv.reader(io.StringIO(text), dialect)), None


def _columns(header: list[Any]) -> tuple[int, int, int | None, int | None]:
    names = [_fold(clean(h)) for h in header]
    code = next(
        (i for i, n in enumerate(names) if "code" in n and not re.search(r"pere|parent|niveau|level", n)),
        None,
    )
    label = next((i for i, n in enumerate(names) if re.search(r"\bfr(ancais)?\b|francais", n)), None)
    if label is None:
        label = next((i for i, n in enumerate(names) if "libelle" in n and "anglais" not in n), None)
    english = next(
        (i for i, n in enumerate(names) if "anglais" in n or re.search(r"\ben(glish)?\b", n)), None
    )
    inactive = next((i for i, n in enumerate(names) if n.startswith("inactivation")), None)
    if code is None or label is None:
        raise ValueError(", ".join(clean(h) for h in header))
    return code, label, english, inactive


def import_smt(
    path: Path,
    *,
    system: str | None = None,
    release: str | None = None,
    progress: Progress = no_progress,
) -> ImportResult:
    rows, sheet = read_table(path)
    if not rows:
        raise bad_file(path, "export SMT vide")
    header = rows[0]
    try:
        code_i, label_i, _english_i, inactive_i = _columns(header)
    except ValueError as exc:
        raise bad_file(path, f"colonnes code / libellé français introuvables (en-tête : {exc})") from exc
    is_atc = any(_fold(clean(h)).startswith("atc_") for h in header)
    source = BY_FORMAT["smt"]
    if not is_atc:
        if not system:
            raise bad_file(path, "export SMT d'une autre terminologie que l'ATC : indiquez --system")
        slug = re.sub(r"[^a-z0-9]+", "-", _fold(system)).strip("-")[-40:]
        source = Source(
            f"fr-smt-{slug}", "smt", system, f"Libellés français du SMT de l'ANS ({system})",
            "ANS (Agence du Numérique en Santé)",
            "Terminology export of the ANS SMT (https://smt.esante.gouv.fr); licence as stated by the ANS "
            "for this terminology.",
            "licence indiquée par l'ANS pour cette terminologie",
            "ANS SMT export (Excel 97 or CSV), French labels as published",
        )  # fmt: skip
    elif system and system != ATC:
        raise bad_file(path, f"export ATC, mais --system {system} indiqué")
    version = version_token(release or sheet or _release_from_name(path) or "")
    entries: list[Entry] = []
    skipped = 0
    for row in counted(rows[1:], progress):
        code = clean(row[code_i]) if code_i < len(row) else ""
        label = clean(row[label_i]) if label_i < len(row) else ""
        if not code or not label or code == "-":
            skipped += 1
            continue
        inactive = inactive_i is not None and inactive_i < len(row) and bool(clean(row[inactive_i]))
        entries.append(Entry(code, [("display", label)], inactive))
    resources = supplements(source, version, entries, file_name=path.name)
    return ImportResult(source, version, resources, len(entries), skipped)


def _release_from_name(path: Path) -> str | None:
    match = re.search(r"(\d{4})[-_ .]?(\d{2})[-_ .]?(\d{2})", path.name) or re.search(r"(\d{4})", path.name)
    return "-".join(match.groups()) if match else None
