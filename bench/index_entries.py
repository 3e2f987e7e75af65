"""Index entries and indexes touched per written resource, by search-index layout (issue #13).

For the current documents the server writes from a few Synthea transaction Bundles
(:func:`bench.ingest.server_documents`: search values extracted by the server's own code),
counts, per resource type, the search indexes of the collection, those a document has an
entry in, and its entries, with SecantusDB's own key generator (``_index_key_variants``:
an array field writes one entry per element plus one for the whole array). No database
runs: the figures are exact counts, not timings, so they explain the ``index work`` ratio
of :mod:`bench.ingest` (about half of the database's index cost is per index per written
document, half per entry).

    .venv/bin/python -m bench.index_entries [bundles] [layout ...]   # default: 5 v1 v2 v3
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from bench.ingest import SYNTHEA, server_documents, synthea_bundles


@dataclass
class TypeCount:
    documents: int = 0
    indexes: int = 0  # search indexes of the collection (``s_*`` and ``_id_``)
    touched: int = 0  # summed over documents: indexes holding an entry for the document
    entries: int = 0  # summed over documents
    by_index: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def count(layout: str, bundles: list[bytes]) -> dict[str, TypeCount]:
    """Per resource type, what the documents of ``bundles`` write to the indexes of ``layout``."""
    from secantus.storage import _index_key_variants

    from fhir_server.search import layout as layouts
    from fhir_server.search.indexes import WALKED, type_indexes

    os.environ["PASSERELLE_SEARCH_LAYOUT"] = layout
    layouts.reset()
    out: dict[str, TypeCount] = defaultdict(TypeCount)
    for data in bundles:
        current, _history = server_documents(data)
        for type_, docs in current.items():
            specs = [(name, dict(keys), name not in WALKED) for name, keys in type_indexes(type_)]
            tc = out[type_]
            tc.indexes = len(specs) + 1
            for doc in docs:
                tc.documents += 1
                tc.touched += 1  # ``_id_``: one entry (SecantusDB's is the document key itself)
                tc.entries += 1
                for name, spec, sparse in specs:
                    n = len(_index_key_variants(doc, spec, sparse=sparse))
                    if n:
                        tc.touched += 1
                        tc.entries += n
                        tc.by_index[name] += n
    return out


def report(bundles: int = 5, layouts: tuple[str, ...] = ("v1", "v2", "v3")) -> str:
    if not SYNTHEA.exists():
        return f"index entries skipped: {SYNTHEA} is missing (set PASSERELLE_SHARED)"
    data = synthea_bundles(bundles)
    counts = {name: count(name, data) for name in layouts}
    first = counts[layouts[0]]
    types = sorted({t for c in counts.values() for t in c}, key=lambda t: -first[t].documents)
    head = f"{'type':24} {'docs':>6}" + "".join(f" {name + ' idx/touched/entries':>26}" for name in layouts)
    title = f"Search index entries per written resource, {bundles} Synthea Bundles (SecantusDB's key code)"
    lines = [title, head, "-" * len(head)]
    totals = {name: [0, 0, 0] for name in layouts}
    for type_ in types:
        docs = counts[layouts[0]][type_].documents
        cells = []
        for name in layouts:
            tc = counts[name][type_]
            cells.append(f" {tc.indexes:>8} {tc.touched / docs:>8.1f} {tc.entries / docs:>8.1f}")
            totals[name][0] += tc.indexes * docs
            totals[name][1] += tc.touched
            totals[name][2] += tc.entries
        lines.append(f"{type_:24} {docs:>6}" + "".join(cells))
    n = sum(counts[layouts[0]][t].documents for t in types)
    lines.append(
        f"{'all (per resource)':24} {n:>6}"
        + "".join(f" {t[0] / n:>8.1f} {t[1] / n:>8.1f} {t[2] / n:>8.1f}" for t in totals.values())
    )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    print(report(int(args[0]) if args else 5, tuple(args[1:]) or ("v1", "v2", "v3")))
