"""HTTP routes of the authorization server, mounted at the server root by ``passerelle serve``.

``/.well-known/smart-configuration`` (also served under ``/fhir``), ``/auth/authorize``
(login page: professionals through Pro Santé Connect, patients with e-mail, password
and an SMS code), ``/auth/token``, ``/auth/revoke``, ``/auth/introspect``,
``/auth/jwks``, patient accounts under ``/auth/patients``, and the development PSC
look-alike under ``/dev-psc`` when enabled. OAuth endpoints answer OAuth2 error JSON;
pages answer French HTML.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import OAuth2Error
from pymongo.errors import DuplicateKeyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fhir_server.auth import audit, otp, pages, pro_accounts, psc
from fhir_server.auth.accounts import (
    RELATIONSHIPS,
    AccountError,
    Accounts,
    consent_resource,
    is_minor,
    mobile_e164,
    parse_birth_date,
    patient_resource,
    related_person,
    validate_signup,
)
from fhir_server.auth.clients import find_client
from fhir_server.auth.devpsc import DevPsc
from fhir_server.auth.eligibility import FAQ_REASONS, Rules, evaluate
from fhir_server.auth.guard import verify_bearer
from fhir_server.auth.keys import public_jwks
from fhir_server.auth.links import public_root
from fhir_server.auth.models import AuthUser
from fhir_server.auth.notify import MailError, send_mail, sms_gateway
from fhir_server.auth.practitioners import practice_situations, upsert_professional
from fhir_server.auth.pro_signup import ProfessionalSignup
from fhir_server.auth.ratelimit import LoginThrottle
from fhir_server.auth.relationships import cares_for
from fhir_server.auth.server import PasserelleAuthorizationServer, ascii_text
from fhir_server.auth.server import Request as OAuthRequest
from fhir_server.auth.settings import AuthSettings, auth_settings
from fhir_server.auth.smart import smart_document
from fhir_server.auth.store import ACCOUNTS, LAUNCHES, SESSIONS, ensure_indexes, now, sync_db
from fhir_server.config import Settings
from fhir_server.errors import FhirError
from fhir_server.rest.http import ID_RE
from fhir_server.storage.records import fhir_instant, now_ms

log = logging.getLogger("passerelle.auth")

OTP_TTL = timedelta(minutes=5)
LAUNCH_TTL = timedelta(minutes=10)
LOGIN_COOKIE = "passerelle_login"
MAX_ISSUERS = 8  # authorization servers kept per Host header seen (PASSERELLE_ISSUER pins one)
OTP_TRIES = 3


def root_url(request: Request, settings: AuthSettings | None = None) -> str:
    if settings is not None and settings.issuer:
        return settings.issuer.rstrip("/")
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": ascii_text(description)},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _authlib_response(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    hdrs = {k: v for k, v in headers}
    if status in (301, 302, 303) and "Location" in hdrs:
        return RedirectResponse(hdrs["Location"], status_code=303)
    hdrs.pop("Content-Type", None)
    hdrs["Cache-Control"] = "no-store"
    return JSONResponse(body, status_code=status, headers=hdrs)


def _invalid_request(description: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "error_description": description}, 400)


def mail_unavailable() -> JSONResponse:
    """503 when the SMTP server did not take an account e-mail (the user may try again)."""
    return oauth_error("temporarily_unavailable", "Envoi de l'e-mail impossible : réessayez.", 503)


def _account_error(error: str, description: str, status: int = 400) -> JSONResponse:
    """A refusal of the patient-account routes: French text as is (shown to the user by the portal)."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def account_who(account: dict[str, Any]) -> dict[str, Any]:
    """The AuditEvent ``agent.who`` of a local account: its Patient, its Practitioner once it has
    one, else the account itself."""
    if account.get("patient"):
        return {"reference": f"Patient/{account['patient']}"}
    if account.get("practitioner"):
        return {"reference": f"Practitioner/{account['practitioner']}"}
    return {"identifier": {"system": "urn:passerelle:account", "value": str(account.get("_id"))}}


