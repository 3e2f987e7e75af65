"""What a screen needs: the current user, their FHIR client, CSRF, flash messages, rendering.

Areas import from here::

    from apps.portal.web import Fhir, Practitioner, render, redirect, flash, form_data

A route taking ``user: Practitioner`` answers only logged-in professionals (others are
sent to the login page, or get a French 403 page); ``fhir: Fhir`` is the FHIR API with
that user's token. Every POST/PUT/PATCH/DELETE is checked for the session's CSRF token
(hidden field ``csrf``, or header ``X-CSRF-Token``) before the route runs.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import FormData, UploadFile
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, RedirectResponse, Response

from apps.portal.areas import build_menu
from apps.portal.fhir import FhirClient
from apps.portal.sessions import PortalUser, Session, Tokens, now

if TYPE_CHECKING:
    from apps.portal.app import Portal

SESSION_COOKIE = "passerelle_session"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(Exception):
    """No live session: the handler sends the browser to the login page, then back here."""

    def __init__(self, next_url: str = "/", reason: str = "none") -> None:
        self.next_url = next_url
        self.reason = reason


class SessionLocked(Exception):
    """The session is locked ("verrouiller la session"): only the unlock page answers."""


class CsrfError(Exception):
    """A form without the session's CSRF token."""


class GateRedirect(Exception):
    """A patient must go through a page first (the terms to accept): sent there, then back."""

    def __init__(self, url: str) -> None:
        self.url = url


# Pages a patient must see before any patient screen (the terms of use accepted at first access):
# each gate answers the URL to send them to, or None. Areas append theirs at import time.
PATIENT_GATES: list[Callable[[Request, PortalUser], Awaitable[str | None]]] = []
# Forms posted before there is a session (sign-up, resending the confirmation e-mail): their CSRF
# token is a double-submit cookie instead of the session's. Areas add their paths at import time.
PUBLIC_FORMS: set[str] = set()
PUBLIC_CSRF_COOKIE = "passerelle_csrf"


def portal_of(request: HTTPConnection) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def _next_url(request: HTTPConnection) -> str:
    url = request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url if getattr(request, "method", "GET") == "GET" else "/"


async def optional_session(request: HTTPConnection) -> Session | None:
    """The session of this request's cookie (loaded once per request), or None."""
    if hasattr(request.state, "portal_session"):
        cached: Session | None = request.state.portal_session
        return cached
    session, why = await portal_of(request).store.load(request.cookies.get(SESSION_COOKIE))
    request.state.portal_session = session
    request.state.session_state = why
    return session


async def live_session(request: HTTPConnection) -> Session:
    session = await optional_session(request)
    if session is None:
        raise LoginRequired(_next_url(request), getattr(request.state, "session_state", "none"))
    if session.locked:
        raise SessionLocked()
    await _fresh_tokens(request, session)
    return session


async def _fresh_tokens(request: HTTPConnection, session: Session) -> None:
    """Refresh the access token shortly before it expires (one refresh per session at a time)."""
    tokens = session.tokens
    if tokens is None:
        raise LoginRequired(_next_url(request), "expired")
    if (tokens.expires_at - now()).total_seconds() > 60:
        return
    portal = portal_of(request)
    lock = portal.refresh_locks.setdefault(session.key, asyncio.Lock())
    async with lock:
        fresh, _ = await portal.store.load(request.cookies.get(SESSION_COOKIE))
        if fresh is not None and fresh.tokens and (fresh.tokens.expires_at - now()).total_seconds() > 60:
            session.tokens = fresh.tokens
            return
        new: Tokens | None = None
        if tokens.refresh_token:
            new = await portal.auth.refresh(session.root, tokens.refresh_token)
        if new is None:
            await portal.store.destroy(session)
            raise LoginRequired(_next_url(request), "expired")
        await portal.store.set_tokens(session, new)
    portal.refresh_locks.pop(session.key, None)


async def current_user(request: Request) -> PortalUser:
    return (await live_session(request)).user


async def require_practitioner(request: Request) -> PortalUser:
    user = await current_user(request)
    if not user.is_practitioner:
        raise HTTPException(403, "Cet espace est réservé aux professionnels de santé.")
    return user


async def require_patient(request: Request) -> PortalUser:
    user = await current_user(request)
    if user.kind != "patient":
        raise HTTPException(403, "Cet espace est réservé aux patients.")
    for gate in PATIENT_GATES:
        target = await gate(request, user)
        if target:
            raise GateRedirect(target)
    return user


