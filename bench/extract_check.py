"""Stored search values of this code against those of another commit, on Synthea resources.

Why: the write path's search-value extraction (``fhir_server.search.index_resource``) is made
cheaper without changing what it stores; this compares, resource by resource, the ``s`` document
this code computes with the one the code of ``ref`` computes for the very same input, and times
both (the second of two passes, CPU of the process). Each side runs in its own Python process
from its own tree (``ref`` extracted with ``git archive``; this tree as it is), with the same
environment, so ``PASSERELLE_SEARCH_WORDS=1`` checks the ``_text``/``_content`` words too.

The input is what the server extracts from: each resource of the first ``bundles`` Synthea
transaction Bundles, its ``urn:uuid:`` references rewritten to ``Type/id`` and stamped (id,
``meta.versionId``, ``meta.lastUpdated``) like a stored version.

``python -m bench.extract_check [BUNDLES] [REF] [--ignore KEY ...]``: prints the number of
resources whose documents are identical, the first differences, and the extraction CPU per
resource of both sides; exits 1 when a document differs (``--ignore``: stored keys left out of
the comparison, e.g. ``~k`` when the other side writes another index layout).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.ingest import synthea_bundles
from bench.server_cpu import extract_commit
from bench.shared import REPO

# main when the work on the extraction's CPU started (issue 13, goal 3)
REFERENCE = "ab9f6c15b63cf1befe03628327545faa8dd111d3"
STAMP = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)

# Run in each tree (its own ``fhir_server``): extract twice, time the second pass, write the first.
_WORKER = """
import sys, time, orjson
from fhir_server.search import index_resource
items = [orjson.loads(line) for line in open(sys.argv[1], "rb")]
with open(sys.argv[2], "wb") as out:
    for type_, resource in items:
        out.write(orjson.dumps(index_resource(type_, resource), option=orjson.OPT_SORT_KEYS) + b"\\n")
started = time.process_time()
for type_, resource in items:
    index_resource(type_, resource)
print(time.process_time() - started)
"""


def stored_resources(bundles: int) -> list[tuple[str, dict[str, Any]]]:
    """(type, resource as stored) of every entry of the first ``bundles`` Synthea Bundles."""
    from fhir_server.storage.mongo import _stamp

    out: list[tuple[str, dict[str, Any]]] = []
    for data in synthea_bundles(bundles):
        text = data.decode()
        entries = orjson.loads(data).get("entry", [])
        ids = []
        for n, entry in enumerate(entries):
            type_ = entry["resource"]["resourceType"]
            id_ = f"{type_[:3].lower()}-{len(out) + n}"
            ids.append((type_, id_))
            full_url = entry.get("fullUrl", "")
            if full_url.startswith("urn:uuid:"):
                text = text.replace(f'"{full_url}"', f'"{type_}/{id_}"')
        for (type_, id_), entry in zip(ids, orjson.loads(text).get("entry", []), strict=True):
            out.append((type_, _stamp(entry["resource"], type_, id_, 1, STAMP)))
    return out


def _run(tree: Path, inputs: Path, output: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, str(inputs), str(output)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"extraction in {tree} failed:\n{done.stderr.decode()[-3000:]}")
    return float(done.stdout.decode().split()[-1])


def _without(doc: dict[str, Any], ignored: set[str]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ignored}


def compare(bundles: int, ref: str, ignored: set[str]) -> tuple[str, bool]:
    """The report, and whether every document was identical."""
    items = stored_resources(bundles)
    with tempfile.TemporaryDirectory(prefix="passerelle-extract-") as tmp:
        folder = Path(tmp)
        tree = extract_commit(ref, folder / "ref")
        if tree is None:
            return f"reference {ref} not available (git archive failed)", False
        inputs = folder / "in.jsonl"
        inputs.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
        old_cpu = _run(tree, inputs, folder / "old.jsonl")
        new_cpu = _run(REPO, inputs, folder / "new.jsonl")
        old = (folder / "old.jsonl").read_bytes().splitlines()
        new = (folder / "new.jsonl").read_bytes().splitlines()
    differing: list[str] = []
    for (type_, resource), a, b in zip(items, old, new, strict=True):
        if a == b:
            continue
        before, after = _without(orjson.loads(a), ignored), _without(orjson.loads(b), ignored)
        if before == after:
            continue
        keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        detail = "; ".join(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys[:3])
        differing.append(f"{type_}/{resource['id']}: {detail}"[:600])
    n = len(items)
    lines = [
        f"search values of {n} Synthea resources ({bundles} Bundles): this code vs {ref}"
        + (f" (keys left out: {', '.join(sorted(ignored))})" if ignored else ""),
        f"identical: {n - len(differing)} of {n}",
        *differing[:20],
        f"extraction CPU per resource: {ref} {1000 * old_cpu / n:.3f} ms, this code "
        f"{1000 * new_cpu / n:.3f} ms ({new_cpu / old_cpu - 1:+.0%})",
    ]
    return "\n".join(lines), not differing


def main(argv: list[str]) -> int:
    ignored: set[str] = set()
    positional: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--ignore":
            ignored.add(next(args))
        else:
            positional.append(arg)
    bundles = int(positional[0]) if positional else 10
    ref = positional[1] if len(positional) > 1 else REFERENCE
    report, same = compare(bundles, ref, ignored)
    print(report)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
