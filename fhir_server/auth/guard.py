"""Enforcement inside the FHIR layer: every interaction is authenticated, checked and audited.

:func:`protect` wraps each handler of the routing table (``INTERACTIONS``), so a new
interaction cannot be added without going through it. Order of checks:

1. AuditEvents are immutable: update/patch/delete of one is a 405, with or without auth;
2. with ``--no-auth`` nothing else happens (loopback only, see ``apps/serve.py``);
3. the bearer token must be a JWT signed by this server, unexpired, issued by this
   server for this FHIR base URL (``aud``) and not revoked: otherwise 401 with
   ``WWW-Authenticate: Bearer error="invalid_token"``;
4. a practitioner's reach is resolved from stored resources (role, care relationships,
   health centre: :func:`fhir_server.auth.relationships.resolve`), once per request;
5. the token's scopes (and a practitioner's role) must allow the interaction on the
   type: otherwise 403;
6. instance interactions of a restricted token (patients, practitioners, ``patient/``
   scopes) must concern a resource within reach: otherwise 404, as if the resource did
   not exist; creates, updates, PATCH results and deletes obey the single write rule
   (:meth:`AccessPolicy.check_named`: every patient named, before and after, within reach)
   and the role rules: otherwise 403 (:mod:`fhir_server.auth.access`, shared with Bundle
   entries and conditional interactions);
7. searches are let through for restricted tokens because their handlers apply the
   policy themselves (``handler.applies_access_policy = True``): each query, chain,
   ``_has`` and include ANDs :meth:`AccessPolicy.search_filter` (see
   ``fhir_server.search.access``); a compartment search of a record the caller may not
   see is a 404, like a read; a pharmacist searches prescriptions by number only;
8. batches and transactions (each entry checked like the single interaction:
   :mod:`fhir_server.bundles.access`), conditional update/delete and operations
   (:func:`fhir_server.operations.dispatch.authorize`) apply the policy themselves
   (``applies_access_policy``); a conditional PATCH is checked here (its match, then its
   result); the searches behind every condition run restricted by the caller's policy
   (:data:`fhir_server.rest.conditional.ACCESS`, set here around the handler); history at
   type or system level needs an unrestricted grant.
Break-the-glass: a care practitioner (not a médecin conseil or a pharmacist) may send
``X-Break-Glass-Reason`` (percent-encoded, 10 characters at least) to lift the patient
restriction of their ``user/`` and ``patient/`` scopes (the scopes still limit types and
interactions); every such access, and every refused attempt, is audited with
``purposeOfEvent`` BTG, the reason and a DICOM "Security Alert" subtype.

Every outcome, success or refusal, is recorded as an AuditEvent with the source IP.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.auth import audit, roles
from fhir_server.auth.access import (
    INSTANCE_CODES,
    INSTANCE_READS,
    check_delete,
    check_instance,
    check_write,
    concerned,
)
from fhir_server.auth.keys import signing_keys
from fhir_server.auth.policy import BREAK_GLASS_HEADER, IMMUTABLE, AccessPolicy, hidden
from fhir_server.auth.relationships import resolve
from fhir_server.auth.settings import auth_settings
from fhir_server.auth.store import TOKENS
from fhir_server.errors import FhirError
from fhir_server.rest.conditional import ACCESS as CONDITIONAL_ACCESS
from fhir_server.rest.formats import negotiate
from fhir_server.rest.http import fhir_response
from fhir_server.rest.registry import Handler, Interaction

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


async def enforce(
    request: Request, policy: AccessPolicy, code: str, type_: str | None, id_: str | None, handler: Handler
) -> list[str]:
    """Apply the policy before the handler runs; returns the patient ids concerned (for the audit)."""
    if policy.is_unrestricted:
        return []
    aware = getattr(handler, "applies_access_policy", False)
    if code in ("transaction", "batch", "operation") or code.startswith("conditional-"):
        # Bundles, operations and conditional update/delete apply the policy entry by entry
        # (handlers marked applies_access_policy); the others need a token that may do everything.
        if policy.reads_and_writes_everything() and policy.kind != "practitioner":
            return []  # (a practitioner under break-the-glass still gets the write checks below)
        if not aware and code != "conditional-patch":  # conditional PATCH: checked here whole
            raise FhirError(403, "forbidden", f"Interaction {code} réservée aux jetons sans restriction.")
        if code.startswith("conditional-"):
            return await _conditional(request, policy, code, type_ or "")
        return []
    if code in SEARCHES or code == "search-compartment":
        if policy.role == roles.PHARMACIST and code == "search-system":
            raise FhirError(403, "forbidden", "Un pharmacien recherche par type (prescription par numéro).")
        if policy.role == roles.PHARMACIST and type_ == "MedicationRequest":
            await _prescription_number_only(request)
        if policy.role == roles.CONSEIL and (code == "search-system" or type_ in roles.CONSEIL_EXACT):
            await _one_insured_only(request, type_ if code != "search-system" else None)
        return _search_patients(request, policy, code, type_, id_, aware)
    if type_ is None:
        if policy.kind == "system" and policy.grant("Resource", code).unrestricted:
            return []
        raise FhirError(
            403, "forbidden", f"Interaction {code} réservée aux accès sans restriction de dossier."
        )
    grant = policy.grant(type_, code)
    withdrawable = policy.kind == "practitioner" and type_ in roles.WITHDRAWABLE and code in INSTANCE_CODES
    if (
        grant.unrestricted
        and (policy.kind != "practitioner" or code in INSTANCE_READS or code == "history-type")
        and not withdrawable  # break-the-glass never reopens a thread the doctor side withdrew
    ):
        return []
    repository = request.app.state.repository
    current = None
    if code in INSTANCE_CODES:
        assert id_ is not None
        grant, current = await check_instance(
            policy, repository, code, type_, id_, vid=request.path_params.get("vid")
        )
        if policy.role == roles.PHARMACIST and type_ == "Patient" and current is not None:
            request.state.masked = roles.masked_patient(current)
        if code in INSTANCE_READS:
            return concerned(type_, current, grant)
    if code in ("create", "update"):
        resource = await _body(request)
        if id_ is not None:
            resource = {**resource, "id": id_}
        await check_write(policy, repository, code, type_, resource, current=current)
        return concerned(type_, resource, grant)
    if code == "patch" and current is not None:
        from fhir_server.rest.formats import read_body
        from fhir_server.rest.patch import apply_document, decode_patch

        data = await read_body(request, request.app.state.settings.max_body_bytes)
        request._body = data  # the handler reads the same bytes again
        patched = apply_document(current, decode_patch(data, request.headers.get("content-type")))
        await check_write(policy, repository, code, type_, patched, current=current)
        return concerned(type_, patched, grant)
    if code == "delete":
        await check_delete(policy, repository, type_, current)
    if code in ("delete", "patch"):
        return concerned(type_, current, grant)  # patch of an absent resource: the handler's 404
    raise FhirError(403, "forbidden", f"Interaction {code} non autorisée pour un accès limité au dossier.")


async def _conditional(request: Request, policy: AccessPolicy, code: str, type_: str) -> list[str]:
    """Conditional update/delete: the scope here, the search restricted by the policy in the handler
    (``fhir_server.rest.conditional.find``), and the content written checked like an update."""
    if policy.role in roles.ROLE_TYPES:
        raise FhirError(403, "forbidden", "Interactions conditionnelles non ouvertes à ce rôle.")
    interaction = code.removeprefix("conditional-")
    grant = policy.grant(type_, interaction)
    if grant.unrestricted:
        policy.check_glass_write(type_)
        return []
    if interaction == "delete":
        return []
    if interaction == "patch":
        return await _conditional_patch(request, policy, type_)
    resource = await _body(request)
    repository = request.app.state.repository
    current = await _conditional_target(request, policy, type_)
    await check_write(policy, repository, "update", type_, resource, current=current)
    return concerned(type_, resource, grant)


async def _conditional_target(request: Request, policy: AccessPolicy, type_: str) -> dict[str, Any] | None:
    """The body a conditional update would replace (its one match among what the caller sees), so
    that the write rule also applies to the version replaced; None when it would create."""
    import orjson

    from fhir_server.rest.conditional import find, parse_criteria

    restricted = CONDITIONAL_ACCESS.set(policy)
    try:
        criteria = parse_criteria(request.url.query, "url")
        matches = await find(request.app.state.repository, type_, criteria, session=None, limit=2)
    finally:
        CONDITIONAL_ACCESS.reset(restricted)
    if len(matches) != 1 or matches[0].body is None:
        return None  # none: a create; several: the handler's 412
    return orjson.loads(matches[0].body)  # type: ignore[no-any-return]


async def _conditional_patch(request: Request, policy: AccessPolicy, type_: str) -> list[str]:
    """``PATCH [type]?criteria``: the one match among what the caller sees, and the result, checked
    like a PATCH of it (the handler's own search is restricted the same way)."""
    from fhir_server.rest.conditional import parse_criteria, resolve_single
    from fhir_server.rest.formats import read_body
    from fhir_server.rest.patch import apply_document, decode_patch

    repository = request.app.state.repository
    restricted = CONDITIONAL_ACCESS.set(policy)
    try:
        target = await resolve_single(
            repository, type_, parse_criteria(request.url.query, "url"), None, "PATCH conditionnel"
        )
    finally:
        CONDITIONAL_ACCESS.reset(restricted)
    grant, current = await check_instance(policy, repository, "patch", type_, target.id)
    if current is None:
        return []
    data = await read_body(request, request.app.state.settings.max_body_bytes)
    request._body = data  # the handler reads the same bytes again
    patched = apply_document(current, decode_patch(data, request.headers.get("content-type")))
    await check_write(policy, repository, "patch", type_, patched, current=current)
    return concerned(type_, patched, grant)


async def _prescription_number_only(request: Request) -> None:
    """A pharmacist finds a prescription by its number (``group-identifier`` / ``identifier``), exactly."""
    from urllib.parse import parse_qsl

    params = list(request.query_params.multi_items())
    if request.method == "POST":
        data = await request.body()  # cached: the handler reads the same bytes again
        params += parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True)
    if not roles.exact_prescription_number(params):
        raise FhirError(
            403,
            "forbidden",
            "Un pharmacien recherche une prescription par son numéro (group-identifier ou identifier).",
        )


