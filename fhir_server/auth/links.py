"""The root URL of the links a user receives outside an HTTP answer: e-mails (account confirmation,
password reset, ordonnance available, teleconsultation news, invitations) and the ordonnance's QR
code.

Never built from the request's ``Host`` header: anybody can send any ``Host``, and a link built
from it would send a patient's single-use confirmation or reset token to the sender's own site
(host-header poisoning). The root is the configured one (``PASSERELLE_PUBLIC_URL``, else
``PASSERELLE_ISSUER``; ``passerelle serve`` sets the first to its own address when neither is
configured), else the local address of the connection (the ASGI ``server``, which the listening
socket gives, not the client).
"""

from __future__ import annotations

from starlette.requests import Request

from fhir_server.auth.settings import AuthSettings


def public_root(request: Request, settings: AuthSettings) -> str:
    """``scheme://host[:port]`` of the links sent by e-mail, without a trailing slash."""
    configured = settings.links_root
    if configured:
        return configured
    host, port = request.scope.get("server") or ("127.0.0.1", None)
    scheme = str(request.scope.get("scheme") or "http")
    shown = f"[{host}]" if ":" in str(host) else str(host)
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{shown}" if port in (None, default) else f"{scheme}://{shown}:{port}"
