"""``$sign-request`` and ``$sign``: the prescriber signs (or cancels) ordonnances with an SMS code.

``POST [base]/$sign-request`` (``prescription`` once per ordonnance, ``action`` = ``sign`` or
``cancel``, ``reason`` for a cancellation) sends a one-time code of 6 digits to the mobile
phone of the prescriber's profile (``Practitioner.telecom``, system ``sms``, or ``phone`` with
use ``mobile``) through the SMS gateway, and answers the ``challenge`` id, its expiry and the
masked phone. ``POST [base]/$sign`` (``challenge``, ``code``) checks the code: unknown
challenge 404, expired 422, already used 409, wrong code 422 with the attempts left (5 in
all, then 429 until a new code is asked for). The code is consumed by one atomic update
inside the same transaction that activates the lines and records the signature, so N
concurrent verifications make exactly one signature, and a failed write leaves the code
unused.

A signature turns every draft line active and adds one Provenance per ordonnance: targets
= its lines, agent = the prescriber (author) and the SMS verification (entity), signature
type "Author's Signature" (ASTM E1762 1.2.840.10065.1.12.1.1) whose ``data`` is a JWS by the
server's signing key (``fhir_server/auth/keys.py``, published in the JWKS) over: the
prescriber and their RPPS, the number, each line's reference and version, the SHA-256 of the
canonical content (:func:`eprescription.canonical`) and the SMS verification. A cancellation
is the same, with activity CANCEL and the lines ``cancelled`` (with ``statusReason``); it is
refused once the ordonnance has been dispensed. Only the prescriber (``requester``) may
sign or cancel. The patient is e-mailed that an ordonnance is available (a link, no health
data), after the commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from datetime import timedelta
from typing import Any

import orjson
from joserfc import jws
from pymongo import ReturnDocument
from starlette.responses import Response

from eprescription import content_hash, display
from fhir_server.errors import FhirError
from fhir_server.identifiers import RPPS_SYSTEM
from fhir_server.operations.prescription_common import (
    PROVENANCE_SIGNATURE,
    SMS_VERIFICATION_SYSTEM,
    Ordonnance,
    caller_practitioner,
    keys_file,
    load,
    parse_number,
    policy_of,
    read_body,
    root_url,
)
from fhir_server.operations.prescription_rules import internal
from fhir_server.operations.registry import Call, Operation, register
from fhir_server.rest.http import fhir_response
from fhir_server.storage.records import fhir_instant, now_ms

CHALLENGES = "rx_sign_challenges"
MAX_ATTEMPTS = 5
MAX_CODES = 10  # codes a prescriber may ask for in RATE_WINDOW
RATE_WINDOW = timedelta(minutes=10)
AUTHOR_SIGNATURE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.1",
    "display": "Author's Signature",
}
ACTIVITY = {
    "sign": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion",
        "code": "LA",
        "display": "legally authenticated",
    },
    "cancel": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
        "code": "CANCEL",
        "display": "cancel",
    },
}
_log = logging.getLogger(__name__)
_indexed: set[str] = set()


def code_ttl() -> timedelta:
    """How long a code is valid: ``PASSERELLE_RX_CODE_TTL`` seconds (5 minutes by default)."""
    raw = os.environ.get("PASSERELLE_RX_CODE_TTL") or "300"
    return timedelta(seconds=int(raw) if raw.isdigit() and int(raw) > 0 else 300)


class _NotConsumed(Exception):
    """The code did not match a usable challenge: the transaction is rolled back."""


def _hash(challenge: str, code: str) -> str:
    return hashlib.sha256(f"{challenge}:{code}".encode()).hexdigest()


def _is_mobile(value: str) -> bool:
    digits = "".join(c for c in value if c.isdigit() or c == "+")
    return digits.startswith(("06", "07", "+336", "+337", "00336", "00337"))


def mobile_phone(*profiles: dict[str, Any] | None) -> str | None:
    """The mobile of the prescriber's profile: ``sms`` first, then a ``phone`` of use ``mobile``,
    then a French mobile number (06/07) among the phones; the Practitioner first, then its roles
    (the portal's "Mon profil" keeps the contact on the professional's profile PractitionerRole)."""
    telecoms = [
        t
        for profile in profiles
        for t in (profile or {}).get("telecom") or []
        if isinstance(t, dict) and t.get("value")
    ]
    for accept in (
        lambda t: t.get("system") == "sms",
        lambda t: t.get("system") == "phone" and t.get("use") == "mobile",
        lambda t: t.get("system") == "phone" and _is_mobile(str(t["value"])),
    ):
        for telecom in telecoms:
            if accept(telecom):
                return str(telecom["value"])
    return None


async def profile_roles(repository: Any, practitioner_ref: str) -> list[dict[str, Any]]:
    out = []
    async for doc in repository.db["PractitionerRole"].find(
        {"s.practitioner": practitioner_ref}, {"j": 1, "d": 1}
    ):
        if not doc.get("d") and doc.get("j"):
            out.append(orjson.loads(bytes(doc["j"])))
    return out


def masked(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    return "•• " * 4 + "".join(digits[-2:]) if len(digits) >= 4 else "••"


def rpps_of(practitioner: dict[str, Any] | None) -> str | None:
    for ident in (practitioner or {}).get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == RPPS_SYSTEM and ident.get("value"):
            return str(ident["value"])
    return None


def _check_state(ordonnance: Ordonnance, action: str) -> None:
    statuses = {str(line.get("status")) for line in ordonnance.lines}
    number = display(ordonnance.number)
    if action == "sign" and statuses != {"draft"}:
        raise FhirError(
            409, "business-rule", f"L'ordonnance n° {number} est déjà signée.", expression=["prescription"]
        )
    if action == "cancel":
        if statuses == {"draft"}:
            raise FhirError(
                409,
                "business-rule",
                f"L'ordonnance n° {number} n'est pas signée : supprimez le brouillon.",
                expression=["prescription"],
            )
        if statuses & {"completed", "stopped"}:
            raise FhirError(
                409,
                "business-rule",
                f"L'ordonnance n° {number} a été délivrée : elle ne peut plus être annulée.",
                expression=["prescription"],
            )
        if not statuses <= {"active", "on-hold"}:
            raise FhirError(
                409,
                "business-rule",
                f"L'ordonnance n° {number} est déjà annulée.",
                expression=["prescription"],
            )


async def _ordonnances(call: Call, numbers: list[str], action: str, session: Any = None) -> list[Ordonnance]:
    """The ordonnances to sign, each one the caller's own and in the right state (404/403/409)."""
    repository = call.request.app.state.repository
    me = caller_practitioner(call)
    policy = policy_of(call)
    found: list[Ordonnance] = []
    for number in numbers:
        ordonnance = await load(repository, number, session)
        if ordonnance is None or (
            policy is not None and me is None
        ):  # only practitioners sign; others learn nothing
            raise FhirError(404, "not-found", f"Aucune ordonnance n° {display(number)} accessible.")
        requester = ordonnance.ref("requester")
        if policy is not None and requester != me:
            if not all(policy.can_read(ordonnance.type, line) for line in ordonnance.lines):
                raise FhirError(404, "not-found", f"Aucune ordonnance n° {display(number)} accessible.")
            raise FhirError(403, "forbidden", "Seul le prescripteur signe ou annule son ordonnance.")
        _check_state(ordonnance, action)
        found.append(ordonnance)
    if len({o.ref("requester") for o in found}) != 1:
        raise FhirError(400, "invalid", "Une signature porte sur les ordonnances d'un seul prescripteur.")
    return found


