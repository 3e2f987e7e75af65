"""The SMART authorization server, built on authlib's OAuth 2.0 / OpenID Connect server.

Grants: authorization code with PKCE (S256 only, required for every client, as SMART
App Launch 2 demands), refresh token (rotated), client credentials for backend
services (``private_key_jwt`` only). Endpoints: token, revocation (RFC 7009),
introspection (RFC 7662). Access tokens are RFC 9068 JWTs signed with the server key,
audience = the FHIR base URL, carrying the SMART launch context and what the FHIR
layer needs to build an :class:`~fhir_server.auth.policy.AccessPolicy`; each one is
also recorded (by ``jti``) so that it can be revoked and introspected.

authlib is synchronous: one server object per issuer URL, called from Starlette's
thread pool with a synchronous database handle.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any, ClassVar

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pymongo.database import Database

from fhir_server.auth.clients import Client, find_client
from fhir_server.auth.keys import ALG, signing_key, signing_keys
from fhir_server.auth.models import AuthorizationCode, AuthUser, TokenRecord
from fhir_server.auth.scopes import ScopeError, ScopeSet, validate_scope_string
from fhir_server.auth.settings import AuthSettings
from fhir_server.auth.store import ACCOUNTS, ASSERTIONS, CODES, TOKENS, now

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_METHODS = [*SECRET_METHODS, "private_key_jwt", "none"]
ASSERTION_ALGS = ["RS256", "RS384", "ES256", "ES384"]
ASSERTION_MAX_LIFETIME = 300  # s: SMART Backend Services, exp at most five minutes ahead
CODE_REPLAY_MEMORY = timedelta(minutes=10)  # a used code is remembered this long (replay detection)


class FormPayload(OAuth2Payload):
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._list: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in items:
            self._list[k].append(v)
        self._data = {k: v[0] for k, v in self._list.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._list


class Request(OAuth2Request):
    """An OAuth2 request built from a Starlette request's query string and form."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: dict[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = FormPayload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def ascii_text(text: str) -> str:
    """French without accents: RFC 6749 limits ``error_description`` to printable ASCII."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if 0x20 <= ord(c) < 0x7F and c not in '"\\')


def jwt_payload(token: str) -> dict[str, Any] | None:
    """The claims of a compact JWT, unverified (to find a record by ``jti``; never trusted as such)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def code_family(code: str) -> str:
    """The family id of the tokens issued from one authorization code (the code is not stored)."""
    import hashlib

    return "code:" + hashlib.sha256(code.encode()).hexdigest()[:32]


def revoke_family(db: Database[dict[str, Any]], family: str) -> None:
    db[TOKENS].update_many({"$or": [{"family": family}, {"_id": family}]}, {"$set": {"revoked": True}})


def scope_within(requested: str, granted: str) -> bool:
    """Whether every scope of ``requested`` is covered by one of ``granted`` (same context, same
    type or ``*``, a subset of the interactions, the same or no query); other scopes must match."""
    from fhir_server.auth.scopes import parse_resource_scope

    have = ScopeSet.parse(granted)
    for item in requested.split():
        if "/" in item and item.split("/", 1)[0] in ("patient", "user", "system"):
            want = parse_resource_scope(item)
            if not any(
                g.context == want.context
                and g.resource_type in ("*", want.resource_type)
                and want.interactions <= g.interactions
                and g.query in (None, want.query)
                for g in have.resources
            ):
                return False
        elif item not in have:
            return False
    return True


# -- PKCE, S256 only --------------------------------------------------------------------


