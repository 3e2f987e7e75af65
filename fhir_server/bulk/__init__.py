"""FHIR Bulk Data Access (HL7 SMART Bulk Data IG v2): ``$export`` as background jobs writing NDJSON.

Public surface: :class:`BulkJobs` (the jobs of one server process, ``app.state.bulk``),
:class:`BulkSettings`, :class:`ExportRequest` / :func:`parse_request` (kick-off parameters),
:class:`Export` (the streaming exporter shared with ``passerelle export``), :data:`ROUTES`
(status, cancel and file routes for the routing table) and :data:`BULK_CAPABILITY` (the IG's
CapabilityStatement the server's ``instantiates``).

Modules: ``request`` (parameters), ``exporter`` (streaming from MongoDB), ``writer`` (NDJSON
files), ``jobs`` (storage, background running, restart), ``http`` (kick-off, status, files),
``cli`` (``passerelle export``), ``settings``.
"""

from __future__ import annotations

from fhir_server.bulk.exporter import Export, export_types
from fhir_server.bulk.jobs import BulkJobs
from fhir_server.bulk.request import ExportRequest, parse_request
from fhir_server.bulk.settings import BulkSettings

BULK_CAPABILITY = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"


def routes() -> list[tuple[str, str, object]]:
    """(path, method, handler) of the status, cancel and download endpoints."""
    from fhir_server.bulk import http

    return [
        ("/_bulk/status/{job}", "GET", http.status),
        ("/_bulk/status/{job}", "DELETE", http.cancel),
        ("/_bulk/files/{job}/{name}", "GET", http.download),
    ]


__all__ = [
    "BULK_CAPABILITY",
    "BulkJobs",
    "BulkSettings",
    "Export",
    "ExportRequest",
    "export_types",
    "parse_request",
    "routes",
]
