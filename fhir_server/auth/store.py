"""MongoDB collections of the authorization server (clients, codes, tokens, login sessions, accounts).

authlib's server API is synchronous, so its callbacks use a synchronous PyMongo client
and run in Starlette's thread pool; the async handlers use the FHIR repository's
async client on the same database. Every lookup below is by ``_id`` or by an
indexed field, and short-lived records carry an ``expires`` date with a TTL index.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

CLIENTS = "auth_clients"
CODES = "auth_codes"
TOKENS = "auth_tokens"
SESSIONS = "auth_sessions"  # an authorization request while the user logs in
ACCOUNTS = "auth_accounts"  # patient and e-CPS-less professional credentials (outside FHIR)
ASSERTIONS = "auth_assertions"  # client-assertion jti already used (replay protection)
LAUNCHES = "auth_launches"  # EHR launch contexts

_lock = threading.Lock()
_clients: dict[str, MongoClient[dict[str, Any]]] = {}


def now() -> datetime:
    return datetime.now(UTC)


def sync_db(uri: str, database: str) -> Database[dict[str, Any]]:
    """One synchronous client per URI for the whole process (authlib callbacks, CLI)."""
    with _lock:
        client = _clients.get(uri)
        if client is None:
            client = MongoClient(uri, tz_aware=True)
            _clients[uri] = client
    return client[database]


def ensure_indexes(db: Database[dict[str, Any]]) -> None:
    """TTL and lookup indexes; idempotent."""
    for name in (CODES, SESSIONS, ASSERTIONS, LAUNCHES):
        db[name].create_index([("expires", ASCENDING)], expireAfterSeconds=0, name="ttl")
    db[TOKENS].create_index([("refresh_token", ASCENDING)], name="refresh", sparse=True)
    db[TOKENS].create_index([("purge", ASCENDING)], expireAfterSeconds=0, name="ttl")
    db[ACCOUNTS].create_index([("email", ASCENDING)], unique=True, name="email")
    # professionals without e-CPS: one account per RPPS; the single-use links and codes by digest
    db[ACCOUNTS].create_index([("rpps", ASCENDING)], unique=True, sparse=True, name="rpps")
    db[ACCOUNTS].create_index([("confirm_token", ASCENDING)], sparse=True, name="confirm_token")
    db[ACCOUNTS].create_index([("phone_ticket", ASCENDING)], sparse=True, name="phone_ticket")


def coll(db: Database[dict[str, Any]], name: str) -> Collection[dict[str, Any]]:
    return db[name]
