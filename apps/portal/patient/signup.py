"""Sign-up (``/inscription``), the e-mail confirmation link and sending it again.

Public forms (no session yet): their CSRF token is a double-submit cookie (``PUBLIC_FORMS``).
The portal checks every field itself (French message per field, what was typed shown again),
then creates the account through the authorization server (``POST /auth/patients``), which
stores the Patient, the account and one Consent per accepted text, and e-mails the link.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx
from fastapi import Request
from starlette.responses import Response

from apps.portal.authserver import call
from apps.portal.patient.routing import router
from apps.portal.patient.terms import CURRENT_VERSIONS, TITLES, template_of
from apps.portal.web import (
    PUBLIC_FORMS,
    FormState,
    form_data,
    form_dict,
    optional_session,
    portal_of,
    redirect,
    render_public,
    secure_cookies,
)
from fhir_server.auth.accounts import (
    ADULT,
    EMAIL_RE,
    MIN_PASSWORD,
    age_on,
    mobile_e164,
    parse_birth_date,
)

SIGNUP = "/inscription"
RESEND = "/inscription/renvoyer"
PUBLIC_FORMS.update({SIGNUP, RESEND})
SENT_COOKIE = "passerelle_inscription"
GENDERS = [("female", "Femme"), ("male", "Homme"), ("other", "Autre")]
NAME_RE = re.compile(r"[^\W\d_]+(?:[ '’-][^\W\d_]+)*")
MEMBER_RE = re.compile(r"[A-Za-z0-9]{6,20}")
POSTAL_RE = re.compile(r"(?!00)\d{5}")


def texts() -> list[dict[str, str]]:
    return [
        {"kind": kind, "title": TITLES[kind], "version": version, "template": template_of(kind, version)}
        for kind, version in CURRENT_VERSIONS.items()
    ]


async def _page(request: Request, form: FormState | None = None, status: int = 200) -> Response:
    context = {"genders": GENDERS, "texts": texts()}
    return await render_public(request, "patient/signup.html", context, status, form=form)


@router.get(SIGNUP)
async def signup_form(request: Request) -> Response:
    if await optional_session(request) is not None:
        return redirect("/")
    return await _page(request)


def check(values: dict[str, str], today: date | None = None) -> tuple[FormState, dict[str, Any]]:
    """The form's errors (French, one per field) and the account request built from it."""
    form = FormState(dict(values))
    form.values.pop("mot_de_passe", None)  # never sent back to the browser
    form.values.pop("confirmation", None)
    v = values.get
    member = re.sub(r"[\s-]", "", v("adherent", ""))
    if not member:
        form.error("adherent", "Indiquez votre numéro d'adhérent (il figure sur votre carte).")
    elif not MEMBER_RE.fullmatch(member):
        form.error("adherent", "Numéro d'adhérent invalide : 6 à 20 lettres ou chiffres.")
    for key, label in (("prenom", "votre prénom"), ("nom", "votre nom")):
        if not v(key):
            form.error(key, f"Indiquez {label}.")
        elif len(v(key, "")) > 100 or not NAME_RE.fullmatch(v(key, "")):
            form.error(key, f"Indiquez {label} en lettres (tirets, apostrophes et espaces permis).")
    if v("sexe") not in dict(GENDERS):
        form.error("sexe", "Indiquez votre sexe.")
    today = today or date.today()
    if not v("naissance"):
        form.error("naissance", "Indiquez votre date de naissance.")
    else:
        birth = parse_birth_date(v("naissance", ""), today)
        if birth is None:
            form.error("naissance", "Date de naissance invalide : une date passée, au format JJ/MM/AAAA.")
        elif age_on(birth, today) < ADULT:
            form.error(
                "naissance",
                "Il faut être majeur pour créer un compte : un enfant est rattaché au compte de "
                "l'assuré principal, comme ayant droit.",
            )
    if not POSTAL_RE.fullmatch(v("code_postal", "")):
        form.error("code_postal", "Code postal invalide : 5 chiffres.")
    if not v("ville"):
        form.error("ville", "Indiquez votre ville.")
    phone = mobile_e164(v("telephone", ""))
    if not v("telephone"):
        form.error("telephone", "Indiquez votre numéro de mobile : il sert au code de connexion par SMS.")
    elif phone is None:
        form.error("telephone", "Numéro de mobile invalide (ex. 06 12 34 56 78).")
    email = v("email", "")
    if not email:
        form.error("email", "Indiquez votre adresse e-mail.")
    elif len(email) > 254 or not EMAIL_RE.fullmatch(email):
        form.error("email", "Adresse e-mail invalide (ex. prenom.nom@exemple.fr).")
    password = values.get("mot_de_passe", "")
    if len(password) < MIN_PASSWORD:
        form.error("mot_de_passe", f"Le mot de passe doit compter au moins {MIN_PASSWORD} caractères.")
    elif password != values.get("confirmation", ""):
        form.error("confirmation", "Les deux mots de passe sont différents.")
    if v("cgu") != "oui":
        form.error("cgu", "Acceptez les conditions générales d'utilisation pour créer votre compte.")
    if v("donnees_sante") != "oui":
        form.error(
            "donnees_sante",
            "Donnez votre consentement au traitement de vos données de santé : sans lui, le service "
            "ne peut pas vous prendre en charge.",
        )
    body = {
        "member": member,
        "given": v("prenom", ""),
        "family": v("nom", ""),
        "gender": v("sexe", ""),
        "birthDate": v("naissance", ""),
        "postalCode": v("code_postal", ""),
        "city": v("ville", ""),
        "phone": phone or "",
        "email": email.lower(),
        "password": password,
        "terms": CURRENT_VERSIONS["cgu"],
        "healthConsent": CURRENT_VERSIONS["donnees-sante"],
        "link": "portal",
    }
    return form, body


