"""``passerelle terminology load PATH...``: import terminology files into the server as FHIR resources.

Files are read by :mod:`terminology.readers` (FHIR CodeSystem/ValueSet/ConceptMap in JSON,
NDJSON or XML, Bundles of them, eHDSI MTC exports) and written through the FHIR API, like
``passerelle load``: the same validation, history, search values, and the running server's
terminology service is updated at once. Without ``--url`` a server is started for the
duration on the server's database (``MONGODB_URI``, else the embedded one under
``--data-dir``), see :func:`fhir_server.cli.fhir_base`.

Idempotent: a resource is identified by (type, canonical url, version), or by its id when it
has no url. One already stored with the same content (ignoring ``id`` and ``meta``) is left
alone (no new version); a changed one gets a new version of the same stored resource; a new
one keeps its own id when that id is free on the server.

``passerelle terminology import FILE...`` goes the same way for a publisher's own French
distribution (ANS SMT, Orphanet, ATIH CIM-10 FR, LOINC linguistic variant, SNOMED CT RF2):
:mod:`terminology.importers` turns it into CodeSystem supplements, upserted here.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import httpx

from terminology import TerminologyError
from terminology.checks import TERMINOLOGY_TYPES, check_resource

FHIR_JSON = "application/fhir+json"
IMPORT_FORMATS = ("smt", "orphanet", "atih", "loinc", "snomed")
Outcome = Literal["created", "updated", "unchanged"]


def register(terminology: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``load`` to the ``passerelle terminology`` subcommands."""
    p = terminology.add_parser(
        "load", help="import FHIR CodeSystem/ValueSet/ConceptMap files or MTC exports into the server"
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or directories (recursive)")
    p.add_argument("--url", default=None, help="FHIR base URL of a running server (default: start one)")
    p.add_argument("--data-dir", type=Path, default=Path("var"), help="data dir of the server started here")
    p.add_argument("--token", default=None, help="bearer token for a server with authorization")
    p.add_argument("--quiet", action="store_true", help="no per-file progress")
    p.set_defaults(func=run)

    i = terminology.add_parser(
        "import",
        help="import a publisher's French distribution (ANS SMT, Orphanet, ATIH, LOINC, SNOMED CT RF2)",
    )
    i.add_argument("files", nargs="+", type=Path, metavar="FILE", help="the publisher's file(s)")
    i.add_argument("--format", dest="fmt", default="auto", choices=["auto", *IMPORT_FORMATS],
                   help="publisher format (default: guessed from the file)")  # fmt: skip
    i.add_argument("--system", default=None, help="code system translated (SMT exports other than ATC)")
    i.add_argument("--release", default=None, help="release label when the file does not say it")
    i.add_argument("--language", default=None, help="language tag of the designations (SNOMED CT)")
    i.add_argument("--url", default=None, help="FHIR base URL of a running server (default: start one)")
    i.add_argument("--data-dir", type=Path, default=Path("var"), help="data dir of the server started here")
    i.add_argument("--token", default=None, help="bearer token for a server with authorization")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=run_import)


class BadAnswer(Exception):
    """The server refused a resource: its OperationOutcome, summed up."""


