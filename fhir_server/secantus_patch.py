"""A small, pinned patch to the embedded SecantusDB: stream an index scan into a sort + limit.

SecantusDB 0.7.0b3 answers every ``find`` by collecting ALL the candidates an index yields,
decoding and matching each, sorting them in Python and only then applying ``limit``. A
search page (``Observation?code=…&_count=20``) therefore cost as much as reading every
match, and grew with the data (11.6 ms at 11 patients, 126 ms at 117, issue #13). MongoDB
streams an index scan into the limit when the index order is the sort order; this patch
makes SecantusDB do the same in that case (and one other, below), and changes nothing else:

- the filter's first clause is an equality ``{F: v}`` (v a plain scalar), the find has a
  ``limit`` and a ``sort``, no hint, collation, ``min``/``max`` or ``$meta`` projection, on a
  user collection;
- an index exists on ``[F, *S]`` (no partial filter, no collation) where the sort is a
  prefix of ``S`` in the index's directions (a forward walk) or all reversed (a backward walk);

then the entries of ``F = v`` are walked in index order, each document fetched once and
checked with SecantusDB's own ``matches`` against the whole filter, until ``skip + limit``
documents matched. The same for a filter led by ``_id`` in a list of strings, sorted by ``_id``
alone (the outer page of a reverse chain, ``_has``): the listed documents are looked up in
``_id`` order, not all decoded before the sort. Index order is the sort order only while the
sort fields hold scalars: the first document whose sort field is (or passes through) an array
abandons the walk and the query runs unpatched, as does anything else outside the shapes above.
Results are identical to the unpatched server's (``tests/fhir_server/test_secantus_patch.py``
compares them, including multikey, missing sort keys, transactions, deletions, and ``_id``
lists in UTF-8 order).

How it is applied: :class:`fhir_server.embedded.EmbeddedMongo` starts the database by running
this file (``python fhir_server/secantus_patch.py --port …``: as a script, so the database
process does not import the server's package), which patches ``Storage.find_matching``
only when the installed SecantusDB is exactly :data:`PINNED` (pyproject pins it), then runs
SecantusDB's own command line. With another version the server runs unpatched (a warning in
its log): correct, only slower. Nothing in the storage format changes, so crash recovery and
journaling are SecantusDB's own. Worth proposing upstream (README, "Benchmarks").
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any

PINNED = "0.7.0b3"
_log = logging.getLogger("passerelle.secantus_patch")
_SKIP_DBS = frozenset({"admin", "local", "config"})


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or type(value).__name__ in ("datetime", "ObjectId")


def _through_array(doc: Mapping[str, Any], path: str) -> bool:
    """Whether ``path`` in ``doc`` is, or passes through, an array (index order is then not sort order)."""
    node: Any = doc
    for part in path.split("."):
        if isinstance(node, list):
            return True
        if not isinstance(node, Mapping):
            return False
        node = node.get(part)
    return isinstance(node, list)


def _pick_index(
    storage: Any, db: str, coll: str, filter_: Mapping[str, Any], sort: list[tuple[str, int]]
) -> Any:
    """(index name, leading field, its value, its direction, walk backwards) or ``None``."""
    options = storage._index_options_map(db, coll)
    first, value = next(iter(filter_.items()))
    for name, key_spec, _sparse, _unique in storage._all_indexes(db, coll):
        fields = list(key_spec.items())
        if len(fields) < 1 + len(sort) or any(d not in (1, -1) for _, d in fields):
            continue
        opts = options.get(name, {})
        if opts.get("partialFilterExpression") or opts.get("collation"):
            continue
        lead, lead_dir = fields[0]
        # only the filter's FIRST clause, the one SecantusDB's executor looks up (and the server
        # puts its narrowest indexed clause first): a walk led by a broader clause could read more
        if lead != first or lead.startswith("$") or not _scalar(value) or value is None:
            continue
        trailing = fields[1 : 1 + len(sort)]
        if [f for f, _ in trailing] != [f for f, _ in sort]:
            continue
        if all(int(d) == s for (_, d), (_, s) in zip(trailing, sort, strict=True)):
            return name, lead, value, int(lead_dir), False
        if all(int(d) == -s for (_, d), (_, s) in zip(trailing, sort, strict=True)):
            return name, lead, value, int(lead_dir), True
    return None


def _entries(storage: Any, st: Any, db: str, coll: str, name: str, esc: bytes, backwards: bool) -> Any:
    """RecordIds of the index entries whose escaped key starts with ``esc``, in (reverse) key order."""
    c = storage._cursor(st._IDX_ENTRIES_TABLE)
    if not backwards:
        c.set_key(db, coll, name, esc)
        rc = c.search_near()
        if rc == st.wt.WT_NOTFOUND or (rc < 0 and c.next() != 0):
            return
        step = c.next
    else:
        # the first key after every key beginning with ``esc``: drop its trailing 0xff, add one
        stem = esc.rstrip(b"\xff")
        if not stem:
            return
        succ = stem[:-1] + bytes([stem[-1] + 1])
        c.set_key(db, coll, name, succ)
        rc = c.search_near()
        if rc == st.wt.WT_NOTFOUND:
            return
        if rc >= 0 and c.prev() != 0:
            return
        step = c.prev
    while True:
        k = c.get_key()
        if (k[0], k[1], k[2]) != (db, coll, name):
            return
        row_esc, row_id = st._unpack_entry(bytes(k[3]))
        if not row_esc.startswith(esc):
            if backwards and row_esc > esc:  # cannot happen (see succ); stop rather than loop
                return
            return
        if row_id is not None:
            yield row_id
        if step() != 0:
            return


def _stream(storage: Any, st: Any, db: str, coll: str, filter_: Mapping[str, Any], skip: int, limit: int,
            sort: Mapping[str, Any], let: dict[str, Any] | None) -> list[dict[str, Any]] | None:  # fmt: skip
    spec = [(f, int(d)) for f, d in sort.items()]
    if any(f.startswith("$") or d not in (1, -1) for f, d in spec):
        return None
    with storage._lock:
        storage._refresh_read_snapshot()
        picked = _pick_index(storage, db, coll, filter_, spec)
        if picked is None:
            return None
        name, _lead, value, lead_dir, backwards = picked
        esc = st._escape_kb(st.encode_value_directed(value, lead_dir) + st.COMPOUND_SEP)
        docs = storage._cursor_optional(st._doc_table_for(db, coll))
        if docs is None:
            return []
        out: list[dict[str, Any]] = []
        seen: set[int] = set()
        wanted = skip + limit
        for recordid in _entries(storage, st, db, coll, name, esc, backwards):
            if recordid in seen:
                continue
            seen.add(recordid)
            st._deadline.check()
            docs.reset()
            docs.set_key(db, coll, recordid)
            if docs.search() != 0:
                continue
            doc = st.bson.decode(st._unframe_doc_value(bytes(docs.get_value()))[1])
            if any(_through_array(doc, f) for f, _ in spec):
                return None  # index order is not the sort order for this document
            if st.matches(doc, filter_, vars=let):
                out.append(doc)
                if len(out) >= wanted:
                    break
    return out[skip:]


def _stream_ids(storage: Any, st: Any, db: str, coll: str, filter_: Mapping[str, Any], skip: int,
                limit: int, sort: Mapping[str, Any],
                let: dict[str, Any] | None) -> list[dict[str, Any]] | None:  # fmt: skip
    """``{_id: {$in: [strings]}, ...}`` sorted by ``_id`` alone: each listed document looked up in
    ``_id`` order, checked against the whole filter, until ``skip + limit`` matched (unpatched:
    every listed document decoded and matched, then sorted). MongoDB orders strings by their
    UTF-8 bytes, which is Python's order of ``str``. ``None`` for any other shape."""
    if list(sort) != ["_id"] or sort["_id"] not in (1, -1):
        return None
    first, spec = next(iter(filter_.items()))
    if first != "_id" or not isinstance(spec, Mapping) or list(spec) != ["$in"]:
        return None
    values = spec["$in"]
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        return None
    ordered = sorted(set(values), reverse=sort["_id"] == -1)
    out: list[dict[str, Any]] = []
    with storage._lock:
        storage._refresh_read_snapshot()
        docs = storage._cursor_optional(st._doc_table_for(db, coll))
        if docs is None:
            return []
        for value in ordered:
            st._deadline.check()
            recordid = storage._doc_recordid(db, coll, st._id_key(value))
            if recordid is None:
                continue
            docs.reset()
            docs.set_key(db, coll, recordid)
            if docs.search() != 0:
                continue
            doc = st.bson.decode(st._unframe_doc_value(bytes(docs.get_value()))[1])
            if st.matches(doc, filter_, vars=let):
                out.append(doc)
                if len(out) >= skip + limit:
                    break
    return out[skip:]


