"""Local accounts: credentials live outside FHIR, the person is a Patient (or a Practitioner).

Patients sign up here; so do professionals without a CPS/e-CPS card (``kind`` =
"practitioner", see :mod:`.pro_accounts`), with the same hashing, lockout and single-use links.

Passwords are hashed with argon2id (argon2-cffi defaults). An account must confirm
its e-mail address (a single-use link) before it can log in, and every login needs a
second factor: a 6-digit code sent by SMS, valid 5 minutes, 3 tries. After
``lockout_threshold`` wrong passwords in a row the account is locked for
``lockout_seconds``; the answer is then the same whatever the password, so the lock
cannot be used to guess it. Dependents (ayants droit) are Patients linked to the
account holder by a RelatedPerson; the holder's tokens cover their compartments too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo import ReturnDocument

from fhir_server.auth.ratelimit import in_hash_pool
from fhir_server.auth.store import ACCOUNTS, now

CONFIRM_TTL = timedelta(hours=24)  # the e-mail confirmation link

_hasher = PasswordHasher()
V3_ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
# The insurer's membership number (N° d'adhérent), typed "MB" (member number) in HL7 v2 table 0203.
MEMBER_SYSTEM = "https://passerelle.fr/fhir/sid/adherent"
V2_ID_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
# What a patient agrees to when signing up (Consent.category), each text versioned (Consent.policy).
CONSENT_SYSTEM = "https://passerelle.fr/fhir/CodeSystem/portal-consent"
CONSENT_KINDS = {
    "cgu": "Conditions générales d'utilisation",
    "donnees-sante": "Consentement au traitement des données de santé",
}
POLICY_BASE = "https://passerelle.fr/conditions"
PHONE_TTL = timedelta(minutes=10)
PHONE_TRIES = 3
PHONE_RESEND = timedelta(seconds=20)
ADULT = 18
RELATIONSHIPS = {"PRN": "parent", "GUARD": "tuteur", "SPS": "conjoint", "CHILD": "enfant"}
MIN_PASSWORD = 10
LOCKED = (
    "Compte temporairement verrouillé après plusieurs échecs : "
    "réessayez plus tard ou réinitialisez votre mot de passe."
)


class AccountError(Exception):
    """A refusal shown to the user (French)."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.status = status


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass
class Login:
    account: dict[str, Any]
    ok: bool
    reason: str = ""


def patient_resource(data: dict[str, Any]) -> dict[str, Any]:
    """A Patient from the sign-up form (identity traits as declared, so status PROV in RNIV terms)."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "usual", "family": data["family"], "given": [data["given"]]}],
    }
    if data.get("birthDate"):
        resource["birthDate"] = data["birthDate"]
    if data.get("gender") in ("male", "female", "other", "unknown"):
        resource["gender"] = data["gender"]
    telecom = []
    if data.get("email"):
        telecom.append({"system": "email", "value": data["email"]})
    if data.get("phone"):
        telecom.append({"system": "phone", "value": data["phone"], "use": "mobile"})
    if telecom:
        resource["telecom"] = telecom
    identifiers = []
    if data.get("nir"):
        identifiers.append({"system": "urn:oid:1.2.250.1.213.1.4.8", "value": data["nir"]})
    if data.get("member"):
        identifiers.append(
            {
                "type": {"coding": [{"system": V2_ID_TYPE, "code": "MB", "display": "Member Number"}]},
                "system": MEMBER_SYSTEM,
                "value": data["member"],
            }
        )
    if identifiers:
        resource["identifier"] = identifiers
    if data.get("postalCode") or data.get("city"):
        address = {"use": "home", "country": "FR"}
        if data.get("line"):
            address["line"] = [data["line"]]
        if data.get("postalCode"):
            address["postalCode"] = data["postalCode"]
        if data.get("city"):
            address["city"] = data["city"]
        resource["address"] = [address]
    return resource


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_minor(birth_date: str | None, today: date | None = None) -> bool:
    """Under 18 on ``today`` (an unknown or partial birth date is not taken for a minor's)."""
    try:
        birth = date.fromisoformat(str(birth_date or ""))
    except ValueError:
        return False
    return age_on(birth, today or date.today()) < ADULT


def consent_resource(patient_id: str, kind: str, version: str, when: str) -> dict[str, Any]:
    """The record of one text the patient accepted (terms of use, or processing of health data).

    R4 Consent: ``scope`` patient-privacy, ``category`` our code plus LOINC 59284-0 (consent
    document), ``policy.uri`` names the exact version of the text, ``dateTime`` when it was
    accepted, ``provision.type`` permit without actor (it grants nobody access to the record).
    """
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                    "display": "Privacy Consent",
                }
            ]
        },
        "category": [
            {"coding": [{"system": CONSENT_SYSTEM, "code": kind, "display": CONSENT_KINDS[kind]}]},
            {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Consent Document"}]},
        ],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": when,
        "performer": [{"reference": f"Patient/{patient_id}"}],
        "policy": [{"uri": f"{POLICY_BASE}/{kind}/{version}"}],
        "provision": {"type": "permit"},
    }