async def _sign_request(call: Call) -> Response:
    repository = call.request.app.state.repository
    numbers = list(dict.fromkeys(parse_number(v) for v in call.all("prescription")))
    if not numbers:
        parse_number(None)  # the "required" error
    action = str(call.first("action") or "sign")
    if action not in ACTIVITY:
        raise FhirError(400, "invalid", "action vaut sign ou cancel.", expression=["action"])
    reason = str(call.first("reason") or "").strip()
    if action == "cancel" and len(reason) < 3:
        raise FhirError(400, "required", "Motif d'annulation (reason) obligatoire.", expression=["reason"])
    ordonnances = await _ordonnances(call, numbers, action)
    prescriber_ref = ordonnances[0].ref("requester")
    prescriber = await read_body(repository, prescriber_ref)
    if action == "sign" and not rpps_of(prescriber):
        raise FhirError(
            422,
            "business-rule",
            "Le prescripteur doit avoir un numéro RPPS pour signer une ordonnance.",
            expression=["MedicationRequest.requester"],
        )
    phone = mobile_phone(prescriber, *await profile_roles(repository, prescriber_ref))
    if phone is None:
        raise FhirError(
            422,
            "business-rule",
            "Aucun téléphone mobile sur votre profil : ajoutez-le (Mon profil, ou Practitioner.telecom "
            "système sms) pour recevoir le code de signature.",
            expression=["Practitioner.telecom"],
        )
    now = now_ms()
    if repository.db.name not in _indexed:  # the rate look-up below is indexed
        await repository.db[CHALLENGES].create_index(
            [("practitioner", 1), ("created", 1)], name="by_practitioner"
        )
        _indexed.add(repository.db.name)
    recent = await repository.db[CHALLENGES].count_documents(
        {"practitioner": prescriber_ref, "created": {"$gt": now - RATE_WINDOW}}
    )
    if recent >= MAX_CODES:
        raise FhirError(429, "throttled", "Trop de codes demandés : réessayez dans quelques minutes.")
    challenge = secrets.token_urlsafe(18)
    code = f"{secrets.randbelow(10**6):06d}"
    await repository.db[CHALLENGES].insert_one(
        {
            "_id": challenge,
            "practitioner": prescriber_ref,
            "numbers": numbers,
            "action": action,
            "reason": reason,
            "hash": _hash(challenge, code),
            "phone": phone,
            "created": now,
            "expires": now + code_ttl(),
            "attempts": 0,
            "used": False,
        }
    )
    from fhir_server.auth.notify import sms_gateway

    what = "d'annulation" if action == "cancel" else "de signature"
    text = (
        f"Passerelle : code {what} {code} pour {len(numbers)} ordonnance(s). "
        f"Valable {int(code_ttl().total_seconds()) // 60 or 1} minute(s). Ne le communiquez à personne."
    )
    await sms_gateway(keys_file(call.request)).send(phone, text)
    out = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "challenge", "valueString": challenge},
            {"name": "expires", "valueInstant": fhir_instant(now + code_ttl())},
            {"name": "phone", "valueString": masked(phone)},
            {"name": "action", "valueCode": action},
        ],
    }
    return fhir_response(out, call.fmt, 200)


