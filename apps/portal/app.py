"""The portal's app factory: a FastAPI application mounted at ``/`` by ``passerelle serve``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pymongo import AsyncMongoClient

from apps.portal import errors, filters, home, login
from apps.portal.areas import Area, discover
from apps.portal.client import PortalClient
from apps.portal.config import PortalConfig
from apps.portal.oauth import PortalAuth
from apps.portal.sessions import PortalUser, SessionStore
from apps.portal.web import csrf_protect
from fhir_server.auth.links import public_root
from fhir_server.auth.settings import auth_settings
from fhir_server.config import Settings

log = logging.getLogger("passerelle.portal")
HERE = Path(__file__).parent


class Portal:
    """What every request of the portal shares (``request.app.state.portal``)."""

    def __init__(self, settings: Settings, config: PortalConfig, areas: list[Area]) -> None:
        self.settings = settings
        self.config = config
        self.areas = areas
        self.issuer = auth_settings(settings.data_dir).issuer
        self.local_app: Any = None  # the root ASGI app, for the in-process FHIR transport
        self.http: httpx.AsyncClient = None  # type: ignore[assignment]  # set by the lifespan
        self.store: SessionStore = None  # type: ignore[assignment]
        self.auth: PortalAuth = None  # type: ignore[assignment]
        self.refresh_locks: dict[str, Any] = {}
        folders = [HERE / "templates", *(a.templates for a in areas if a.templates)]
        env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(f)) for f in folders]),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        filters.install(env)
        self.templates = Jinja2Templates(env=env)

    def root_of(self, request: Request) -> str:
        """The public root URL of this portal (scheme://host[:port])."""
        if self.issuer and not self.config.remote_root:
            return self.issuer.rstrip("/")
        return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"

    def link_root(self, request: Request) -> str:
        """The root URL of the links this portal sends by e-mail: configured, never the request's
        Host header (:func:`fhir_server.auth.links.public_root`)."""
        return public_root(request, auth_settings(self.settings.data_dir))

    def home_for(self, user: PortalUser | None) -> str:
        if user is None:
            return "/"
        for area in self.areas:
            if user.menu_kind in area.home:
                return area.home[user.menu_kind]
        return "/"

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        if self.config.fhir_url:
            transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(retries=1)
        else:
            if self.local_app is None:
                raise RuntimeError("the portal needs PASSERELLE_PORTAL_FHIR_URL or a local root app")
            transport = httpx.ASGITransport(app=self.local_app)
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.settings.mongodb_uri, tz_aware=True)
        self.store = SessionStore(
            mongo[self.settings.database],
            idle=timedelta(minutes=self.config.idle_minutes),
            maximum=timedelta(hours=self.config.max_hours),
        )
        await self.store.ensure_indexes()
        client = PortalClient(
            self.settings.mongodb_uri,
            self.settings.database,
            self.settings.data_dir,
            self.config.client_id,
            self.config.client_secret,
            self.issuer,
        )
        async with httpx.AsyncClient(transport=transport, timeout=60) as http:
            self.http = http
            self.auth = PortalAuth(http, client, self.config.remote_root)
            try:
                yield
            finally:
                await mongo.close()


def create_portal(settings: Settings, config: PortalConfig | None = None) -> FastAPI:
    """The portal app. Mounted by ``passerelle serve``, which runs its lifespan and sets ``local_app``."""
    areas = discover()
    portal = Portal(settings, config or PortalConfig(), areas)
    app = FastAPI(
        title="Passerelle — portail",
        description="Points d'accès JSON du portail (l'API FHIR est décrite par /fhir/metadata).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(csrf_protect)],
        lifespan=lambda app: portal.lifespan(),
    )
    app.state.portal = portal
    errors.install(app)
    app.include_router(login.router)
    app.include_router(home.router)
    for area in areas:
        app.include_router(area.router)
        if area.static:
            app.mount(f"/static/{area.name}", StaticFiles(directory=area.static), name=f"static-{area.name}")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
