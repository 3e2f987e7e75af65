"""``GET [base]/metadata?mode=terminology``: the TerminologyCapabilities resource (R4 3.1.0.3.1).

What the terminology operations of this server (``fhir_server.operations.terminology_ops``)
support, and every code system the in-process terminology service answers for.
"""

from __future__ import annotations

from typing import Any

from fhir_server.storage.records import fhir_instant, now_ms


def terminology_capabilities(base: str, software_version: str) -> dict[str, Any]:
    """Built from the process-wide terminology service (loads it: call off the event loop)."""
    from terminology import get_service

    service = get_service()
    systems = []
    for url, version in sorted(service.known_systems().items()):
        if not url:
            continue
        entry: dict[str, Any] = {"uri": url}
        if version:
            entry["version"] = [{"code": str(version), "isDefault": True}]
        systems.append(entry)
    return {
        "resourceType": "TerminologyCapabilities",
        "status": "active",
        "date": fhir_instant(now_ms()),
        "publisher": "Passerelle",
        "kind": "instance",
        "software": {"name": "Passerelle", "version": software_version},
        "implementation": {"description": "Passerelle FHIR R4 terminology service", "url": base},
        "lockedDate": False,
        "codeSystem": systems,
        "expansion": {
            "hierarchical": False,
            "paging": True,
            "incomplete": False,
            "parameter": [
                {"name": name}
                for name in (
                    "url",
                    "valueSet",
                    "filter",
                    "count",
                    "offset",
                    "displayLanguage",
                    "includeDesignations",
                    "activeOnly",
                )
            ],
            "textFilter": "Mots de la désignation, sans casse ni accents (préfixes).",
        },
        "codeSearch": "explicit",
        "validateCode": {"translations": False},
        "translation": {"needsMap": True},
    }
