"""French error pages: every failure answers a readable page, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from apps.portal.fhir import FhirError
from apps.portal.web import CsrfError, GateRedirect, LoginRequired, SessionLocked, login_url, redirect, render

log = logging.getLogger("passerelle.portal")

TITLES = {
    400: "Demande incorrecte",
    401: "Connexion nécessaire",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action non permise",
    409: "Conflit de modification",
    412: "Modifié entre-temps",
    413: "Fichier trop volumineux",
    422: "Saisie invalide",
    500: "Erreur interne",
    503: "Service indisponible",
}
TEXTS = {
    400: "La demande n'a pas pu être comprise.",
    403: "Vous n'avez pas accès à cette page.",
    404: "Cette page n'existe pas ou n'est pas accessible avec votre compte.",
    405: "Cette action n'est pas permise à cette adresse.",
    413: "Le fichier envoyé dépasse la taille autorisée.",
    500: "Une erreur inattendue s'est produite. L'équipe technique a été prévenue ; réessayez plus tard.",
    503: "Le service est momentanément indisponible : réessayez dans un instant.",
}


async def error_page(request: Request, status: int, text: str | None = None) -> Response:
    return await render(
        request,
        "error.html",
        {
            "title": TITLES.get(status, "Erreur"),
            "text": text or TEXTS.get(status, "Erreur."),
            "status": status,
        },
        status_code=status,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if exc.reason == "expired":
            return await render(
                request,
                "error.html",
                {
                    "title": "Session expirée",
                    "text": "Votre session a expiré : reconnectez-vous pour continuer.",
                    "login_next": login_url(exc.next_url),
                },
                status_code=401,
            )
        return redirect(login_url(exc.next_url))

    @app.exception_handler(GateRedirect)
    async def gate(request: Request, exc: GateRedirect) -> Response:
        return redirect(exc.url)

    @app.exception_handler(SessionLocked)
    async def locked(request: Request, exc: SessionLocked) -> Response:
        return redirect("/verrouille")

    @app.exception_handler(CsrfError)
    async def csrf(request: Request, exc: CsrfError) -> Response:
        return await error_page(
            request,
            403,
            "Ce formulaire a expiré ou ne vient pas du portail : rechargez la page et recommencez.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        text = exc.detail if isinstance(exc.detail, str) and exc.detail and exc.detail[0].isupper() else None
        if text in ("Not Found", "Method Not Allowed"):
            text = None
        response = await error_page(request, exc.status_code, text)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return await error_page(request, 400, "Paramètres de la demande invalides.")

    @app.exception_handler(FhirError)
    async def fhir_error(request: Request, exc: FhirError) -> Response:
        if exc.status == 401:
            return redirect(login_url(request.url.path))
        status = exc.status if exc.status in TITLES else (503 if exc.status >= 500 else 400)
        if status == 404:
            return await error_page(request, 404, "Élément introuvable, ou hors de vos dossiers.")
        return await error_page(request, status, exc.message)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("portal: unexpected error on %s %s", request.method, request.url.path)
        try:
            return await error_page(request, 500)
        except Exception:  # the error page itself failed (database down...): plain French text
            from starlette.responses import HTMLResponse

            return HTMLResponse(
                '<!doctype html><html lang="fr"><meta charset="utf-8"><title>Erreur interne</title>'
                "<h1>Erreur interne</h1><p>Réessayez plus tard.</p></html>",
                status_code=500,
            )
