"""Patients: mine, my health centre's, search and invitations, and registering a new patient."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from starlette.responses import Response

from apps.portal.clinician.identity import EMAIL_RE, check_identity
from apps.portal.clinician.model import INS_NIR, ref, ref_id
from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirClient, FhirError
from apps.portal.filters import human_name
from apps.portal.web import (
    Fhir,
    FormState,
    Practitioner,
    flash,
    form_data,
    form_dict,
    portal_of,
    redirect,
    render,
)
from fhir_server.auth.notify import MailError, send_mail
from fhir_server.auth.settings import auth_settings
from fhir_server.identifiers import FINESS_SYSTEM, is_nir, normalise

CARETEAM_CS = "https://passerelle.fr/fhir/CodeSystem/portal-careteam"
REGULATOR_ROLE = {"coding": [{"system": CARETEAM_CS, "code": "regulateur", "display": "Médecin régulateur"}]}
GENDERS = [("female", "Femme"), ("male", "Homme"), ("other", "Autre"), ("unknown", "Inconnu")]


def _sorted(patients: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(patients.values(), key=lambda p: human_name(p, with_prefix=False).split(" ")[-1:])


async def my_patients(fhir: FhirClient, me: str) -> list[dict[str, Any]]:
    """Patients whose médecin traitant I am, and those of the care teams I am part of."""
    gp, teams = await asyncio.gather(
        fhir.search("Patient", {"general-practitioner": me, "_count": "200"}),
        fhir.search(
            "CareTeam",
            [("participant", me), ("status", "active"), ("_include", "CareTeam:subject"), ("_count", "200")],
        ),
    )
    found = {p["id"]: p for p in _of(gp, "Patient")}
    found.update({p["id"]: p for p in _of(teams, "Patient")})
    return _sorted(found)


def _of(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == resource_type]


async def centre_organisations(fhir: FhirClient, me: str) -> list[str]:
    """``Organization/…`` of the structures I practise in (my PractitionerRoles), resolved by FINESS."""
    roles = await fhir.search_resources("PractitionerRole", {"practitioner": me})
    refs: set[str] = set()
    finess: set[str] = set()
    for role in roles:
        org = role.get("organization") or {}
        if org.get("reference", "").startswith("Organization/"):
            refs.add(org["reference"])
        ident = org.get("identifier") or {}
        if ident.get("system") == FINESS_SYSTEM and ident.get("value"):
            finess.add(f"{FINESS_SYSTEM}|{ident['value']}")
    if finess:
        orgs = await fhir.search_resources("Organization", {"identifier": ",".join(sorted(finess))})
        refs |= {f"Organization/{o['id']}" for o in orgs}
    return sorted(refs)


@router.get("/patients")
async def patient_list(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    patients = await my_patients(fhir, user.fhir_user)
    return await render(
        request,
        "clinician/patients.html",
        {"title": "Mes patients", "patients": patients, "empty": "Vous n'avez pas encore de patient."},
    )


@router.get("/centre/dossiers")
async def centre_records(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    orgs = await centre_organisations(fhir, user.fhir_user)
    patients: dict[str, dict[str, Any]] = {}
    if orgs:
        bundle = await fhir.search("Patient", {"organization": ",".join(orgs), "_count": "200"})
        patients = {p["id"]: p for p in _of(bundle, "Patient")}
    return await render(
        request,
        "clinician/patients.html",
        {
            "title": "Dossiers du centre de santé",
            "patients": _sorted(patients),
            "empty": "Aucun dossier rattaché à votre centre de santé."
            if orgs
            else "Vous n'exercez dans aucun centre de santé enregistré.",
        },
    )


@router.get("/patients/recherche")
async def search(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    q = request.query_params.get("q", "").strip()[:100]
    born = request.query_params.get("naissance", "").strip()[:10]
    results: list[dict[str, Any]] = []
    searched = bool(q or born)
    if searched:
        params: dict[str, str] = {"_count": "50"}
        if q and is_nir(q):
            params["identifier"] = f"{INS_NIR}|{normalise(q)}"
        elif q:
            params["name"] = q
        if born:
            params["birthdate"] = born
        try:
            results = _sorted({p["id"]: p for p in await fhir.search_resources("Patient", params)})
        except FhirError as exc:
            if exc.status >= 500:
                raise
            await flash(request, exc.message, "erreur")
    invitations = await _invitations(fhir, user.fhir_user)
    return await render(
        request,
        "clinician/search.html",
        {"q": q, "naissance": born, "results": results, "searched": searched, "invitations": invitations},
    )


async def _invitations(fhir: FhirClient, me: str) -> list[dict[str, Any]]:
    """Care teams a patient proposed me to join (their invitation), with the patient."""
    bundle = await fhir.search(
        "CareTeam", [("participant", me), ("status", "proposed"), ("_include", "CareTeam:subject")]
    )
    patients = {p["id"]: p for p in _of(bundle, "Patient")}
    return [
        {"team": t, "patient": patients.get(ref_id(t.get("subject"), "Patient") or "")}
        for t in _of(bundle, "CareTeam")
    ]


@router.post("/patients/invitations/{team_id}")
async def accept_invitation(request: Request, team_id: str, user: Practitioner, fhir: Fhir) -> Response:
    """Accept (or decline) a patient's invitation; accepting may put the patient under regulation."""
    form = form_dict(await form_data(request))
    team = await fhir.read("CareTeam", team_id)
    mine = any(
        (p.get("member") or {}).get("reference") == user.fhir_user for p in team.get("participant", [])
    )
    if not mine or team.get("status") != "proposed":
        await flash(request, "Cette invitation n'est plus valable.", "erreur")
        return redirect("/patients/recherche")
    if form.get("decision") == "refuser":
        team["status"] = "inactive"
        await fhir.update(team, if_match=_etag(team))
        await flash(request, "Invitation refusée.", "info")
        return redirect("/patients/recherche")
    team["status"] = "active"
    if form.get("regulation") == "oui":
        # the accepting doctor regulates: the FHIR layer routes the patient's requests to them
        # (fhir_server.operations.regulation_rules)
        team.setdefault("category", []).append(
            {"coding": [{"system": CARETEAM_CS, "code": "regulation", "display": "Patient régulé"}]}
        )  # fmt: skip
        for p in team.get("participant", []):
            if (p.get("member") or {}).get("reference") == user.fhir_user:
                p.setdefault("role", []).append(REGULATOR_ROLE)
    await fhir.update(team, if_match=_etag(team))
    patient_id = ref_id(team.get("subject"), "Patient")
    await flash(request, "Patient ajouté à vos patients.", "succes")
    return redirect(f"/patients/{patient_id}" if patient_id else "/patients")