_scope = threading.local()  # the index catalog read by the write in progress on this thread


def _patch_catalog(st: Any) -> None:
    """Read a collection's index catalog once per write command instead of once per document.

    Each insert, update or delete read and BSON-decoded every index definition of the collection
    several times per document (``_iter_indexes`` behind ``_all_indexes``, ``_partial_filters``
    and ``_index_options_map``): a third to half of a write's time with the server's ~40 indexes
    per collection. Within one write command (``_insert_chunk``, ``update_matching``,
    ``delete_matching``, which hold the collection's lock that index creation and removal also
    take) the catalog cannot change, except for the multikey flag this very command may set:
    after ``_maybe_mark_multikey`` the collection's entry is read afresh. Nothing outlives the
    command, so transactions, rollbacks and index DDL see exactly what they saw before.
    """
    iter_indexes = st.Storage._iter_indexes

    def cached_iter_indexes(self: Any, db: str, coll: str) -> Any:
        memo = getattr(_scope, "memo", None)
        if memo is None:
            return iter_indexes(self, db, coll)
        key = (id(self), db, coll)
        if key not in memo:
            memo[key] = list(iter_indexes(self, db, coll))
        return iter(memo[key])

    def scoped(method: Any) -> Any:
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(_scope, "memo", None) is not None:  # nested: the outer call owns the scope
                return method(self, *args, **kwargs)
            _scope.memo = {}
            try:
                return method(self, *args, **kwargs)
            finally:
                _scope.memo = None

        return run

    mark_multikey = st.Storage._maybe_mark_multikey

    def marking(
        self: Any, db: str, coll: str, doc: Any, indexes: Any, already_multikey: set[str]
    ) -> set[str]:
        before = len(already_multikey)
        try:
            return mark_multikey(self, db, coll, doc, indexes, already_multikey)  # type: ignore[no-any-return]
        finally:
            memo = getattr(_scope, "memo", None)
            # a flag may have been written only when an index joined the set
            if memo is not None and len(already_multikey) != before:
                memo.pop((id(self), db, coll), None)

    st.Storage._iter_indexes = cached_iter_indexes
    st.Storage._maybe_mark_multikey = marking
    for name in ("_insert_chunk", "update_matching", "delete_matching"):
        setattr(st.Storage, name, scoped(getattr(st.Storage, name)))


