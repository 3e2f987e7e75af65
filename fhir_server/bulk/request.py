"""The kick-off parameters of ``$export`` (HL7 FHIR Bulk Data Access v2), checked and normalised.

Supported: ``_outputFormat`` (``application/fhir+ndjson`` and its two short forms), ``_since``,
``_type``, ``_typeFilter`` (search queries per type; several for one type are ORed),
``_elements``, and ``patient`` (POST only, Patient and Group level). Anything else, and
``includeAssociatedData`` (no associated data is defined here), is a 400 unless the client
sent ``Prefer: handling=lenient``, in which case it is ignored (IG: "Server handling of
unsupported parameters"). Shared by the HTTP kick-off and ``passerelle export``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fhir_server.errors import FhirError

OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
NDJSON = "application/fhir+ndjson"
KNOWN = frozenset(
    {"_outputFormat", "_since", "_type", "_typeFilter", "_elements", "patient", "includeAssociatedData"}
)
# Search result parameters have no meaning in a _typeFilter (the IG limits it to search criteria).
_RESULT_PARAMS = frozenset(
    {"_count", "_sort", "_include", "_revinclude", "_elements", "_summary", "_total", "_contained",
     "_containedType", "_format", "_pretty", "_cursor"}
)  # fmt: skip
_TYPE_RE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def bad(text: str, name: str, code: str = "invalid") -> FhirError:
    return FhirError(400, code, text, expression=[name])


@dataclass
class ExportRequest:
    """What to export; stored with the job (``to_doc``), so a resumed job exports the same thing."""

    level: str  # system | patient | group
    group: str | None = None
    types: list[str] | None = None  # None: every type the level and the token allow
    since: datetime | None = None
    type_filters: dict[str, list[list[tuple[str, str]]]] = field(default_factory=dict)
    elements: list[str] | None = None
    patients: list[str] | None = None  # POST ``patient`` (ids)
    ignored: list[str] = field(default_factory=list)  # lenient: parameters not applied

    def to_doc(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "group": self.group,
            "types": self.types,
            "since": self.since,
            "type_filters": {t: [[list(p) for p in q] for q in qs] for t, qs in self.type_filters.items()},
            "elements": self.elements,
            "patients": self.patients,
            "ignored": self.ignored,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ExportRequest:
        since = doc.get("since")
        if isinstance(since, datetime) and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return cls(
            level=doc["level"],
            group=doc.get("group"),
            types=doc.get("types"),
            since=since,
            type_filters={
                t: [[(str(k), str(v)) for k, v in q] for q in qs]
                for t, qs in (doc.get("type_filters") or {}).items()
            },
            elements=doc.get("elements"),
            patients=doc.get("patients"),
            ignored=list(doc.get("ignored") or []),
        )


def _strings(values: list[Any], name: str) -> list[str]:
    out = []
    for value in values:
        if not isinstance(value, str):
            raise bad(f"{name} : une chaîne est attendue.", name)
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def parse_instant(raw: Any, name: str = "_since") -> datetime:
    text = str(raw).strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$", text):
        raise bad(f"{name} {text!r} n'est pas un instant FHIR (ex. 2024-01-31T08:00:00Z).", name)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad(f"{name} {text!r} n'est pas un instant FHIR valide.", name) from exc
    return value.astimezone(UTC)


def parse_types(values: list[Any]) -> list[str]:
    from fhir_server.validation import RESOURCE_TYPES

    types = list(dict.fromkeys(_strings(values, "_type")))
    unknown = [t for t in types if t not in RESOURCE_TYPES]
    if unknown:
        raise bad(f"_type : types de ressource inconnus : {', '.join(unknown)}.", "_type")
    return types


def parse_type_filter(raw: str) -> tuple[str, list[tuple[str, str]]]:
    """``Observation?code=…&date=ge2020`` → ("Observation", criteria); 400 when malformed."""
    from fhir_server.validation import RESOURCE_TYPES

    type_, sep, query = raw.partition("?")
    type_ = type_.strip()
    if not sep or not _TYPE_RE.match(type_) or type_ not in RESOURCE_TYPES:
        raise bad(f"_typeFilter {raw!r} : attendu Type?paramètre=valeur[&…].", "_typeFilter")
    criteria = parse_qsl(query, keep_blank_values=True)
    if not criteria:
        raise bad(f"_typeFilter {raw!r} : aucun critère de recherche.", "_typeFilter")
    for name, _ in criteria:
        if name.split(":", 1)[0] in _RESULT_PARAMS:
            raise bad(f"_typeFilter : {name} n'est pas un critère de recherche.", "_typeFilter")
    return type_, criteria


def _patient_ids(values: list[Any]) -> list[str]:
    out = []
    for value in values:
        ref = value.get("reference") if isinstance(value, dict) else value
        if not isinstance(ref, str):
            raise bad("patient : une référence Patient/[id] est attendue (valueReference).", "patient")
        type_, _, id_ = ref.strip().rpartition("/")
        if type_.rsplit("/", 1)[-1] != "Patient" or not _ID_RE.match(id_):
            raise bad(f"patient : {ref!r} n'est pas une référence Patient/[id].", "patient")
        out.append(id_)
    return list(dict.fromkeys(out))


def parse_request(
    params: list[tuple[str, Any]],
    *,
    level: str,
    group: str | None = None,
    method: str = "GET",
    lenient: bool = False,
) -> ExportRequest:
    """The :class:`ExportRequest` of kick-off parameters; 400 ``FhirError`` for what is not supported."""
    request = ExportRequest(level=level, group=group)
    names = list(dict.fromkeys(k for k, _ in params))

    def values(name: str) -> list[Any]:
        return [v for k, v in params if k == name]

    for name in names:
        if name not in KNOWN:
            if not lenient:
                raise bad(f"Paramètre {name} non pris en charge par $export.", name, "not-supported")
            request.ignored.append(name)
    formats = values("_outputFormat")
    if len(formats) > 1:
        raise bad("_outputFormat ne peut apparaître qu'une fois.", "_outputFormat")
    if formats and str(formats[0]).strip() not in OUTPUT_FORMATS:
        raise bad(
            f"_outputFormat {formats[0]!r} non pris en charge : application/fhir+ndjson, "
            "application/ndjson ou ndjson.",
            "_outputFormat",
            "not-supported",
        )
    since = values("_since")
    if len(since) > 1:
        raise bad("_since ne peut apparaître qu'une fois.", "_since")
    if since:
        request.since = parse_instant(since[0])
    if values("_type"):
        request.types = parse_types(values("_type"))
    for raw in values("_typeFilter"):
        if not isinstance(raw, str):
            raise bad("_typeFilter : une chaîne est attendue.", "_typeFilter")
        type_, criteria = parse_type_filter(raw)
        request.type_filters.setdefault(type_, []).append(criteria)
    if values("_elements"):
        request.elements = list(dict.fromkeys(_strings(values("_elements"), "_elements")))
    patients = values("patient")
    if patients:
        if level == "system":
            raise bad("patient ne s'emploie qu'avec Patient/$export ou Group/[id]/$export.", "patient")
        if method != "POST":
            raise bad("patient ne s'envoie qu'en POST (ressource Parameters).", "patient")
        request.patients = _patient_ids(patients)
    associated = _strings(values("includeAssociatedData"), "includeAssociatedData")
    if associated:
        if not lenient:
            raise bad(
                f"includeAssociatedData {', '.join(associated)} non pris en charge : aucune donnée "
                "associée n'est définie par ce serveur.",
                "includeAssociatedData",
                "not-supported",
            )
        request.ignored.append("includeAssociatedData")
    return request
