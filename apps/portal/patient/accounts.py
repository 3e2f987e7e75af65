"""Who the logged-in patient may act for, and a fresh token after their dependents changed (the
account routes themselves are called through :func:`apps.portal.authserver.call`)."""

from __future__ import annotations

from fastapi import Request

from apps.portal.oauth import jwt_claims
from apps.portal.web import live_session, portal_of


async def my_patients(request: Request) -> list[str]:
    """The records this patient may act for, from their access token: theirs first, then their
    dependents' (ayants droit). The FHIR server enforces the same list on every request."""
    session = await live_session(request)
    assert session.tokens is not None
    claims = jwt_claims(session.tokens.access_token)
    own = session.user.id
    others = [str(p) for p in claims.get("patients") or [] if str(p) != own]
    return [own, *others]


async def refresh_now(request: Request) -> bool:
    """A new access token at once (after adding a dependent: the refresh reads the account again)."""
    portal = portal_of(request)
    session = await live_session(request)
    if session.tokens is None or not session.tokens.refresh_token:
        return False
    fresh = await portal.auth.refresh(session.root, session.tokens.refresh_token)
    if fresh is None:
        return False
    await portal.store.set_tokens(session, fresh)
    return True
