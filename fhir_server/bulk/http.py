"""The HTTP side of Bulk Data: ``$export`` kick-off, status polling, cancel, file download.

- ``GET|POST [base]/$export``, ``[base]/Patient/$export``, ``[base]/Group/[id]/$export`` with
  ``Prefer: respond-async``: 202 and ``Content-Location`` of the status URL;
- ``GET [base]/_bulk/status/[job]``: 202 with ``X-Progress`` and ``Retry-After`` while it runs,
  200 with the manifest once complete, 5xx with an OperationOutcome when it failed;
- ``DELETE [base]/_bulk/status/[job]``: 202, the job and its files are removed (then 404);
- ``GET [base]/_bulk/files/[job]/[name]``: one NDJSON file (``application/fhir+ndjson``).

Authorization (SMART Backend Services): only ``system/`` tokens (or ``--no-auth``) may start
an export; every type exported needs a read and search scope (``system/*.read``,
``system/*.rs``, ``system/Observation.rs``…); an asked type without one is a 403, others are
left out. Status and files are served only to the client that started the export (404 to
anyone else, as for a job that does not exist). The guard audits each request; each finished
export is audited once more with what it exported (:mod:`.jobs`).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from fhir_server.bulk.exporter import export_types, group_members
from fhir_server.bulk.jobs import BulkJobs
from fhir_server.bulk.request import parse_request
from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.operations.registry import Call, Operation, register
from fhir_server.rest.formats import negotiate
from fhir_server.rest.http import base_url, fhir_response, http_date
from fhir_server.storage.records import fhir_instant, now_ms

SYSTEM_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
PATIENT_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
GROUP_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
_JOB_RE = re.compile(r"^[0-9a-f]{32}$")
_FILE_RE = re.compile(r"^[A-Za-z0-9\-.]{1,100}\.ndjson$")


def _prefer(request: Request) -> tuple[bool, bool]:
    """(respond-async asked, handling=lenient asked) from the ``Prefer`` header."""
    asynchronous = lenient = False
    for part in request.headers.get("prefer", "").split(","):
        key, _, value = part.strip().partition("=")
        key = key.strip().lower()
        if key == "respond-async":
            asynchronous = True
        elif key == "handling" and value.strip().strip('"').lower() == "lenient":
            lenient = True
    return asynchronous, lenient


def jobs_of(request: Request) -> BulkJobs:
    jobs = getattr(request.app.state, "bulk", None)
    if jobs is None:
        raise FhirError(503, "transient", "Export en masse indisponible : serveur en cours de démarrage.")
    return jobs  # type: ignore[no-any-return]


def _owner(policy: Any) -> str:
    """Who may see a job: the client that started it (empty under ``--no-auth``)."""
    if policy is None or policy.is_unrestricted:
        return ""
    return str(policy.client_id or policy.subject)


async def kick_off(call: Call) -> Response:
    request = call.request
    asynchronous, lenient = _prefer(request)
    if not asynchronous:
        raise FhirError(
            400, "required", "$export est asynchrone : en-tête « Prefer: respond-async » obligatoire."
        )
    if call.level == "type" and call.type != "Patient":
        raise FhirError(
            400, "not-supported", "Export par type : Patient/$export seulement (ou Group/[id]/$export)."
        )
    if call.level == "instance" and call.type != "Group":
        raise FhirError(400, "not-supported", "Export d'une instance : Group/[id]/$export seulement.")
    policy = getattr(request.state, "access", None)
    unrestricted = policy is None or policy.is_unrestricted
    if not unrestricted and policy.kind != "system":
        raise FhirError(
            403,
            "forbidden",
            "$export est réservé aux clients SMART Backend Services (portées system/…).",
        )
    level = {"system": "system", "type": "patient", "instance": "group"}[call.level]
    export = parse_request(call.params, level=level, group=call.id, method=request.method, lenient=lenient)
    types = export_types(export, policy)
    jobs = jobs_of(request)
    repository = request.app.state.repository
    await check_type_filters(repository, export)
    patients: list[str] | None = export.patients
    if level == "group":
        assert call.id is not None
        if not unrestricted:
            from fhir_server.auth.access import check_instance

            await check_instance(policy, repository, "read", "Group", call.id)
        members = await group_members(repository, call.id)
        patients = members if patients is None else [p for p in patients if p in set(members)]
    owner = _owner(policy)
    if await jobs.active_count(owner) >= jobs.settings.per_client:
        raise FhirError(
            429,
            "throttled",
            "Trop d'exports en cours pour ce client : attendez la fin de l'un d'eux ou annulez-le.",
            headers={"Retry-After": str(jobs.settings.retry_after * 5)},
        )
    base = base_url(request)
    job_id = await jobs.submit(
        request=export,
        types=types,
        patients=patients,
        owner=owner,
        who=policy.who if not unrestricted else {"display": "accès sans autorisation (--no-auth)"},
        claims=None if unrestricted else dict(policy.claims),
        kick_off_url=str(request.url),
        base=base,
        requires_token=not request.app.state.settings.no_auth,
        transaction_time=now_ms(),
    )
    text = f"Export {job_id} accepté : suivez-le à l'adresse donnée par Content-Location."
    if export.ignored:
        text += f" Paramètres ignorés (handling=lenient) : {', '.join(export.ignored)}."
    return fhir_response(
        operation_outcome([issue("information", "informational", text)]),
        call.fmt,
        202,
        headers={"Content-Location": f"{base}/_bulk/status/{job_id}"},
    )


async def check_type_filters(repository: Any, export: Any) -> None:
    """400 now for a ``_typeFilter`` the search engine refuses, rather than an error file later."""
    from fhir_server.search import search_query

    for type_, queries in export.type_filters.items():
        for criteria in queries:
            try:
                await search_query(repository, type_, criteria)
            except FhirError as exc:
                raise FhirError(
                    400, "invalid", f"_typeFilter {type_} : {exc}", expression=["_typeFilter"]
                ) from exc


async def _job_for(request: Request) -> dict[str, Any]:
    """The job named in the URL if the caller started it; 404 otherwise (never confirm others' jobs)."""
    job_id = request.path_params["job"]
    job = await jobs_of(request).get(job_id) if _JOB_RE.match(job_id) else None
    if job is None or job.get("owner", "") != _owner(getattr(request.state, "access", None)):
        raise FhirError(404, "not-found", f"Export {job_id} inconnu, annulé ou expiré.")
    return job


def manifest(job: dict[str, Any]) -> dict[str, Any]:
    base = f"{job['base']}/_bulk/files/{job['_id']}"

    def entries(key: str) -> list[dict[str, Any]]:
        return [
            {"type": f["type"], "url": f"{base}/{f['name']}", "count": f["count"]}
            for d in job.get("done", [])
            for f in d.get(key, [])
        ]

    out: dict[str, Any] = {
        "transactionTime": fhir_instant(job["transaction_time"]),
        "request": job["request_url"],
        "requiresAccessToken": bool(job.get("requires_token")),
        "output": entries("output"),
        "error": [
            {"type": "OperationOutcome", "url": f"{base}/{f['name']}", "count": f["count"]}
            for f in job.get("error_files", [])
        ],
    }
    if job["request"].get("since") is not None:
        out["deleted"] = [
            {"type": "Bundle", "url": e["url"], "count": e["count"]} for e in entries("deleted")
        ]
    return out


async def status(request: Request) -> Response:
    job = await _job_for(request)
    jobs = jobs_of(request)
    state = job["status"]
    if state == "completed":
        import orjson

        return Response(
            orjson.dumps(manifest(job)),
            status_code=200,
            media_type="application/json",
            headers={"Expires": http_date(job["expires"])},
        )
    if state == "failed":
        return fhir_response(job["outcome"], negotiate(request), 500)
    done = len(job.get("done", []))
    total = len(job.get("types", []))
    progress = job.get("progress") or {}
    if state == "accepted" or not progress.get("type"):
        text = f"en attente ({done}/{total} types)"
    else:
        text = f"{progress['type']} : {progress.get('count', 0)} ressources ({done}/{total} types)"
    return Response(
        status_code=202,
        headers={"X-Progress": _ascii(text), "Retry-After": str(jobs.settings.retry_after)},
    )


def _ascii(text: str) -> str:
    """HTTP header values are Latin-1 at best: keep the French readable without accents."""
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


async def cancel(request: Request) -> Response:
    job = await _job_for(request)
    await jobs_of(request).remove(job["_id"])
    outcome = operation_outcome([issue("information", "informational", f"Export {job['_id']} annulé.")])
    return fhir_response(outcome, negotiate(request), 202)


async def download(request: Request) -> Response:
    job = await _job_for(request)
    name = request.path_params["name"]
    listed = {f["name"] for d in job.get("done", []) for k in ("output", "deleted") for f in d.get(k, [])}
    listed |= {f["name"] for f in job.get("error_files", [])}
    if job["status"] != "completed" or not _FILE_RE.match(name) or name not in listed:
        raise FhirError(404, "not-found", f"Fichier {name} introuvable dans l'export {job['_id']}.")
    path = jobs_of(request).directory(job["_id"]) / name
    if not path.is_file():
        raise FhirError(404, "not-found", f"Fichier {name} expiré ou supprimé.")
    return FileResponse(path, media_type="application/fhir+ndjson")


for _handler in (status, cancel, download):
    _handler.applies_access_policy = True  # type: ignore[attr-defined]

register(
    Operation(
        name="export",
        definition=SYSTEM_EXPORT,
        levels=frozenset({"system", "type", "instance"}),
        handler=kick_off,
        resource_types=frozenset({"Patient", "Group"}),
        definitions=(("Patient", PATIENT_EXPORT), ("Group", GROUP_EXPORT)),
        authorizes_itself=True,
    )
)