class AuthRoutes:
    """The authorization server's routes for one ``passerelle serve`` process."""

    def __init__(self, settings: Settings, fhir_app: Any) -> None:
        self.settings = settings
        self.auth = auth_settings(settings.data_dir)
        self.fhir = fhir_app
        self.rules = Rules.load(self.auth.eligibility_file)
        self.devpsc = DevPsc(self.auth) if self.auth.dev_psc else None
        self._servers: dict[str, PasserelleAuthorizationServer] = {}
        self.throttle = LoginThrottle(
            self.auth.login_rate_ip, self.auth.login_rate_account, self.auth.login_rate_window
        )
        self._indexed = False

    # -- plumbing -------------------------------------------------------------------------

    @property
    def repository(self) -> Any:
        return self.fhir.state.repository

    @property
    def db(self) -> Any:
        return self.repository.db

    def _sync_db(self) -> Any:
        assert self.settings.mongodb_uri is not None
        db = sync_db(self.settings.mongodb_uri, self.settings.database)
        if not self._indexed:
            ensure_indexes(db)
            self._indexed = True
        return db

    async def server(self, request: Request) -> PasserelleAuthorizationServer:
        issuer = root_url(request, self.auth)
        server = self._servers.get(issuer)
        if server is None:
            db = await run_in_threadpool(self._sync_db)
            server = PasserelleAuthorizationServer(db, self.auth, issuer)
            if len(self._servers) >= MAX_ISSUERS:
                self._servers.pop(next(iter(self._servers)))
            self._servers[issuer] = server
        return server

    async def oauth_request(
        self, request: Request, query: list[tuple[str, str]] | None = None, path: str | None = None
    ) -> OAuthRequest:
        form: list[tuple[str, str]] = []
        if request.method == "POST" and query is None:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith("application/x-www-form-urlencoded") or ctype.startswith("multipart/"):
                form = [(k, str(v)) for k, v in (await request.form()).multi_items()]
        if query is None:
            query = list(request.query_params.multi_items())
        query = [(str(k), str(v)) for k, v in query]  # stored sessions give lists back
        uri = root_url(request, self.auth) + (path or request.url.path)
        if query and request.method == "GET":
            uri += "?" + urlencode(query)
        headers = {k.title(): v for k, v in request.headers.items()}
        return OAuthRequest("GET" if path else request.method, uri, headers, query, form)

    def ip(self, request: Request) -> str | None:
        return request.client.host if request.client else None

    async def throttled(
        self, request: Request, account: str | None = None, page: bool = True
    ) -> Response | None:
        """429 with ``Retry-After`` when this IP (or this account) has tried too often: checked
        before any password hashing, so a flood of logins costs the server nothing."""
        wait = self.throttle.check(self.ip(request), account)
        if not wait:
            return None
        await self.record(
            audit.login_event(
                success=False,
                who={"display": (account or "anonyme")[:200]},
                source_ip=self.ip(request),
                description="Trop de tentatives : limite de débit atteinte",
            )
        )
        text = f"Trop de tentatives : réessayez dans {wait} secondes."
        headers = {"Retry-After": str(wait), "Cache-Control": "no-store"}
        if page:
            return HTMLResponse(pages.message("Trop de tentatives", text), 429, headers=headers)
        return JSONResponse({"error": "slow_down", "error_description": text}, 429, headers=headers)

    async def record(self, event: dict[str, Any]) -> None:
        if self.auth.audit:
            await audit.record(self.repository, event)

    async def record_writes(
        self,
        request: Request,
        who: dict[str, Any],
        writes: list[tuple[str, str]],
        assurance: str | None = None,
    ) -> None:
        """AuditEvents for the resources the login and account flows write outside the REST layer."""
        for interaction, ref in writes:
            await self.record(
                audit.rest_event(
                    interaction=interaction,
                    status=201 if interaction == "create" else 200,
                    who=who,
                    client_id=None,
                    source_ip=self.ip(request),
                    entities=[ref],
                    patients=[ref.split("/", 1)[1]] if ref.startswith("Patient/") else [],
                    assurance=assurance,
                )
            )

    # -- discovery ------------------------------------------------------------------------

    async def smart_configuration(self, request: Request) -> Response:
        return JSONResponse(smart_document(root_url(request, self.auth)))

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(public_jwks(self.auth.keys_file))

    # -- authorization endpoint ---------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        if request.method == "POST":
            query = [(k, str(v)) for k, v in (await request.form()).multi_items()]
        else:
            query = list(request.query_params.multi_items())
        server = await self.server(request)
        req = await self.oauth_request(request, query, "/auth/authorize")
        try:
            grant = await run_in_threadpool(server.get_consent_grant, req)
        except OAuth2Error as exc:
            return self._authorize_error(exc)
        params = dict(query)
        if params.get("aud", "").rstrip("/") != server.fhir_base:
            wrong_aud = OAuth2Error(description=ascii_text(f"Paramètre aud attendu : {server.fhir_base}"))
            wrong_aud.error = "invalid_request"
            wrong_aud.redirect_uri = grant.redirect_uri
            wrong_aud.state = params.get("state")
            return self._authorize_error(wrong_aud)
        sid = secrets.token_urlsafe(24)
        await self.db[SESSIONS].insert_one(
            {"_id": sid, "query": query, "expires": now() + timedelta(minutes=15)}
        )
        name = grant.client.doc.get("name", grant.client.get_client_id())
        response = HTMLResponse(pages.login(sid, name, psc=self._psc_available()))
        response.set_cookie(
            LOGIN_COOKIE,
            sid,
            max_age=900,
            path="/auth",
            httponly=True,
            samesite="lax",
            secure=root_url(request, self.auth).startswith("https:"),
        )
        return response

    def _psc_available(self) -> bool:
        return bool(self.auth.psc_discovery_url or self.auth.dev_psc)

    @staticmethod
    def _authorize_error(exc: OAuth2Error) -> Response:
        redirect_uri = getattr(exc, "redirect_uri", None)
        description = exc.description or exc.error or "invalid_request"
        if redirect_uri:
            params = {"error": exc.error or "invalid_request", "error_description": description}
            if exc.state:
                params["state"] = exc.state
            sep = "&" if "?" in redirect_uri else "?"
            return RedirectResponse(f"{redirect_uri}{sep}{urlencode(params)}", status_code=303)
        return oauth_error(exc.error or "invalid_request", description)

    async def _session(self, request: Request, sid: str | None) -> dict[str, Any] | None:
        """The pending authorization, only in the browser that started it (login-CSRF protection)."""
        if not sid or request.cookies.get(LOGIN_COOKIE) != sid:
            return None
        doc = await self.db[SESSIONS].find_one({"_id": sid})
        if doc is None or doc["expires"] <= now():
            return None
        return doc

    async def _logged_in(
        self, request: Request, session: dict[str, Any], user: AuthUser, description: str
    ) -> Response:
        """A successful login: audit it, then go on to the consent page."""
        await self.record(
            audit.login_event(
                success=True,
                who={"reference": user.fhir_user},
                source_ip=self.ip(request),
                description=description,
                assurance=user.acr,
            )
        )
        return await self._complete(request, session, user)

    async def _complete(self, request: Request, session: dict[str, Any], user: AuthUser) -> Response:
        """The user is authenticated: ask them to approve what the app requests (consent page)."""
        await self.db[SESSIONS].update_one(
            {"_id": session["_id"]}, {"$set": {"user": user.to_doc()}, "$unset": {"otp": 1, "psc": 1}}
        )
        params = dict(session["query"])
        scope = params.get("scope", "").split()
        if (
            user.kind == "practitioner"
            and "launch/patient" in scope
            and not params.get("launch")
            and not user.patient
        ):
            # Standalone launch by a professional: the patient is chosen here (patient picker).
            return HTMLResponse(pages.patient_picker(session["_id"]))
        name = await self._client_name(session)
        return HTMLResponse(pages.consent(session["_id"], name, params.get("scope", ""), user.name or ""))

    async def pick_patient(self, request: Request) -> Response:
        form = await request.form()
        session = await self._session(request, str(form.get("session", "")))
        if session is None or "user" not in session:
            return HTMLResponse(pages.message("Session expirée", "Recommencez depuis l'application."), 400)
        raw = str(form.get("patient", "")).strip().removeprefix("Patient/")
        found = await self.repository.read("Patient", raw) if ID_RE.fullmatch(raw) else None
        user = AuthUser.from_doc(session["user"])
        if (
            found is None
            or found.deleted
            or not await cares_for(self.repository.db, user.fhir_user, user.exercices, raw)
        ):
            # a patient the professional does not care for is answered like an unknown one
            return HTMLResponse(pages.patient_picker(session["_id"], "Patient introuvable."), 404)
        user.patient = raw
        return await self._complete(request, session, user)

    async def consent(self, request: Request) -> Response:
        form = await request.form()
        session = await self._session(request, str(form.get("session", "")))
        if session is None or "user" not in session:
            return HTMLResponse(pages.message("Session expirée", "Recommencez depuis l'application."), 400)
        user = AuthUser.from_doc(session["user"])
        if form.get("decision") != "autoriser":
            await self.db[SESSIONS].delete_one({"_id": session["_id"]})
            client_id = dict(session["query"]).get("client_id")
            await self.record(
                audit.login_event(
                    success=False,
                    who={"reference": user.fhir_user} if user.fhir_user else {"display": user.subject},
                    source_ip=self.ip(request),
                    description="Autorisation refusée par l'utilisateur",
                    client_id=client_id,
                )
            )
            return self._denied(session)
        # the approval is single-use: of two parallel submissions, one gets the code
        claimed = await self.db[SESSIONS].find_one_and_delete(
            {"_id": session["_id"], "user": {"$exists": True}}
        )
        if claimed is None:
            return HTMLResponse(pages.message("Session expirée", "Recommencez depuis l'application."), 400)
        return await self._issue_code(request, claimed, user)

    @staticmethod
    def _denied(session: dict[str, Any]) -> Response:
        """The app's redirect with ``error=access_denied`` (the user refused)."""
        params = dict(session["query"])
        query = {"error": "access_denied", "error_description": "Refus de l'utilisateur"}
        if params.get("state"):
            query["state"] = params["state"]
        uri = params.get("redirect_uri", "")
        return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}", status_code=303)

    async def _issue_code(self, request: Request, session: dict[str, Any], user: AuthUser) -> Response:
        """Issue the authorization code to the app for this logged-in user."""
        server = await self.server(request)
        query = session["query"]
        params = dict(query)
        scope = params.get("scope", "").split()
        if params.get("launch"):
            launch = await self._use_launch(str(params["launch"]), user, str(params.get("client_id", "")))
            if launch is None:
                await self.db[SESSIONS].delete_one({"_id": session["_id"]})
                return self._launch_refused(params)
            user.patient = launch.get("patient") or user.patient
            user.encounter = launch.get("encounter")
        if user.kind == "patient" and ("launch/patient" in scope or "launch" in scope) and user.patients:
            user.patient = user.patient or user.patients[0]
        req = await self.oauth_request(request, query, "/auth/authorize")

        def run() -> tuple[int, Any, list[tuple[str, str]]]:
            grant = server.get_consent_grant(req, end_user=user)
            return server.create_authorization_response(req, grant_user=user, grant=grant)

        try:
            status, body, headers = await run_in_threadpool(run)
        except OAuth2Error as exc:
            return self._authorize_error(exc)
        await self.db[SESSIONS].delete_one({"_id": session["_id"]})
        return _authlib_response(status, body, headers)

    async def _use_launch(self, launch_id: str, user: AuthUser, client_id: str) -> dict[str, Any] | None:
        """The launch context, consumed: only by the professional who created it, for the app it
        was created for, before it expires (10 min), once. Never for a patient user (a patient's
        context is their own record). One atomic find-and-delete: two uses cannot both win."""
        if user.kind != "practitioner" or not user.fhir_user:
            return None
        doc: dict[str, Any] | None = await self.db[LAUNCHES].find_one_and_delete(
            {"_id": launch_id, "by": user.fhir_user, "client_id": client_id, "expires": {"$gt": now()}}
        )
        return doc

    def _launch_refused(self, params: dict[str, Any]) -> Response:
        """``invalid_request`` back to the app (the launch is unknown, used, expired or not theirs)."""
        text = "Contexte de lancement invalide, expiré, déjà utilisé ou non destiné à vous."
        error = OAuth2Error(description=ascii_text(text))
        error.error = "invalid_request"
        error.redirect_uri = params.get("redirect_uri")
        error.state = params.get("state")
        return self._authorize_error(error)

    # -- professionals (Pro Santé Connect) ------------------------------------------------

    def _psc_redirect(self, request: Request) -> str:
        return f"{root_url(request, self.auth)}/auth/psc/callback"

    async def login_psc(self, request: Request) -> Response:
        session = await self._session(request, request.query_params.get("session"))
        if session is None:
            return HTMLResponse(pages.message("Session expirée", "Recommencez depuis l'application."), 400)
        try:
            pending = await psc.start(self.auth, root_url(request, self.auth), self._psc_redirect(request))
        except psc.PscError as exc:
            return HTMLResponse(pages.message("Pro Santé Connect indisponible", str(exc)), 502)
        await self.db[SESSIONS].update_one(
            {"_id": session["_id"]},
            {
                "$set": {
                    "psc": {"state": pending.state, "nonce": pending.nonce, "verifier": pending.code_verifier}
                }
            },
        )
        return RedirectResponse(pending.url, status_code=303)

    async def psc_callback(self, request: Request) -> Response:
        state = request.query_params.get("state", "")
        session = await self.db[SESSIONS].find_one({"psc.state": state}) if state else None
        if session is not None and request.cookies.get(LOGIN_COOKIE) != session["_id"]:
            session = None  # the login was not started in this browser
        if session is None or session["expires"] <= now():
            return HTMLResponse(pages.message("Session expirée", "Recommencez depuis l'application."), 400)
        if "error" in request.query_params or "code" not in request.query_params:
            return HTMLResponse(
                pages.message("Connexion refusée", "Pro Santé Connect n'a pas autorisé la connexion."), 403
            )
        try:
            claims = await psc.finish(
                self.auth,
                root_url(request, self.auth),
                self._psc_redirect(request),
                request.query_params["code"],
                session["psc"]["nonce"],
                session["psc"]["verifier"],
            )
        except psc.PscError as exc:
            await self.record(
                audit.login_event(
                    success=False,
                    who={"display": "professionnel (PSC)"},
                    source_ip=self.ip(request),
                    description=str(exc),
                )
            )
            return HTMLResponse(pages.message("Connexion impossible", str(exc)), 502)
        idnat = str(claims.get("SubjectNameID") or "")
        who = {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": idnat}}
        decision = evaluate(claims, self.rules)
        if not idnat or not decision.allowed:
            reason = decision.reason or "Accès refusé : identifiant national absent."
            await self.record(
                audit.login_event(success=False, who=who, source_ip=self.ip(request), description=reason)
            )
            return HTMLResponse(pages.refused(reason, FAQ_REASONS), 403)
        pid, writes = await upsert_professional(self.repository, claims, list(decision.exercices))
        acr = str(claims.get("acr") or "eidas1")
        await self.record_writes(request, {"reference": f"Practitioner/{pid}"}, writes, acr)
        user = AuthUser(
            kind="practitioner",
            subject=idnat,
            fhir_user=f"Practitioner/{pid}",
            acr=acr,
            name=f"{claims.get('given_name', '')} {claims.get('family_name', '')}".strip(),
            exercices=practice_situations(claims, list(decision.exercices)),
        )
        return await self._logged_in(request, session, user, "Connexion Pro Santé Connect")

    # -- patients -----------------------------------------------------------------------

    def accounts(self) -> Accounts:
        return Accounts(
            self.db, threshold=self.auth.lockout_threshold, lock_seconds=self.auth.lockout_seconds
        )

    async def _client_name(self, session: dict[str, Any]) -> str:
        client_id = dict(session["query"]).get("client_id", "")
        client = await run_in_threadpool(find_client, self._sync_db(), client_id)
        return str(client.doc.get("name", client_id)) if client else client_id

    async def login_patient(self, request: Request) -> Response:
        form = await request.form()
        session = await self._session(request, str(form.get("session", "")))
        if session is None:
            return HTMLResponse(pages.message("Session expirée", "Recommencez depuis l'application."), 400)
        email = str(form.get("email", ""))
        refused = await self.throttled(request, email)
        if refused is not None:
            return refused
        result = await self.accounts().check_password(email, str(form.get("password", "")))
        if not result.ok:
            who = account_who(result.account) if result.account else {"display": email[:200]}
            await self.record(
                audit.login_event(
                    success=False, who=who, source_ip=self.ip(request), description=result.reason
                )
            )
            name = await self._client_name(session)
            return HTMLResponse(pages.login(session["_id"], name, result.reason, self._psc_available()), 401)
        code = otp.new_code()
        await self.db[SESSIONS].update_one(
            {"_id": session["_id"]},
            {"$set": {"otp": otp.pending(session["_id"], code, OTP_TTL, account=result.account["_id"])}},
        )
        await sms_gateway(self.auth).send(
            result.account["phone"], f"Passerelle : votre code de connexion est {code} (valable 5 minutes)."
        )
        return HTMLResponse(pages.otp(session["_id"]))

    async def login_otp(self, request: Request) -> Response:
        form = await request.form()
        session = await self._session(request, str(form.get("session", "")))
        refused = await self.throttled(request)
        if refused is not None:
            return refused
        if session is None or (session.get("otp") or {}).get("expires", now()) <= now():
            return HTMLResponse(pages.message("Code expiré", "Recommencez la connexion."), 400)
        # the shared single-use code: N parallel submissions, one login; OTP_TRIES guesses at most
        result = await otp.redeem(
            self.db[SESSIONS], {"_id": session["_id"]}, "otp", session["_id"], str(form.get("code", "")),
            tries=OTP_TRIES,
        )  # fmt: skip
        if not result.ok:
            if result.seen is None and not result.tries:  # used, expired, or out of tries
                return HTMLResponse(pages.message("Code expiré", "Recommencez la connexion."), 400)
            account = await self.db[ACCOUNTS].find_one({"_id": (result.seen or session)["otp"]["account"]})
            await self.record(
                audit.login_event(
                    success=False,
                    who=account_who(account) if account else {"display": "?"},
                    source_ip=self.ip(request),
                    description="Code SMS erroné",
                )
            )
            if result.exhausted:
                return HTMLResponse(
                    pages.message("Code erroné", "Trop d'essais : recommencez la connexion."), 401
                )
            return HTMLResponse(pages.otp(session["_id"], "Code erroné."), 401)
        assert result.doc is not None
        account = await self.db[ACCOUNTS].find_one({"_id": result.doc["otp"]["account"]})
        if account is None:
            return HTMLResponse(pages.message("Compte introuvable", "Recommencez la connexion."), 400)
        name = f"{account['given']} {account['family']}"
        if account.get("kind") == "practitioner":
            user = AuthUser(
                kind="practitioner",
                subject=account["_id"],
                fhir_user=f"Practitioner/{account['practitioner']}",
                amr=["pwd", "sms"],
                acr=pro_accounts.ACCOUNT_ACR,
                name=name,
                exercices=pro_accounts.exercices(account),
            )
            text = "Connexion professionnel sans carte e-CPS (mot de passe + code SMS)"
            return await self._logged_in(request, session, user, text)
        patients = [account["patient"], *(d["patient"] for d in account.get("dependents", []))]
        user = AuthUser(
            kind="patient",
            subject=account["_id"],
            fhir_user=f"Patient/{account['patient']}",
            patients=patients,
            amr=["pwd", "sms"],
            acr="2fa",
            name=name,
        )
        return await self._logged_in(request, session, user, "Connexion patient (mot de passe + code SMS)")

    async def _json(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return {k: str(v).strip() for k, v in (await request.form()).items()}
        try:
            data = await request.json()
        except ValueError as exc:
            raise AccountError("Corps JSON attendu.") from exc
        if not isinstance(data, dict):
            raise AccountError("Objet JSON attendu.")
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}

    async def throttled_json(
        self, request: Request, refuse: Callable[[str], Response] | None = None
    ) -> dict[str, Any] | Response:
        """The body of an account route once the per-IP rate limit passed: the data, or the answer
        to send back (429 ``slow_down``; 400 ``invalid_request`` from ``refuse`` when the body is not
        a JSON object or a form)."""
        refused = await self.throttled(request, page=False)
        if refused is not None:
            return refused
        try:
            return await self._json(request)
        except AccountError as exc:
            return (refuse or _invalid_request)(str(exc))

    def _confirm_link(self, request: Request, token: str, portal: bool) -> str:
        """The link of the confirmation e-mail: the portal's page (same root) when the sign-up came
        from the portal, else the authorization server's own page. Never a URL the caller chose."""
        path = "/inscription/confirmer" if portal else "/auth/patients/confirm"
        return f"{public_root(request, self.auth)}{path}?{urlencode({'token': token})}"

    async def _send_confirmation(
        self, request: Request, email: str, token: str, portal: bool
    ) -> Response | None:
        """E-mail the confirmation link; the 503 to answer when the SMTP server did not take it."""
        try:
            await send_mail(
                self.auth,
                email,
                "Confirmez votre adresse e-mail — Passerelle",
                "Bonjour,\n\nPour activer votre compte Passerelle, ouvrez ce lien :\n"
                f"{self._confirm_link(request, token, portal)}\n\n"
                "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n",
            )
        except MailError:
            log.exception("confirmation e-mail not sent")
            return mail_unavailable()
        return None

    async def register_patient(self, request: Request) -> Response:
        """Create an account and its Patient; with ``terms`` / ``healthConsent`` (the versions of
        the texts the person accepted), one Consent each, dated now."""
        refused = await self.throttled(request, page=False)
        if refused is not None:
            return refused
        try:
            data = await self._json(request)
            validate_signup(data)
            accounts = self.accounts()
            if await accounts.exists(data["email"]):
                raise AccountError("Un compte existe déjà pour cette adresse e-mail.", 409)
            version = await self.repository.create("Patient", patient_resource(data))
            try:
                _, token = await accounts.register(data, version.id)
            except DuplicateKeyError as exc:
                await self.repository.delete("Patient", version.id)
                raise AccountError("Un compte existe déjà pour cette adresse e-mail.", 409) from exc
        except AccountError as exc:
            return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, exc.status)
        ref = f"Patient/{version.id}"
        writes = [("create", ref)]
        when = fhir_instant(now_ms())
        for key, kind in (("terms", "cgu"), ("healthConsent", "donnees-sante")):
            if data.get(key):
                consent = await self.repository.create(
                    "Consent", consent_resource(version.id, kind, str(data[key]), when)
                )
                writes.append(("create", f"Consent/{consent.id}"))
        await self.record_writes(request, {"reference": ref}, writes)
        unsent = await self._send_confirmation(request, data["email"], token, data.get("link") == "portal")
        if unsent is not None:
            return unsent
        return JSONResponse(
            {
                "patient": f"Patient/{version.id}",
                "message": "Compte créé : un lien de confirmation vient d'être envoyé par e-mail.",
            },
            201,
        )

    async def confirm_patient(self, request: Request) -> Response:
        account = await self.accounts().confirm(request.query_params.get("token", ""))
        if account is None:
            return HTMLResponse(
                pages.message("Lien invalide", "Ce lien de confirmation est invalide ou déjà utilisé."), 400
            )
        return HTMLResponse(
            pages.message("Adresse confirmée", "Votre compte est activé : vous pouvez vous connecter.")
        )

    async def resend_confirmation(self, request: Request) -> Response:
        """A new confirmation link for an account not confirmed yet; the same answer for any address."""
        data = await self.throttled_json(request)
        if isinstance(data, Response):
            return data
        email = str(data.get("email", ""))
        refused = await self.throttled(request, email.strip().lower(), page=False)
        if refused is not None:
            return refused
        found = await self.accounts().new_confirmation(email)
        if found is not None:
            account, token = found
            unsent = await self._send_confirmation(
                request, account["email"], token, data.get("link") == "portal"
            )
            if unsent is not None:
                return unsent
        return JSONResponse(
            {"message": "Si un compte non confirmé existe pour cette adresse, un nouveau lien a été envoyé."},
            202,
        )

    async def start_reset(self, request: Request) -> Response:
        data = await self.throttled_json(request)
        if isinstance(data, Response):
            return data
        found = await self.accounts().start_reset(str(data.get("email", "")))
        if found is not None:
            account, token = found
            link = f"{public_root(request, self.auth)}/auth/patients/reset?{urlencode({'token': token})}"
            try:
                await send_mail(
                    self.auth,
                    account["email"],
                    "Réinitialisation de votre mot de passe — Passerelle",
                    f"Bonjour,\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable une "
                    f"heure) :\n{link}\n",
                )
            except MailError:
                log.exception("password reset e-mail not sent")
                return mail_unavailable()
        # Same answer whether the address is known or not.
        return JSONResponse(
            {"message": "Si un compte existe pour cette adresse, un e-mail a été envoyé."}, 202
        )

    async def reset_form(self, request: Request) -> Response:
        return HTMLResponse(pages.reset_form(request.query_params.get("token", "")))

    async def reset_password(self, request: Request) -> Response:
        refused = await self.throttled(request, page=False)
        if refused is not None:
            return refused
        try:
            data = await self._json(request)
            password = str(data.get("password", ""))
            if len(password) < 10:
                raise AccountError("Le mot de passe doit compter au moins 10 caractères.")
            account = await self.accounts().reset(str(data.get("token", "")), password)
            if account is None:
                raise AccountError("Lien de réinitialisation invalide ou expiré.")
        except AccountError as exc:
            return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, exc.status)
        await self.record(
            audit.security_event(
                who={"reference": f"Patient/{account['patient']}"},
                source_ip=self.ip(request),
                description="Mot de passe réinitialisé (lien reçu par e-mail)",
            )
        )
        return JSONResponse({"message": "Mot de passe modifié."})

    async def _patient_account(self, request: Request) -> tuple[Any, dict[str, Any]] | Response:
        """The bearer token's policy and the account of the patient it was issued to, or the refusal."""
        issuer = root_url(request, self.auth)
        try:
            policy = await verify_bearer(
                request.headers.get("authorization"), issuer, f"{issuer}/fhir", self.auth.keys_file, self.db
            )
        except FhirError as exc:
            return JSONResponse({"error": "invalid_token", "error_description": str(exc)}, 401, exc.headers)
        account = (
            await self.db["auth_accounts"].find_one({"_id": policy.subject})
            if policy.kind == "patient"
            else None
        )
        if account is None:
            return _account_error("insufficient_scope", "Réservé aux titulaires d'un compte patient.", 403)
        return policy, account

    async def add_dependent(self, request: Request) -> Response:
        """Create a dependent (ayant droit): a Patient plus the RelatedPerson of the account holder.

        A minor's Patient carries no e-mail or phone of its own: everything about them goes to the
        account holder (the RelatedPerson's telecom: :mod:`fhir_server.auth.contacts`)."""
        found = await self._patient_account(request)
        if isinstance(found, Response):
            return found
        policy, account = found
        try:
            data = await self._json(request)
            for key, label in (("given", "prénom"), ("family", "nom"), ("birthDate", "date de naissance")):
                if not data.get(key):
                    raise AccountError(f"Champ obligatoire manquant : {label}.")
            if parse_birth_date(str(data["birthDate"])) is None:
                raise AccountError("Date de naissance invalide (AAAA-MM-JJ, dans le passé).")
            relationship = str(data.get("relationship") or "PRN")
            if relationship not in RELATIONSHIPS:
                raise AccountError("Lien de parenté inconnu (PRN, GUARD, SPS, CHILD).")
            if data.get("member") or data.get("nir") or data.get("postalCode"):
                validate_signup({**data, "email": account["email"], "password": "x" * 10,
                                 "phone": account["phone"]})  # fmt: skip
        except AccountError as exc:
            return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, exc.status)
        if is_minor(str(data["birthDate"])):
            data = {k: v for k, v in data.items() if k not in ("email", "phone")}
        dependent = await self.repository.create("Patient", patient_resource(data))
        related = await self.repository.create(
            "RelatedPerson", related_person(dependent.id, account, relationship)
        )
        await self.accounts().add_dependent(account["_id"], dependent.id, related.id)
        await self.record_writes(
            request,
            policy.who,
            [("create", f"Patient/{dependent.id}"), ("create", f"RelatedPerson/{related.id}")],
        )
        return JSONResponse(
            {
                "patient": f"Patient/{dependent.id}",
                "relatedPerson": f"RelatedPerson/{related.id}",
                "message": "Ayant droit ajouté : reconnectez-vous pour accéder à son dossier.",
            },
            201,
        )

    async def start_phone(self, request: Request) -> Response:
        """Send a code by SMS to the new mobile number the patient gives (``{"phone": …}``)."""
        found = await self._patient_account(request)
        if isinstance(found, Response):
            return found
        _, account = found
        refused = await self.throttled(request, account["_id"], page=False)
        if refused is not None:
            return refused
        try:
            data = await self._json(request)
        except AccountError as exc:
            return _account_error("invalid_request", str(exc))
        phone = mobile_e164(str(data.get("phone", "")))
        if phone is None:
            return _account_error("invalid_request", "Numéro de mobile invalide (ex. 06 12 34 56 78).")
        code = await self.accounts().start_phone_change(account["_id"], phone)
        if code is None:
            return _account_error(
                "slow_down",
                "Un code vient d'être envoyé : attendez un instant avant d'en redemander un.",
                429,
            )
        await sms_gateway(self.auth).send(
            phone, f"Passerelle : votre code de validation du numéro est {code} (valable 10 minutes)."
        )
        return JSONResponse({"phone": phone, "message": "Code envoyé par SMS."}, 202)

    async def verify_phone(self, request: Request) -> Response:
        """Check the code (``{"code": …}``): the account's SMS number and the Patient's mobile become
        the new number, once."""
        found = await self._patient_account(request)
        if isinstance(found, Response):
            return found
        policy, account = found
        try:
            data = await self._json(request)
        except AccountError as exc:
            return _account_error("invalid_request", str(exc))
        phone, why = await self.accounts().verify_phone_change(account["_id"], str(data.get("code", "")))
        if phone is None:
            return _account_error("invalid_grant", why)
        await self._set_patient_mobile(account["patient"], phone)
        ref = f"Patient/{account['patient']}"
        await self.record_writes(request, policy.who, [("update", ref)])
        await self.record(
            audit.security_event(
                who={"reference": ref},
                source_ip=self.ip(request),
                description="Numéro de mobile validé par code SMS",
            )
        )
        return JSONResponse({"phone": phone, "message": "Numéro de mobile validé."})

    async def _set_patient_mobile(self, patient_id: str, phone: str) -> None:
        """The validated number replaces the Patient's mobile phones (other contacts are kept)."""
        import orjson

        from fhir_server.storage.records import VersionConflict

        for _ in range(5):
            current = await self.repository.read("Patient", patient_id)
            if current is None or current.deleted or current.body is None:
                return
            patient = orjson.loads(current.body)
            telecom = [
                t for t in patient.get("telecom", [])
                if not (t.get("system") in ("phone", "sms") and t.get("use") == "mobile")
            ]  # fmt: skip
            telecom.insert(0, {"system": "phone", "value": phone, "use": "mobile", "rank": 1})
            patient["telecom"] = telecom
            try:
                await self.repository.update("Patient", patient_id, patient, if_match=current.version)
                return
            except VersionConflict:
                continue

    # -- token, revocation, introspection ----------------------------------------------

    async def token(self, request: Request) -> Response:
        server = await self.server(request)
        req = await self.oauth_request(request)
        status, body, headers = await run_in_threadpool(server.create_token_response, req)
        form = req.form
        if form.get("grant_type") == "client_credentials":
            client_id = req.client.get_client_id() if req.client else form.get("client_id", "?")
            ok = status == 200
            await self.record(
                audit.login_event(
                    success=ok,
                    who={"identifier": {"system": "urn:passerelle:client", "value": client_id}},
                    source_ip=self.ip(request),
                    client_id=client_id,
                    description="Jeton service backend" if ok else f"Refus : {body.get('error')}",
                )
            )
        return _authlib_response(status, body, headers)

    async def revoke(self, request: Request) -> Response:
        server = await self.server(request)
        req = await self.oauth_request(request)
        result = await run_in_threadpool(server.create_endpoint_response, "revocation", req)
        return _authlib_response(*result)

    async def introspect(self, request: Request) -> Response:
        server = await self.server(request)
        req = await self.oauth_request(request)
        result = await run_in_threadpool(server.create_endpoint_response, "introspection", req)
        return _authlib_response(*result)

    # -- EHR launch ------------------------------------------------------------------------

    async def create_launch(self, request: Request) -> Response:
        """Register an EHR launch context (patient, encounter) for a practitioner's app launch.

        The body may name the app launched (``client_id``; by default the caller's own client):
        the launch is then usable once, within 10 minutes, by this professional in that app only."""
        issuer = root_url(request, self.auth)
        try:
            policy = await verify_bearer(
                request.headers.get("authorization"), issuer, f"{issuer}/fhir", self.auth.keys_file, self.db
            )
        except FhirError as exc:
            return JSONResponse({"error": "invalid_token", "error_description": str(exc)}, 401, exc.headers)
        if policy.kind != "practitioner":
            return oauth_error("insufficient_scope", "Lancement EHR réservé aux professionnels.", 403)
        try:
            data = await self._json(request)
        except AccountError as exc:
            return oauth_error("invalid_request", str(exc))
        patient = data.get("patient")
        if patient is not None and not await cares_for(
            self.repository.db, policy.fhir_user, policy.exercices, str(patient).removeprefix("Patient/")
        ):
            return oauth_error("invalid_request", "Patient introuvable parmi vos patients.", 404)
        # The app the EHR launches (SMART EHR launch); by default the EHR's own client.
        client_id = str(data.get("client_id") or policy.client_id)
        launch = secrets.token_urlsafe(24)
        await self.db[LAUNCHES].insert_one(
            {
                "_id": launch,
                "patient": data.get("patient"),
                "encounter": data.get("encounter"),
                "by": policy.fhir_user,
                "client_id": client_id,
                "expires": now() + LAUNCH_TTL,
            }
        )
        return JSONResponse({"launch": launch}, 201)

    def routes(self) -> list[Route]:
        routes = [
            Route("/.well-known/smart-configuration", self.smart_configuration),
            Route("/auth/jwks", self.jwks),
            Route("/auth/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/auth/login/psc", self.login_psc),
            Route("/auth/psc/callback", self.psc_callback),
            Route("/auth/login/patient", self.login_patient, methods=["POST"]),
            Route("/auth/login/otp", self.login_otp, methods=["POST"]),
            Route("/auth/consent", self.consent, methods=["POST"]),
            Route("/auth/patient-picker", self.pick_patient, methods=["POST"]),
            Route("/auth/token", self.token, methods=["POST"]),
            Route("/auth/revoke", self.revoke, methods=["POST"]),
            Route("/auth/introspect", self.introspect, methods=["POST"]),
            Route("/auth/launch", self.create_launch, methods=["POST"]),
            Route("/auth/patients", self.register_patient, methods=["POST"]),
            Route("/auth/patients/confirm", self.confirm_patient),
            Route("/auth/patients/confirm/resend", self.resend_confirmation, methods=["POST"]),
            Route("/auth/patients/phone", self.start_phone, methods=["POST"]),
            Route("/auth/patients/phone/verify", self.verify_phone, methods=["POST"]),
            Route("/auth/patients/password-reset", self.start_reset, methods=["POST"]),
            Route("/auth/patients/reset", self.reset_form, methods=["GET"]),
            Route("/auth/patients/reset", self.reset_password, methods=["POST"]),
            Route("/auth/patients/dependents", self.add_dependent, methods=["POST"]),
        ]
        routes.extend(ProfessionalSignup(self).routes())
        if self.devpsc is not None:
            routes.extend(self.devpsc.routes())
        return routes


def auth_routes(settings: Settings, fhir_app: Any) -> list[Route]:
    """The routes to mount at the server root (``passerelle serve``)."""
    return AuthRoutes(settings, fhir_app).routes()