def apply() -> bool:
    """Patch the installed SecantusDB if it is the pinned version; whether it was patched."""
    import secantus
    from secantus import storage as st

    if secantus.__version__ != PINNED:
        _log.warning("SecantusDB %s is not %s: no limit-streaming patch", secantus.__version__,
                     PINNED)  # fmt: skip
        return False
    if getattr(st.Storage.find_matching, "_passerelle_patched", False):
        return True
    original = st.Storage.find_matching

    def find_matching(self: Any, db: str, coll: str, filter: dict[str, Any] | None = None, **kw: Any) -> Any:
        limit, sort, projection = kw.get("limit", 0), kw.get("sort"), kw.get("projection")
        if (
            filter
            and limit
            and limit > 0
            and sort
            and not any(kw.get(k) for k in ("hint", "collation", "min_bound", "max_bound"))
            and db not in _SKIP_DBS
            and not coll.startswith("system.")
            and not (projection and any(isinstance(v, Mapping) for v in projection.values()))
            and not self._is_timeseries(db, coll)
        ):
            skip = int(kw.get("skip") or 0)
            out = _stream_ids(self, st, db, coll, filter, skip, int(limit), sort, kw.get("let"))
            if out is None:
                out = _stream(self, st, db, coll, filter, skip, int(limit), sort, kw.get("let"))
            if out is not None:
                if projection:
                    out = st.apply_projection_batch(out, projection, filter, metas=None, has_sort=True)
                return out
        return original(self, db, coll, filter, **kw)

    find_matching._passerelle_patched = True  # type: ignore[attr-defined]
    st.Storage.find_matching = find_matching  # type: ignore[method-assign]
    _patch_catalog(st)
    return True


def main() -> int:
    apply()
    from secantus.cli import main as secantus_main

    sys.argv[0] = "secantus"
    return int(secantus_main() or 0)


if __name__ == "__main__":
    raise SystemExit(main())
