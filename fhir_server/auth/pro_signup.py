"""Sign-up of professionals without a CPS/e-CPS card, on the authorization server.

``POST /auth/professionals`` (JSON or form: the portal's sign-up screen calls it) checks the
form (:func:`.pro_accounts.validate`: Médecin, RPPS with its Luhn key and not already anyone's,
mobile, terms) and creates an unconfirmed account, then e-mails a confirmation link (24 h,
single use; ``POST /auth/professionals/confirm/resend`` sends a new one and voids the old).
The link opens a page whose button (a POST: mail scanners that follow links consume nothing)
consumes it and sends a 6-digit code to the mobile; the code (5 minutes, 3 tries, single use,
``/auth/professionals/phone/resend`` for a new one) activates the account: its Practitioner is
written through the FHIR repository, like the ones PSC logins write. The account then logs in
on the authorization server's login page with e-mail, password and an SMS code.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from pymongo.errors import DuplicateKeyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from fhir_server.auth import audit, otp, pages, pro_accounts
from fhir_server.auth.links import public_root
from fhir_server.auth.notify import MailError, send_mail, sms_gateway
from fhir_server.auth.store import ACCOUNTS, now

log = logging.getLogger("passerelle.auth")
CONFIRM_PATH = "/auth/professionals/confirm"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _error(text: str, status: int, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": "invalid_request", "error_description": text}
    if field:
        body["field"] = field
    return JSONResponse(body, status, headers={"Cache-Control": "no-store"})


def _bad_body(text: str) -> JSONResponse:
    return _error(text, 400)


class ProfessionalSignup:
    """The sign-up routes; ``owner`` is the :class:`fhir_server.auth.routes.AuthRoutes` (its
    database, repository, rate limits, audit and account store)."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner

    @property
    def coll(self) -> Any:
        return self.owner.db[ACCOUNTS]

    async def _mail_link(self, request: Request, email: str, token: str) -> None:
        from urllib.parse import urlencode

        link = f"{public_root(request, self.owner.auth)}{CONFIRM_PATH}?{urlencode({'token': token})}"
        await send_mail(
            self.owner.auth,
            email,
            "Confirmez votre adresse e-mail — Passerelle (professionnel de santé)",
            "Bonjour,\n\nPour confirmer votre adresse et poursuivre votre inscription sur Passerelle, "
            f"ouvrez ce lien (valable 24 heures, utilisable une seule fois) :\n{link}\n\n"
            "Un code de vérification vous sera ensuite envoyé par SMS.\n"
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n",
        )

    # -- 1. the form -----------------------------------------------------------------------

    async def register(self, request: Request) -> Response:
        raw = await self.owner.throttled_json(request, _bad_body)
        if isinstance(raw, Response):
            return raw
        try:
            data = pro_accounts.validate(raw)
        except pro_accounts.SignupError as exc:
            return _error(str(exc), exc.status, exc.field)
        await run_in_threadpool(self.owner._sync_db)  # the unique indexes (e-mail, RPPS) exist
        accounts = self.owner.accounts()
        await accounts.purge_abandoned(data["email"], rpps=data["rpps"])
        if await accounts.exists(data["email"]):
            return _error("Un compte existe déjà pour cette adresse e-mail.", 409, "email")
        if await pro_accounts.rpps_taken(self.owner.db, self.coll, data["rpps"]):
            return _error(
                "Ce numéro RPPS est déjà associé à un compte ou à un professionnel connecté avec "
                "Pro Santé Connect.",
                409,
                "rpps",
            )
        extra = {
            "kind": "practitioner",
            "rpps": data["rpps"],
            "profession": data["profession"],
            "terms": {"version": data["terms"], "accepted": now()},
        }
        try:
            account, token = await accounts.register(data, extra=extra)
        except DuplicateKeyError:
            # a parallel sign-up took the e-mail or the RPPS between the checks and the insert
            return _error("Un compte existe déjà pour cette adresse e-mail ou ce numéro RPPS.", 409)
        who = {"identifier": {"system": "urn:passerelle:account", "value": account["_id"]}}
        await self.owner.record(
            audit.security_event(
                who=who,
                source_ip=self.owner.ip(request),
                description=f"Inscription professionnel sans e-CPS (RPPS {data['rpps']}, CGU "
                f"{data['terms']} acceptées) : e-mail de confirmation envoyé",
                assurance=pro_accounts.ACCOUNT_ACR,
            )
        )
        try:
            await self._mail_link(request, data["email"], token)
        except MailError:
            log.exception("confirmation e-mail not sent")
            return _error("Envoi de l'e-mail impossible : réessayez (« renvoyer le lien »).", 503)
        return JSONResponse(
            {
                "message": "Compte créé : un lien de confirmation vient d'être envoyé par e-mail.",
                "email": data["email"],
            },
            201,
        )

    async def resend(self, request: Request) -> Response:
        data = await self.owner.throttled_json(request, _bad_body)
        if isinstance(data, Response):
            return data
        email = str(data.get("email") or "").strip().lower()
        found = await self.owner.accounts().renew_confirmation(email) if email else None
        if found is not None and found[0].get("kind") == "practitioner":
            try:
                await self._mail_link(request, email, found[1])
            except MailError:
                log.exception("confirmation e-mail not sent")
                return _error("Envoi de l'e-mail impossible : réessayez.", 503)
        # the same answer whether the address is known, confirmed or not (no account oracle)
        return JSONResponse(
            {"message": "Si une inscription attend sa confirmation à cette adresse, un nouveau lien "
             "vient d'être envoyé (le précédent ne fonctionne plus)."},
            202,
        )  # fmt: skip

    # -- 2. the e-mail link, then the SMS code ---------------------------------------------------

    async def confirm_page(self, request: Request) -> Response:
        return HTMLResponse(pages.pro_confirm(request.query_params.get("token", "")))

    async def confirm(self, request: Request) -> Response:
        refused = await self.owner.throttled(request)
        if refused is not None:
            return refused
        form = await request.form()
        ticket = secrets.token_urlsafe(24)
        code = otp.new_code()
        account = await self.owner.accounts().confirm(
            str(form.get("token", "")),
            also={"phone_ticket": _digest(ticket), "phone_otp": otp.pending(ticket, code)},
            where={"kind": "practitioner"},
        )
        if account is None or account.get("kind") != "practitioner":
            return HTMLResponse(pages.pro_link_invalid(), 400)
        await sms_gateway(self.owner.auth).send(
            account["phone"], f"Passerelle : votre code de vérification est {code} (valable 5 minutes)."
        )
        return HTMLResponse(pages.pro_phone(ticket, account["phone"]))

    async def resend_code(self, request: Request) -> Response:
        refused = await self.owner.throttled(request)
        if refused is not None:
            return refused
        form = await request.form()
        ticket = str(form.get("ticket", ""))
        code = otp.new_code()
        account = await self.coll.find_one_and_update(
            {"phone_ticket": _digest(ticket), "kind": "practitioner"} if ticket else {"_id": None},
            {"$set": {"phone_otp": otp.pending(ticket, code)}},
        )
        if account is None:
            return HTMLResponse(pages.pro_link_invalid(), 400)
        await sms_gateway(self.owner.auth).send(
            account["phone"], f"Passerelle : votre code de vérification est {code} (valable 5 minutes)."
        )
        info = "Un nouveau code vient d'être envoyé."
        return HTMLResponse(pages.pro_phone(ticket, account["phone"], info=info))

    async def verify_phone(self, request: Request) -> Response:
        refused = await self.owner.throttled(request)
        if refused is not None:
            return refused
        form = await request.form()
        ticket = str(form.get("ticket", ""))
        if not ticket:
            return HTMLResponse(pages.pro_link_invalid(), 400)
        query = {"phone_ticket": _digest(ticket), "kind": "practitioner"}
        result = await otp.redeem(
            self.coll, query, "phone_otp", ticket, str(form.get("code", "")),
            on_success={"$set": {"phone_verified": True}, "$unset": {"phone_ticket": 1}},
        )  # fmt: skip
        if not result.ok:
            if result.seen is None and not result.tries:
                return HTMLResponse(
                    pages.pro_code_expired(ticket if await self.coll.find_one(query, {"_id": 1}) else ""),
                    400,
                )
            phone = (result.seen or {}).get("phone", "")
            if result.exhausted:
                return HTMLResponse(pages.pro_code_expired(ticket, "Trop d'essais."), 401)
            return HTMLResponse(pages.pro_phone(ticket, phone, error="Code erroné."), 401)
        account = result.doc
        assert account is not None
        pid = await self._activate(request, account)
        if pid is None:
            text = "Votre compte n'a pas pu être activé : contactez le support."
            return HTMLResponse(pages.message("Inscription impossible", text), 409)
        return HTMLResponse(pages.pro_done(account["given"], account["family"]))

    async def _activate(self, request: Request, account: dict[str, Any]) -> str | None:
        """Write the Practitioner (through the FHIR repository) and link it to the account; audit."""
        repository = self.owner.repository
        version = await repository.create("Practitioner", pro_accounts.practitioner_resource(account))
        linked = await self.coll.find_one_and_update(
            {"_id": account["_id"], "practitioner": {"$exists": False}},
            {"$set": {"practitioner": version.id}},
        )
        if linked is None:  # never twice: the code was consumed once, but be strict
            await repository.delete("Practitioner", version.id)
            return None
        ref = f"Practitioner/{version.id}"
        who = {"reference": ref}
        await self.owner.record_writes(request, who, [("create", ref)], pro_accounts.ACCOUNT_ACR)
        await self.owner.record(
            audit.security_event(
                who=who,
                source_ip=self.owner.ip(request),
                description="Inscription terminée (compte sans carte e-CPS) : adresse e-mail confirmée, "
                f"mobile vérifié par code SMS, CGU {account.get('terms', {}).get('version', '')} acceptées",
                assurance=pro_accounts.ACCOUNT_ACR,
            )
        )
        return str(version.id)

    def routes(self) -> list[Route]:
        return [
            Route("/auth/professionals", self.register, methods=["POST"]),
            Route("/auth/professionals/confirm/resend", self.resend, methods=["POST"]),
            Route(CONFIRM_PATH, self.confirm_page, methods=["GET"]),
            Route(CONFIRM_PATH, self.confirm, methods=["POST"]),
            Route("/auth/professionals/phone", self.verify_phone, methods=["POST"]),
            Route("/auth/professionals/phone/resend", self.resend_code, methods=["POST"]),
        ]
