"""Enforcement inside the FHIR layer: every interaction is authenticated, checked and audited.

:func:`protect` wraps each handler of the routing table (``INTERACTIONS``), so a new
interaction cannot be added without going through it. Order of checks:

1. AuditEvents are immutable: update/patch/delete of one is a 405, with or without auth;
2. with ``--no-auth`` nothing else happens (loopback only, see ``apps/serve.py``);
3. the bearer token must be a JWT signed by this server, unexpired, issued by this
   server for this FHIR base URL (``aud``) and not revoked: otherwise 401 with
   ``WWW-Authenticate: Bearer error="invalid_token"``;
4. the token's scopes must allow the interaction on the type: otherwise 403;
5. instance interactions of a compartment-restricted token (patients, ``patient/``
   scopes) must concern a resource in the allowed compartments: otherwise 404, as if
   the resource did not exist; creates and updates must write inside it: otherwise 403;
6. searches are let through for restricted tokens because their handlers apply the
   policy themselves (``handler.applies_access_policy = True``): each query, chain,
   ``_has`` and include ANDs :meth:`AccessPolicy.search_filter` (see
   ``fhir_server.search.access``); a compartment search of a record the caller may not
   see is a 404, like a read; other interactions (history at type/system level,
   operations) need an unrestricted grant.

Break-the-glass: a practitioner may send ``X-Break-Glass-Reason`` (percent-encoded, 10
characters at least) to lift the patient restriction of their ``patient/`` scopes (the
scopes still limit types and interactions); every such access is audited with
``purposeOfEvent`` BTG, the reason and a DICOM "Security Alert" subtype.

Every outcome, success or refusal, is recorded as an AuditEvent with the source IP.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import orjson
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.auth import audit
from fhir_server.auth.compartment import in_compartment, in_patient_compartment_type, patient_refs
from fhir_server.auth.keys import signing_keys
from fhir_server.auth.policy import BREAK_GLASS_HEADER, IMMUTABLE, AccessPolicy, hidden
from fhir_server.auth.settings import auth_settings
from fhir_server.auth.store import TOKENS
from fhir_server.errors import FhirError
from fhir_server.rest.registry import Handler, Interaction
from fhir_server.storage import history_key

INSTANCE_READS = frozenset({"read", "vread", "history-instance"})
SEARCHES = frozenset({"search-type", "search-system"})
# Routes without a CapabilityStatement code of their own, by (path, method).
UNCODED = {
    ("/_search", "POST"): "search-system",
    ("/{type}/_search", "POST"): "search-type",
    ("/{type}", "PUT"): "conditional-update",
    ("/{type}", "DELETE"): "conditional-delete",
    ("/{type}", "PATCH"): "conditional-patch",
    ("/{type}/{id}/{compartment_type}", "GET"): "search-compartment",
}


def interaction_code(interaction: Interaction) -> str:
    """The interaction a route performs, for scopes and audit (operations are "operation")."""
    if interaction.code:
        return interaction.code
    return UNCODED.get((interaction.path, interaction.method), "operation")


class _Validator(JWTBearerTokenValidator):
    def __init__(self, issuer: str, resource_server: str, keys: KeySet) -> None:
        super().__init__(issuer, resource_server)
        self._keys = keys

    def get_jwks(self) -> KeySet:
        return self._keys


def unauthorized(text: str, error: str | None = "invalid_token") -> FhirError:
    challenge = 'Bearer realm="passerelle"' + (f', error="{error}"' if error else "")
    return FhirError(401, "login", text, headers={"WWW-Authenticate": challenge})


def fhir_base(request: Request) -> str:
    from fhir_server.rest.http import base_url

    return base_url(request)


def issuer_of(request: Request) -> str:
    """The issuer this FHIR server trusts: the configured one, or its own root URL."""
    configured = getattr(request.app.state, "auth_settings", None)
    if configured is not None and configured.issuer:
        return str(configured.issuer).rstrip("/")
    base = fhir_base(request)
    root_path = request.scope.get("root_path", "")
    return base[: -len(root_path)] if root_path and base.endswith(root_path) else base


def _settings(request: Request) -> Any:
    state = request.app.state
    if getattr(state, "auth_settings", None) is None:
        state.auth_settings = auth_settings(state.settings.data_dir)
    return state.auth_settings


async def verify_bearer(
    header: str | None, issuer: str, audience: str, keys_file: Any, db: Any
) -> AccessPolicy:
    """The policy of a bearer token, or 401: signature, issuer, audience, expiry, revocation."""
    if not header or not header[:7].lower() == "bearer ":
        raise unauthorized("Authentification requise : jeton d'accès (Bearer) manquant.", error=None)
    token = header[7:].strip()
    validator = _Validator(issuer, audience, signing_keys(keys_file))
    try:
        claims = validator.authenticate_token(token)
        validator.validate_token(claims, None, None)
    except (InvalidTokenError, JoseError, ValueError) as exc:
        raise unauthorized("Jeton d'accès invalide, expiré ou destiné à un autre serveur.") from exc
    record = await db[TOKENS].find_one({"_id": claims["jti"]}, {"revoked": 1})
    if record is None or record.get("revoked"):
        raise unauthorized("Jeton d'accès révoqué.")
    return AccessPolicy.from_claims(dict(claims))


async def authenticate(request: Request) -> AccessPolicy:
    return await verify_bearer(
        request.headers.get("authorization"),
        issuer_of(request),
        fhir_base(request),
        _settings(request).keys_file,
        request.app.state.repository.db,
    )


async def _body(request: Request) -> dict[str, Any]:
    from fhir_server.rest.formats import parse_resource, read_body, request_is_xml

    xml = request_is_xml(request)
    data = await read_body(request, request.app.state.settings.max_body_bytes)
    request._body = data  # the handler reads the same bytes again
    return parse_resource(data, xml)


async def _current(request: Request, type_: str, id_: str) -> dict[str, Any] | bool | None:
    """The current body of an instance; None if it never existed, False if deleted."""
    version = await request.app.state.repository.read(type_, id_)
    if version is None:
        return None
    if version.deleted or version.body is None:
        return False
    return orjson.loads(version.body)


async def enforce(
    request: Request, policy: AccessPolicy, code: str, type_: str | None, id_: str | None, handler: Handler
) -> list[str]:
    """Apply the policy before the handler runs; returns the patient ids concerned (for the audit)."""
    if policy.is_unrestricted:
        return []
    aware = getattr(handler, "applies_access_policy", False)
    if code in ("transaction", "batch", "operation") or code.startswith("conditional-"):
        # Until bundles, operations and conditional interactions apply the policy entry by entry,
        # they need a token that may do everything on every type.
        if aware or policy.reads_and_writes_everything():
            return []
        raise FhirError(403, "forbidden", f"Interaction {code} réservée aux jetons sans restriction.")
    if code in SEARCHES or code == "search-compartment":
        return _search_patients(request, policy, code, type_, id_, aware)
    if type_ is None:
        if policy.kind == "system" and policy.grant("Resource", code).unrestricted:
            return []
        raise FhirError(
            403, "forbidden", f"Interaction {code} réservée aux accès sans restriction de dossier."
        )
    grant = policy.grant(type_, code)
    if grant.unrestricted:
        return []
    compartment = in_patient_compartment_type(type_)
    if code in INSTANCE_READS or code in ("update", "patch", "delete"):
        assert id_ is not None
        if code == "history-instance" and not compartment:
            return []
        current = await _current(request, type_, id_)
        if current is False:
            raise hidden(type_, id_)
        if isinstance(current, dict) and compartment and not in_compartment(type_, current, grant.patients):
            raise hidden(type_, id_)
        if compartment and code in ("vread", "history-instance"):
            # Older versions may have belonged to another patient's record: each one shown must qualify.
            await _check_versions(request, type_, id_, grant.patients, request.path_params.get("vid"))
        if code in INSTANCE_READS:
            return _patients(type_, current, grant.patients)
    if code in ("create", "update"):
        resource = await _body(request)
        if id_ is not None:
            resource = {**resource, "id": id_}
        policy.check_write(type_, resource, code)
        return _patients(type_, resource, grant.patients)
    if code == "delete":
        return []
    raise FhirError(403, "forbidden", f"Interaction {code} non autorisée pour un accès limité au dossier.")


def _search_patients(
    request: Request, policy: AccessPolicy, code: str, type_: str | None, id_: str | None, aware: bool
) -> list[str]:
    """Searches: the handlers AND the policy into every query, chain, ``_has`` and include
    (``fhir_server.search.access``); refused here is only what must not run at all."""
    if not aware:
        # a search handler that does not apply the policy is open only to tokens that read everything
        if policy.reads_everything():
            return []
        raise FhirError(
            403, "forbidden", "Recherche non autorisée pour un accès limité au dossier d'un patient."
        )
    if code == "search-compartment":
        grant = policy.grant(request.path_params.get("compartment_type", ""), "search-type")
        if grant.unrestricted:
            return []
        if type_ == "Patient" and id_ in grant.patients:
            return [id_]
        # someone else's record: 404, exactly like a read of that Patient
        raise hidden(type_ or "Patient", id_ or "")
    if type_ is None:
        return []  # system search: the handler keeps the types the token may search
    grant = policy.grant(type_, code)  # 403 without a scope on the type
    return [] if grant.unrestricted else sorted(grant.patients)


async def _check_versions(
    request: Request, type_: str, id_: str, patients: frozenset[str], vid: str | None
) -> None:
    history = request.app.state.repository.history
    query: dict[str, Any] = {"t": type_, "i": id_}
    if vid is not None:
        if not vid.isdigit():
            return  # the handler answers the malformed version
        query = {"_id": history_key(type_, id_, int(vid))}
    async for doc in history.find(query, {"j": 1}):
        body = doc.get("j")
        if body is not None and not in_compartment(type_, orjson.loads(bytes(body)), patients):
            raise hidden(type_, id_)


def _patients(type_: str, resource: Any, allowed: frozenset[str]) -> list[str]:
    if not isinstance(resource, dict):
        return []
    return sorted(r.split("/", 1)[1] for r in patient_refs(type_, resource) if r.split("/", 1)[1] in allowed)


def _entities(request: Request, type_: str | None, id_: str | None, response: Response | None) -> list[str]:
    if type_ and id_:
        vid = request.path_params.get("vid")
        return [f"{type_}/{id_}" + (f"/_history/{vid}" if vid else "")]
    if response is not None and "location" in response.headers:
        parts = response.headers["location"].split("/_history/")[0].split("/")
        return ["/".join(parts[-2:])]
    return [type_] if type_ else []


def protect(interaction: Interaction) -> Handler:
    """The handler of ``interaction`` behind authentication, authorization and audit."""
    inner = interaction.handler
    code = interaction_code(interaction)

    async def guarded(request: Request) -> Response:
        type_ = request.path_params.get("type")
        id_ = request.path_params.get("id")
        if type_ in IMMUTABLE and code in ("update", "patch", "delete"):
            raise FhirError(
                405,
                "not-supported",
                f"Les {type_} sont immuables : ni modification ni suppression.",
                headers={"Allow": "GET"},
            )
        if request.app.state.settings.no_auth or code == "capabilities":
            # Handlers (search, bundles) read the policy from request.state.access whatever the mode.
            request.state.access = AccessPolicy.unrestricted()
            return await inner(request)
        settings = _settings(request)
        ip = request.client.host if request.client else None
        query = unquote_plus(request.url.query) or None
        policy: AccessPolicy | None = None
        patients: list[str] = []

        async def log(status: int, description: str | None, response: Response | None = None) -> None:
            if not settings.audit:
                return
            event = audit.rest_event(
                interaction=code,
                status=status,
                who=policy.who if policy else {"display": "anonyme (sans jeton valide)"},
                client_id=policy.client_id if policy else None,
                source_ip=ip,
                entities=_entities(request, type_, id_, response),
                patients=patients,
                query=query,
                description=description,
                break_glass=policy.break_glass if policy else None,
            )
            await audit.record(request.app.state.repository, event)

        try:
            policy = await authenticate(request)
            reason = request.headers.get(BREAK_GLASS_HEADER)
            if reason is not None:
                policy = policy.with_break_glass(unquote_plus(reason))
            request.state.access = policy
            patients = await enforce(request, policy, code, type_, id_, inner)
            response = await inner(request)
        except FhirError as exc:
            await log(exc.status, str(exc))
            raise
        except Exception:
            await log(500, "Erreur interne")
            raise
        await log(response.status_code, None, response)
        return response

    guarded.__name__ = getattr(inner, "__name__", "guarded")
    for attr in ("applies_access_policy",):
        if hasattr(inner, attr):
            setattr(guarded, attr, getattr(inner, attr))
    return guarded
