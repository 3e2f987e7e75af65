"""``passerelle serve``: one process, one port, everything mounted (the FHIR API under ``/fhir``).

Without ``MONGODB_URI`` the embedded SecantusDB is started as a child process with its
data under ``--data-dir`` and stopped on exit (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount

import ehdsi_gateway
from apps.portal import create_portal
from fhir_server import EmbeddedMongo, Settings, create_app
from fhir_server.auth.routes import auth_routes
from fhir_server.instance import DataDirBusy, ServerLock

log = logging.getLogger("passerelle")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"", "0.0.0.0", "::"}  # listening on every address


def build_root_app(settings: Settings) -> FhirFirst:
    """The application served: the FHIR API at ``/fhir``, the authorization routes, the portal at ``/``."""
    fhir = create_app(settings)
    portal = create_portal(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Mounted apps' lifespans are not run by Starlette: run them from the root's.
        async with fhir.router.lifespan_context(fhir), portal.router.lifespan_context(portal):
            # What start-up loaded (R4 profiles, models, terminology) lives as long as the process:
            # out of the collector's sight, each full collection no longer walks it again.
            gc.collect()
            gc.freeze()
            yield

    root = FastAPI(
        title="Passerelle",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the portal's JSON endpoints are described at /openapi.json by the portal
        lifespan=lifespan,
    )
    served = FhirFirst(root, fhir)
    root.router.routes.extend(
        [
            *auth_routes(settings, fhir),
            Mount("/fhir", app=fhir),
            # eHDSI responders (NCP-A): French data only through the FHIR API, in process
            Mount(
                "/ehdsi",
                app=ehdsi_gateway.in_process_app(settings.data_dir, settings.no_auth, lambda: served),
            ),
        ]
    )
    root.mount("/", portal)
    portal.state.portal.local_app = served  # the portal's in-process FHIR transport
    return served


class FhirFirst:
    """The served application: FHIR API requests go straight to the FHIR application, everything
    else (portal, authorization server, gateway, the lifespan) to the root application.

    The root's layers (FastAPI's error, telemetry, body-limit and exit-stack middleware, its router,
    the ``/fhir`` Mount) add nothing to the FHIR API, which has its own error handling and body
    limit; skipping them saves about a tenth of the server CPU of a small FHIR interaction. The
    child scope is the one the Mount would give (``root_path`` ``/fhir``, the full ``path``).

    ``/fhir`` itself (batch/transaction ``POST [base]``, system search) is served as ``/fhir/``
    without a redirect: a Mount only matches ``/fhir/...``, and Starlette would answer ``/fhir``
    with a 307, which many FHIR clients do not follow for a POST.
    """

    PREFIX = "/fhir"

    def __init__(self, root: FastAPI, fhir: Any) -> None:
        self.root = root
        self.fhir = fhir
        self.state = root.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            root_path: str = scope.get("root_path", "")
            path: str = scope["path"]
            route = path[len(root_path) :] if root_path and path.startswith(root_path) else path
            if route == self.PREFIX or route.startswith(self.PREFIX + "/"):
                if route == self.PREFIX:
                    path = root_path + self.PREFIX + "/"
                    scope = {**scope, "raw_path": path.encode()}
                child = {
                    **scope,
                    "path": path,
                    "app_root_path": scope.get("app_root_path", root_path),
                    "root_path": root_path + self.PREFIX,
                    "path_params": {},
                }
                await self.fhir(child, receive, send)
                return
        await self.root(scope, receive, send)


LOG_LEVELS = ["critical", "error", "warning", "info", "debug", "trace"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the FHIR API, the authorization server, the portal and the gateway on one port",
        description="Serve everything on one port. Without MONGODB_URI the embedded database runs "
        "under --data-dir; one server per data dir.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded database, keys and dev outboxes (default: PASSERELLE_DATA_DIR or var)",
    )
    p.add_argument(
        "--no-auth", action="store_true", help="run without authorization (loopback only: tests, benchmarks)"
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="load the demo data set on start (idempotent) and, on loopback, the dev Pro Santé Connect login",
    )
    p.add_argument(
        "--log-level", default="warning", choices=LOG_LEVELS, help="server log level (default: %(default)s)"
    )
    p.set_defaults(func=run)


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so that a port in use is reported before anything starts."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], info[1], info[2])
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(info[4])
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _default_public_url(host: str, port: int) -> None:
    """The root of the links sent by e-mail, when neither PASSERELLE_PUBLIC_URL nor PASSERELLE_ISSUER
    says it: this server's own address (never a request's Host header, which anybody forges)."""
    if os.environ.get("PASSERELLE_PUBLIC_URL") or os.environ.get("PASSERELLE_ISSUER"):
        return
    if host in WILDCARD:
        print(
            f"passerelle: warning: listening on {host or 'all addresses'} without PASSERELLE_PUBLIC_URL "
            f"(or PASSERELLE_ISSUER): the links sent by e-mail start with http://127.0.0.1:{port}",
            file=sys.stderr,
        )
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    os.environ["PASSERELLE_PUBLIC_URL"] = f"http://{shown}:{port}"


def banner(root: str, *, auth: bool, dev_psc: bool, data_dir: Path) -> str:
    """What a newcomer needs once the server answers: where to go, how to log in and register."""
    lines = [
        f"passerelle : prêt sur {root} (Ctrl-C pour arrêter ; données dans {data_dir})",
        f"  accueil               {root}/",
        f"  API FHIR (base)       {root}/fhir   (CapabilityStatement : {root}/fhir/metadata)",
    ]
    if auth:
        lines.append(f"  configuration SMART   {root}/.well-known/smart-configuration")
        if dev_psc:
            lines.append(
                f"  connexion de test     {root}/dev-psc   (professionnels et patients : voir le README)"
            )
        lines += [
            "  enregistrer une application SMART :",
            '    passerelle clients create --name "Mon app" --type public '
            '--scope "openid fhirUser launch/patient patient/*.rs" --redirect-uri http://localhost:3000/callback',
            "  jeton pour passerelle load :",
            '    passerelle load --token "$(passerelle clients token chargement)" FICHIER',
        ]
    else:
        lines.append("  sans autorisation (--no-auth) : boucle locale seulement")
    return "\n".join(lines)


class _Server(uvicorn.Server):
    """uvicorn's server, printing the banner once the application has started."""

    def __init__(self, config: uvicorn.Config, text: str) -> None:
        super().__init__(config)
        self.text = text

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    settings.no_auth = args.no_auth
    if args.no_auth:
        if args.host not in LOOPBACK:
            print(
                f"passerelle: error: --no-auth refuses to listen on {args.host}: only a loopback address "
                "(127.0.0.1, ::1, localhost) may serve health data without authorization",
                file=sys.stderr,
            )
            return 2
        print("passerelle: warning: --no-auth: the API is served without authorization", file=sys.stderr)
    if args.demo and args.host in LOOPBACK and not os.environ.get("PASSERELLE_PSC_DISCOVERY_URL"):
        # Demo on this machine: professionals log in through the built-in PSC look-alike (/dev-psc).
        os.environ.setdefault("PASSERELLE_DEV_PSC", "1")
    if os.environ.get("PASSERELLE_DEV_PSC", "").lower() in ("1", "true", "yes", "on"):
        if args.host not in LOOPBACK:
            print(
                f"passerelle: error: PASSERELLE_DEV_PSC refuses to listen on {args.host}: the development "
                "Pro Santé Connect look-alike logs anyone in, loopback only",
                file=sys.stderr,
            )
            return 2
        # its address comes from configuration, never from a request's Host header
        loopback = "[::1]" if args.host == "::1" else "127.0.0.1"
        os.environ.setdefault("PASSERELLE_DEV_PSC_BASE", f"http://{loopback}:{args.port}")

    try:
        listener = _listen(args.host, args.port)
    except OSError as exc:
        print(
            f"passerelle : erreur : impossible d'écouter sur {args.host}:{args.port} ({exc.strerror}). "
            "Le port est sans doute pris (un autre « passerelle serve » ?) : choisissez-en un autre avec "
            f"--port (make run PORT={args.port + 1}).",
            file=sys.stderr,
        )
        return 1
    embedded: EmbeddedMongo | None = None
    lock: ServerLock | None = None
    if settings.mongodb_uri is None:
        try:
            lock = ServerLock(settings.data_dir.resolve()).acquire()
        except DataDirBusy as exc:
            listener.close()
            print(f"passerelle : erreur : {exc}.", file=sys.stderr)
            return 1
        embedded = EmbeddedMongo(settings.data_dir.resolve() / "db")
        settings.mongodb_uri = embedded.start()
        # For commands run beside the server on the same data dir (``passerelle clients``).
        (settings.data_dir / "db.uri").write_text(settings.mongodb_uri)
        log.info("embedded SecantusDB on %s", settings.mongodb_uri)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    root = f"http://{shown_host}:{listener.getsockname()[1]}"
    _default_public_url(args.host, listener.getsockname()[1])
    if lock is not None:
        lock.publish(url=f"{root}/fhir", auth=not args.no_auth, db_uri=settings.mongodb_uri)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        if args.demo:
            from apps.demo import load_demo

            asyncio.run(load_demo(settings))
            if not settings.no_auth:
                from apps.demo import register_gateway_client

                register_gateway_client(settings)
        config = uvicorn.Config(
            build_root_app(settings),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
            # Forwarded headers are only trusted when a deployment says so (PASSERELLE_BASE_URL
            # states the public URL); skipping the middleware also saves time on every request.
            proxy_headers=False,
            server_header=False,
        )
        dev_psc = os.environ.get("PASSERELLE_DEV_PSC", "").lower() in ("1", "true", "yes", "on")
        text = banner(root, auth=not args.no_auth, dev_psc=dev_psc, data_dir=settings.data_dir)
        _Server(config, text).run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        if embedded is not None:
            embedded.stop()
        if lock is not None:
            lock.release()
    return 0
