"""The portal as a SMART confidential client of this server's own authorization server.

By default it registers itself (client id ``passerelle-portal``) the first time somebody
logs in, with the secret kept in ``<data dir>/auth/portal-client.json`` (mode 0600); the
redirect URI of each root URL it is reached at is added on first use, for loopback hosts
or the configured ``PASSERELLE_ISSUER`` only (a Host header must not register redirect
URIs elsewhere). ``PASSERELLE_PORTAL_CLIENT_ID``/``_SECRET`` name a client registered by
hand instead (``passerelle clients create --type confidential``), e.g. for a remote server.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool

from fhir_server.auth.clients import create_client
from fhir_server.auth.store import CLIENTS, sync_db

CLIENT_ID = "passerelle-portal"
# What the portal asks for: the user's identity and, within the FHIR API's own rules
# (care relationships for professionals, their record for patients), every resource type.
SCOPE = "openid fhirUser profile online_access user/*.cruds user/AuditEvent.rs"  # own audit trail
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class ClientSetupError(Exception):
    """The portal cannot log anybody in (French message for the error page)."""


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str


def redirect_allowed(root: str, issuer: str | None) -> bool:
    if issuer:
        return root.rstrip("/") == issuer.rstrip("/")
    host = urlsplit(root).hostname or ""
    return host in LOOPBACK_HOSTS


class PortalClient:
    def __init__(
        self,
        mongodb_uri: str | None,
        database: str,
        data_dir: Path,
        client_id: str | None = None,
        client_secret: str | None = None,
        issuer: str | None = None,
    ) -> None:
        self.mongodb_uri = mongodb_uri
        self.database = database
        self.secret_file = data_dir / "auth" / "portal-client.json"
        self.configured = Credentials(client_id, client_secret) if client_id and client_secret else None
        self.issuer = issuer
        self._lock = threading.Lock()
        self._known: set[str] = set()  # redirect URIs already registered
        self._credentials: Credentials | None = None

    async def credentials(self, redirect_uri: str) -> Credentials:
        if self.configured is not None:
            return self.configured
        if redirect_uri in self._known and self._credentials is not None:
            return self._credentials
        return await run_in_threadpool(self._ensure, redirect_uri)

    def _ensure(self, redirect_uri: str) -> Credentials:
        root = redirect_uri.split("/connexion/", 1)[0]
        if not redirect_allowed(root, self.issuer):
            raise ClientSetupError(
                "Le portail n'est joignable par cette adresse que si PASSERELLE_ISSUER la déclare."
            )
        if self.mongodb_uri is None:
            raise ClientSetupError("Base de données indisponible.")
        with self._lock:
            db = sync_db(self.mongodb_uri, self.database)
            doc = db[CLIENTS].find_one({"_id": CLIENT_ID})
            stored = self._read_secret()
            if doc is None:
                _, secret = create_client(
                    db,
                    name="Portail Passerelle",
                    kind="confidential",
                    scope=SCOPE,
                    redirect_uris=[redirect_uri],
                    client_id=CLIENT_ID,
                )
                assert secret is not None
                self._write_secret(secret)
                stored = secret
            elif doc.get("revoked"):
                raise ClientSetupError(
                    "Le client OAuth du portail a été révoqué : un administrateur doit le réactiver."
                )
            else:
                if stored is None or doc.get("secret_sha256") != _digest(stored):
                    # The secret file was lost (new data dir on the same database): rotate the secret.
                    stored = secrets.token_urlsafe(32)
                    db[CLIENTS].update_one({"_id": CLIENT_ID}, {"$set": {"secret_sha256": _digest(stored)}})
                    self._write_secret(stored)
                if doc.get("scope") != SCOPE:  # the portal's own registration follows its code
                    db[CLIENTS].update_one({"_id": CLIENT_ID}, {"$set": {"scope": SCOPE}})
                if redirect_uri not in (doc.get("redirect_uris") or []):
                    db[CLIENTS].update_one({"_id": CLIENT_ID}, {"$addToSet": {"redirect_uris": redirect_uri}})
            self._credentials = Credentials(CLIENT_ID, stored)
            self._known.add(redirect_uri)
            return self._credentials

    def _read_secret(self) -> str | None:
        try:
            data: dict[str, Any] = json.loads(self.secret_file.read_text())
        except (OSError, ValueError):
            return None
        secret = data.get("secret")
        return secret if isinstance(secret, str) and data.get("client_id") == CLIENT_ID else None

    def _write_secret(self, secret: str) -> None:
        self.secret_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.secret_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"client_id": CLIENT_ID, "secret": secret}, f)
        tmp.replace(self.secret_file)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