def _jws(call: Call, payload: dict[str, Any]) -> str:
    from fhir_server.auth.keys import ALG, signing_key

    key = signing_key(keys_file(call.request).keys_file)
    data = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return jws.serialize_compact({"alg": ALG, "kid": key.kid, "typ": "JOSE"}, data, key, algorithms=[ALG])


async def _apply(
    call: Call, session: Any, challenge: dict[str, Any], prescriber: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Inside the transaction: the lines' new status and one Provenance per ordonnance."""
    from fhir_server.rest.crud import prepare_resource

    repository = call.request.app.state.repository
    action = challenge["action"]
    ordonnances = await _ordonnances(call, challenge["numbers"], action, session)
    now = now_ms()
    results = []
    for ordonnance in ordonnances:
        written = []
        new_lines = []
        for line in ordonnance.lines:
            new = {k: v for k, v in line.items() if k != "meta"}
            if action == "sign":
                new["status"] = "active"
                new["authoredOn"] = new.get("authoredOn") or fhir_instant(now)
            else:
                new["status"] = "cancelled"
                new["statusReason"] = {"text": challenge["reason"]}
            with internal():
                prepared = prepare_resource(new, ordonnance.type, line["id"])
                version, _ = await repository.update(ordonnance.type, line["id"], prepared, session=session)
            written.append(f"{ordonnance.type}/{line['id']}/_history/{version.version}")
            new_lines.append(new)
        verification = {
            "method": "sms-otp",
            "challenge": challenge["_id"],
            "phone": masked(challenge["phone"]),
            "verified": fhir_instant(now),
        }
        payload = {
            "iss": root_url(call.request),
            "sub": challenge["practitioner"],
            "rpps": rpps_of(prescriber),
            "action": action,
            "prescription": ordonnance.number,
            "targets": written,
            "sha256": content_hash(ordonnance.type, new_lines),
            "amr": ["sms"],
            "verification": verification,
            "iat": int(now.timestamp()),
        }
        token = _jws(call, payload)
        provenance = {
            "resourceType": "Provenance",
            "target": [{"reference": ref.split("/_history/")[0]} for ref in written],
            "recorded": fhir_instant(now),
            "activity": {"coding": [ACTIVITY[action]]},
            "reason": [{"text": challenge["reason"]}] if action == "cancel" else [],
            "agent": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                "code": "author",
                            }
                        ]
                    },
                    "who": {"reference": challenge["practitioner"]},
                }
            ],
            "entity": [
                {
                    "role": "source",
                    "what": {
                        "identifier": {"system": SMS_VERIFICATION_SYSTEM, "value": challenge["_id"]},
                        "display": f"Code SMS vérifié ({masked(challenge['phone'])}) le {fhir_instant(now)}",
                    },
                }
            ],
            "signature": [
                {
                    "type": [AUTHOR_SIGNATURE],
                    "when": fhir_instant(now),
                    "who": {"reference": challenge["practitioner"]},
                    "targetFormat": "application/fhir+json",
                    "sigFormat": "application/jose",
                    "data": base64.b64encode(token.encode()).decode(),
                }
            ],
            "extension": [{"url": PROVENANCE_SIGNATURE, "valueString": ordonnance.number}],
        }
        if not provenance["reason"]:
            provenance.pop("reason")
        created = await repository.create(
            "Provenance", prepare_resource(provenance, "Provenance", None), session=session
        )
        results.append(
            {"ordonnance": ordonnance, "provenance": created.id, "subject": ordonnance.ref("subject")}
        )
    return results


