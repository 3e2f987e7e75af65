"""``passerelle clients token NAME``: an access token for the command line (``passerelle load --token``).

The token is obtained the way any backend service obtains one (SMART Backend Services:
``client_credentials`` with a ``private_key_jwt`` assertion) from the server running on the
data dir. On first use of a name, a backend client of that name is registered with a new
RSA key, kept (private, mode 0600) in ``<data-dir>/auth/cli-clients/``, beside the server's
own signing keys; revoking it (``passerelle clients revoke ID``) revokes its tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

DEFAULT_SCOPE = "system/*.cruds"


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = actions.add_parser(
        "token",
        help="print an access token of a backend client for command-line use (passerelle load --token)",
        description="Print an access token (SMART Backend Services) from the server running on the data "
        "dir. The backend client NAME is registered on first use, with a key kept in "
        "<data-dir>/auth/cli-clients/.",
    )
    t.add_argument("name", help="the client's name, e.g. chargement")
    t.add_argument("--scope", default=DEFAULT_SCOPE, help="system/ scopes (default: %(default)s)")
    t.add_argument(
        "--url", default=None, help="root URL of the server (default: the one running on the data dir)"
    )
    t.set_defaults(func=_token)


def _fail(message: str) -> int:
    print(f"passerelle clients token : {message}", file=sys.stderr)
    return 1


def _root_url(args: argparse.Namespace, data_dir: Path) -> str | None:
    if args.url:
        return str(args.url).rstrip("/").removesuffix("/fhir")
    from fhir_server.instance import running_server

    running = running_server(data_dir.resolve())
    if running is None or not running.get("url"):
        return None
    return str(running["url"]).removesuffix("/fhir")


def _key_file(data_dir: Path, name: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "client"
    return data_dir / "auth" / "cli-clients" / f"{slug}.json"


def _client(args: argparse.Namespace, data_dir: Path) -> dict[str, Any] | None:
    """The stored client (id and private key) of ``args.name``, registered on first use."""
    from joserfc.jwk import KeySet, RSAKey

    from fhir_server.auth.cli import _with_db
    from fhir_server.auth.clients import create_client

    path = _key_file(data_dir, args.name)
    if path.exists():
        return dict(json.loads(path.read_text()))
    key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex[:12], "alg": "RS384"})
    public = KeySet([key]).as_dict(private=False)
    created: dict[str, Any] = {}

    def work(db: Any) -> int:
        try:
            doc, _ = create_client(db, name=args.name, kind="backend", scope=args.scope, jwks=public)
        except ValueError as exc:
            print(f"passerelle clients token : {exc}", file=sys.stderr)
            return 2
        created["client_id"] = doc["_id"]
        return 0

    if _with_db(args, work) != 0:
        return None
    stored = {"client_id": created["client_id"], "scope": args.scope, "key": key.as_dict(private=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(stored, handle)
    print(
        f"passerelle clients token : client « {args.name} » enregistré "
        f"({created['client_id']}, {args.scope})",
        file=sys.stderr,
    )
    return stored


def _token(args: argparse.Namespace) -> int:
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from fhir_server.config import Settings

    settings = Settings()
    data_dir = args.data_dir if args.data_dir is not None else settings.data_dir
    root = _root_url(args, data_dir)
    if root is None:
        return _fail(
            f"aucun serveur ne tourne sur {data_dir} : lancez-le (make run) "
            "ou indiquez son adresse avec --url"
        )
    try:
        config = httpx.get(f"{root}/.well-known/smart-configuration", timeout=10)
    except httpx.HTTPError as exc:
        return _fail(f"serveur injoignable sur {root} : {exc}")
    if config.status_code != 200:
        return _fail(
            f"{root} n'a pas de configuration SMART (autorisation désactivée ?) : HTTP {config.status_code}"
        )
    token_endpoint = config.json()["token_endpoint"]
    client = _client(args, data_dir)
    if client is None:
        return 1
    key = RSAKey.import_key(client["key"])
    claims = {
        "iss": client["client_id"],
        "sub": client["client_id"],
        "aud": token_endpoint,
        "jti": uuid.uuid4().hex,
        "exp": int(time.time()) + 240,
    }
    assertion = jwt.encode({"alg": "RS384", "kid": key.kid}, claims, key, algorithms=["RS384"])
    resp = httpx.post(
        token_endpoint,
        data={
            "grant_type": "client_credentials",
            "scope": args.scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=30,
    )
    if resp.status_code != 200:
        try:
            detail = resp.json().get("error_description") or resp.json().get("error")
        except ValueError:
            detail = resp.text[:200]
        return _fail(f"jeton refusé (HTTP {resp.status_code}) : {detail}")
    print(resp.json()["access_token"])
    return 0
