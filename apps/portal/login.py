"""Login, logout and the lock screen ("verrouiller la session")."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from apps.portal.fhir import FhirError
from apps.portal.oauth import LoginError, pkce_pair
from apps.portal.sessions import PortalUser
from apps.portal.web import (
    SESSION_COOKIE,
    live_session,
    optional_session,
    portal_of,
    redirect,
    render,
    safe_next,
)
from fhir_server.auth.roles import is_conseil_role

LOGIN_COOKIE = "passerelle_portal_login"
router = APIRouter(include_in_schema=False)


def _secure(request: Request) -> bool:
    setting = portal_of(request).config.secure_cookies
    return setting in ("1", "true", "yes", "on") or request.url.scheme == "https"


async def _error(request: Request, title: str, text: str, status: int, retry: bool = True) -> Response:
    return await render(
        request, "error.html", {"title": title, "text": text, "retry": retry}, status_code=status
    )


@router.get("/connexion")
async def start_login(request: Request, suite: str = "/") -> Response:
    portal = portal_of(request)
    session = await optional_session(request)
    next_url = safe_next(suite)
    if session is not None and not session.locked:
        return redirect(next_url)
    verifier, challenge = pkce_pair()
    state = await portal.store.start_login(
        {"verifier": verifier, "next": next_url, "unlock": session.key if session else None}
    )
    root = portal.root_of(request)
    try:
        url = await portal.auth.authorize_url(root, state, challenge)
    except LoginError as exc:
        return await _error(request, "Connexion indisponible", str(exc), 503, retry=False)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        LOGIN_COOKIE, state, max_age=900, path="/connexion", httponly=True, samesite="lax",
        secure=_secure(request),
    )  # fmt: skip
    return response


@router.get("/connexion/retour")
async def login_callback(request: Request) -> Response:
    portal = portal_of(request)
    params = request.query_params
    state = params.get("state", "")
    pending = None
    if state and request.cookies.get(LOGIN_COOKIE) == state:
        pending = await portal.store.consume_login(state)
    if pending is None:
        return await _error(
            request,
            "Connexion expirée",
            "Cette connexion a expiré ou n'a pas été commencée dans ce navigateur : recommencez.",
            400,
        )
    if "error" in params or "code" not in params:
        if params.get("error") == "access_denied":
            return await _error(request, "Connexion annulée", "Vous avez refusé l'accès au portail.", 403)
        return await _error(
            request, "Connexion refusée", "Le serveur d'autorisation a refusé la connexion.", 400
        )
    root = portal.root_of(request)
    try:
        tokens, who = await portal.auth.exchange(root, params["code"], pending["verifier"])
    except LoginError as exc:
        return await _error(request, "Connexion impossible", str(exc), 400)
    user = PortalUser(kind=who["kind"], fhir_user=who["fhir_user"], name=who["name"])
    if not user.name:
        user.name = await _display_name(portal, root, tokens.access_token, user)
    if user.is_practitioner:
        user.conseil = await _is_conseil(portal, root, tokens.access_token, user)
    current = await optional_session(request)
    response = redirect(safe_next(pending.get("next")))
    response.delete_cookie(LOGIN_COOKIE, path="/connexion")
    if (
        current is not None
        and current.locked
        and current.key == pending.get("unlock")
        and current.user.fhir_user == user.fhir_user
    ):
        await portal.store.unlock(current, tokens)
        return response
    if current is not None:
        await portal.store.destroy(current)
    sid, _ = await portal.store.create(user, tokens, root)
    response.set_cookie(SESSION_COOKIE, sid, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return response


async def _display_name(portal: object, root: str, token: str, user: PortalUser) -> str:
    """The user's name from their own Practitioner or Patient resource (when the ID token has none)."""
    from apps.portal.fhir import FhirClient

    client = FhirClient(portal.http, root, token)  # type: ignore[attr-defined]
    try:
        resource = await client.read(*user.fhir_user.split("/", 1))
    except FhirError:
        return ""
    names = resource.get("name") or [{}]
    name = names[0]
    return " ".join([*name.get("given", []), name.get("family", "")]).strip()


async def _is_conseil(portal: object, root: str, token: str, user: PortalUser) -> bool:
    """Whether the practitioner holds a médecin conseil's role (their menu is the service médical's)."""
    from apps.portal.fhir import FhirClient

    client = FhirClient(portal.http, root, token)  # type: ignore[attr-defined]
    try:
        found = await client.search_resources("PractitionerRole", {"practitioner": user.fhir_user})
    except FhirError:
        return False
    return any(is_conseil_role(r) for r in found)


@router.post("/deconnexion")
async def logout(request: Request) -> Response:
    portal = portal_of(request)
    session = await optional_session(request)
    if session is not None:
        if session.tokens is not None:
            await portal.auth.revoke(session.root, session.tokens.refresh_token, "refresh_token")
            await portal.auth.revoke(session.root, session.tokens.access_token, "access_token")
        await portal.store.destroy(session)
    response = redirect("/?deconnecte=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/verrouiller")
async def lock(request: Request) -> Response:
    portal = portal_of(request)
    session = await live_session(request)
    if session.tokens is not None:
        await portal.auth.revoke(session.root, session.tokens.refresh_token, "refresh_token")
        await portal.auth.revoke(session.root, session.tokens.access_token, "access_token")
    await portal.store.lock(session)
    return redirect("/verrouille")


@router.get("/verrouille")
async def locked(request: Request) -> Response:
    session = await optional_session(request)
    if session is None or not session.locked:
        return redirect("/")
    return await render(request, "locked.html", {"locked_user": session.user})