async def _sign(call: Call) -> Response:
    repository = call.request.app.state.repository
    challenge_id = str(call.first("challenge") or "")
    code = str(call.first("code") or "").strip()
    if not challenge_id:
        raise FhirError(400, "required", "Paramètre challenge requis.", expression=["challenge"])
    if not code.isdigit() or len(code) != 6:
        raise FhirError(400, "invalid", "Le code reçu par SMS compte 6 chiffres.", expression=["code"])
    collection = repository.db[CHALLENGES]
    pending = await collection.find_one({"_id": challenge_id})
    me = caller_practitioner(call)
    if pending is None or (policy_of(call) is not None and pending["practitioner"] != me):
        raise FhirError(404, "not-found", "Demande de signature inconnue.", expression=["challenge"])
    prescriber = await read_body(repository, pending["practitioner"])
    digest = _hash(challenge_id, code)

    async def body(session: Any) -> list[dict[str, Any]]:
        now = now_ms()
        taken = await collection.find_one_and_update(
            {
                "_id": challenge_id,
                "used": False,
                "expires": {"$gt": now},
                "attempts": {"$lt": MAX_ATTEMPTS},
                "hash": digest,
            },
            {"$set": {"used": True, "usedAt": now}},
            session=session,
            return_document=ReturnDocument.AFTER,
        )
        if taken is None:
            raise _NotConsumed
        return await _apply(call, session, taken, prescriber)

    try:
        results = await repository.run_transaction(body)
    except _NotConsumed:
        raise await _refusal(collection, challenge_id, digest) from None
    if pending["action"] == "sign":
        await _notify_patients(call, results)
    out = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "signed" if pending["action"] == "sign" else "cancelled",
                "part": [
                    {"name": "prescription", "valueString": r["ordonnance"].number},
                    {"name": "provenance", "valueReference": {"reference": f"Provenance/{r['provenance']}"}},
                ],
            }
            for r in results
        ],
    }
    return fhir_response(out, call.fmt, 200)


