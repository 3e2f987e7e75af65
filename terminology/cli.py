"""``passerelle terminology ...``: translation coverage here; ``load``/``import`` are wired by the server.

- ``terminology coverage [--lang fr] [--json] [--add PATH] FILE...`` reports, for eHDSI CDA
  documents, how many distinct codes of the coded element list have a designation in the
  language, with the default content (plus terminology files given with ``--add``).
- ``terminology load PATH...`` stores terminology files in the FHIR server as CodeSystem /
  ValueSet / ConceptMap resources. It writes through the server, which depends on this
  package (not the reverse), so it lives in :mod:`fhir_server.operations.terminology_load`
  and is added to the subcommands returned by :func:`register` by the ``passerelle`` command;
  so is ``terminology import FILE...`` (publisher files read by :mod:`terminology.importers`).
  ``python -m terminology`` has ``coverage`` only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson


def register(subparsers: Any) -> Any:
    """Add ``terminology coverage``; returns the ``terminology`` subcommands (for ``load``)."""
    parser = subparsers.add_parser(
        "terminology", help="terminology: load content, measure translation coverage"
    )
    sub = parser.add_subparsers(dest="terminology_command", required=True)

    coverage = sub.add_parser("coverage", help="translation coverage of eHDSI CDA documents")
    coverage.add_argument("files", nargs="+", type=Path, metavar="FILE")
    coverage.add_argument("--lang", default="fr")
    coverage.add_argument("--json", action="store_true", help="print one JSON object")
    coverage.add_argument(
        "--add", action="append", type=Path, default=[], metavar="PATH",
        help="terminology files (as for load), publisher files (as for import) or folders of them, "
        "added to the default content first",
    )  # fmt: skip
    coverage.set_defaults(func=cmd_coverage)
    return sub


def cmd_coverage(args: argparse.Namespace) -> int:
    from terminology import get_service
    from terminology.coverage import format_report, measure
    from terminology.errors import TerminologyError

    service = get_service()
    try:
        for path in args.add:
            add_content(service, path)
    except (TerminologyError, ValueError) as exc:
        print(f"Erreur : {exc.message if isinstance(exc, TerminologyError) else exc}", file=sys.stderr)
        return 1
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


def add_content(service: Any, path: Path) -> None:
    """Add ``path`` to ``service``: a publisher file (any importer format), terminology resources
    (as for ``load``), or a folder of either (``../shared/terminology-sources``)."""
    from terminology.importers import detect_format, import_file
    from terminology.readers import SUFFIXES, read_resources

    if not path.exists():
        raise ValueError(f"introuvable : {path}")
    fmt = detect_format(path)
    if fmt is not None:
        service.load_resources(import_file([path], fmt).resources)
        return
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.is_dir() or detect_format(child) is not None or child.name.endswith(SUFFIXES):
                add_content(service, child)
        return
    service.load_resources(read_resources(path))


def main(argv: list[str] | None = None) -> int:
    """``python -m terminology coverage ...`` (``load`` needs the server: ``passerelle terminology load``)."""
    parser = argparse.ArgumentParser(prog="python -m terminology")
    register(parser.add_subparsers(dest="command", required=True))
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] != "terminology":
        args_list.insert(0, "terminology")
    args = parser.parse_args(args_list)
    return int(args.func(args) or 0)
