"""Checks of a new patient's identity: names, birth date, and the INS (NIR) with its key."""

from __future__ import annotations

import re
from datetime import date

from fhir_server.identifiers import is_nir, normalise

NAME_RE = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ' -]+$")
PHONE_RE = re.compile(r"^(?:\+33|0)[1-9](?:[ .-]?\d{2}){4}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_identity(values: dict[str, str], today: date | None = None) -> dict[str, str]:
    """Field -> French message, for everything wrong in a new patient's identity."""
    errors: dict[str, str] = {}
    today = today or date.today()
    for field, label in (("family", "Le nom de naissance"), ("given", "Le prénom")):
        value = values.get(field, "")
        if not value:
            errors[field] = f"{label} est obligatoire."
        elif not NAME_RE.match(value) or len(value) > 100:
            errors[field] = f"{label} ne peut contenir que des lettres, espaces, apostrophes et tirets."
    gender = values.get("gender", "")
    if gender not in ("female", "male", "other", "unknown"):
        errors["gender"] = "Choisissez le sexe."
    born: date | None = None
    try:
        born = date.fromisoformat(values.get("birthDate", ""))
    except ValueError:
        errors["birthDate"] = "Date de naissance invalide (jj/mm/aaaa)."
    if born is not None and not (date(1880, 1, 1) <= born <= today):
        errors["birthDate"] = "La date de naissance ne peut pas être dans le futur."
    nir = normalise(values.get("ins", ""))
    if nir:
        problem = check_nir(nir, gender, born)
        if problem:
            errors["ins"] = problem
    phone = values.get("phone", "")
    if phone and not PHONE_RE.match(phone):
        errors["phone"] = "Numéro de téléphone invalide (ex. 06 12 34 56 78)."
    email = values.get("email", "")
    if email and not EMAIL_RE.match(email):
        errors["email"] = "Adresse e-mail invalide."
    postal = values.get("postalCode", "")
    if postal and not re.fullmatch(r"\d{5}", postal):
        errors["postalCode"] = "Code postal invalide (5 chiffres)."
    return errors


def check_nir(nir: str, gender: str, born: date | None) -> str | None:
    """The INS matricule: 15 characters, a correct mod-97 key, and agreeing with sex and birth date."""
    if not re.fullmatch(r"[0-9]{6}[0-9AB][0-9]{8}", nir.upper()):
        return "Le matricule INS (NIR) compte 15 caractères : 13 chiffres (2A/2B pour la Corse) et la clé."
    if not is_nir(nir):
        return "La clé du matricule INS (NIR) est incorrecte : vérifiez le numéro."
    sex = nir[0]
    if gender in ("male", "female") and sex in "12" and sex != ("1" if gender == "male" else "2"):
        return "Le matricule INS ne correspond pas au sexe indiqué (1 = homme, 2 = femme)."
    if born is not None:
        year, month = nir[1:3], int(nir[3:5])
        if year != f"{born.year % 100:02d}":
            return "Le matricule INS ne correspond pas à l'année de naissance."
        if 1 <= month <= 12 and month != born.month:
            return "Le matricule INS ne correspond pas au mois de naissance."
    return None
