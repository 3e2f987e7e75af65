"""Orphanet nomenclature: the Orphadata XML pack, or its CSV conversion.

- XML (``ORPHAnomenclature_fr_<year>.xml`` / ``fr_product1.xml``): ``<JDBOR date=…>`` holding
  ``<Disorder>`` elements with ``<OrphaCode>``, ``<Name lang="fr">``, ``<SynonymList>
  <Synonym lang="fr">`` and ``<DisorderFlagList><DisorderFlag><Value>`` (``1`` = active).
  Read as a stream (the pack is tens of MB), without entities or network.
- CSV (``orpha_code,label,level,status,type``; Orphanet's numeric ids; status ``1`` =
  active), the release taken from the file name (``…-2023-06-22.csv``).

Every code gets its French preferred name (and synonyms from the XML); inactive codes keep
their label, marked inactive, since older documents still carry them.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from lxml import etree

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

ACTIVE = "1"


def import_orphanet(
    path: Path, *, release: str | None = None, progress: Progress = no_progress
) -> ImportResult:
    head = path.read_bytes()[:512].lstrip()
    if head.startswith(b"<"):
        entries, found_release, language, skipped = _xml(path, progress)
    else:
        entries, skipped = _csv(path, progress)
        match = re.search(r"(\d{4}-\d{2}-\d{2})", path.name)
        found_release, language = (match.group(1) if match else None), "fr"
    version = version_token(release or found_release or "inconnue")
    source = BY_FORMAT["orphanet"]
    resources = supplements(source, version, entries, file_name=path.name, language=language)
    return ImportResult(source, version, resources, len(entries), skipped)


def _csv(path: Path, progress: Progress) -> tuple[list[Entry], int]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_file(path, "CSV Orphanet attendu en UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not {"orpha_code", "label"} <= fields:
        raise bad_file(
            path, f"colonnes orpha_code et label attendues (en-tête : {', '.join(sorted(fields))})"
        )
    entries, skipped = [], 0
    for row in counted(reader, progress):
        row = {k.strip().lower(): v for k, v in row.items() if k}
        code, label = clean(row.get("orpha_code")), clean(row.get("label"))
        if not code.isdigit() or not label:
            skipped += 1
            continue
        status = clean(row.get("status"))
        entries.append(Entry(code, [("display", label)], inactive=bool(status) and status != ACTIVE))
    return entries, skipped


def _xml(path: Path, progress: Progress) -> tuple[list[Entry], str | None, str, int]:
    entries: list[Entry] = []
    skipped = 0
    release: str | None = None
    language = "fr"
    context = etree.iterparse(
        str(path), events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False,
        huge_tree=True,
    )  # fmt: skip
    done = 0
    try:
        for event, el in context:
            tag = etree.QName(el).localname if isinstance(el.tag, str) else ""
            if event == "start":
                if tag == "JDBOR" and el.get("date"):
                    release = el.get("date", "").split(" ")[0]
                continue
            if (
                tag != "Disorder"
                or el.getparent() is None
                or etree.QName(el.getparent()).localname != "DisorderList"
            ):
                continue
            code = clean(el.findtext("OrphaCode"))
            name_el = el.find("Name")
            label = clean(name_el.text if name_el is not None else "")
            if name_el is not None and name_el.get("lang"):
                language = name_el.get("lang", "fr")
            if not code.isdigit() or not label:
                skipped += 1
            else:
                labels = [("display", label)]
                labels += [
                    ("synonym", clean(s.text)) for s in el.iterfind("SynonymList/Synonym") if clean(s.text)
                ]
                flags = [clean(v.text) for v in el.iterfind("DisorderFlagList/DisorderFlag/Value")]
                entries.append(Entry(code, labels, inactive=bool(flags) and ACTIVE not in flags))
            el.clear(keep_tail=False)
            done += 1
            if done % 500 == 0:
                progress(500)
    except etree.XMLSyntaxError as exc:
        raise bad_file(path, f"XML Orphadata invalide ({exc})") from exc
    progress(done % 500)
    if not entries and not skipped:
        raise bad_file(path, "aucun <Disorder> : fichier Orphadata (JDBOR/DisorderList) attendu")
    return entries, release, language, skipped
