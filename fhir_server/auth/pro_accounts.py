"""Professionals without a CPS/e-CPS card: local accounts at a lower assurance level than PSC.

A doctor not yet equipped with an e-CPS signs up with an e-mail address, a password, the
profession (Médecin, TRE_G15 code 10), their RPPS number (11 digits, Luhn key) and a mobile.
The credentials live in the same account store as patients' (:mod:`.accounts`: argon2 in the
bounded pool, lockout, single-use links); the person is a ``Practitioner`` written through
the FHIR repository once the e-mail address and the mobile are both confirmed.

Such a login is authenticated by password + SMS code only, never by the State's card: its
tokens carry ``acr`` = :data:`ACCOUNT_ACR` (Pro Santé Connect gives ``eidas1``), its
AuditEvents say so (:func:`fhir_server.auth.audit.assurance_extension`), its Practitioner is
tagged "RPPS déclaré" (the number is checked for its key and uniqueness, not against the RPPS
directory) and the cross-border service (eHDSI) refuses it.
"""

from __future__ import annotations

import re
from typing import Any

from fhir_server.identifiers import IDNATPS_SYSTEM, RPPS_SYSTEM, is_rpps, normalise

# Assurance levels (the ``acr`` claim): what Pro Santé Connect gives, and what a local account gets.
PSC_ACRS = frozenset({"eidas1", "eidas2", "eidas3"})
ACCOUNT_ACR = "2fa"  # password + SMS code (eIDAS "low" at best): below every PSC level
ASSURANCE_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/identity-assurance"
TERMS_VERSION = "2026-01"
# TRE_G15 professions offered on the sign-up form; only médecins may sign up without a card.
PROFESSIONS = (
    ("10", "Médecin"),
    ("21", "Pharmacien"),
    ("40", "Chirurgien-dentiste"),
    ("50", "Sage-femme"),
    ("60", "Infirmier"),
    ("70", "Masseur-kinésithérapeute"),
)
ALLOWED_PROFESSIONS = frozenset({"10"})
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
ID_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
MOBILE = re.compile(r"^(?:\+33|0)[67]\d{8}$")
MIN_PASSWORD = 10


def is_psc(acr: str | None) -> bool:
    return str(acr or "") in PSC_ACRS


def assurance_label(acr: str | None) -> str:
    if is_psc(acr):
        return f"Pro Santé Connect ({acr})"
    if acr == ACCOUNT_ACR:
        return "Mot de passe + code SMS (niveau inférieur à Pro Santé Connect)"
    return str(acr or "inconnu")


def normalise_mobile(value: str) -> str:
    digits = re.sub(r"[\s.\-()]", "", value or "")
    return digits


class SignupError(ValueError):
    """A refusal of the sign-up form: the French text and the field it is about."""

    def __init__(self, text: str, field: str, status: int = 400) -> None:
        super().__init__(text)
        self.field = field
        self.status = status


def validate(data: dict[str, Any]) -> dict[str, Any]:
    """The sign-up data checked and normalised, or the first :class:`SignupError`."""
    required = (
        ("email", "l'adresse e-mail"),
        ("password", "le mot de passe"),
        ("profession", "la profession"),
        ("rpps", "le numéro RPPS"),
        ("given", "le prénom"),
        ("family", "le nom"),
        ("phone", "le numéro de téléphone mobile"),
    )
    for key, label in required:
        if not str(data.get(key) or "").strip():
            raise SignupError(f"Indiquez {label}.", key)
    email = str(data["email"]).strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise SignupError("Adresse e-mail invalide.", "email")
    if len(str(data["password"])) < MIN_PASSWORD:
        raise SignupError(f"Le mot de passe doit compter au moins {MIN_PASSWORD} caractères.", "password")
    profession = str(data["profession"]).strip()
    if profession not in dict(PROFESSIONS):
        raise SignupError("Choisissez une profession dans la liste.", "profession")
    if profession not in ALLOWED_PROFESSIONS:
        raise SignupError(
            "L'inscription sans carte e-CPS est réservée aux médecins : connectez-vous avec "
            "Pro Santé Connect.",
            "profession",
        )
    rpps = normalise(str(data["rpps"]))
    if not re.fullmatch(r"\d{11}", rpps):
        raise SignupError("Le numéro RPPS compte 11 chiffres.", "rpps")
    if not is_rpps(rpps):
        raise SignupError("Numéro RPPS invalide : la clé de contrôle ne correspond pas.", "rpps")
    phone = normalise_mobile(str(data["phone"]))
    if not MOBILE.fullmatch(phone):
        raise SignupError(
            "Numéro de mobile invalide (06… ou 07…, ou +336… / +337…) : le code de vérification "
            "est envoyé par SMS.",
            "phone",
        )
    if str(data.get("terms") or "") != TERMS_VERSION:
        raise SignupError("Vous devez accepter les conditions générales d'utilisation.", "terms")
    return {
        "email": email,
        "password": str(data["password"]),
        "profession": profession,
        "rpps": rpps,
        "given": str(data["given"]).strip()[:100],
        "family": str(data["family"]).strip()[:100],
        "phone": phone,
        "terms": TERMS_VERSION,
    }


def rpps_identifiers(rpps: str) -> list[str]:
    """The search-index values (``system|value``) under which a Practitioner may carry this RPPS."""
    return [f"{RPPS_SYSTEM}|{rpps}", f"{IDNATPS_SYSTEM}|8{rpps}"]


async def rpps_taken(db: Any, accounts: Any, rpps: str) -> bool:
    """Whether this RPPS already belongs to an account or to a known practitioner (PSC login,
    directory entry): one professional, one account."""
    from fhir_server.auth.practitioners import PROFESSIONALS

    if await accounts.find_one({"rpps": rpps}, {"_id": 1}) is not None:
        return True
    if await db[PROFESSIONALS].find_one({"_id": f"8{rpps}"}, {"_id": 1}) is not None:
        return True
    found = db["Practitioner"].find({"s.identifier": {"$in": rpps_identifiers(rpps)}}, {"d": 1})
    async for doc in found:
        if not doc.get("d"):
            return True
    return False


def practitioner_resource(account: dict[str, Any]) -> dict[str, Any]:
    """The Practitioner of an activated account (FR Core shape; RPPS declared, not from PSC)."""
    return {
        "resourceType": "Practitioner",
        "meta": {
            "tag": [
                {
                    "system": ASSURANCE_SYSTEM,
                    "code": "sans-e-cps",
                    "display": "Compte sans carte e-CPS : RPPS déclaré, identité non vérifiée par PSC",
                }
            ]
        },
        "identifier": [
            {
                "use": "official",
                "type": {"coding": [{"system": ID_TYPE, "code": "RPPS"}]},
                "system": RPPS_SYSTEM,
                "value": account["rpps"],
            }
        ],
        "active": True,
        "name": [{"use": "usual", "family": account["family"], "given": [account["given"]]}],
        "telecom": [
            {"system": "email", "value": account["email"]},
            {"system": "phone", "value": account["phone"], "use": "mobile"},
        ],
        "qualification": [{"code": {"coding": [{"system": G15, "code": account["profession"]}]}}],
    }


def exercices(account: dict[str, Any]) -> list[dict[str, str]]:
    """The token's practice situations: the declared profession only (no structure, no sector)."""
    return [{"profession": str(account.get("profession") or "10"), "declared": "true"}]
