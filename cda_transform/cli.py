"""``passerelle cda to-fhir`` / ``passerelle cda to-cda``: the transformations from a shell.

The output contract is stable because automated checks use it: the result (Bundle JSON or
CDA XML) on stdout and exit 0; for unusable input nothing on stdout (``> out.json`` never
captures an error), an OperationOutcome JSON on stderr whose diagnostics name the file, and
exit 2. Conversion warnings also go to stderr as an OperationOutcome.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cda_transform.errors import TransformError
from cda_transform.parse import MAX_BYTES

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def register(subparsers: Any) -> None:
    cda = subparsers.add_parser("cda", help="eHDSI CDA <-> FHIR transformations")
    sub = cda.add_subparsers(dest="cda_command", required=True)
    to_fhir = sub.add_parser(
        "to-fhir", help="eHDSI Patient Summary CDA -> FHIR document Bundle (JSON on stdout)"
    )
    to_fhir.add_argument("file", type=Path, help="CDA XML file")
    to_fhir.add_argument(
        "--lang",
        default="fr-FR",
        help="language of the designations asked from the terminology (default fr-FR)",
    )
    to_fhir.set_defaults(func=run_to_fhir)
    to_cda = sub.add_parser(
        "to-cda", help="FHIR document Bundle (JSON) -> eHDSI Patient Summary CDA (XML on stdout)"
    )
    to_cda.add_argument("file", type=Path, help="FHIR Bundle JSON file")
    to_cda.set_defaults(func=run_to_cda)


def _print_json(value: dict[str, Any], stream: Any = None) -> None:
    (stream or sys.stdout).write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _refuse(error: TransformError, path: Path | None = None) -> int:
    outcome = error.to_operation_outcome()
    if path is not None:
        for issue in outcome.get("issue", []):
            issue["diagnostics"] = f"{path} : {issue.get('diagnostics', '')}"
    _print_json(outcome, sys.stderr)
    return EXIT_BAD_INPUT


def _read(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise TransformError(
                f"Fichier trop volumineux ({size} octets, limite {limit}).", code="too-costly"
            )
        return path.read_bytes()
    except OSError as exc:
        raise TransformError(f"Fichier illisible : {exc.strerror or exc}", code="not-found") from None


def run_to_fhir(args: argparse.Namespace) -> int:
    from cda_transform.document import to_fhir

    try:
        result = to_fhir(_read(args.file, MAX_BYTES), lang=args.lang)
    except TransformError as error:
        return _refuse(error, args.file)
    _print_json(result.bundle)
    if any(i.get("severity") in ("warning", "error") for i in result.outcome.get("issue", [])):
        _print_json(result.outcome, sys.stderr)
    return EXIT_OK


def run_to_cda(args: argparse.Namespace) -> int:
    try:
        from cda_transform.to_cda import to_cda
    except ImportError:
        return _refuse(
            TransformError("La conversion FHIR -> CDA n'est pas disponible.", code="not-supported")
        )
    try:
        raw = _read(args.file, MAX_BYTES)
        try:
            bundle = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TransformError(f"JSON invalide : {exc}", code="structure") from None
        if not isinstance(bundle, dict):
            raise TransformError("Le JSON doit être un Bundle FHIR (objet).", code="structure")
        xml = to_cda(bundle)
    except TransformError as error:
        return _refuse(error, args.file)
    sys.stdout.buffer.write(xml if xml.endswith(b"\n") else xml + b"\n")
    sys.stdout.flush()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m cda_transform``), same subcommands as ``passerelle cda``."""
    parser = argparse.ArgumentParser(prog="passerelle")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