async def _one_insured_only(request: Request, type_: str | None) -> None:
    """A médecin conseil finds an insured person by NIR (or one patient's coverage), one at a time:
    the insured of their échelon's funds are within reach, not a list to browse (SECURITY.md)."""
    from urllib.parse import parse_qsl

    params = list(request.query_params.multi_items())
    if request.method == "POST":
        data = await request.body()  # cached: the handler reads the same bytes again
        params += parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True)
        request._body = data
    if not roles.exact_patient_lookup(type_, params):
        raise FhirError(
            403,
            "forbidden",
            "Un médecin conseil recherche un assuré par son NIR (Patient?identifier=…) ou la couverture "
            "d'un patient nommé (Coverage?beneficiary=…) : pas de liste des assurés.",
        )


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
        if grant.unrestricted or grant.everyone:
            return []
        if type_ == "Patient" and id_ in grant.patients:
            return [id_]
        # someone else's record: 404, exactly like a read of that Patient
        raise hidden(type_ or "Patient", id_ or "")
    if type_ is None:
        return []  # system search: the handler keeps the types the token may search
    grant = policy.grant(type_, code)  # 403 without a scope on the type
    return [] if grant.unrestricted else sorted(grant.patients)


def _entities(request: Request, type_: str | None, id_: str | None, response: Response | None) -> list[str]:
    if type_ and id_:
        vid = request.path_params.get("vid")
        return [f"{type_}/{id_}" + (f"/_history/{vid}" if vid else "")]
    if response is not None and "location" in response.headers:
        parts = response.headers["location"].split("/_history/")[0].split("/")
        return ["/".join(parts[-2:])]
    return [type_] if type_ else []


