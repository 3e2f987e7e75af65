"""The SMART configuration document (``/.well-known/smart-configuration``), at the root and under ``/fhir``.

Kept apart from the routes so that the FHIR app can serve it without importing the
authorization server's dependencies.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fhir_server.auth.scopes import CONTEXT_SCOPES

SCOPES_SUPPORTED = [
    *CONTEXT_SCOPES,
    "patient/*.rs",
    "patient/*.cruds",
    "user/*.rs",
    "user/*.cruds",
    "system/*.rs",
    "system/*.cruds",
    "patient/*.read",
    "patient/*.write",
    "user/*.read",
    "user/*.write",
    "system/*.read",
]
CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
]


def smart_document(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/auth/jwks",
        "authorization_endpoint": f"{issuer}/auth/authorize",
        "token_endpoint": f"{issuer}/auth/token",
        "revocation_endpoint": f"{issuer}/auth/revoke",
        "introspection_endpoint": f"{issuer}/auth/introspect",
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "ES256", "ES384"],
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    }


OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"


def capability_security(issuer: str) -> dict[str, Any]:
    """``CapabilityStatement.rest.security`` for SMART App Launch v1 clients (v2 ones read ``.well-known``).

    The ``oauth-uris`` extension carries the endpoints this server has: no dynamic
    registration (clients are registered with ``passerelle clients create``) nor management page.
    """
    doc = smart_document(issuer)
    uris = [
        ("authorize", doc["authorization_endpoint"]),
        ("token", doc["token_endpoint"]),
        ("revoke", doc["revocation_endpoint"]),
        ("introspect", doc["introspection_endpoint"]),
    ]
    return {
        "extension": [
            {"url": OAUTH_URIS, "extension": [{"url": name, "valueUri": uri} for name, uri in uris]}
        ],
        "cors": False,
        "service": [
            {
                "coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
                "text": "OAuth2 selon SMART App Launch (v1 et v2) ; professionnels via Pro Santé Connect",
            }
        ],
        "description": (
            f"SMART on FHIR : configuration dans {issuer}/.well-known/smart-configuration ; "
            "clients enregistrés avec « passerelle clients create »."
        ),
    }


async def fhir_smart_configuration(request: Request) -> Response:
    """``/fhir/.well-known/smart-configuration``: same document, issuer seen from the FHIR app."""
    from fhir_server.auth.guard import issuer_of

    return JSONResponse(smart_document(issuer_of(request)))
