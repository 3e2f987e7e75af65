"""The MongoDB indexes search queries need, one per parameter, created idempotently.

Every parameter's main stored field gets an index (multikey: values are arrays), so
that each single-parameter condition the builder emits leads with an index scan. Strings
index their stored prefixes (``:p``); dates index ``l`` and ``h`` together (one array, so
MongoDB allows the compound key) and ``h`` alone, so that a range on either is bounded;
``~k`` (presence, reference identifiers, uri steps: see :mod:`.extract`) has one index
per type. MongoDB caps
a collection at 64 indexes; the few types with more parameters keep the first 60 in
definition order (the rest still work, as filtered scans).

Layout v3 (:mod:`.layout`) has fewer, wider indexes: half of the embedded database's
index cost is paid per index per written document, whether the document has the field
or not. The token and uri parameters, and the references the server only looks up through
the search builder (:func:`wide_params`), have no index of their own: their values are
also stored as typed keys in ``~k`` (``code`` ␟ value), and one index
``(s.~k, _id)`` answers an equality on any of them, in ``_id`` order (a page read in
index order, like v2's ordered indexes). ``_lastUpdated`` has no date indexes: a range on
it is led by its sort key ``_lastUpdated:>`` (index ``s_lu``; one instant per resource).
:func:`presence` says how ``:missing=false`` is answered for each parameter.

The types users search most are indexed at start-up; any other type is indexed the
first time it is searched (``createIndexes`` on existing indexes is a no-op).
"""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, DESCENDING

from fhir_server.search.layout import current as current_layout
from fhir_server.search.pairs import pair_fields
from fhir_server.search.params import SearchParam, composite_lead, params_for

if TYPE_CHECKING:
    from fhir_server.storage import MongoRepository

KEY_TYPES = (
    "Patient", "Practitioner", "PractitionerRole", "Organization", "Encounter", "Observation", "Condition",
    "MedicationRequest", "Communication", "Appointment", "Slot", "Schedule", "Consent", "DocumentReference",
    "Task", "ServiceRequest", "List", "Coverage",
)  # fmt: skip
MAX_INDEXES = 60
# Indexes walked in order for a sort, so they must hold every document; the others are
# sparse: a document without the field writes no entry (most resources have a few of a
# type's parameters), and every query that uses them requires the field.
WALKED = frozenset({"s_lu", "s_date_sort"})
_done: set[tuple[int, str]] = set()


# The parameters searched for pages of results (a patient's resources, a code, a name): in
# layout v2 their index continues with ``_id``, the default order of results, so that a page of
# one value's matches is read in index order (see :mod:`.layout`). Only parameters nearly every
# resource of its type has: a compound index holds an entry for every document that has any of
# its fields (sparse or not), and every document has an ``_id``.
ORDERED = frozenset({"code", "subject", "patient", "name", "family"})
IDENTIFIED = frozenset({"Patient", "Practitioner", "PractitionerRole", "Organization", "Location", "Device"})


# v3: token, uri and reference parameters answered from the ``~k`` index, except those the server
# also looks up directly by their own field, outside the search builder (practitioners by RPPS,
# organisations by FINESS, prescriptions by number; care relationships, access restrictions and
# compartments by reference: fhir_server/auth, operations), and those with an index of their own
# for a sort (DATE_ORDERED) or for paging (identifier of the IDENTIFIED types).
NOT_WIDE = frozenset({"identifier", "_id", "group-identifier", "requisition"})
DIRECT_REFERENCES = frozenset({
    "subject", "patient", "actor", "practitioner", "recipient", "sender", "payor", "target", "encounter",
    "focus", "beneficiary", "owner", "requester", "participant", "source", "organization",
    "general-practitioner", "agent", "performer", "prescription", "part-of", "link", "author",
})  # fmt: skip
LAST_UPDATED = "_lastUpdated"


@cache
def _compartment_params() -> dict[str, frozenset[str]]:
    """The parameters linking each type to the Patient compartment (access restrictions use them)."""
    from profiles import r4_bundle

    definition = r4_bundle("compartmentdefinition-patient")
    return {r["code"]: frozenset(r.get("param", ())) for r in definition.get("resource", [])}


@cache
def wide_params(type_: str) -> frozenset[str]:
    """The parameters of ``type_`` whose values are typed ``~k`` keys rather than indexed alone (v3)."""
    if not current_layout().wide:
        return frozenset()
    keep = NOT_WIDE | DIRECT_REFERENCES | _compartment_params().get(type_, frozenset())
    return frozenset(
        code
        for code, p in params_for(type_).items()
        if p.type in ("token", "uri", "reference") and code not in keep
    )


@cache
def presence(type_: str, code: str) -> str:
    """How ``code:missing=false`` is answered: ``"key"`` (a presence key in ``~k``, every layout
    before v3 and the parameters nothing else answers it for), ``"wide"`` (any of its typed
    ``~k`` keys: a range), ``"exists"`` (``$exists`` on its own sparse single-field index) or
    ``"sort"`` (a range on its sort key: ``_lastUpdated``, which every resource has)."""
    if not current_layout().wide:
        return "key"
    if code in wide_params(type_):
        return "wide"
    if code == LAST_UPDATED:
        return "sort"
    param = params_for(type_).get(code)
    if param is not None and code not in (DATE_ORDERED.get(type_) or ("", frozenset()))[1]:
        keys = index_keys(param)
        indexed = any(name == f"s_{code}" for name, _ in type_indexes(type_))  # not cut by MAX_INDEXES
        if indexed and len(keys) == 1 and keys[0] == [(param.field, ASCENDING)]:
            return "exists"
    return "key"