async def _refusal(collection: Any, challenge_id: str, digest: str) -> FhirError:
    """Why the code was not taken; a wrong code counts as an attempt."""
    now = now_ms()
    doc = await collection.find_one({"_id": challenge_id})
    if doc is None:
        return FhirError(404, "not-found", "Demande de signature inconnue.", expression=["challenge"])
    if doc.get("used"):
        return FhirError(409, "conflict", "Ce code a déjà été utilisé.", expression=["code"])
    if doc["expires"] <= now:
        return FhirError(422, "expired", "Code expiré : demandez un nouveau code.", expression=["code"])
    if doc.get("attempts", 0) >= MAX_ATTEMPTS:
        return FhirError(429, "lock-error", "Trop d'essais : demandez un nouveau code.", expression=["code"])
    if hmac.compare_digest(doc["hash"], digest):
        return FhirError(409, "conflict", "Ce code a déjà été utilisé.", expression=["code"])
    counted = await collection.find_one_and_update(
        {"_id": challenge_id, "used": False, "attempts": {"$lt": MAX_ATTEMPTS}},
        {"$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )
    left = MAX_ATTEMPTS - (counted or doc)["attempts"] if counted else 0
    if left <= 0:
        return FhirError(429, "lock-error", "Code incorrect : trop d'essais, demandez un nouveau code.",
                         expression=["code"])  # fmt: skip
    return FhirError(422, "invalid", f"Code incorrect : il reste {left} essai(s).", expression=["code"])


async def _notify_patients(call: Call, results: list[dict[str, Any]]) -> None:
    """E-mail each patient that an ordonnance is available (a link only); never fails the signature."""
    from fhir_server.auth.contacts import notification_email
    from fhir_server.auth.notify import MailError, send_mail

    repository = call.request.app.state.repository
    settings = keys_file(call.request)
    for subject in dict.fromkeys(r["subject"] for r in results):
        # a minor's ordonnance: the account holder (fhir_server.auth.contacts), not nobody
        to = await notification_email(repository, subject)
        if to is None:
            continue
        body = (
            "Bonjour,\n\nUne ordonnance signée par votre médecin est disponible dans votre espace "
            f"Passerelle :\n{root_url(call.request)}/mes-ordonnances\n\n"
            "Présentez-la (imprimée ou sur votre téléphone) à votre pharmacie.\n"
        )
        try:
            await send_mail(settings, to, "Ordonnance disponible", body)
        except MailError:
            _log.warning("ordonnance e-mail to %s not sent", subject)


register(
    Operation(
        name="sign-request",
        documentation=(
            "Ordonnances : envoie un code SMS au prescripteur pour signer (action=sign) ou "
            "annuler (action=cancel, reason) les ordonnances `prescription` (numéros). "
            "Réponse : challenge, expires, phone (masqué)."
        ),
        definition="urn:passerelle:OperationDefinition:sign-request",
        levels=frozenset({"system"}),
        handler=_sign_request,
        affects_state=True,
        authorizes_itself=True,
    )
)
register(
    Operation(
        name="sign",
        documentation=(
            "Ordonnances : vérifie le `code` SMS du `challenge` (5 essais, usage unique) puis"
            " active (ou annule) les lignes et enregistre une Provenance signée (JWS du "
            "serveur)."
        ),
        definition="urn:passerelle:OperationDefinition:sign",
        levels=frozenset({"system"}),
        handler=_sign,
        affects_state=True,
        authorizes_itself=True,
    )
)