MAX_AUDITED_ENTRIES = 200


def _bundle_audit(code: str, response: Response | None) -> tuple[str, list[str]]:
    """For the audit of ``POST [base]``: batch or transaction (one route serves both, so the code
    is read from the answer), and the resources its entries read or wrote."""
    if code not in ("transaction", "batch") or response is None or response.status_code != 200:
        return code, []
    import orjson

    try:
        body = orjson.loads(bytes(response.body))
    except (orjson.JSONDecodeError, TypeError):
        return code, []  # an XML answer: the Bundle is audited without its entries
    kind = str(body.get("type", "")).removesuffix("-response")
    out: list[str] = []
    for entry in body.get("entry", [])[:MAX_AUDITED_ENTRIES]:
        where = (entry.get("response") or {}).get("location") or entry.get("fullUrl") or ""
        tail = "/".join(where.split("/_history/")[0].split("/")[-2:])
        if "/" in tail:
            out.append(tail)
    return (kind if kind in ("transaction", "batch") else code), out


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
            audited_code, bundle_entities = _bundle_audit(code, response)
            event = audit.rest_event(
                interaction=audited_code,
                status=status,
                who=policy.who if policy else {"display": "anonyme (sans jeton valide)"},
                client_id=policy.client_id if policy else None,
                source_ip=ip,
                entities=_entities(request, type_, id_, response) or bundle_entities,
                patients=patients,
                query=query,
                description=description,
                break_glass=policy.break_glass if policy else None,
                assurance=policy.assurance if policy else None,
            )
            await audit.record(request.app.state.repository, event)

        try:
            policy = await authenticate(request)
            reason = request.headers.get(BREAK_GLASS_HEADER)
            if reason is not None:
                policy = policy.with_break_glass(unquote_plus(reason))
            policy = await resolve(policy, request.app.state.repository.db)
            request.state.access = policy
            patients = await enforce(request, policy, code, type_, id_, inner)
            masked = getattr(request.state, "masked", None)
            if masked is not None:
                response = fhir_response(masked, negotiate(request), 200)
            else:
                # conditional searches (If-None-Exist, conditional update/delete, Bundle entries,
                # $everything) run restricted by the caller's policy
                restricted = CONDITIONAL_ACCESS.set(policy)
                try:
                    response = await inner(request)
                finally:
                    CONDITIONAL_ACCESS.reset(restricted)
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
