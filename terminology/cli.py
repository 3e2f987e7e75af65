"""``passerelle terminology ...``: load terminology files, measure translation coverage.

- ``terminology load [--data-dir var] PATH...`` reads FHIR CodeSystem/ValueSet/ConceptMap
  (JSON, NDJSON, XML, Bundles) and eHDSI MTC exports (see :mod:`terminology.readers`), checks
  that each resource can be indexed, and stores it in the file store under the data dir
  (:mod:`terminology.store`). Re-running with the same files stores nothing new.
- ``terminology coverage [--lang fr] [--json] [--data-dir var] FILE...`` reports, for eHDSI
  CDA documents, how many distinct codes of the coded element list have a designation in the
  language (with the stored resources added to the default content).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from terminology.errors import TerminologyError

DEFAULT_DATA_DIR = Path("var")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "terminology", help="terminology: load content, measure translation coverage"
    )
    sub = parser.add_subparsers(dest="terminology_command", required=True)

    load = sub.add_parser("load", help="import FHIR CodeSystem/ValueSet/ConceptMap files or MTC exports")
    load.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    load.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    load.add_argument("--quiet", action="store_true", help="no per-file progress")
    load.set_defaults(func=cmd_load)

    coverage = sub.add_parser("coverage", help="translation coverage of eHDSI CDA documents")
    coverage.add_argument("files", nargs="+", type=Path, metavar="FILE")
    coverage.add_argument("--lang", default="fr")
    coverage.add_argument("--json", action="store_true", help="print one JSON object")
    coverage.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    coverage.set_defaults(func=cmd_coverage)


def cmd_load(args: argparse.Namespace) -> int:
    from terminology.readers import read_resources, terminology_files
    from terminology.service import TerminologyService
    from terminology.store import FileStore

    store = FileStore(args.data_dir)
    scratch = TerminologyService()  # checks that each resource can be indexed before storing it
    files = terminology_files(list(args.paths))
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    failed = 0
    for number, path in enumerate(files, 1):
        outcome = {"created": 0, "updated": 0, "unchanged": 0}
        try:
            for resource in read_resources(path):
                scratch.add_resource(resource)
                outcome[store.put(resource)] += 1
        except TerminologyError as exc:
            failed += 1
            print(f"[{number}/{len(files)}] {path}: ERREUR {exc.message}", file=sys.stderr)
            continue
        for key, value in outcome.items():
            totals[key] += value
        if not args.quiet:
            print(
                f"[{number}/{len(files)}] {path}: {sum(outcome.values())} ressources "
                f"({outcome['created']} nouvelles, {outcome['updated']} mises à jour, "
                f"{outcome['unchanged']} inchangées)",
                file=sys.stderr,
            )
    counts = ", ".join(f"{k} {v}" for k, v in store.counts().items()) or "vide"
    print(
        f"{len(files) - failed}/{len(files)} fichiers chargés : {totals['created']} nouvelles, "
        f"{totals['updated']} mises à jour, {totals['unchanged']} inchangées. Stock ({store.root}) : {counts}"
    )
    return 1 if failed else 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from terminology import get_service
    from terminology.coverage import format_report, measure
    from terminology.store import FileStore

    service = get_service()
    service.load_resources(FileStore(args.data_dir).resources())
    files: list[Path] = []
    for path in args.files:
        files.extend(sorted(path.glob("*.xml")) if path.is_dir() else [path])
    missing = [p for p in files if not p.is_file()]
    if missing:
        print(f"Fichier introuvable : {missing[0]}", file=sys.stderr)
        return 2
    try:
        report = measure(service, files, args.lang)
    except Exception as exc:  # lxml parse errors and the like: one clear line, exit 1
        print(f"Erreur : {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
    else:
        print(format_report(report, args.lang))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m terminology load|coverage ...``, for use before ``passerelle`` wires it in."""
    parser = argparse.ArgumentParser(prog="python -m terminology")
    register(parser.add_subparsers(dest="command", required=True))
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] != "terminology":
        args_list.insert(0, "terminology")
    args = parser.parse_args(args_list)
    return int(args.func(args) or 0)
