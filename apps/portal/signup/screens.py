"""``/inscription/professionnel``: the form, the "check your mailbox" page, "renvoyer le lien"."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from apps.portal.authserver import call
from apps.portal.signup import router
from apps.portal.web import (
    PUBLIC_FORMS,
    FormState,
    form_data,
    form_dict,
    optional_session,
    redirect,
    render_public,
)
from fhir_server.auth.pro_accounts import PROFESSIONS, TERMS_VERSION

BASE = "/inscription/professionnel"
PUBLIC_FORMS.update({BASE, f"{BASE}/renvoyer"})  # posted before any session: double-submit CSRF
FIELDS = ("email", "profession", "rpps", "given", "family", "phone")


async def _page(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200,
    form: FormState | None = None,
) -> Response:  # fmt: skip
    ctx = {"professions": PROFESSIONS, "terms_version": TERMS_VERSION, **(context or {})}
    return await render_public(request, template, ctx, status, form=form)


@router.get(BASE)
async def signup_form(request: Request) -> Response:
    if await optional_session(request) is not None:
        return redirect("/")
    return await _page(request, "signup/form.html")


@router.post(BASE)
async def signup(request: Request) -> Response:
    values = form_dict(await form_data(request))
    form = FormState({k: values.get(k, "") for k in (*FIELDS, "cgu")})
    if values.get("password", "") != values.get("password2", ""):
        form.error("password2", "Les deux mots de passe ne sont pas identiques.")
        return await _page(request, "signup/form.html", status=422, form=form)
    body = {k: values.get(k, "") for k in (*FIELDS, "password")}
    body["terms"] = values.get("cgu", "")
    answer = await call(request, "/auth/professionals", body)
    if answer.status >= 500:
        form.error("email", "Service d'inscription indisponible : réessayez dans quelques minutes.")
        return await _page(request, "signup/form.html", status=503, form=form)
    if answer.status == 429:
        form.error("email", answer.body.get("error_description", "Trop de tentatives."))
        return await _page(request, "signup/form.html", status=429, form=form)
    if answer.status != 201:
        data = answer.body
        field = {"terms": "cgu"}.get(data.get("field", "email"), data.get("field", "email"))
        form.error(field or "email", data.get("error_description", "Inscription refusée."))
        return await _page(request, "signup/form.html", status=answer.status, form=form)
    return await _page(request, "signup/sent.html", {"email": answer.body.get("email", "")}, 201)


@router.get(f"{BASE}/renvoyer")
async def resend_form(request: Request) -> Response:
    return await _page(request, "signup/resend.html")


@router.post(f"{BASE}/renvoyer")
async def resend(request: Request) -> Response:
    values = form_dict(await form_data(request))
    email = values.get("email", "")
    form = FormState({"email": email})
    if "@" not in email:
        form.error("email", "Indiquez l'adresse e-mail utilisée à l'inscription.")
        return await _page(request, "signup/resend.html", status=422, form=form)
    answer = await call(request, "/auth/professionals/confirm/resend", {"email": email})
    if answer.status not in (202, 429):
        form.error("email", "Envoi impossible : réessayez dans quelques minutes.")
        return await _page(request, "signup/resend.html", status=503, form=form)
    if answer.status == 429:
        form.error("email", answer.body.get("error_description", "Trop de tentatives."))
        return await _page(request, "signup/resend.html", status=429, form=form)
    return await _page(request, "signup/sent.html", {"email": email, "resent": True})
