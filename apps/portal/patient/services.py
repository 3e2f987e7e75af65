"""The services page (``/mon-espace``), the terms asked at first access, and the dependents screen."""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.authserver import call
from apps.portal.patient.accounts import refresh_now
from apps.portal.patient.people import people
from apps.portal.patient.routing import router
from apps.portal.patient.terms import (
    CURRENT_VERSIONS,
    GATE_PAGE,
    TITLES,
    acceptances,
    consent_kind,
    missing,
    stamp,
    template_of,
)
from apps.portal.web import (
    CurrentUser,
    Fhir,
    FormState,
    PatientUser,
    flash,
    form_data,
    form_dict,
    live_session,
    portal_of,
    redirect,
    render,
    safe_next,
)
from fhir_server.auth.accounts import age_on, consent_resource, parse_birth_date
from fhir_server.storage.records import fhir_instant, now_ms

SERVICES = [
    (
        "Poser une question",
        "/teleconsultation",
        "Un médecin vous répond par messagerie, appel audio ou vidéo.",
    ),
    ("Mes questions", "/teleconsultation/mes-questions", "Vos questions, leurs réponses et comptes rendus."),
    ("Mes documents médicaux", "/mes-documents", "Comptes rendus, ordonnances et documents, à télécharger."),
    ("Mes ordonnances", "/mes-ordonnances", "Vos ordonnances signées, en PDF."),
    ("Mon profil", "/mon-profil", "Coordonnées, mobile, taille, poids, allergies, antécédents."),
    ("Télécharger mes données", "/mes-donnees", "Tout votre dossier (FHIR, page lisible, PDF)."),
]
RELATIONSHIPS = [
    ("PRN", "Mon enfant"),
    ("SPS", "Mon conjoint ou ma conjointe"),
    ("GUARD", "Une personne sous ma tutelle"),
]
GENDERS = [("female", "Féminin"), ("male", "Masculin"), ("other", "Autre")]
FIELDS = {"cgu": "cgu", "donnees-sante": "donnees_sante"}


@router.get("/mon-espace")
async def services(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    everyone = await people(request, fhir)
    return await render(request, "patient/services.html", {"services": SERVICES, "dependents": everyone[1:]})


# -- the texts to accept at first access (or when their version changed) ------------------


def _patient(user: CurrentUser) -> None:
    if user.kind != "patient":
        raise HTTPException(403, "Cet espace est réservé aux patients.")


async def _terms_page(request: Request, user: CurrentUser, fhir: Fhir, form: FormState | None = None,
                      status: int = 200) -> Response:  # fmt: skip
    todo = await missing(fhir, user.fhir_user)
    earlier = {consent_kind(c) for c in await acceptances(fhir, user.fhir_user)}
    texts = [
        {
            "kind": kind,
            "title": TITLES[kind],
            "version": CURRENT_VERSIONS[kind],
            "template": template_of(kind, CURRENT_VERSIONS[kind]),
            "changed": kind in earlier,
        }
        for kind in todo
    ]
    return await render(
        request,
        "patient/terms.html",
        {
            "texts": texts,
            "suite": safe_next(
                (form.values.get("suite") if form else None) or request.query_params.get("suite"),
                "/mon-espace",
            ),
            "fields": FIELDS,
        },
        status_code=status,
        form=form,
    )


@router.get(GATE_PAGE)
async def terms(request: Request, user: CurrentUser, fhir: Fhir) -> Response:
    _patient(user)
    if not await missing(fhir, user.fhir_user):
        return redirect(safe_next(request.query_params.get("suite"), "/mon-espace"))
    return await _terms_page(request, user, fhir)


@router.post(GATE_PAGE)
async def accept_terms(request: Request, user: CurrentUser, fhir: Fhir) -> Response:
    _patient(user)
    form = FormState(form_dict(await form_data(request)))
    todo = await missing(fhir, user.fhir_user)
    for kind in todo:
        if form.values.get(FIELDS[kind]) != "oui":
            form.error(
                FIELDS[kind],
                "Acceptez les conditions générales d'utilisation pour continuer."
                if kind == "cgu"
                else "Sans votre consentement au traitement de vos données de santé, le service ne peut pas "
                "vous prendre en charge.",
            )
    if form:
        return await _terms_page(request, user, fhir, form, 422)
    when = fhir_instant(now_ms())
    for kind in todo:
        await fhir.create(consent_resource(user.id, kind, CURRENT_VERSIONS[kind], when))
    session = await live_session(request)
    await portal_of(request).store.mark(session, "terms", stamp())
    await flash(request, "Merci : votre accord est enregistré.", "succes")
    return redirect(safe_next(form.values.get("suite"), "/mon-espace"))


# -- dependents (ayants droit) ---------------------------------------------------------------


@router.get("/mon-espace/ayants-droit")
async def dependents(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    return await _dependents_page(request, fhir)


async def _dependents_page(
    request: Request, fhir: Fhir, form: FormState | None = None, status: int = 200
) -> Response:
    everyone = await people(request, fhir)
    return await render(
        request,
        "patient/dependents.html",
        {"dependents": everyone[1:], "relationships": RELATIONSHIPS, "genders": GENDERS},
        status_code=status,
        form=form,
    )


@router.post("/mon-espace/ayants-droit")
async def add_dependent(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    form = FormState(form_dict(await form_data(request)))
    v = form.values
    if not v.get("prenom"):
        form.error("prenom", "Indiquez son prénom.")
    if not v.get("nom"):
        form.error("nom", "Indiquez son nom.")
    if v.get("sexe") not in dict(GENDERS):
        form.error("sexe", "Indiquez son sexe.")
    birth = parse_birth_date(v.get("naissance", ""))
    if birth is None:
        form.error("naissance", "Date de naissance invalide : une date passée, au format JJ/MM/AAAA.")
    if v.get("lien") not in dict(RELATIONSHIPS):
        form.error("lien", "Indiquez votre lien avec cette personne.")
    elif birth is not None and v["lien"] == "PRN" and age_on(birth, birth.today()) >= 26:
        form.error("naissance", "Un enfant ayant droit a moins de 26 ans : vérifiez la date de naissance.")
    if form:
        return await _dependents_page(request, fhir, form, 422)
    answer = await call(
        request,
        "/auth/patients/dependents",
        {"given": v["prenom"], "family": v["nom"], "gender": v["sexe"], "birthDate": v["naissance"],
         "relationship": v["lien"]},
        token=True,
    )  # fmt: skip
    if not answer.ok:
        form.error("prenom", answer.message or "Ajout impossible : réessayez.")
        return await _dependents_page(request, fhir, form, answer.status if answer.status < 500 else 503)
    await refresh_now(request)  # the new token covers the dependent's record
    await flash(request, f"{v['prenom']} {v['nom']} est ajouté(e) à vos ayants droit.", "succes")
    return redirect("/mon-espace/ayants-droit")