def related_person(dependent_id: str, holder: dict[str, Any], relationship: str) -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "active": True,
        "patient": {"reference": f"Patient/{dependent_id}"},
        "relationship": [
            {
                "coding": [
                    {
                        "system": V3_ROLE,
                        "code": relationship,
                        "display": RELATIONSHIPS.get(relationship, relationship),
                    }
                ]
            }
        ],
        "name": [{"family": holder.get("family", ""), "given": [holder.get("given", "")]}],
        "telecom": [{"system": "email", "value": holder["email"]}],
    }


class Accounts:
    """Account operations on the async database handle of the FHIR repository."""

    def __init__(self, db: Any, *, threshold: int, lock_seconds: int) -> None:
        self.coll = db[ACCOUNTS]
        self.threshold = threshold
        self.lock_seconds = lock_seconds

    async def register(
        self, data: dict[str, Any], patient_id: str | None = None, *, extra: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], str]:
        """Create an unconfirmed account; returns it and the confirmation token (sent by e-mail).

        A patient account names its Patient; ``extra`` adds the fields of other kinds (a
        professional's ``kind``, ``rpps``, ``profession``...). The e-mail (and an RPPS) are unique
        indexes: a parallel duplicate raises ``DuplicateKeyError``."""
        token = secrets.token_urlsafe(32)
        hashed = await in_hash_pool(hash_password, data["password"])
        account: dict[str, Any] = {
            "_id": secrets.token_urlsafe(12),
            "email": data["email"].strip().lower(),
            "phone": data["phone"],
            "password": hashed,
            "given": data["given"],
            "family": data["family"],
            "confirmed": False,
            "confirm_token": _digest(token),
            "confirm_expires": now() + CONFIRM_TTL,
            "failures": 0,
            "locked_until": None,
            "created": now(),
        }
        if patient_id is not None:
            account |= {"patient": patient_id, "dependents": []}
        account |= extra or {}
        await self.coll.insert_one(account)
        return account, token

    async def purge_abandoned(self, email: str, **fields: Any) -> None:
        """Forget never-confirmed sign-ups whose link has expired and that hold this e-mail (or
        these fields, e.g. an RPPS), so that an abandoned sign-up blocks no one for ever."""
        clauses = [{"email": email.strip().lower()}, *({k: v} for k, v in fields.items())]
        await self.coll.delete_many({"$or": clauses, "confirmed": False, "confirm_expires": {"$lte": now()}})

    async def renew_confirmation(self, email: str) -> tuple[dict[str, Any], str] | None:
        """A new confirmation link for a still unconfirmed account (the previous one stops working)."""
        token = secrets.token_urlsafe(32)
        account = await self.coll.find_one_and_update(
            {"email": email.strip().lower(), "confirmed": False},
            {"$set": {"confirm_token": _digest(token), "confirm_expires": now() + CONFIRM_TTL}},
        )
        return None if account is None else (account, token)

    async def exists(self, email: str) -> bool:
        return await self.coll.find_one({"email": email.strip().lower()}, {"_id": 1}) is not None

    async def confirm(
        self, token: str, also: dict[str, Any] | None = None, where: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Consume a confirmation link, atomically (of two uses, one wins), before it expires.

        ``also`` is more ``$set`` done in the same step (a professional's mobile check); ``where``
        narrows the accounts the link may confirm (a kind)."""
        return await self.coll.find_one_and_update(
            {
                **(where or {}),
                "confirm_token": _digest(token),
                "$or": [{"confirm_expires": {"$exists": False}}, {"confirm_expires": {"$gt": now()}}],
            },
            {
                "$set": {"confirmed": True, **(also or {})},
                "$unset": {"confirm_token": 1, "confirm_expires": 1},
            },
        )

    async def check_password(self, email: str, password: str) -> Login:
        """Check a password; at most ``threshold`` wrong passwords are ever checked per lock window.

        One atomic update reserves the attempt before argon2 runs (``failures`` < threshold and
        no lock in force, then ``failures`` + 1): of N parallel attempts, only the slots left under
        the threshold are checked, the others are answered "locked" without hashing. The slot
        that reaches the threshold sets the lock. Hashing runs in the bounded pool, off the loop.
        """
        email = email.strip().lower()
        current = now()
        account = await self.coll.find_one_and_update(
            {
                "email": email,
                "failures": {"$not": {"$gte": self.threshold}},  # missing counts as 0
                "$or": [{"locked_until": None}, {"locked_until": {"$lte": current}}],
            },
            {"$inc": {"failures": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if account is None:
            known = await self.coll.find_one({"email": email})
            if known is None:
                # same cost as a real check: no timing oracle on unknown e-mails
                await in_hash_pool(_hasher.hash, password)
                return Login({}, False, "Adresse e-mail ou mot de passe incorrect.")
            return Login(known, False, LOCKED)
        try:
            await in_hash_pool(_hasher.verify, account["password"], password)
        except (VerificationError, InvalidHashError):
            if int(account.get("failures", 0)) >= self.threshold:
                await self.coll.update_one(
                    {"_id": account["_id"]},
                    {"$set": {"failures": 0, "locked_until": now() + timedelta(seconds=self.lock_seconds)}},
                )
                return Login(account, False, LOCKED)
            return Login(account, False, "Adresse e-mail ou mot de passe incorrect.")
        await self.coll.update_one({"_id": account["_id"]}, {"$set": {"failures": 0, "locked_until": None}})
        if not account.get("confirmed"):
            return Login(account, False, "Adresse e-mail non confirmée : suivez le lien reçu par e-mail.")
        if account.get("kind") == "practitioner" and not account.get("practitioner"):
            return Login(
                account,
                False,
                "Inscription non terminée : saisissez le code reçu par SMS après la confirmation de "
                "votre adresse e-mail.",
            )
        return Login(account, True)

    async def start_reset(self, email: str) -> tuple[dict[str, Any], str] | None:
        token = secrets.token_urlsafe(32)
        account = await self.coll.find_one_and_update(
            {"email": email.strip().lower()},
            {"$set": {"reset_token": _digest(token), "reset_expires": now() + timedelta(hours=1)}},
        )
        return None if account is None else (account, token)

    async def reset(self, token: str, password: str) -> dict[str, Any] | None:
        """Set a new password from a reset link; the account, or None for an invalid or expired link."""
        hashed = await in_hash_pool(hash_password, password)
        # consumed atomically: of two uses of one link, one wins
        account = await self.coll.find_one_and_update(
            {"reset_token": _digest(token), "reset_expires": {"$gt": now()}},
            {
                "$set": {
                    "password": hashed,
                    "failures": 0,
                    "locked_until": None,
                    "confirmed": True,
                },
                "$unset": {"reset_token": 1, "reset_expires": 1},
            },
        )
        return account  # type: ignore[no-any-return]

    async def by_patient(self, patient_id: str) -> dict[str, Any] | None:
        return await self.coll.find_one({"patient": patient_id})

    async def new_confirmation(self, email: str) -> tuple[dict[str, Any], str] | None:
        """A fresh confirmation link for an account not confirmed yet (the previous link stops working)."""
        token = secrets.token_urlsafe(32)
        account = await self.coll.find_one_and_update(
            {"email": email.strip().lower(), "confirmed": False},
            {"$set": {"confirm_token": _digest(token)}},
        )
        return None if account is None else (account, token)

    async def start_phone_change(self, account_id: str, phone: str) -> str | None:
        """A single-use 6-digit code for ``phone`` (sent there by SMS): the last one asked replaces
        any earlier one, valid ``PHONE_TTL``, ``PHONE_TRIES`` wrong codes at most. None when a code
        was sent less than ``PHONE_RESEND`` ago (no SMS flooding)."""
        code = f"{secrets.randbelow(10**6):06d}"
        current = now()
        done = await self.coll.update_one(
            {
                "_id": account_id,
                "$or": [
                    {"phone_change": {"$exists": False}},
                    {"phone_change.sent": {"$lte": current - PHONE_RESEND}},
                ],
            },
            {
                "$set": {
                    "phone_change": {
                        "phone": phone,
                        "hash": _digest(f"{account_id}|{phone}|{code}"),
                        "expires": current + PHONE_TTL,
                        "sent": current,
                        "tries": 0,
                    }
                }
            },
        )
        return code if done.modified_count == 1 else None

    async def verify_phone_change(self, account_id: str, code: str) -> tuple[str | None, str]:
        """Consume the code: (the new phone, "") once; (None, why) otherwise.

        One conditional update takes the right code and sets the phone (of N parallel
        submissions, exactly one wins); one conditional increment counts each wrong code.
        """
        pending = await self.coll.find_one({"_id": account_id}, {"phone_change": 1})
        change = (pending or {}).get("phone_change")
        if not change:
            return None, "Aucune validation en cours : demandez un nouveau code."
        phone = str(change["phone"])
        won = await self.coll.find_one_and_update(
            {
                "_id": account_id,
                "phone_change.hash": _digest(f"{account_id}|{phone}|{code.strip()}"),
                "phone_change.expires": {"$gt": now()},
                "phone_change.tries": {"$lt": PHONE_TRIES},
            },
            {"$set": {"phone": phone, "phone_verified": now()}, "$unset": {"phone_change": 1}},
        )
        if won is not None:
            return phone, ""
        counted = await self.coll.find_one_and_update(
            {"_id": account_id, "phone_change.tries": {"$lt": PHONE_TRIES}},
            {"$inc": {"phone_change.tries": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if counted is None:
            return None, "Code déjà utilisé ou trop d'essais : demandez un nouveau code."
        change = counted["phone_change"]
        if change["expires"] <= now():
            return None, "Code expiré : demandez un nouveau code."
        left = PHONE_TRIES - int(change["tries"])
        if left <= 0:
            await self.coll.update_one({"_id": account_id}, {"$unset": {"phone_change": 1}})
            return None, "Code erroné. Trop d'essais : demandez un nouveau code."
        return None, f"Code erroné ({left} essai{'s' if left > 1 else ''} restant{'s' if left > 1 else ''})."

    async def add_dependent(self, account_id: str, patient_id: str, related_id: str) -> None:
        await self.coll.update_one(
            {"_id": account_id}, {"$push": {"dependents": {"patient": patient_id, "related": related_id}}}
        )


EMAIL_RE = re.compile(
    r"[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
POSTAL_RE = re.compile(r"(?!00)\d{5}")
MEMBER_RE = re.compile(r"[A-Za-z0-9]{6,20}")
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,31}")


def mobile_e164(text: str) -> str | None:
    """A mobile number that can receive SMS, in E.164 (+33612345678): French 06/07 numbers in any
    usual spelling (06 12 34 56 78, +33 6…, 0033 6…), or an international +CC number."""
    compact = re.sub(r"[\s.\-()]", "", text or "")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if re.fullmatch(r"0[67]\d{8}", compact):
        return "+33" + compact[1:]
    if compact.startswith("+33"):
        return compact if re.fullmatch(r"\+33[67]\d{8}", compact) else None
    return compact if re.fullmatch(r"\+[1-9]\d{7,14}", compact) else None


def parse_birth_date(text: str, today: date | None = None) -> date | None:
    """A full birth date (YYYY-MM-DD), not in the future and not more than 130 years ago."""
    try:
        birth = date.fromisoformat(text.strip())
    except ValueError:
        return None
    today = today or date.today()
    if len(text.strip()) != 10 or birth > today or birth.year < today.year - 130:
        return None
    return birth


def validate_signup(data: dict[str, Any]) -> None:
    for key, label in (
        ("email", "adresse e-mail"),
        ("password", "mot de passe"),
        ("phone", "téléphone mobile"),
        ("given", "prénom"),
        ("family", "nom"),
    ):
        if not str(data.get(key) or "").strip():
            raise AccountError(f"Champ obligatoire manquant : {label}.")
    if not EMAIL_RE.fullmatch(data["email"]):
        raise AccountError("Adresse e-mail invalide.")
    if len(data["password"]) < MIN_PASSWORD:
        raise AccountError(f"Le mot de passe doit compter au moins {MIN_PASSWORD} caractères.")
    if data.get("birthDate"):
        birth = parse_birth_date(str(data["birthDate"]))
        if birth is None:
            raise AccountError("Date de naissance invalide (AAAA-MM-JJ, dans le passé).")
    if data.get("postalCode") and not POSTAL_RE.fullmatch(str(data["postalCode"])):
        raise AccountError("Code postal invalide : 5 chiffres.")
    if data.get("member") and not MEMBER_RE.fullmatch(str(data["member"])):
        raise AccountError("Numéro d'adhérent invalide : 6 à 20 lettres ou chiffres.")
    for key in ("terms", "healthConsent"):
        if data.get(key) and not VERSION_RE.fullmatch(str(data[key])):
            raise AccountError("Version de texte accepté invalide.")
    if data.get("nir"):
        from fhir_server.identifiers import is_nir, normalise

        if not is_nir(data["nir"]):
            raise AccountError("Numéro de sécurité sociale (NIR) invalide : la clé ne correspond pas.")
        data["nir"] = normalise(data["nir"])
