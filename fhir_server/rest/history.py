"""The history interaction at instance, type and system level (``_since``, ``_at``, ``_count``, paging)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.rest.formats import negotiate
from fhir_server.rest.http import base_url, check_id, check_type, fhir_response
from fhir_server.storage import MongoRepository, StoredVersion
from fhir_server.storage.cursor import Cursor
from fhir_server.storage.records import fhir_instant

_ALLOWED = {"_since", "_at", "_count", "_cursor", "_format", "_pretty"}
_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def parse_fhir_date_range(value: str, name: str) -> tuple[datetime, datetime]:
    """A FHIR date/dateTime/instant as the half-open range its precision implies.

    ``2024`` is the whole year, ``2024-03-05T10:00`` that minute; a time without a
    zone is read as UTC (the spec leaves it to the server).
    """
    m = _DATE_RE.match(value.strip())
    if not m:
        raise FhirError(
            400, "invalid", f"{name}: date {value!r} invalide (format FHIR attendu).", expression=[name]
        )
    try:
        year = int(m["y"])
        if m["m"] is None:
            start = datetime(year, 1, 1, tzinfo=UTC)
            return start, start.replace(year=year + 1)
        month = int(m["m"])
        if m["d"] is None:
            start = datetime(year, month, 1, tzinfo=UTC)
            end = start.replace(year=year + 1, month=1) if month == 12 else start.replace(month=month + 1)
            return start, end
        day = int(m["d"])
        if m["H"] is None:
            start = datetime(year, month, day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        tz = UTC
        if m["tz"] and m["tz"] != "Z":
            sign = 1 if m["tz"][0] == "+" else -1
            hh, mm = m["tz"][1:].split(":")
            tz = timezone(timedelta(minutes=sign * (int(hh) * 60 + int(mm))))
        frac = m["f"] or ""
        micro = int((frac[1:] + "000000")[:6]) if frac else 0
        start = datetime(year, month, day, int(m["H"]), int(m["M"]), int(m["S"] or 0), micro, tzinfo=tz)
        if m["S"] is None:
            step = timedelta(minutes=1)
        elif not frac:
            step = timedelta(seconds=1)
        else:
            step = timedelta(milliseconds=1)
        return start.astimezone(UTC), (start + step).astimezone(UTC)
    except ValueError as exc:
        raise FhirError(
            400, "invalid", f"{name}: date {value!r} invalide ({exc}).", expression=[name]
        ) from exc


def _entry(version: StoredVersion, base: str) -> dict[str, Any]:
    url = f"{version.type}/{version.id}"
    entry: dict[str, Any] = {"fullUrl": f"{base}/{url}"}
    if version.body is not None:
        entry["resource"] = orjson.Fragment(version.body)
    if version.deleted:
        request = {"method": "DELETE", "url": url}
        status = "204 No Content"
    elif version.method == "POST":
        request = {"method": "POST", "url": version.type}
        status = "201 Created"
    else:
        request = {"method": "PUT", "url": url}
        status = "201 Created" if version.version == 1 else "200 OK"
    entry["request"] = request
    entry["response"] = {
        "status": status,
        "etag": version.etag,
        "lastModified": fhir_instant(version.last_updated),
    }
    return entry


async def history(request: Request) -> Response:
    params = request.query_params
    type_ = check_type(request) if "type" in request.path_params else None
    id_ = check_id(request.path_params["id"]) if "id" in request.path_params else None
    fmt = negotiate(request)
    for key in params:
        if key not in _ALLOWED:
            raise FhirError(
                400, "not-supported", f"Paramètre d'historique inconnu : {key}.", expression=[key]
            )
    settings = request.app.state.settings
    count = settings.history_count_default
    if "_count" in params:
        raw = params["_count"]
        if not raw.isdigit():
            raise FhirError(
                400, "invalid", f"_count doit être un entier positif ou nul : {raw!r}.", expression=["_count"]
            )
        count = min(int(raw), settings.history_count_max)
    since = parse_fhir_date_range(params["_since"], "_since")[0] if "_since" in params else None
    at = parse_fhir_date_range(params["_at"], "_at") if "_at" in params else None
    cursor = None
    if "_cursor" in params:
        try:
            cursor = Cursor.decode(params["_cursor"])
        except ValueError as exc:
            raise FhirError(400, "invalid", str(exc), expression=["_cursor"]) from exc
    repo: MongoRepository = request.app.state.repository
    page = await repo.history_page(type_, id_, since=since, at=at, count=count, cursor=cursor)

    base = base_url(request)
    path = "/".join(p for p in (type_, id_) if p) + ("/_history" if type_ else "_history")
    keep = [(k, v) for k, v in params.multi_items() if k != "_cursor"]
    if "_count" not in params:
        keep.append(("_count", str(count)))

    def link(relation: str, token: str | None) -> dict[str, str]:
        query = keep + ([("_cursor", token)] if token else [])
        return {"relation": relation, "url": f"{base}/{path}?{urlencode(query)}"}

    links = [link("self", params.get("_cursor"))]
    if page.next_cursor:
        links.append(link("next", page.next_cursor))
    if page.prev_cursor:
        links.append(link("previous", page.prev_cursor))
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "total": page.total,
        "link": links,
        "entry": [_entry(v, base) for v in page.entries],
    }
    if not bundle["entry"]:
        del bundle["entry"]
    data = orjson.dumps(bundle)
    return fhir_response(orjson.loads(data) if fmt.xml else data, fmt, 200)
