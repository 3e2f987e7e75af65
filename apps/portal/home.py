"""The page at ``/``: the public home page with the logins, or the user's home (dashboard)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from apps.portal.web import optional_session, portal_of, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    session = await optional_session(request)
    if session is not None and session.locked:
        return redirect("/verrouille")
    if session is not None:
        target = portal_of(request).home_for(session.user)
        if target != "/":
            return redirect(target)
    return await render(request, "home.html", {"logged_out": request.query_params.get("deconnecte") == "1"})