def _etag(resource: dict[str, Any]) -> str:
    return f'W/"{resource.get("meta", {}).get("versionId", "")}"'


# -- new patient --------------------------------------------------------------------------------


@router.get("/patients/nouveau")
async def new_patient_form(request: Request, user: Practitioner) -> Response:
    return await render(request, "clinician/new_patient.html", {"genders": GENDERS})


def patient_resource(values: dict[str, str], me: str) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "active": True,
        "name": [{"use": "official", "family": values["family"], "given": values["given"].split()}],
        "gender": values["gender"],
        "birthDate": values["birthDate"],
        "generalPractitioner": [ref(*me.split("/", 1))],
    }
    nir = normalise(values.get("ins", ""))
    if nir:
        patient["identifier"] = [{"use": "official", "system": INS_NIR, "value": nir}]
    telecom = []
    if values.get("phone"):
        telecom.append({"system": "phone", "value": values["phone"], "use": "mobile"})
    if values.get("email"):
        telecom.append({"system": "email", "value": values["email"]})
    if telecom:
        patient["telecom"] = telecom
    if values.get("city") or values.get("postalCode") or values.get("line"):
        address: dict[str, Any] = {"use": "home", "country": "FR"}
        if values.get("line"):
            address["line"] = [values["line"]]
        if values.get("postalCode"):
            address["postalCode"] = values["postalCode"]
        if values.get("city"):
            address["city"] = values["city"]
        patient["address"] = [address]
    return patient


@router.post("/patients/nouveau")
async def create_patient(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    values = form_dict(await form_data(request))
    values.pop("csrf", None)
    form = FormState(values, check_identity(values))
    if form:
        return await render(
            request, "clinician/new_patient.html", {"genders": GENDERS}, status_code=422, form=form
        )
    resource = patient_resource(values, user.fhir_user)
    nir = normalise(values.get("ins", ""))
    if nir:
        existing = await fhir.search_resources("Patient", {"identifier": f"{INS_NIR}|{nir}"})
        if existing:
            form.error("ins", "Un patient de vos dossiers porte déjà ce matricule INS.")
            return await render(
                request,
                "clinician/new_patient.html",
                {"genders": GENDERS, "existing": existing[0]},
                status_code=409,
                form=form,
            )
    try:
        created = await fhir.create(resource)
    except FhirError as exc:
        if exc.status >= 500:
            raise
        field = _field_of(exc.expressions)
        form.error(field, exc.message)
        return await render(
            request, "clinician/new_patient.html", {"genders": GENDERS}, status_code=exc.status, form=form
        )
    await flash(request, f"Dossier de {human_name(created)} créé.", "succes")
    return redirect(f"/patients/{created['id']}")


def _field_of(expressions: list[str]) -> str:
    """The form field an OperationOutcome's FHIRPath designates (the INS by default)."""
    text = " ".join(expressions)
    for needle, field in (
        ("identifier", "ins"),
        ("birthDate", "birthDate"),
        ("family", "family"),
        ("given", "given"),
        ("gender", "gender"),
        ("telecom", "phone"),
        ("address", "postalCode"),
    ):
        if needle in text:
            return field
    return "family"


@router.post("/patients/invitation")
async def invite_patient(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    """E-mail a patient an invitation to open their account and, from it, to invite this doctor."""
    email = form_dict(await form_data(request)).get("patient_email", "")
    if not EMAIL_RE.match(email):
        await flash(request, "Adresse e-mail du patient invalide.", "erreur")
        return redirect("/patients/recherche")
    portal = portal_of(request)
    body = (
        f"Bonjour,\n\n{user.name} vous propose de vous suivre sur Passerelle (téléconsultation, "
        f"dossier médical partagé).\n\nCréez votre compte patient sur {portal.link_root(request)}/ puis, "
        f"depuis votre espace, invitez {user.name} : vos demandes lui parviendront directement.\n"
    )
    try:
        await send_mail(
            auth_settings(portal.settings.data_dir), email, f"{user.name} vous invite sur Passerelle", body
        )
    except MailError:
        await flash(request, "L'e-mail n'a pas pu être envoyé : réessayez dans un instant.", "erreur")
        return redirect("/patients/recherche")
    await flash(request, f"Invitation envoyée à {email}.", "succes")
    return redirect("/patients/recherche")
