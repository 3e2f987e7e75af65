"""``/mon-profil``: view and complete the profile of the holder or of a dependent.

Identity and address are the Patient (updated with If-Match, never overwriting a concurrent
change); height and weight are vital-signs Observations, the profession a social-history
Observation, allergies AllergyIntolerance and history Condition, all written with the patient's
token. The mobile number (the holder's: it receives the login codes) changes only once a code sent
to the new number by SMS is typed back (single use, 3 tries, consumed atomically by the
authorization server).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from apps.portal.authserver import call
from apps.portal.fhir import FhirClient, FhirError, version_etag
from apps.portal.patient import health
from apps.portal.patient.people import Person, chosen
from apps.portal.patient.routing import router
from apps.portal.web import Fhir, FormState, PatientUser, flash, form_data, form_dict, redirect, render
from fhir_server.auth.accounts import mobile_e164, parse_birth_date
from fhir_server.storage.records import fhir_instant, now_ms

GENDERS = [("female", "Féminin"), ("male", "Masculin"), ("other", "Autre"), ("unknown", "Non précisé")]
POSTAL_RE = re.compile(r"(?!00)\d{5}")
NUMBER_RE = re.compile(r"\d{1,3}(?:[.,]\d{1,2})?")


def _url(person: Person, path: str = "/mon-profil") -> str:
    return path if person.holder else f"{path}?{urlencode({'patient': person.id})}"


async def _profile(fhir: FhirClient, person: Person) -> dict[str, Any]:
    ref = f"Patient/{person.id}"
    observations = await fhir.search_resources(
        "Observation", {"subject": ref, "code": "http://loinc.org|8302-2,http://loinc.org|29463-7,"
                        "http://loinc.org|11341-5", "_sort": "-date", "_count": "50"}
    )  # fmt: skip
    allergies = await fhir.search_resources("AllergyIntolerance", {"patient": ref, "_count": "100"})
    conditions = await fhir.search_resources("Condition", {"subject": ref, "_count": "100"})
    return {
        "height": health.latest(observations, health.HEIGHT[0]),
        "weight": health.latest(observations, health.WEIGHT[0]),
        "occupation": health.latest(observations, health.OCCUPATION[0]),
        "allergies": [a for a in allergies if _standing(a)],
        "conditions": [c for c in conditions if _standing(c)],
    }


def _standing(resource: dict[str, Any]) -> bool:
    codes = {c.get("code") for c in (resource.get("verificationStatus") or {}).get("coding", [])}
    return "entered-in-error" not in codes


def _mobile(patient: dict[str, Any]) -> str:
    for t in patient.get("telecom") or []:
        if t.get("system") in ("phone", "sms") and t.get("use") == "mobile":
            return str(t.get("value") or "")
    return ""


def _identity_values(person: Person, profile: dict[str, Any]) -> dict[str, str]:
    p = person.resource
    address = (p.get("address") or [{}])[0]
    occupation = profile.get("occupation") or {}
    return {
        "naissance": str(p.get("birthDate") or ""),
        "sexe": str(p.get("gender") or ""),
        "profession": str(occupation.get("valueString") or ""),
        "adresse": " ".join(address.get("line") or []),
        "code_postal": str(address.get("postalCode") or ""),
        "ville": str(address.get("city") or ""),
    }


async def _page(
    request: Request, fhir: FhirClient, person: Person, everyone: list[Person],
    form: FormState | None = None, status: int = 200,
) -> Response:  # fmt: skip
    profile = await _profile(fhir, person)
    state = form or FormState()
    state.values = {**_identity_values(person, profile), **state.values}
    return await render(
        request,
        "patient/profile.html",
        {
            "person": person,
            "people": everyone,
            "profile": profile,
            "mobile": _mobile(person.resource),
            "genders": GENDERS,
            "action": lambda path: _url(person, path),
            "number": lambda value: f"{value:g}".replace(".", ","),
        },
        status_code=status,
        form=state,
    )


@router.get("/mon-profil")
async def profile(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    person, everyone = await chosen(request, fhir, request.query_params.get("patient"))
    return await _page(request, fhir, person, everyone)


def _number(text: str, low: float, high: float) -> float | None:
    text = text.replace(" ", "")
    if not NUMBER_RE.fullmatch(text):
        return None
    value = float(text.replace(",", "."))
    return value if low <= value <= high else None


@router.post("/mon-profil/identite")
async def save_identity(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    person, everyone = await chosen(request, fhir, request.query_params.get("patient"))
    form = FormState(form_dict(await form_data(request)))
    v = form.values
    birth = parse_birth_date(v.get("naissance", "")) if v.get("naissance") else None
    if v.get("naissance") and birth is None:
        form.error("naissance", "Date de naissance invalide : une date passée, au format JJ/MM/AAAA.")
    if v.get("sexe") and v["sexe"] not in dict(GENDERS):
        form.error("sexe", "Sexe inconnu.")
    if v.get("code_postal") and not POSTAL_RE.fullmatch(v["code_postal"]):
        form.error("code_postal", "Code postal invalide : 5 chiffres.")
    if len(v.get("adresse", "")) > 200 or len(v.get("ville", "")) > 100 or len(v.get("profession", "")) > 100:
        form.error("adresse", "Texte trop long.")
    if form:
        return await _page(request, fhir, person, everyone, form, 422)
    patient = dict(person.resource)
    if birth is not None:
        patient["birthDate"] = birth.isoformat()
    if v.get("sexe"):
        patient["gender"] = v["sexe"]
    if v.get("adresse") or v.get("code_postal") or v.get("ville"):
        others = [a for a in patient.get("address") or [] if a.get("use") not in (None, "home")]
        address: dict[str, Any] = {"use": "home", "country": "FR"}
        if v.get("adresse"):
            address["line"] = [v["adresse"]]
        if v.get("code_postal"):
            address["postalCode"] = v["code_postal"]
        if v.get("ville"):
            address["city"] = v["ville"]
        patient["address"] = [address, *others]
    try:
        await fhir.update(patient, if_match=version_etag(person.resource))
    except FhirError as exc:
        text = (
            "Votre profil a été modifié entre-temps : vérifiez les informations et enregistrez à nouveau."
            if exc.status in (409, 412)
            else exc.message
        )
        form.error("naissance", text)
        person.resource = await fhir.read("Patient", person.id)
        return await _page(request, fhir, person, everyone, form, exc.status)
    profile = await _profile(fhir, person)
    before = (profile.get("occupation") or {}).get("valueString") or ""
    if v.get("profession", "") != before and v.get("profession"):
        await fhir.create(
            health.occupation(person.id, user.fhir_user, v["profession"], fhir_instant(now_ms()))
        )
    await flash(request, "Profil enregistré.", "succes")
    return redirect(_url(person))


@router.post("/mon-profil/mesures")
async def save_measures(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    person, everyone = await chosen(request, fhir, request.query_params.get("patient"))
    form = FormState(form_dict(await form_data(request)))
    height = weight = None
    if not form.values.get("taille") and not form.values.get("poids"):
        form.error("taille", "Indiquez la taille, le poids, ou les deux.")
    if form.values.get("taille"):
        height = _number(form.values["taille"], 30, 250)
        if height is None:
            form.error("taille", "Taille invalide : un nombre de centimètres entre 30 et 250 (ex. 172).")
    if form.values.get("poids"):
        weight = _number(form.values["poids"], 1, 350)
        if weight is None:
            form.error("poids", "Poids invalide : un nombre de kilogrammes entre 1 et 350 (ex. 68,5).")
    if form:
        return await _page(request, fhir, person, everyone, form, 422)
    when = fhir_instant(now_ms())
    if height is not None:
        await fhir.create(health.measure(person.id, user.fhir_user, health.HEIGHT, height, when))
    if weight is not None:
        await fhir.create(health.measure(person.id, user.fhir_user, health.WEIGHT, weight, when))
    await flash(request, "Mesures enregistrées.", "succes")
    return redirect(_url(person))


@router.post("/mon-profil/allergies")
async def add_allergy(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    person, everyone = await chosen(request, fhir, request.query_params.get("patient"))
    form = FormState(form_dict(await form_data(request)))
    substance = form.values.get("allergie", "")
    if not substance:
        form.error("allergie", "Indiquez la substance ou l'aliment en cause (ex. pénicilline, arachide).")
    elif len(substance) > 200 or len(form.values.get("reaction", "")) > 200:
        form.error("allergie", "Texte trop long (200 caractères au plus).")
    if form:
        return await _page(request, fhir, person, everyone, form, 422)
    await fhir.create(
        health.allergy(
            person.id, user.fhir_user, substance, form.values.get("reaction", ""), fhir_instant(now_ms())
        )
    )
    await flash(request, "Allergie enregistrée.", "succes")
    return redirect(_url(person))


@router.post("/mon-profil/antecedents")
async def add_condition(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    person, everyone = await chosen(request, fhir, request.query_params.get("patient"))
    form = FormState(form_dict(await form_data(request)))
    text = form.values.get("antecedent", "")
    year = form.values.get("depuis", "")
    if not text:
        form.error("antecedent", "Décrivez l'antécédent (maladie, opération…).")
    elif len(text) > 200:
        form.error("antecedent", "Texte trop long (200 caractères au plus).")
    if year and (not year.isdigit() or len(year) != 4 or not 1900 <= int(year) <= date.today().year):
        form.error("depuis", f"Année invalide : 4 chiffres, entre 1900 et {date.today().year}.")
    if form:
        return await _page(request, fhir, person, everyone, form, 422)
    await fhir.create(health.condition(person.id, user.fhir_user, text, year, fhir_instant(now_ms())))
    await flash(request, "Antécédent enregistré.", "succes")
    return redirect(_url(person))


# -- mobile phone, validated by a code sent to it --------------------------------------------


@router.post("/mon-profil/mobile")
async def start_mobile(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    person, everyone = await chosen(request, fhir, None)
    form = FormState(form_dict(await form_data(request)))
    phone = mobile_e164(form.values.get("mobile", ""))
    if phone is None:
        form.error("mobile", "Numéro de mobile invalide (ex. 06 12 34 56 78).")
        return await _page(request, fhir, person, everyone, form, 422)
    answer = await call(request, "/auth/patients/phone", {"phone": phone}, token=True)
    if not answer.ok:
        form.error("mobile", answer.message or "Envoi du code impossible : réessayez.")
        return await _page(
            request, fhir, person, everyone, form, answer.status if answer.status < 500 else 503
        )
    await flash(request, "Un code vient d'être envoyé par SMS au nouveau numéro.", "info")
    return redirect(f"/mon-profil/mobile?{urlencode({'numero': phone})}")


@router.get("/mon-profil/mobile")
async def mobile_code_form(request: Request, user: PatientUser) -> Response:
    return await render(
        request, "patient/mobile_code.html", {"phone": request.query_params.get("numero", "")}
    )


@router.post("/mon-profil/mobile/code")
async def verify_mobile(request: Request, user: PatientUser) -> Response:
    form = FormState(form_dict(await form_data(request)))
    code = form.values.get("code", "")
    if not re.fullmatch(r"\d{6}", code):
        form.error("code", "Le code reçu par SMS compte 6 chiffres.")
    else:
        answer = await call(request, "/auth/patients/phone/verify", {"code": code}, token=True)
        if answer.ok:
            await flash(
                request, "Numéro de mobile validé : il recevra désormais vos codes de connexion.", "succes"
            )
            return redirect("/mon-profil")
        form.error("code", answer.message or "Validation impossible : réessayez.")
    return await render(
        request,
        "patient/mobile_code.html",
        {"phone": form.values.get("numero", "")},
        status_code=422,
        form=form,
    )