def _equality(param: SearchParam, fld: str) -> list[tuple[str, int]]:
    ordered = param.code in ORDERED or (param.code == "identifier" and param.resource_type in IDENTIFIED)
    if current_layout().ordered and ordered:
        return [(fld, ASCENDING), ("_id", ASCENDING)]
    return [(fld, ASCENDING)]


def index_keys(param: SearchParam) -> list[list[tuple[str, int]]]:
    """The index key patterns of one parameter (none, one, or two for a date)."""
    fld = param.field
    if param.type == "date":
        return [[(f"{fld}.l", ASCENDING), (f"{fld}.h", ASCENDING)], [(f"{fld}.h", ASCENDING)]]
    if param.type == "string":
        return [_equality(param, f"{fld}:p")]
    if param.type in ("quantity", "number"):
        return [[(f"{fld}.v", ASCENDING)]]
    if param.type == "composite":
        if composite_lead(param.resource_type, param.code):  # its first part's own index serves it
            return []
        return [[(f"{fld}.c0", ASCENDING)]]
    if param.type in ("token", "reference", "uri"):
        return [_equality(param, fld)]
    return []


# The references a type is mostly searched by, newest first (``subject=..&_sort=-date``): their
# index continues with that sort key, so one patient's observations are read in that order
# (MongoDB: no sort stage; SecantusDB, which sorts every candidate in Python, gets them in order,
# a fraction of the work). Not sparse in effect: every document has an ``_id``.
DATE_ORDERED = {"Observation": ("s.date:>", frozenset({"subject", "patient"}))}


@cache
def type_indexes(type_: str) -> tuple[tuple[str, list[tuple[str, int]]], ...]:
    out: list[tuple[str, list[tuple[str, int]]]] = [
        # default order of search results and the sort of _lastUpdated
        ("s_lu", [("s._lastUpdated:>", DESCENDING), ("_id", DESCENDING)]),
    ]
    if current_layout().wide:  # the wide index (wide_params), pages read in ``_id`` order
        out.append(("s_~k", [("s.~k", ASCENDING), ("_id", ASCENDING)]))
    else:
        out.append(("s_~k", [("s.~k", ASCENDING)]))
    wide = wide_params(type_)
    # word search (:mod:`.fulltext`) on every type when enabled, positions (:mod:`.geo`) on Location
    if current_layout().words:
        out.append(("s__text", [("s._text", ASCENDING)]))
        out.append(("s__content", [("s._content", ASCENDING)]))
    if type_ == "Location":
        out.append(("s_near", [("s.near.lat", ASCENDING), ("s.near.lon", ASCENDING)]))
    by_date = DATE_ORDERED.get(type_)
    for key in pair_fields(type_):  # :mod:`.pairs`; read newest first (``subject&code&_sort=-date``)
        if by_date is not None and current_layout().ordered:
            out.append((f"s_{key}", [(f"s.{key}", ASCENDING), (by_date[0], DESCENDING), ("_id", ASCENDING)]))
        else:
            out.append((f"s_{key}", [(f"s.{key}", ASCENDING)]))
    for code, param in params_for(type_).items():
        if code == "_id":  # the document key itself (``_id_``)
            continue
        if code in wide or (code == LAST_UPDATED and current_layout().wide):  # s_~k, s_lu
            continue
        for n, keys in enumerate(index_keys(param)):
            if n == 0 and by_date is not None and code in by_date[1]:
                keys = [keys[0], (by_date[0], DESCENDING), ("_id", ASCENDING)]
            out.append((f"s_{code}" + (f".{keys[0][0].rsplit('.', 1)[1]}" if n else ""), keys))
    if type_ == "Observation":
        out.insert(1, ("s_date_sort", [("s.date:>", DESCENDING), ("_id", DESCENDING)]))
    return tuple(out[:MAX_INDEXES])


def ready(repository: MongoRepository, type_: str) -> bool:
    """Whether this process created (or found) the indexes of ``type_``."""
    return (id(repository.db), type_) in _done


async def ensure_type_indexes(repository: MongoRepository, type_: str) -> None:
    """Create the search indexes of ``type_``; drop those an older version left (other keys or
    options, or no longer wanted)."""
    key = (id(repository.db), type_)
    if key in _done:
        return
    from pymongo import IndexModel

    coll = repository.db[type_]
    models = {
        name: IndexModel(keys, name=name, sparse=name not in WALKED) for name, keys in type_indexes(type_)
    }
    existing: set[str] = set()
    dropped = 0
    async for info in await coll.list_indexes():
        name = info["name"]
        if not name.startswith("s_"):
            continue
        model = models.get(name)
        if (
            model is None
            or dict(info["key"]) != dict(model.document["key"])
            or bool(info.get("sparse")) != bool(model.document.get("sparse"))
        ):
            await coll.drop_index(name)
            dropped += 1
        else:
            existing.add(name)
    missing = [m for name, m in models.items() if name not in existing]
    if existing and missing:  # an upgrade of a collection that had indexes (layout.py): say so
        size = await coll.estimated_document_count()
        print(f"passerelle: search indexes of {type_}: {len(missing)} to build, {dropped} dropped "
              f"({size} documents, layout {current_layout().name})", file=sys.stderr, flush=True)  # fmt: skip
    if missing:
        await coll.create_indexes(missing)
    _done.add(key)


async def ensure_search_indexes(repository: MongoRepository, types: Any = KEY_TYPES) -> None:
    """Create the indexes of ``types`` (stored values of an older extractor: :mod:`.reindex`)."""
    for type_ in types:
        await ensure_type_indexes(repository, type_)