def _content(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


def _refusal(response: httpx.Response) -> BadAnswer:
    try:
        issues = response.json().get("issue", [])
        text = "; ".join(
            f"{i.get('diagnostics', '')} ({', '.join(i.get('expression') or [])})".replace(" ()", "")
            for i in issues[:3]
        )
    except ValueError:
        text = response.text[:300]
    return BadAnswer(f"HTTP {response.status_code} : {text}")


class Loader:
    """Upserts terminology resources into one FHIR server."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _get(self, path: str, **params: Any) -> httpx.Response:
        response = self.client.get(path, params=params or None)
        if response.status_code not in (200, 404, 410):
            raise _refusal(response)
        return response

    def _existing(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        rtype, url = resource["resourceType"], resource.get("url")
        if url:
            bundle = self._get(f"/{rtype}", url=url, _count="1000").json()
            for entry in bundle.get("entry") or []:
                found = entry.get("resource") or {}
                if found.get("url") == url and found.get("version") == resource.get("version"):
                    return dict(found)
            return None
        if isinstance(resource.get("id"), str):
            response = self._get(f"/{rtype}/{resource['id']}")
            return dict(response.json()) if response.status_code == 200 else None
        return None

    def _write(self, method: str, path: str, resource: dict[str, Any]) -> None:
        response = self.client.request(method, path, json=resource, headers={"Prefer": "return=minimal"})
        if response.status_code not in (200, 201):
            raise _refusal(response)

    def upsert(self, resource: dict[str, Any]) -> Outcome:
        rtype = resource["resourceType"]
        existing = self._existing(resource)
        if existing is not None:
            if _content(existing) == _content(resource):
                return "unchanged"
            self._write("PUT", f"/{rtype}/{existing['id']}", {**resource, "id": existing["id"]})
            return "updated"
        id_ = resource.get("id")
        if isinstance(id_, str) and self._get(f"/{rtype}/{id_}").status_code != 200:
            self._write("PUT", f"/{rtype}/{id_}", resource)  # keep the file's id when it is free
        else:
            self._write("POST", f"/{rtype}", _content(resource))
        return "created"

    def counts(self) -> dict[str, int]:
        out = {}
        for rtype in sorted(TERMINOLOGY_TYPES):
            out[rtype] = int(self._get(f"/{rtype}", _summary="count").json().get("total", 0))
        return out


def load_files(loader: Loader, paths: list[Path], *, progress: bool = True) -> tuple[Counter[str], int, int]:
    """Load every terminology file under ``paths``; returns outcome totals, files, failed files."""
    from terminology.readers import read_resources, terminology_files

    files = terminology_files(paths)
    totals: Counter[str] = Counter()
    failed = 0
    for number, path in enumerate(files, 1):
        outcome: Counter[str] = Counter()
        try:
            for resource in read_resources(path):
                if resource.get("resourceType") not in TERMINOLOGY_TYPES:
                    continue
                check_resource(resource)
                outcome[loader.upsert(resource)] += 1
        except TerminologyError as exc:
            error = f"{exc.message} ({exc.expression})" if exc.expression else exc.message
        except (BadAnswer, httpx.HTTPError) as exc:
            error = str(exc)
        else:
            error = None
        totals.update(outcome)
        if error is not None:
            failed += 1
            print(f"[{number}/{len(files)}] {path}: ERREUR {error}", file=sys.stderr)
        elif progress:
            print(
                f"[{number}/{len(files)}] {path}: {sum(outcome.values())} ressources "
                f"({outcome['created']} nouvelles, {outcome['updated']} mises à jour, "
                f"{outcome['unchanged']} inchangées)",
                file=sys.stderr,
            )
    return totals, len(files), failed


def run(args: argparse.Namespace) -> int:
    from fhir_server.cli import fhir_base

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"passerelle terminology load: introuvable : {', '.join(missing)}", file=sys.stderr)
        return 2
    headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    with (
        fhir_base(args.url, args.data_dir, "passerelle terminology load", args.token) as base,
        httpx.Client(base_url=base.rstrip("/"), headers=headers, timeout=600) as client,
    ):
        loader = Loader(client)
        totals, files, failed = load_files(loader, list(args.paths), progress=not args.quiet)
        counts = ", ".join(f"{k} {v}" for k, v in loader.counts().items())
    print(
        f"{files - failed}/{files} fichiers chargés : {totals['created']} nouvelles, "
        f"{totals['updated']} mises à jour, {totals['unchanged']} inchangées. Sur le serveur : {counts}"
    )
    return 1 if failed else 0


def run_import(args: argparse.Namespace) -> int:
    """``passerelle terminology import``: publisher file -> supplements -> FHIR API (idempotent)."""
    from tqdm import tqdm

    from fhir_server.cli import fhir_base
    from terminology.importers import detect_format, import_file

    missing = [str(p) for p in args.files if not p.exists()]
    if missing:
        print(f"passerelle terminology import: introuvable : {', '.join(missing)}", file=sys.stderr)
        return 2
    fmt = args.fmt
    if fmt == "auto":
        fmt = detect_format(args.files[0])
        if fmt is None:
            print(
                f"passerelle terminology import: format de {args.files[0]} non reconnu, "
                f"indiquez --format ({', '.join(IMPORT_FORMATS)})",
                file=sys.stderr,
            )
            return 2
    with tqdm(desc=f"lecture ({fmt})", unit=" lignes", disable=args.quiet, file=sys.stderr) as bar:
        try:
            result = import_file(
                list(args.files), fmt, system=args.system, release=args.release, language=args.language,
                progress=bar.update,
            )  # fmt: skip
        except (TerminologyError, ValueError) as exc:
            message = exc.message if isinstance(exc, TerminologyError) else str(exc)
            print(f"passerelle terminology import: {message}", file=sys.stderr)
            return 1
    headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    outcome: Counter[str] = Counter()
    with (
        fhir_base(args.url, args.data_dir, "passerelle terminology import") as base,
        httpx.Client(base_url=base.rstrip("/"), headers=headers, timeout=600) as client,
    ):
        loader = Loader(client)
        with tqdm(result.resources, desc="enregistrement", unit=" ressources", disable=args.quiet,
                  file=sys.stderr) as resources:  # fmt: skip
            try:
                for resource in resources:
                    check_resource(resource)
                    outcome[loader.upsert(resource)] += 1
            except TerminologyError as exc:
                print(f"passerelle terminology import: {exc.message} ({exc.expression})", file=sys.stderr)
                return 1
            except (BadAnswer, httpx.HTTPError) as exc:
                print(f"passerelle terminology import: {exc}", file=sys.stderr)
                return 1
    source = result.source
    print(
        f"{source.title}, version {result.release} : {result.concepts} codes traduits "
        f"({result.skipped} lignes ignorées) ; {outcome['created']} ressource(s) nouvelle(s), "
        f"{outcome['updated']} mise(s) à jour, {outcome['unchanged']} inchangée(s). "
        f"Licence : {source.licence}"
    )
    return 0
