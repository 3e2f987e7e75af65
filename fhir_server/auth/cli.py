"""``passerelle clients create|list|revoke|token``: the registry of OAuth2 clients.

Talks to the database given by ``MONGODB_URI``, or to the embedded one of a server
running on the same ``--data-dir`` (its address is in ``<data-dir>/db.uri``), or
starts the embedded database itself when no server is running.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from fhir_server.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("clients", help="manage registered OAuth2/SMART clients")
    p.add_argument("--data-dir", type=Path, default=None, help="the server's data dir (embedded database)")
    actions = p.add_subparsers(dest="action", required=True)

    c = actions.add_parser("create", help="register a client")
    c.add_argument("--name", required=True)
    c.add_argument("--type", dest="kind", choices=["public", "confidential", "backend"], required=True)
    c.add_argument("--scope", required=True, help='allowed scopes, e.g. "openid fhirUser patient/*.rs"')
    c.add_argument("--redirect-uri", action="append", default=[], help="repeat for several")
    c.add_argument("--jwks-file", type=Path, help="backend services: the JWKS with the public key(s)")
    c.add_argument("--client-id", help="choose the id (default: random)")
    c.set_defaults(func=_create)

    ls = actions.add_parser("list", help="list clients")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    r = actions.add_parser("revoke", help="revoke a client and all its tokens")
    r.add_argument("client_id")
    r.set_defaults(func=_revoke)

    from fhir_server.auth import cli_token

    cli_token.register(actions)


def _with_db(args: argparse.Namespace, work: Any) -> int:
    settings = Settings()
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    with ExitStack() as stack:
        uri = settings.mongodb_uri
        if uri is None:
            uri = _running_server_uri(settings.data_dir)
        if uri is None:
            from fhir_server.embedded import EmbeddedMongo

            uri = stack.enter_context(EmbeddedMongo(settings.data_dir.resolve() / "db")).uri
        client: MongoClient[dict[str, Any]] = stack.enter_context(MongoClient(uri, tz_aware=True))
        try:
            return int(work(client[settings.database]) or 0)
        except PyMongoError as exc:
            print(f"passerelle clients: base de données injoignable : {exc}", file=sys.stderr)
            return 1


def _running_server_uri(data_dir: Path) -> str | None:
    path = data_dir / "db.uri"
    if not path.exists():
        return None
    uri = path.read_text().strip()
    try:
        probe: MongoClient[dict[str, Any]]
        with MongoClient(uri, serverSelectionTimeoutMS=500) as probe:
            probe.admin.command("ping")
    except PyMongoError:
        return None
    return uri


def _create(args: argparse.Namespace) -> int:
    from fhir_server.auth.clients import create_client
    from fhir_server.auth.scopes import ScopeError

    jwks = json.loads(args.jwks_file.read_text()) if args.jwks_file else None

    def work(db: Any) -> int:
        try:
            doc, secret = create_client(
                db,
                name=args.name,
                kind=args.kind,
                scope=args.scope,
                redirect_uris=args.redirect_uri,
                jwks=jwks,
                client_id=args.client_id,
            )
        except (ValueError, ScopeError) as exc:
            print(f"passerelle clients: {exc}", file=sys.stderr)
            return 2
        out = {"client_id": doc["_id"], "type": doc["kind"], "scope": doc["scope"]}
        if secret:
            out["client_secret"] = secret  # shown once, stored hashed
        print(json.dumps(out))
        return 0

    return _with_db(args, work)


def _list(args: argparse.Namespace) -> int:
    from fhir_server.auth.clients import list_clients

    def work(db: Any) -> int:
        rows = list_clients(db)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "client_id": r["_id"],
                            "name": r["name"],
                            "type": r["kind"],
                            "scope": r["scope"],
                            "revoked": r.get("revoked", False),
                        }
                        for r in rows
                    ]
                )
            )
            return 0
        for r in rows:
            state = "révoqué" if r.get("revoked") else "actif"
            print(f"{r['_id']}\t{r['kind']}\t{state}\t{r['name']}\t{r['scope']}")
        return 0

    return _with_db(args, work)


def _revoke(args: argparse.Namespace) -> int:
    from fhir_server.auth.clients import revoke_client

    def work(db: Any) -> int:
        if not revoke_client(db, args.client_id):
            print(f"passerelle clients: client inconnu : {args.client_id}", file=sys.stderr)
            return 1
        print(f"client {args.client_id} révoqué (et ses jetons)")
        return 0

    return _with_db(args, work)