async def fhir_client(request: Request) -> FhirClient:
    session = await live_session(request)
    assert session.tokens is not None
    return FhirClient(portal_of(request).http, session.root, session.tokens.access_token)


CurrentUser = Annotated[PortalUser, Depends(current_user)]
Practitioner = Annotated[PortalUser, Depends(require_practitioner)]
PatientUser = Annotated[PortalUser, Depends(require_patient)]
Fhir = Annotated[FhirClient, Depends(fhir_client)]


# -- CSRF -------------------------------------------------------------------------------


async def form_data(request: Request) -> FormData:
    """The request's form (parsed once; the CSRF check has usually read it already)."""
    return await request.form()


def form_dict(form: FormData) -> dict[str, str]:
    """Text fields of a form, stripped, for re-displaying what the user typed."""
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


async def csrf_protect(conn: HTTPConnection) -> None:
    """Global dependency: unsafe methods need the session's CSRF token (WebSockets check their Origin)."""
    if conn.scope["type"] != "http" or conn.scope["method"] not in UNSAFE:
        return
    assert isinstance(conn, Request)  # FastAPI gives the route's own Request (its form is parsed once)
    request = conn
    session = await optional_session(request)
    if session is None and request.url.path not in PUBLIC_FORMS:
        raise LoginRequired("/", getattr(request.state, "session_state", "none"))
    expected = session.csrf if session is not None else request.cookies.get(PUBLIC_CSRF_COOKIE, "")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get("csrf")
            sent = value if isinstance(value, str) else None
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise CsrfError()


def public_csrf(request: Request) -> str:
    """The double-submit token of a public form (kept from the cookie, or a new one to set)."""
    return request.cookies.get(PUBLIC_CSRF_COOKIE) or secrets.token_urlsafe(32)


def secure_cookies(request: Request) -> bool:
    """Whether the portal's cookies get ``Secure``: always (``PASSERELLE_PORTAL_SECURE_COOKIES=1``),
    else when the request came over https."""
    setting = portal_of(request).config.secure_cookies
    return setting in ("1", "true", "yes", "on") or request.url.scheme == "https"


def set_public_csrf(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        PUBLIC_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request)
    )
    return response


# -- rendering --------------------------------------------------------------------------


@dataclass
class FormState:
    """What a refused form shows again: the values typed and a message per field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def error(self, name: str, text: str) -> None:
        self.errors.setdefault(name, text)

    def __bool__(self) -> bool:
        return bool(self.errors)


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    *,
    form: FormState | None = None,
) -> HTMLResponse:
    """A page of the portal (``template`` extends ``base.html``), with the user's menu and messages."""
    portal = portal_of(request)
    session = await optional_session(request)
    user = session.user if session is not None and not session.locked else None
    messages = await portal.store.take_flash(session) if session is not None else []
    ctx: dict[str, Any] = {
        "user": user,
        "csrf_token": session.csrf if session is not None else "",
        "menu": build_menu(portal.areas, user.menu_kind) if user else [],
        "messages": messages,
        "form": form.values if form is not None else {},
        "errors": form.errors if form is not None else {},
        "current_path": request.url.path,
        "home_url": portal.home_for(user),
    }
    ctx.update(context or {})
    response = portal.templates.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


async def render_public(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    *,
    form: FormState | None = None,
) -> Response:
    """A page with a public form (posted before any session: ``PUBLIC_FORMS``): its double-submit
    CSRF token in the context (``csrf_token``) and in the cookie."""
    token = public_csrf(request)
    ctx = {**(context or {}), "csrf_token": token}
    response = await render(request, template, ctx, status_code, form=form)
    return set_public_csrf(request, response, token)


async def flash(request: Request, text: str, level: str = "info") -> None:
    """A message shown on the next page (``level``: info, succes, erreur)."""
    session = await optional_session(request)
    if session is not None:
        await portal_of(request).store.flash(session, level, text)


def redirect(url: str) -> RedirectResponse:
    """After a POST: see-other, so that reloading the page never posts again."""
    return RedirectResponse(url, status_code=303)


def safe_next(url: str | None, default: str = "/") -> str:
    """A local path to go back to after login (never another site)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


def login_url(next_url: str) -> str:
    return "/connexion?suite=" + quote(next_url, safe="")


def upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) and value.filename else None


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