class S256Challenge(CodeChallenge):
    """PKCE with S256, mandatory for every client (SMART App Launch 2: "plain" is not allowed)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        from authlib.oauth2.rfc6749 import InvalidRequestError

        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE obligatoire : 'code_challenge' manquant.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(ascii_text("PKCE : seule la méthode 'S256' est acceptée."))
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        self.required = True
        from authlib.oauth2.rfc6749 import InvalidRequestError

        code = grant.request.authorization_code
        try:
            if not grant.request.form.get("code_verifier"):
                raise InvalidRequestError("PKCE obligatoire : 'code_verifier' manquant.")
            super().validate_code_verifier(grant, result)
        except OAuth2Error:
            # A wrong verifier burns the code: whoever intercepted it gets one guess, not many.
            grant.delete_authorization_code(code)
            raise

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str | None:
        return authorization_code.get("code_challenge")

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str | None:
        return authorization_code.get("code_challenge_method")


# -- grants ------------------------------------------------------------------------------


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        server: PasserelleAuthorizationServer = self.server
        user: AuthUser = request.user
        data = request.payload.data
        scope = server.scope_for_user(request.scope or "", user)
        server.db[CODES].insert_one(
            {
                "_id": code,
                "client_id": request.client.get_client_id(),
                "redirect_uri": data.get("redirect_uri"),
                "scope": scope,
                "nonce": data.get("nonce"),
                "code_challenge": data.get("code_challenge"),
                "code_challenge_method": data.get("code_challenge_method"),
                "user": user.to_doc(),
                "expires": now() + timedelta(minutes=2),
            }
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """The code, consumed by this very call: one atomic find-and-update marks it used, so of
        N parallel exchanges exactly one gets it. A code presented again is a replay (RFC 6749
        §4.1.2, OAuth 2.0 Security BCP): refused, and every token issued from it is revoked."""
        codes = self.server.db[CODES]
        doc = codes.find_one_and_update(
            {"_id": code, "client_id": client.get_client_id(), "used": {"$ne": True}},
            # kept a while after use, to recognise a replay
            {"$set": {"used": True, "expires": now() + CODE_REPLAY_MEMORY}},
        )
        if doc is None:
            if codes.find_one({"_id": code, "used": True}, {"_id": 1}) is not None:
                revoke_family(self.server.db, code_family(code))
            return None
        if doc["expires"] <= now():
            return None
        return AuthorizationCode(doc)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to delete: the code was consumed when it was read (and is kept, used, for replays)."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> AuthUser:
        return AuthUser.from_doc(authorization_code["user"])


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        doc = self.server.db[TOKENS].find_one({"refresh_token": refresh_token})
        if doc is None or doc.get("revoked"):
            # (a rotated refresh token presented again is refused; its successor stays valid:
            # the family is not revoked, so that a client retrying a lost response is not logged out)
            return None
        if doc["refresh_expires"] <= now() or find_client(self.server.db, doc["client_id"]) is None:
            return None
        return TokenRecord(doc)

    def _validate_token_scope(self, token: TokenRecord) -> None:
        """A narrower scope may be asked (``user/Patient.rs`` under ``user/*.rs``): SMART scope
        containment, not string equality (RFC 6749 §6: not beyond the original grant)."""
        requested = self.request.payload.scope
        if not requested:
            return
        try:
            validate_scope_string(requested)
        except ScopeError as exc:
            raise InvalidScopeError(description=ascii_text(str(exc))) from exc
        if not scope_within(requested, token.get_scope()):
            raise InvalidScopeError(description="Portee demandee plus large que celle accordee.")

    def validate_token_request(self) -> None:
        """Then claim the refresh token: one conditional update on ``revoked: false``, so that of
        N parallel refreshes exactly one goes on (the others get ``invalid_grant``)."""
        super().validate_token_request()
        record = self.request.refresh_token
        claimed = self.server.db[TOKENS].update_one(
            {"_id": record["_id"], "revoked": False}, {"$set": {"revoked": True, "rotated": True}}
        )
        if claimed.modified_count != 1:
            raise InvalidGrantError(description="Jeton de rafraichissement deja utilise.")

    def authenticate_user(self, refresh_token: TokenRecord) -> AuthUser | None:
        """The user of the refresh token; a patient's records (self + dependents) are read again from
        the account, so that a dependent added (or removed) since the login counts at the refresh."""
        user = refresh_token.get_user()
        if user is not None and user.kind == "patient":
            account = self.server.db[ACCOUNTS].find_one(
                {"_id": user.subject}, {"patient": 1, "dependents": 1}
            )
            if account is None:
                return None
            user.patients = [account["patient"], *(d["patient"] for d in account.get("dependents", []))]
        return user

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        """Already revoked when it was claimed (:meth:`validate_token_request`)."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """SMART Backend Services: ``private_key_jwt`` only, ``system/`` scopes only."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if not self.request.client.get_allowed_scope(self.request.payload.scope):
            raise InvalidScopeError(
                description="Aucune des portees demandees n'est autorisee pour ce client."
            )


class PrivateKeyJWT(JWTBearerClientAssertion):
    """``private_key_jwt`` client authentication against the JWKS registered with the client."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: PasserelleAuthorizationServer) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.server = server

    def get_audiences(self) -> list[str]:
        return [self.server.token_url]

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        # SMART Backend Services: servers SHALL support RS384 and ES384 (not in joserfc's default set).
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGS)
        except JoseError as exc:
            raise InvalidClientError(description="Assertion JWT invalide.") from exc
        self.verify_claims(token.claims)
        exp = token.claims.get("exp")
        if not isinstance(exp, int | float) or exp > time.time() + ASSERTION_MAX_LIFETIME + self.leeway:
            # SMART Backend Services: exp SHALL be no more than five minutes in the future
            raise InvalidClientError(description="Assertion JWT : 'exp' au plus 5 minutes dans le futur.")
        return token.claims

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        from pymongo.errors import DuplicateKeyError

        exp = claims.get("exp")
        expires = now() + timedelta(minutes=10)
        if isinstance(exp, int | float):
            from datetime import UTC, datetime

            expires = max(expires, datetime.fromtimestamp(exp, UTC) + timedelta(minutes=1))
        try:
            self.server.db[ASSERTIONS].insert_one({"_id": f"{claims['iss']}:{jti}", "expires": expires})
        except DuplicateKeyError:
            return False
        return True

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if not client.jwks:
            raise InvalidClientError(description="Aucun JWKS enregistre pour ce client.")
        return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]


# -- tokens ------------------------------------------------------------------------------


class AccessTokenGenerator(JWTBearerTokenGenerator):
    def __init__(self, server: PasserelleAuthorizationServer) -> None:
        super().__init__(
            server.issuer,
            alg=ALG,
            refresh_token_generator=lambda **kw: secrets.token_urlsafe(32),
            expires_generator=lambda client, grant_type: server.settings.access_token_ttl,
        )
        self.server = server

    def get_jwks(self) -> KeySet:
        return signing_keys(self.server.settings.keys_file)

    def get_audiences(self, client: Client, user: AuthUser | None, scope: str) -> str:
        return self.server.fhir_base

    def get_extra_claims(self, client: Client, grant_type: str, user: AuthUser | None, scope: str) -> dict:
        if user is None:
            return {"kind": "system"}
        claims: dict[str, Any] = {"kind": user.kind}
        if user.fhir_user:
            claims["fhirUser"] = user.fhir_user
        if user.patients:
            claims["patients"] = user.patients
        items = scope.split()
        if user.patient and ("launch/patient" in items or "launch" in items):
            claims["patient"] = user.patient
        if user.encounter and ("launch/encounter" in items or "launch" in items):
            claims["encounter"] = user.encounter
        if user.exercices:
            claims["exercices"] = user.exercices
        return claims

    def get_acr(self, user: AuthUser | None) -> str | None:
        return user.acr if user else None

    def get_amr(self, user: AuthUser | None) -> list[str] | None:
        return user.amr if user else None

    def get_auth_time(self, user: AuthUser | None) -> int | None:
        return user.auth_time if user else None

    def __call__(
        self,
        grant_type: str,
        client: Client,
        user: AuthUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        items = (scope or "").split()
        wants_refresh = "offline_access" in items or "online_access" in items
        token = super().__call__(
            grant_type, client, user, scope, expires_in, include_refresh_token and wants_refresh
        )
        # SMART launch context goes in the token response too.
        claims = jwt_payload(token["access_token"]) or {}
        for key in ("patient", "encounter"):
            if key in claims:
                token[key] = claims[key]
        if user is not None and user.fhir_user and "fhirUser" in items:
            token["fhirUser"] = user.fhir_user
        return token


class PasserelleOpenIDCode(OpenIDCode):
    def __init__(self, server: PasserelleAuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False

    def resolve_client_private_key(self, client: Client) -> Any:
        return signing_key(self.server.settings.keys_file)

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        import time

        return {"iss": self.server.issuer, "aud": [client.get_client_id()], "exp": int(time.time()) + 3600}

    def get_client_algorithm(self, client: Client) -> str:
        return ALG

    def get_encode_header(self, client: Client) -> dict[str, Any]:
        return {"alg": ALG, "kid": signing_key(self.server.settings.keys_file).kid}

    def generate_user_info(self, user: AuthUser, scope: str) -> UserInfo:
        info = UserInfo(sub=user.subject)
        if "fhirUser" in scope.split() and user.fhir_user:
            info["fhirUser"] = user.fhir_user
        if user.name and "profile" in scope.split():
            info["name"] = user.name
        return info


def _lookup(db: Database[dict[str, Any]], keys_file: Any, token: str, hint: str | None) -> TokenRecord | None:
    """An issued token by its string: access tokens are JWTs (by verified ``jti``), refresh tokens opaque."""
    if token.count(".") == 2 and hint != "refresh_token":
        try:
            decoded = jwt.decode(token, signing_keys(keys_file))
        except (JoseError, ValueError):
            return None
        doc = db[TOKENS].find_one({"_id": decoded.claims.get("jti")})
        if doc is not None:
            doc["_hint"] = "access_token"
        return TokenRecord(doc) if doc else None
    doc = db[TOKENS].find_one({"refresh_token": token})
    if doc is not None:
        doc["_hint"] = "refresh_token"
    return TokenRecord(doc) if doc else None


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return _lookup(self.server.db, self.server.settings.keys_file, token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request: Any) -> None:
        self.server.db[TOKENS].update_one({"_id": token["_id"]}, {"$set": {"revoked": True}})


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [*SECRET_METHODS, "private_key_jwt"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return _lookup(self.server.db, self.server.settings.keys_file, token_string, token_type_hint)

    def check_permission(self, token: TokenRecord, client: Client, request: Any) -> bool:
        # A client introspects its own tokens; backend services (resource servers) any token.
        return token.check_client(client) or client.kind == "backend"

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "active": True,
            "client_id": token["client_id"],
            "scope": token.get("scope", ""),
            "sub": token.get("sub"),
            "token_type": "Bearer" if token.get("_hint") == "access_token" else "refresh_token",
            "exp": int(
                (
                    token["refresh_expires"] if token.get("_hint") == "refresh_token" else token["expires"]
                ).timestamp()
            ),
            "iat": int(token["issued"].timestamp()),
            "iss": token.get("iss"),
            "aud": token.get("aud"),
        }
        user = token.get("user") or {}
        if user.get("fhir_user"):
            out["fhirUser"] = user["fhir_user"]
        if token.get("patient"):
            out["patient"] = token["patient"]
        return out


# -- the server ---------------------------------------------------------------------------


class PasserelleAuthorizationServer(AuthorizationServer):
    def __init__(self, db: Database[dict[str, Any]], settings: AuthSettings, issuer: str) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.issuer = issuer
        self.fhir_base = f"{issuer}/fhir"
        self.token_url = f"{issuer}/auth/token"
        self.register_client_auth_method("private_key_jwt", PrivateKeyJWT(self))
        self.register_token_generator("default", AccessTokenGenerator(self))
        self.register_grant(
            AuthorizationCodeGrant, [S256Challenge(required=True), PasserelleOpenIDCode(self)]
        )
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(Revocation(server=self))
        self.register_endpoint(Introspection(server=self))

    def query_client(self, client_id: str) -> Client | None:
        return find_client(self.db, client_id)

    def validate_requested_scope(self, scope: str | None) -> None:
        try:
            validate_scope_string(scope)
        except ScopeError as exc:
            raise InvalidScopeError(description=ascii_text(str(exc))) from exc

    @staticmethod
    def scope_for_user(scope: str, user: AuthUser) -> str:
        """Drop what a user-facing grant never carries: ``system/`` scopes are for backend services only."""
        return " ".join(s for s in scope.split() if not s.startswith("system/"))

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        claims = jwt_payload(token["access_token"]) or {}
        user: AuthUser | None = request.user
        issued = now()
        doc: dict[str, Any] = {
            "_id": claims["jti"],
            "client_id": request.client.get_client_id(),
            "scope": token.get("scope", ""),
            "sub": claims.get("sub"),
            "iss": claims.get("iss"),
            "aud": claims.get("aud"),
            "issued": issued,
            "expires": issued + timedelta(seconds=int(token.get("expires_in") or 0)),
            "revoked": False,
            "user": user.to_doc() if user else None,
            "patient": token.get("patient"),
        }
        # the family: every token descending from one authorization (code, then refreshes), revoked
        # together when a code or a rotated refresh token is replayed
        code = getattr(request, "authorization_code", None)
        parent = getattr(request, "refresh_token", None)
        if code is not None:
            doc["family"] = code_family(code["_id"])
        elif parent is not None:
            doc["family"] = parent.get("family") or parent["_id"]
        refresh_expires = issued
        if token.get("refresh_token"):
            doc["refresh_token"] = token["refresh_token"]
            refresh_expires = issued + timedelta(seconds=self.settings.refresh_token_ttl)
        doc["refresh_expires"] = refresh_expires
        doc["purge"] = max(doc["expires"], refresh_expires) + timedelta(days=1)
        self.db[TOKENS].insert_one(doc)

    def create_oauth2_request(self, request: Any) -> Any:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None
