"""The cross-border screens: access, search, verification and consent, the summary."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import RedirectResponse, Response

from apps.portal.crossborder import router
from apps.portal.crossborder.access import (
    FAQ_REASONS,
    TERMS_COOKIE,
    TERMS_VERSION,
    evaluate,
    rules,
    token_claims,
)
from apps.portal.crossborder.errors import problem
from apps.portal.crossborder.gateway import (
    HELP_DEFAULT,
    HELP_FR,
    Flow,
    Gateway,
    country_name,
    form_fields,
    identifier_label,
)
from apps.portal.crossborder.notice import PIN_VERSION, TEXTS, pin_pdf
from apps.portal.crossborder.summary import administrative, document_info, originals, sections
from apps.portal.web import (
    FormState,
    Practitioner,
    form_data,
    form_dict,
    live_session,
    login_url,
    optional_session,
    portal_of,
    redirect,
    render,
)
from ehdsi_gateway import EhdsiError
from ehdsi_gateway.saml import Professional

BASE = "/transfrontalier"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PROFESSION_ROLES = {  # TRE_G15 -> ISCO-08 (HCP assertion role)
    "10": ("221", "Medical Doctors"),
    "21": ("2262", "Pharmacists"),
    "40": ("2261", "Dentists"),
    "50": ("2222", "Midwifery Professionals"),
    "60": ("2221", "Nursing Professionals"),
}


def gateway(request: Request) -> Gateway:
    portal = portal_of(request)
    gw: Gateway | None = getattr(portal, "crossborder_gateway", None)
    if gw is None:
        gw = Gateway(portal.settings.data_dir, lambda: portal.local_app, portal.config.fhir_url)
        portal.crossborder_gateway = gw  # type: ignore[attr-defined]
    return gw


async def _allowed(request: Request, user: Any) -> tuple[Any, Any] | Response:
    """The session and eligibility of a professional, or the page to show instead."""
    if request.cookies.get(TERMS_COOKIE) != TERMS_VERSION:
        return RedirectResponse(BASE, status_code=303)
    session = await live_session(request)
    claims = token_claims(session.tokens.access_token if session.tokens else "")
    decision = evaluate(claims, rules())
    if not decision.allowed:
        return await render(
            request, "crossborder/refused.html", {"reason": decision.reason, "faq": FAQ_REASONS}, 403
        )
    return session, decision


# --- 1. access -------------------------------------------------------------------------------


@router.get(BASE)
async def access(request: Request) -> Response:
    return await render(request, "crossborder/access.html", {"terms_version": TERMS_VERSION})


@router.get(f"{BASE}/connexion")
async def accept_terms(request: Request) -> Response:
    if request.query_params.get("cgu") != TERMS_VERSION:
        form = FormState({})
        form.error(
            "cgu", "Vous devez accepter les conditions générales d'utilisation pour accéder au service."
        )
        return await render(
            request, "crossborder/access.html", {"terms_version": TERMS_VERSION}, 422, form=form
        )
    session = await optional_session(request)
    target = f"{BASE}/recherche"
    response = RedirectResponse(target if session is not None else login_url(target), status_code=303)
    response.set_cookie(TERMS_COOKIE, TERMS_VERSION, path=BASE, httponly=True, samesite="lax")
    return response


# --- 2. search -------------------------------------------------------------------------------


async def _search_page(
    request: Request, country: str, form: FormState | None = None, status: int = 200, failure: Any = None
) -> Response:
    gw = gateway(request)
    peers = gw.peers()
    fields: dict[str, Any] = {}
    mask_error = None
    if country in peers:
        try:
            peer = await gw.query().resolve_peer(country)
            fields = form_fields(peer.search_mask)
        except EhdsiError as exc:
            mask_error = problem(exc)
    return await render(
        request,
        "crossborder/search.html",
        {
            "countries": [(c, country_name(c)) for c in peers],
            "country": country if country in peers else "",
            "country_label": country_name(country) if country else "",
            "fields": fields,
            "domains": [
                (i.domain, f"{identifier_label(i.label, country)} ({i.domain})")
                for i in fields.get("identifiers", [])
            ],
            "label": identifier_label,
            "format_attrs": (
                f'autocomplete="off" data-format="{escape(fields["identifiers"][0].format)}"'
                if fields.get("identifiers")
                else ""
            ),
            "help": HELP_FR.get(country, HELP_DEFAULT),
            "failure": failure or mask_error,
        },
        status,
        form=form,
    )


@router.get(f"{BASE}/recherche")
async def search(request: Request, user: Practitioner) -> Response:
    allowed = await _allowed(request, user)
    if isinstance(allowed, Response):
        return allowed
    country = (request.query_params.get("pays") or "").upper()
    form = FormState({"pays": country})
    status = 200
    if country and country not in gateway(request).peers():
        form.error("pays", "Choisissez un pays dans la liste des pays raccordés.")
        status = 422
    return await _search_page(request, country, form, status)


@router.post(f"{BASE}/recherche")
async def search_post(request: Request, user: Practitioner) -> Response:
    allowed = await _allowed(request, user)
    if isinstance(allowed, Response):
        return allowed
    session, decision = allowed
    gw = gateway(request)
    values = form_dict(await form_data(request))
    form = FormState(values)
    country = values.get("pays", "").upper()
    if country not in gw.peers():
        form.error("pays", "Choisissez un pays dans la liste des pays raccordés.")
        return await _search_page(request, "", form, 422)
    try:
        peer = await gw.query().resolve_peer(country)
    except EhdsiError as exc:
        return await _search_page(request, country, form, problem(exc).status, problem(exc))
    fields = form_fields(peer.search_mask)
    ids = fields["identifiers"]
    domain = values.get("domaine") or (ids[0].domain if ids else "")
    spec = next((f for f in ids if f.domain == domain), None)
    ident_value = values.get("identifiant", "").strip()
    if ids and spec is None:
        form.error("domaine", "Choisissez le type d'identifiant.")
    elif not ident_value:
        form.error("identifiant", "Indiquez l'identifiant du patient.")
    elif spec is not None and not re.fullmatch(spec.format, ident_value):
        form.error("identifiant", f"L'identifiant « {ident_value} » n'a pas le format attendu pour ce pays.")
    birth = values.get("naissance", "").strip()
    if birth and not DATE.match(birth):
        form.error("naissance", f"Date de naissance invalide : « {birth} » (format attendu : JJ/MM/AAAA).")
    elif fields["birth_date"] and not birth:
        form.error("naissance", "La date de naissance est obligatoire pour ce pays.")
    gender = values.get("sexe", "")
    if gender and gender not in ("M", "F", "UN"):
        form.error("sexe", "Sexe invalide.")
    elif fields["gender"] and not gender:
        form.error("sexe", "Le sexe est obligatoire pour ce pays.")
    family, given = values.get("nom", "").strip(), values.get("prenom", "").strip()
    if fields["family"] and not family:
        form.error("nom", "Le nom de famille est obligatoire pour ce pays.")
    if fields["given"] and not given:
        form.error("prenom", "Le prénom est obligatoire pour ce pays.")
    if form:
        return await _search_page(request, country, form, 422)
    role = PROFESSION_ROLES.get(decision.profession, ("22", "Health Professionals"))
    professional = Professional(
        identifier=decision.rpps or user.id, name=user.name or "Professionnel de santé",
        role_code=role[0], role_display=role[1],
        assurance=str(token_claims(session.tokens.access_token if session.tokens else "").get("acr") or ""),
    )  # fmt: skip
    query = gw.query()
    try:
        ident = await query.identify(
            country,
            f"{ident_value}^^^&{domain}&ISO" if domain else ident_value,
            birth_date=birth or None,
            gender=gender or None,
            family=family or None,
            given=given or None,
            professional=professional,
        )
    except EhdsiError as exc:
        if exc.code == "ERROR_INVALID_TRAITS":
            form.error("identifiant", exc.french())
            return await _search_page(request, country, form, 422)
        return await _search_page(request, country, form, problem(exc).status, problem(exc))
    finally:
        await query.aclose()
    flow = gw.add(session.key, country, ident)
    return redirect(f"{BASE}/{flow.key}/verification")


# --- 3. verification and consent -------------------------------------------------------------


async def _flow(request: Request, user: Any, key: str) -> Flow | Response:
    allowed = await _allowed(request, user)
    if isinstance(allowed, Response):
        return allowed
    flow = gateway(request).get(key, allowed[0].key)
    if flow is None:
        raise HTTPException(
            404, "Cette recherche a expiré ou n'est pas la vôtre : faites une nouvelle recherche."
        )
    return flow


def _demographics(flow: Flow) -> dict[str, str]:
    d = flow.ident.demographics
    birth = d.birth_date or ""
    address = ", ".join(
        x for x in (d.street, " ".join(p for p in (d.postal_code, d.city) if p), d.country) if x
    )
    return {
        "Nom": " ".join(d.family).upper() or "Information indisponible",
        "Prénom": " ".join(d.given) or "Information indisponible",
        "Sexe": {"M": "Masculin", "F": "Féminin", "UN": "Inconnu"}.get(
            d.gender or "", "Information indisponible"
        ),
        "Date de naissance": f"{birth[6:8]}/{birth[4:6]}/{birth[:4]}"
        if len(birth) >= 8
        else "Information indisponible",
        "Identifiant": flow.ident.patient_id.extension,
        "Adresse": address or "Information indisponible",
    }


@router.get(BASE + "/{key}/verification")
async def verification(request: Request, key: str, user: Practitioner) -> Response:
    flow = await _flow(request, user, key)
    if isinstance(flow, Response):
        return flow
    return await render(
        request, "crossborder/verification.html",
        {"flow": flow, "demo": _demographics(flow), "country_label": country_name(flow.country)},
    )  # fmt: skip


@router.post(BASE + "/{key}/verification")
async def consent(request: Request, key: str, user: Practitioner) -> Response:
    flow = await _flow(request, user, key)
    if isinstance(flow, Response):
        return flow
    values = form_dict(await form_data(request))
    form = FormState(values)
    if values.get("besoin") != "1":
        form.error("besoin", "Confirmez l'identité du patient et votre besoin d'en connaître.")
    if values.get("consentement") != "1":
        form.error(
            "consentement", "Confirmez que le patient a consenti après remise de la notice d'information."
        )
    ctx = {"flow": flow, "demo": _demographics(flow), "country_label": country_name(flow.country)}
    if form:
        return await render(request, "crossborder/verification.html", ctx, 422, form=form)
    query = gateway(request).query()
    try:
        flow.consent = await query.record_consent(
            flow.ident, identity_confirmed=True, need_to_know=True, pin_signed=True, pin_version=PIN_VERSION
        )
        flow.result = await query.fetch_summary(flow.ident, flow.consent)
    except EhdsiError as exc:
        return await render(request, "crossborder/verification.html", {**ctx, "failure": problem(exc)},
                            problem(exc).status, form=form)  # fmt: skip
    finally:
        await query.aclose()
    return redirect(f"{BASE}/{flow.key}/synthese")


@router.get(BASE + "/{key}/formulaire-consentement")
async def consent_form(request: Request, key: str, user: Practitioner) -> Response:
    flow = await _flow(request, user, key)
    if isinstance(flow, Response):
        return flow
    return await render(
        request, "crossborder/consent_form.html",
        {"flow": flow, "demo": _demographics(flow), "country_label": country_name(flow.country),
         "pin_version": PIN_VERSION},
    )  # fmt: skip


@router.get(BASE + "/notice/{lang}.pdf")
async def notice(request: Request, lang: str) -> Response:
    if lang not in TEXTS:
        raise HTTPException(404, "Cette langue de la notice n'est pas disponible (fr, en).")
    return Response(
        pin_pdf(lang),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="notice-myhealth-eu-{lang}.pdf"'},
    )


# --- 4. the summary --------------------------------------------------------------------------


@router.get(BASE + "/{key}/synthese")
async def summary(request: Request, key: str, user: Practitioner) -> Response:
    flow = await _flow(request, user, key)
    if isinstance(flow, Response):
        return flow
    if flow.result is None:
        return redirect(f"{BASE}/{flow.key}/verification")
    bundle = flow.result.bundle
    return await render(
        request,
        "crossborder/summary.html",
        {
            "flow": flow,
            "country_label": country_name(flow.country),
            "admin": administrative(bundle) if flow.result.translated else _demographics(flow),
            "doc": document_info(bundle, country_name(flow.country)),
            "sections": sections(bundle) if flow.result.translated else [],
            "originals": originals(bundle),
            "result": flow.result,
        },
    )


@router.get(BASE + "/{key}/original/{index}")
async def original(request: Request, key: str, index: int, user: Practitioner) -> Response:
    flow = await _flow(request, user, key)
    if isinstance(flow, Response):
        return flow
    found = next((o for o in originals(flow.result.bundle if flow.result else {}) if o.index == index), None)
    if found is None:
        raise HTTPException(404, "Document original introuvable.")
    ext = "pdf" if found.content_type == "application/pdf" else "xml"
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            "Content-Disposition": f'inline; filename="synthese-originale-{flow.country}.{ext}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )
