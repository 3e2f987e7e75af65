"""HTTP details shared by the handlers: base URL, ids, ETags, dates, Prefer, responses."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.rest.formats import Format, render
from fhir_server.storage import StoredVersion

ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ETAG_RE = re.compile(r'^\s*(?:W/)?"?([0-9]+)"?\s*$')


def base_url(request: Request) -> str:
    configured = request.app.state.settings.base_url
    if configured:
        return configured.rstrip("/")
    scheme = request.url.scheme
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{scheme}://{host}{request.scope.get('root_path', '')}".rstrip("/")


def check_type(request: Request) -> str:
    from fhir_server.validation import RESOURCE_TYPES

    type_ = request.path_params["type"]
    if type_ not in RESOURCE_TYPES:
        raise FhirError(404, "not-supported", f"Type de ressource inconnu : {type_!r}.")
    return type_


def check_id(raw: str) -> str:
    if not ID_RE.fullmatch(raw):
        raise FhirError(
            400,
            "invalid",
            f"Identifiant {raw!r} invalide : 1 à 64 caractères parmi A-Z a-z 0-9 - .",
            expression=["id"],
        )
    return raw


def parse_version(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 12:
        raise FhirError(404, "not-found", f"Version {raw!r} inconnue.")
    return int(raw)


def parse_etag(value: str | None, header: str) -> int | None:
    """``W/"3"`` (or ``"3"``, ``3``) → 3; 400 for anything else."""
    if value is None:
        return None
    m = _ETAG_RE.match(value)
    if not m:
        raise FhirError(400, "invalid", f'En-tête {header} invalide : {value!r} (attendu W/"<versionId>").')
    return int(m.group(1))


def http_date(ts: datetime) -> str:
    return format_datetime(ts.astimezone(UTC), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def version_headers(version: StoredVersion, request: Request, *, location: bool = False) -> dict[str, str]:
    headers = {"ETag": version.etag, "Last-Modified": http_date(version.last_updated)}
    if location:
        url = f"{base_url(request)}/{version.type}/{version.id}/_history/{version.version}"
        headers["Location"] = url
        headers["Content-Location"] = url
    return headers


def prefer_return(request: Request) -> str:
    """The ``Prefer: return=`` choice (``representation`` by default)."""
    for part in request.headers.get("prefer", "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "return":
            value = value.strip().strip('"')
            if value in ("minimal", "representation", "OperationOutcome"):
                return value
    return "representation"


def fhir_response(body: dict[str, Any] | bytes | None, fmt: Format, status: int = 200, **kw: Any) -> Response:
    headers: dict[str, str] = kw.pop("headers", {})
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(render(body, fmt), status_code=status, media_type=fmt.media_type, headers=headers)


def write_response(
    request: Request, fmt: Format, version: StoredVersion, status: int, message: str
) -> Response:
    """Answer a create/update honouring ``Prefer: return``."""
    headers = version_headers(version, request, location=True)
    choice = prefer_return(request)
    if choice == "minimal":
        return Response(status_code=status, headers=headers)
    if choice == "OperationOutcome":
        outcome = operation_outcome([issue("information", "informational", message)])
        return fhir_response(outcome, fmt, status, headers=headers)
    return fhir_response(version.body, fmt, status, headers=headers)


def json_error(status: int, outcome: dict[str, Any]) -> Response:
    return Response(
        orjson.dumps(outcome), status_code=status, media_type="application/fhir+json; charset=utf-8"
    )
