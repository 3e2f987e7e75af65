"""``passerelle db copy``: move a Passerelle database to another server (embedded SecantusDB -> MongoDB).

Why a command of our own beside ``mongodump``/``mongorestore``: the embedded database is only
reachable while something runs it, and the MongoDB tools are a separate install whose support of
SecantusDB's wire protocol is not guaranteed; this command speaks the driver's ordinary commands
(``listCollections``, ``listIndexes``, ``find``, ``insert``, ``createIndexes``) that both ends
answer, so it is tested with the embedded database at both ends (``tests/fhir_server/test_dbcopy.py``).

What it does: every collection of the source database (current versions, ``history``, the
authorization server's, Bulk Data jobs, subscriptions, search bookkeeping...), its indexes first
(same keys and options: unique, sparse, TTL, partial), then its documents copied byte for byte
(raw BSON, never decoded), in batches; at the end the counts of both sides are compared. It
refuses a target database that already holds documents (``--drop-target`` empties it first), so
that a mistyped URI never merges two databases. The source must not be written meanwhile: with
``--from-data-dir`` the command takes the data dir's lock (it refuses while a server uses it).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.database import Database

BATCH = 1000
_INDEX_OPTIONS = (
    "unique", "sparse", "expireAfterSeconds", "partialFilterExpression", "collation", "weights",
    "default_language", "language_override", "textIndexVersion", "2dsphereIndexVersion", "bits", "min", "max",
    "wildcardProjection", "hidden",
)  # fmt: skip


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="database tools")
    db_sub = p.add_subparsers(dest="db_command", required=True)
    c = db_sub.add_parser(
        "copy",
        help="copy the whole Passerelle database to another server (embedded -> MongoDB)",
        description="Copy every collection (indexes, then documents byte for byte) to --to.",
    )
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", help="source MongoDB URI")
    source.add_argument("--from-data-dir", type=Path, help="a data dir of the embedded database (var)")
    c.add_argument("--to", dest="target", required=True, help="target MongoDB URI (e.g. the replica set)")
    c.add_argument("--db", default=None, help="database name (default: PASSERELLE_DB or passerelle)")
    c.add_argument("--to-db", default=None, help="target database name (default: the same)")
    c.add_argument("--drop-target", action="store_true", help="empty the target database first")
    c.set_defaults(func=run)


def _index_specs(source: Database[Any], name: str) -> list[dict[str, Any]]:
    specs = []
    for index in source[name].list_indexes():
        if index["name"] == "_id_":
            continue
        spec: dict[str, Any] = {"key": list(index["key"].items()), "name": index["name"]}
        for option in _INDEX_OPTIONS:
            if option in index:
                spec[option] = index[option]
        specs.append(spec)
    return specs


def copy_database(
    source: Database[Any], target: Database[Any], *, drop_target: bool = False, out: Any = sys.stdout
) -> dict[str, int]:
    """Copy every collection of ``source`` into ``target``; the documents copied per collection."""
    existing = [n for n in target.list_collection_names() if not n.startswith("system.")]
    if existing and not drop_target:
        busy = [n for n in existing if target[n].estimated_document_count()]
        if busy:
            raise SystemExit(
                f"la base cible {target.name!r} contient déjà des données ({', '.join(sorted(busy)[:5])}…) : "
                "choisissez une base vide ou ajoutez --drop-target."
            )
    if drop_target:
        for name in existing:
            target.drop_collection(name)
    raw = source.with_options(codec_options=source.codec_options.with_options(document_class=RawBSONDocument))
    copied: dict[str, int] = {}
    names = sorted(n for n in source.list_collection_names() if not n.startswith("system."))
    for number, name in enumerate(names, 1):
        if name not in target.list_collection_names():
            target.create_collection(name)
        for spec in _index_specs(source, name):
            key = spec.pop("key")
            target[name].create_index(key, **spec)
        count = 0
        batch: list[RawBSONDocument] = []
        for document in raw[name].find({}, sort=[("_id", 1)], batch_size=BATCH):
            batch.append(document)
            if len(batch) >= BATCH:
                target[name].insert_many(batch, ordered=True)
                count += len(batch)
                batch = []
        if batch:
            target[name].insert_many(batch, ordered=True)
            count += len(batch)
        expected = source[name].count_documents({})
        written = target[name].count_documents({})
        if written != expected:
            raise SystemExit(f"{name} : {written} documents dans la cible pour {expected} dans la source.")
        copied[name] = count
        print(f"[{number}/{len(names)}] {name} : {count} documents", file=out, flush=True)
    return copied


def run(args: argparse.Namespace) -> int:
    import os

    from fhir_server.embedded import EmbeddedMongo
    from fhir_server.instance import DataDirBusy, ServerLock

    database = args.db or os.environ.get("PASSERELLE_DB", "passerelle")
    with ExitStack() as stack:
        if args.from_data_dir is not None:
            try:
                lock = ServerLock(args.from_data_dir).acquire()
            except DataDirBusy as exc:
                print(f"{exc} : arrêtez le serveur avant de copier sa base.", file=sys.stderr)
                return 1
            stack.callback(lock.release)
            embedded = stack.enter_context(EmbeddedMongo(args.from_data_dir / "db"))
            source_uri = embedded.uri
        else:
            source_uri = args.source
        source = stack.enter_context(MongoClient(source_uri, tz_aware=True))
        target = stack.enter_context(MongoClient(args.target, tz_aware=True))
        copied = copy_database(source[database], target[args.to_db or database], drop_target=args.drop_target)
    print(f"copie terminée : {len(copied)} collections, {sum(copied.values())} documents")
    return 0
