"""``passerelle serve``: one process, one port, everything mounted (the FHIR API under ``/fhir``).

Without ``MONGODB_URI`` the embedded SecantusDB is started as a child process with its
data under ``--data-dir`` and stopped on exit (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount

from apps.portal import create_portal
from fhir_server import EmbeddedMongo, Settings, create_app
from fhir_server.auth.routes import auth_routes

log = logging.getLogger("passerelle")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def build_root_app(settings: Settings) -> FastAPI:
    """The root application: the FHIR API at ``/fhir``, the authorization routes, the portal at ``/``."""
    fhir = create_app(settings)
    portal = create_portal(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Mounted apps' lifespans are not run by Starlette: run them from the root's.
        async with fhir.router.lifespan_context(fhir), portal.router.lifespan_context(portal):
            yield

    root = FastAPI(
        title="Passerelle",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # the portal's JSON endpoints are described at /openapi.json by the portal
        lifespan=lifespan,
    )
    root.router.routes.extend([*auth_routes(settings, fhir), Mount("/fhir", app=fhir)])
    root.mount("/", portal)
    root.add_middleware(FhirBaseWithoutSlash)
    portal.state.portal.local_app = root  # the portal's in-process FHIR transport
    return root


class FhirBaseWithoutSlash:
    """Serve ``/fhir`` itself (batch/transaction ``POST [base]``, system search) without a redirect.

    A Mount only matches ``/fhir/...``; Starlette would answer ``/fhir`` with a 307 to
    ``/fhir/``, which many FHIR clients do not follow for a POST.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/fhir":
            scope = {**scope, "path": "/fhir/", "raw_path": b"/fhir/"}
        await self.app(scope, receive, send)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve the FHIR API, the authorization server and the portal")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--data-dir", type=Path, default=None, help="where the embedded database keeps its data (var/)"
    )
    p.add_argument(
        "--no-auth", action="store_true", help="run without authorization (loopback only: tests, benchmarks)"
    )
    p.add_argument("--demo", action="store_true", help="load the demo data set on start (idempotent)")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=run)


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

    embedded: EmbeddedMongo | None = None
    if settings.mongodb_uri is None:
        embedded = EmbeddedMongo(settings.data_dir.resolve() / "db")
        settings.mongodb_uri = embedded.start()
        # For commands run beside the server on the same data dir (``passerelle clients``).
        (settings.data_dir / "db.uri").write_text(settings.mongodb_uri)
        log.info("embedded SecantusDB on %s", settings.mongodb_uri)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        if args.demo:
            from apps.demo import load_demo

            asyncio.run(load_demo(settings))
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
        server = uvicorn.Server(config)
        print(f"passerelle: serving http://{args.host}:{args.port}/fhir", file=sys.stderr, flush=True)
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if embedded is not None:
            embedded.stop()
    return 0