# The authorization server's refusals (French), by the field they are about.
REFUSED_FIELDS = {
    "date de naissance": "naissance",
    "code postal": "code_postal",
    "adhérent": "adherent",
    "mot de passe": "mot_de_passe",
    "mobile": "telephone",
    "prénom": "prenom",
    "nom": "nom",
}


def _field_of(message: str) -> str:
    text = message.lower()
    return next((field for words, field in REFUSED_FIELDS.items() if words in text), "email")


@router.post(SIGNUP)
async def signup(request: Request) -> Response:
    raw = await form_data(request)
    values = form_dict(raw)
    values["mot_de_passe"] = str(raw.get("mot_de_passe") or "")  # passwords are not stripped
    values["confirmation"] = str(raw.get("confirmation") or "")
    form, body = check(values)
    if form:
        return await _page(request, form, 422)
    answer = await call(request, "/auth/patients", body)
    if not answer.ok:
        if answer.status == 409:
            form.error("email", "Un compte existe déjà pour cette adresse e-mail : connectez-vous, ou "
                       "réinitialisez votre mot de passe.")  # fmt: skip
        else:
            form.error(_field_of(answer.message), answer.message or "Création impossible : réessayez.")
        return await _page(request, form, answer.status if answer.status in (400, 409, 429, 503) else 400)
    response = redirect("/inscription/verifiez")
    response.set_cookie(SENT_COOKIE, body["email"], max_age=3600, path="/inscription", httponly=True,
                        samesite="strict", secure=secure_cookies(request))  # fmt: skip
    return response


@router.get("/inscription/verifiez")
async def check_inbox(request: Request) -> Response:
    email = request.cookies.get(SENT_COOKIE, "")
    return await render_public(
        request, "patient/signup_sent.html", {"email": email}, form=FormState({"email": email})
    )


@router.get("/inscription/confirmer")
async def confirm(request: Request) -> Response:
    """The link of the e-mail: the authorization server consumes the token (single use)."""
    portal = portal_of(request)
    root = portal.auth.auth_root(portal.root_of(request))
    try:
        answer = await portal.http.get(
            f"{root}/auth/patients/confirm", params={"token": request.query_params.get("token", "")}
        )
        ok = answer.status_code == 200
    except httpx.HTTPError:
        ok = False
    return await render_public(request, "patient/confirmed.html", {"ok": ok}, 200 if ok else 400)


@router.get(RESEND)
async def resend_form(request: Request) -> Response:
    done = request.query_params.get("envoye") == "1"
    return await render_public(request, "patient/resend.html", {"done": done})


@router.post(RESEND)
async def resend(request: Request) -> Response:
    form = FormState(form_dict(await form_data(request)))
    email = form.values.get("email", "")
    if not EMAIL_RE.fullmatch(email):
        form.error("email", "Adresse e-mail invalide (ex. prenom.nom@exemple.fr).")
    if not form:
        answer = await call(request, "/auth/patients/confirm/resend", {"email": email, "link": "portal"})
        if answer.ok:
            return redirect(f"{RESEND}?envoye=1")
        form.error("email", answer.message or "Envoi impossible : réessayez.")
    return await render_public(request, "patient/resend.html", {"done": False}, 422, form=form)
