"""``passerelle export``: a Bulk Data export to a local directory, with a progress bar.

The same code as ``$export`` (:class:`fhir_server.bulk.Export`): same parameters, same
NDJSON files (one series per type, split beyond ``PASSERELLE_BULK_FILE_MAX_BYTES``), same
state at one instant, plus a ``manifest.json`` shaped like the IG's (file paths as URLs).
It reads the database directly (the operator of the machine sees everything) and records
an AuditEvent of the export. Database: ``MONGODB_URI``, else the embedded database of a
server running on ``--data-dir``, else the embedded database started here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from fhir_server.errors import FhirError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="Bulk Data export (NDJSON) of the database into a directory")
    p.add_argument("--out", type=Path, required=True, help="directory for the NDJSON files (created)")
    p.add_argument("--type", dest="types", default=None, help="resource types, comma-separated")
    p.add_argument("--since", default=None, help="only resources changed after this instant (FHIR instant)")
    p.add_argument(
        "--type-filter", action="append", default=[], help="search per type, e.g. 'Observation?code=…'"
    )
    p.add_argument("--group", default=None, help="export the records of this Group's members")
    p.add_argument("--elements", default=None, help="_elements: keep only these elements")
    p.add_argument("--data-dir", type=Path, default=None, help="the server's data dir (embedded database)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _params(args: argparse.Namespace) -> list[tuple[str, Any]]:
    params: list[tuple[str, Any]] = []
    if args.types:
        params.append(("_type", args.types))
    if args.since:
        params.append(("_since", args.since))
    params += [("_typeFilter", f) for f in args.type_filter]
    if args.elements:
        params.append(("_elements", args.elements))
    return params


async def export_to(
    uri: str, database: str, args: argparse.Namespace, progress: bool = True
) -> dict[str, Any]:
    """Run the export; returns the manifest written beside the files."""
    from pymongo import AsyncMongoClient
    from tqdm import tqdm

    from fhir_server.auth import audit
    from fhir_server.bulk.exporter import Export, export_types, group_members, non_empty
    from fhir_server.bulk.http import manifest
    from fhir_server.bulk.jobs import result_doc
    from fhir_server.bulk.request import parse_request
    from fhir_server.bulk.settings import BulkSettings
    from fhir_server.bulk.writer import NdjsonSeries
    from fhir_server.search import index_resource
    from fhir_server.storage import MongoRepository
    from fhir_server.storage.records import now_ms

    settings = BulkSettings()
    level = "group" if args.group else "system"
    request = parse_request(_params(args), level=level, group=args.group)
    types = export_types(request, None)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        repository = MongoRepository(client, database, indexer=index_resource)
        patients = await group_members(repository, args.group) if args.group else None
        present = set(await non_empty(repository, types))
        counts = {t: await repository.db[t].estimated_document_count() if t in present else 0 for t in types}
        bar = tqdm(total=sum(counts.values()), unit="res", disable=not progress, file=sys.stderr)
        finished = 0

        async def advance(type_: str, count: int) -> None:
            bar.n = finished + count
            bar.set_postfix_str(type_, refresh=False)
            bar.refresh()

        started = now_ms()
        export = Export(
            repository=repository,
            request=request,
            policy=None,
            transaction_time=started,
            directory=out,
            file_max_bytes=settings.file_max_bytes,
            progress=advance,
            patients=patients,
        )
        done = []
        errors: list[dict[str, Any]] = []
        for type_ in [t for t in types if counts[t]]:
            result = await export.run_type(type_)
            finished += counts[type_]
            await advance(type_, 0)
            done.append(result_doc(result))
            errors += result.errors
        bar.close()
        error_files = []
        if errors:
            series = NdjsonSeries(out, "OperationOutcome", settings.file_max_bytes, "error-")
            for outcome in errors:
                await series.add(orjson.dumps(outcome))
            await series.close()
            error_files = [f.to_doc() for f in series.files]
        job = {
            "_id": "",
            "base": out.resolve().as_uri().removesuffix("/"),
            "transaction_time": started,
            "request_url": "passerelle export " + " ".join(sys.argv[2:]),
            "requires_token": False,
            "request": request.to_doc(),
            "done": done,
            "error_files": error_files,
        }
        result = manifest(job)
        for item in (*result["output"], *result["error"], *result.get("deleted", [])):
            item["url"] = (out / item["url"].rsplit("/", 1)[-1]).resolve().as_uri()
        (out / "manifest.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        total = sum(o["count"] for o in result["output"])
        await audit.record(
            repository,
            audit.rest_event(
                interaction="operation",
                status=200,
                who={"display": "passerelle export (ligne de commande)"},
                client_id=None,
                source_ip=None,
                entities=[f"Group/{args.group}"] if args.group else [],
                query=job["request_url"],
                description=f"Export en masse vers {out.resolve()} : {total} ressources.",
            ),
        )
        return result
    finally:
        await client.close()


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from fhir_server.auth.cli import _running_server_uri
    from fhir_server.config import Settings

    settings = Settings()
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    with ExitStack() as stack:
        uri = settings.mongodb_uri or _running_server_uri(settings.data_dir)
        if uri is None:
            from fhir_server.embedded import EmbeddedMongo

            uri = stack.enter_context(EmbeddedMongo(settings.data_dir.resolve() / "db")).uri
        try:
            result = asyncio.run(export_to(uri, settings.database, args, progress=not args.quiet))
        except FhirError as exc:
            print(f"passerelle export : {exc}", file=sys.stderr)
            return 2
    total = sum(o["count"] for o in result["output"])
    print(f"{total} ressources exportées dans {args.out} ({len(result['output'])} fichiers).")
    for item in result["error"]:
        print(f"erreurs : {item['url']}", file=sys.stderr)
    return 1 if result["error"] else 0
