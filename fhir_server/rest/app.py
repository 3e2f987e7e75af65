"""The FHIR REST application (mounted at ``/fhir``): routing, error handling, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import DocumentTooLarge
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from fhir_server import bulk, bundles
from fhir_server.auth.guard import protect
from fhir_server.auth.smart import fhir_smart_configuration
from fhir_server.config import Settings
from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.operations import dispatch as operations
from fhir_server.rest import conditional, crud, patch
from fhir_server.rest.capability import capabilities
from fhir_server.rest.formats import Format, negotiate
from fhir_server.rest.history import history
from fhir_server.rest.http import fhir_response, json_error
from fhir_server.rest.registry import Interaction
from fhir_server.search import ensure_search_indexes, index_resource
from fhir_server.search.handler import search_compartment, search_system, search_type
from fhir_server.storage import MongoRepository

log = logging.getLogger("passerelle.fhir")

INTERACTIONS: list[Interaction] = [
    Interaction("/metadata", "GET", capabilities, "capabilities", "system"),
    # Bulk Data status, cancel and files (fhir_server.bulk): before the generic [type]/[id]/... routes.
    *(Interaction(path, method, handler, None, "system") for path, method, handler in bulk.routes()),
    # One handler serves both Bundle types; listed twice for the two CapabilityStatement codes.
    Interaction("/", "POST", bundles.handle, "transaction", "system"),
    Interaction("/", "POST", bundles.handle, "batch", "system"),
    # Operations (fhir_server.operations registry): before the routes whose parameters they would match.
    Interaction("/${op}", "GET", operations.system, None, "system"),
    Interaction("/${op}", "POST", operations.system, None, "system"),
    Interaction("/{type}/${op}", "GET", operations.type_level, None, "type"),
    Interaction("/{type}/${op}", "POST", operations.type_level, None, "type"),
    Interaction("/{type}/{id}/${op}", "GET", operations.instance, None, "instance"),
    Interaction("/{type}/{id}/${op}", "POST", operations.instance, None, "instance"),
    Interaction("/", "GET", search_system, "search-system", "system"),
    Interaction("/_search", "POST", search_system, None, "system"),  # same interaction as GET /
    Interaction("/_history", "GET", history, "history-system", "system"),
    Interaction("/{type}/_history", "GET", history, "history-type", "type"),
    Interaction("/{type}", "GET", search_type, "search-type", "type"),
    Interaction("/{type}/_search", "POST", search_type, None, "type"),  # same as GET /{type}
    Interaction("/{type}", "POST", crud.create, "create", "type"),
    # Conditional update/delete/patch: [type]?criteria (flags in capability.RESOURCE_FEATURES).
    Interaction("/{type}", "PUT", conditional.update, None, "type"),
    Interaction("/{type}", "DELETE", conditional.delete, None, "type"),
    Interaction("/{type}", "PATCH", patch.conditional_patch, None, "type"),
    Interaction("/{type}/{id}", "GET", crud.read, "read", "instance"),
    Interaction("/{type}/{id}", "PUT", crud.update, "update", "instance"),
    Interaction("/{type}/{id}", "DELETE", crud.delete, "delete", "instance"),
    Interaction("/{type}/{id}", "PATCH", patch.patch, "patch", "instance"),
    Interaction("/{type}/{id}/_history", "GET", history, "history-instance", "instance"),
    Interaction("/{type}/{id}/_history/{vid}", "GET", crud.vread, "vread", "instance"),
    # after /{type}/{id}/_history, which it would otherwise shadow; no CapabilityStatement code
    Interaction("/{type}/{id}/{compartment_type}", "GET", search_compartment, None, "instance"),
]


def _error_format(request: Request) -> Format:
    try:
        return negotiate(request)
    except FhirError:
        return Format()


async def _fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    response = fhir_response(exc.outcome, _error_format(request), exc.status)
    response.headers.update(exc.headers)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        text = f"Méthode {request.method} non prise en charge sur {request.url.path}."
        code = "not-supported"
    elif exc.status_code == 404:
        text = f"Aucune interaction FHIR à l'adresse {request.url.path}."
        code = "not-found"
    else:
        text, code = str(exc.detail), "processing"
    outcome = operation_outcome([issue("error", code, text)])
    return fhir_response(outcome, _error_format(request), exc.status_code, headers=dict(exc.headers or {}))


async def _too_large(request: Request, exc: Exception) -> Response:
    """The stored form (resource + search values) exceeds the database's document size: the limits
    of :mod:`fhir_server.validation.limits` should come first; this is the last line (413)."""
    log.warning("document too large on %s %s: %s", request.method, request.url.path, exc)
    text = "Ressource trop volumineuse pour être enregistrée (valeurs de recherche comprises)."
    return json_error(413, operation_outcome([issue("error", "too-costly", text)]))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    outcome = operation_outcome(
        [issue("fatal", "exception", "Erreur interne du serveur (bug) : voir le journal.")]
    )
    return json_error(500, outcome)


def create_app(settings: Settings, client: AsyncMongoClient[dict[str, Any]] | None = None) -> Starlette:
    """The FHIR application. ``settings.mongodb_uri`` must point at a running server."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from fhir_server.validation import warm_up

        own = client is None
        mongo = client or AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
        bound = settings.bundle_transactions
        if bound is None:  # auto: one on the embedded SecantusDB (see Settings), none on MongoDB
            bound = 1 if "secantusVersion" in await mongo.admin.command("buildInfo") else 0
        repository = MongoRepository(
            mongo, settings.database, indexer=index_resource, bounded_transactions=bound
        )
        await repository.ensure_indexes()
        from fhir_server.operations.prescription_rules import install as install_prescription_rules

        install_prescription_rules(repository)  # ordonnances: drafts, signature, no edit after it
        from fhir_server.operations.regulation_rules import install as install_regulation_rules

        install_regulation_rules(repository)  # a regulated patient's requests reach the regulator first
        warm_up()  # build the binding tables before the first request, not during it
        # Every type's search indexes exist before the first request (about 3 s on an empty
        # database, 1.5 s when they exist): built lazily while writes landed, the embedded
        # SecantusDB left some concurrent inserts out of a new index, so searches missed them.
        from fhir_server.validation import RESOURCE_TYPES

        await ensure_search_indexes(repository, sorted(RESOURCE_TYPES))
        # Values written by an older extractor are re-extracted before the first request: old
        # values can be wrong for the new queries (no prefixes to look up...), and a search
        # must never silently miss resources. Once per extractor change (a marker says so).
        from fhir_server.search.reindex import reindex_if_needed

        await reindex_if_needed(repository)
        # The terminology operations and :in/:below answer from the vendored content plus the
        # stored CodeSystem/ValueSet/ConceptMap resources, kept current after each commit.
        from fhir_server.operations.terminology_sync import start_terminology

        app.state.terminology = await start_terminology(repository)
        app.state.repository = repository
        # Bulk Data exports run in the background; interrupted ones are resumed here.
        app.state.bulk = bulk.BulkJobs(repository, settings.data_dir, bulk.BulkSettings())
        await app.state.bulk.start()
        # Subscriptions: criteria evaluated after each commit, notifications sent in the background.
        from fhir_server.subscriptions import SubscriptionManager, SubscriptionSettings

        app.state.subscriptions = SubscriptionManager(
            repository, SubscriptionSettings(), no_auth=settings.no_auth
        )
        await app.state.subscriptions.start()
        # Teleconsultation questions past their 15 minutes are expired even when nobody looks.
        from fhir_server.operations.teleconsultation import ExpirySweep

        app.state.tc_sweep = ExpirySweep(repository, settings.data_dir)
        app.state.tc_sweep.start()
        try:
            yield
        finally:
            await app.state.tc_sweep.stop()
            await app.state.subscriptions.stop()
            await app.state.bulk.stop()
            if own:
                await mongo.close()

    # Every interaction goes through authentication, the access policy and the audit (fhir_server.auth.guard).
    routes = [Route(i.path, protect(i), methods=[i.method]) for i in INTERACTIONS]
    routes.insert(0, Route("/.well-known/smart-configuration", fhir_smart_configuration, methods=["GET"]))
    # The R4 websocket channel of Subscriptions (bind/bound/ping; its own authentication).
    from fhir_server.subscriptions import websocket_endpoint

    routes.insert(1, WebSocketRoute("/websocket", websocket_endpoint))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            FhirError: _fhir_error,
            HTTPException: _http_error,
            DocumentTooLarge: _too_large,
            Exception: _unexpected,
        },
    )
    app.state.settings = settings
    app.state.interactions = INTERACTIONS
    return app
