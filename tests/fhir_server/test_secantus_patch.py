"""The limit-streaming patch of the embedded SecantusDB (``fhir_server/secantus_patch.py``).

A patched find (equality on an index's first field, sort on the next ones, a limit) must
return exactly what the unpatched path returns: the same query with a ``hint`` runs
SecantusDB's own code (the patch steps aside for hints), and the expected order is also
computed here from MongoDB's documented rules (missing sort keys first ascending, ``_id``
ties). Multikey sort fields, deletions, and reads inside a transaction (its own writes
seen, a rolled-back one not) are covered; crash recovery is ``test_durability.py``'s.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection


@pytest.fixture(scope="module")
def coll(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collection[dict[str, Any]]]:
    from fhir_server import EmbeddedMongo

    db = EmbeddedMongo(Path(tmp_path_factory.mktemp("patch")) / "db")
    db.start()
    client: MongoClient[dict[str, Any]] = MongoClient(db.uri)
    collection = client["patch_test"]["docs"]
    rng = random.Random(3)
    docs = []
    for i in range(400):
        doc: dict[str, Any] = {
            "_id": f"id{rng.randrange(10**6):06d}-{i}",
            "k": rng.sample(["a", "b", "c", "d"], 2),
        }
        if i % 7:  # some documents have no sort key
            doc["t"] = rng.randrange(50)
        docs.append(doc)
    collection.insert_many(docs)
    collection.create_index([("k", ASCENDING), ("t", DESCENDING), ("_id", ASCENDING)], name="k_t_id")
    collection.create_index([("k", ASCENDING), ("_id", ASCENDING)], name="k_id")
    try:
        yield collection
    finally:
        client.close()
        db.stop()


def test_the_pinned_version_is_installed_and_patched() -> None:
    import secantus

    from fhir_server import secantus_patch

    assert secantus.__version__ == secantus_patch.PINNED  # pyproject pins the same version
    assert secantus_patch.apply()


def _expected_t_desc(docs: list[dict[str, Any]]) -> list[str]:
    """``sort(t: -1, _id: 1)`` by MongoDB's rules: a missing key sorts as null, below every
    number, so last in descending order; ``_id`` ascending breaks ties."""
    return [d["_id"] for d in sorted(docs, key=lambda d: (-d["t"] if "t" in d else float("inf"), d["_id"]))]


@pytest.mark.parametrize("value", ["a", "c"])
@pytest.mark.parametrize("limit", [1, 20, 1000])
def test_streamed_pages_equal_the_unpatched_ones(
    coll: Collection[dict[str, Any]], value: str, limit: int
) -> None:
    everything = list(coll.find({"k": value}))
    for sort, hint in (
        ([("_id", ASCENDING)], "k_id"),
        ([("_id", DESCENDING)], "k_id"),  # the index walked backwards
        ([("t", DESCENDING), ("_id", ASCENDING)], "k_t_id"),
        ([("t", ASCENDING), ("_id", DESCENDING)], "k_t_id"),
    ):
        for skip in (0, 5):
            got = [d["_id"] for d in coll.find({"k": value}).sort(sort).skip(skip).limit(limit)]
            unpatched = [
                d["_id"] for d in coll.find({"k": value}).sort(sort).skip(skip).limit(limit).hint(hint)
            ]
            assert got == unpatched, (sort, skip)
        if sort[0][0] == "_id":
            ids = sorted(d["_id"] for d in everything)
            assert [d["_id"] for d in coll.find({"k": value}).sort(sort).limit(limit)] == (
                ids if sort[0][1] == ASCENDING else ids[::-1]
            )[:limit]
        if sort == [("t", DESCENDING), ("_id", ASCENDING)]:
            assert got == _expected_t_desc(everything)[5 : 5 + limit]


def test_other_clauses_of_the_filter_still_apply(coll: Collection[dict[str, Any]]) -> None:
    query = {"k": "b", "t": {"$gte": 10, "$lt": 30}}
    sort = [("t", DESCENDING), ("_id", ASCENDING)]
    got = [(d["t"], d["_id"]) for d in coll.find(query).sort(sort).limit(15)]
    assert got == [(d["t"], d["_id"]) for d in coll.find(query).sort(sort).limit(15).hint("k_t_id")]
    assert all(10 <= t < 30 for t, _ in got) and len(got) == 15


def test_an_array_sort_key_falls_back_to_the_full_sort(coll: Collection[dict[str, Any]]) -> None:
    coll.insert_one({"_id": "zz-array", "k": ["d"], "t": [100, -5]})  # sorts first on desc (max 100)
    try:
        sort = [("t", DESCENDING), ("_id", ASCENDING)]
        got = [d["_id"] for d in coll.find({"k": "d"}).sort(sort).limit(3)]
        assert got[0] == "zz-array"
        assert got == [d["_id"] for d in coll.find({"k": "d"}).sort(sort).limit(3).hint("k_t_id")]
        asc = [
            d["_id"] for d in coll.find({"k": "d"}).sort([("t", ASCENDING), ("_id", ASCENDING)]).limit(400)
        ]
        missing = sum(1 for d in coll.find({"k": "d"}) if "t" not in d)
        assert asc.index("zz-array") == missing  # min -5: right after the documents without t
    finally:
        coll.delete_one({"_id": "zz-array"})


def test_deleted_documents_and_transactions(coll: Collection[dict[str, Any]]) -> None:
    client = coll.database.client
    first = next(coll.find({"k": "a"}).sort("_id", ASCENDING).limit(1))
    coll.delete_one({"_id": first["_id"]})
    try:
        assert next(coll.find({"k": "a"}).sort("_id", ASCENDING).limit(1))["_id"] != first["_id"]
    finally:
        coll.insert_one(first)
    with client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": "0000-txn", "k": ["a"], "t": 1}, session=session)
        inside = next(coll.find({"k": "a"}, session=session).sort("_id", ASCENDING).limit(1))
        assert inside["_id"] == "0000-txn"  # the transaction sees its own write
        outside = next(coll.find({"k": "a"}).sort("_id", ASCENDING).limit(1))
        assert outside["_id"] != "0000-txn"  # others do not, before the commit
        session.abort_transaction()
    assert next(coll.find({"k": "a"}).sort("_id", ASCENDING).limit(1))["_id"] != "0000-txn"


@pytest.fixture()
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, int]]]:
    """In-process SecantusDB storage, patched, and how many documents its ``matches`` checked
    (reset it before the query counted)."""
    import secantus.storage as st

    from fhir_server import secantus_patch

    assert secantus_patch.apply()
    checked = {"n": 0}
    real = st.matches

    def counting(*args: Any, **kwargs: Any) -> bool:
        checked["n"] += 1
        return bool(real(*args, **kwargs))

    monkeypatch.setattr(st, "matches", counting)
    storage = st.Storage(str(tmp_path / "store"))
    try:
        yield storage, checked
    finally:
        storage.close()


def test_a_page_reads_a_page_not_every_match(counted: tuple[Any, dict[str, int]]) -> None:
    """A limit-21 page of 3,000 matches checks about 21 documents (unpatched, or with a hint, it
    checks all 3,000 before sorting)."""
    storage, checked = counted
    storage.create_index("x", "y", "k_id", {"k": 1, "_id": 1})
    storage.insert("x", "y", [{"_id": f"{i:05d}", "k": ["a", "b"]} for i in range(3000)])
    checked["n"] = 0
    page = storage.find_matching("x", "y", {"k": "b"}, limit=21, sort={"_id": -1})
    assert [d["_id"] for d in page] == [f"{i:05d}" for i in range(2999, 2978, -1)]
    assert checked["n"] <= 21
    checked["n"] = 0
    hinted = storage.find_matching("x", "y", {"k": "b"}, limit=21, sort={"_id": -1}, hint="k_id")
    assert hinted == page and checked["n"] >= 3000


@pytest.mark.parametrize("direction", [ASCENDING, DESCENDING])
def test_a_list_of_ids_sorted_by_id(coll: Collection[dict[str, Any]], direction: int) -> None:
    """``{_id: {$in: [...]}}`` sorted by ``_id`` (a reverse chain's outer page): the same page as
    unpatched, in MongoDB's order, whatever else the filter asks; absent and repeated ids too."""
    everything = {d["_id"]: d for d in coll.find({})}
    rng = random.Random(5)
    listed = [*rng.sample(sorted(everything), 120), "absent-1", "zz-absent"]
    listed += listed[:10]
    for extra in ({}, {"k": "b"}):
        query: dict[str, Any] = {"_id": {"$in": listed}, **extra}
        wanted = [i for i in set(listed) if i in everything and (not extra or "b" in everything[i]["k"])]
        expected = sorted(wanted, reverse=direction == DESCENDING)
        for skip, limit in ((0, 21), (5, 10), (0, 1000)):
            got = [d["_id"] for d in coll.find(query).sort("_id", direction).skip(skip).limit(limit)]
            assert got == expected[skip : skip + limit], (extra, skip, limit)
            unpatched = coll.find(query).sort("_id", direction).skip(skip).limit(limit).hint("_id_")
            assert got == [d["_id"] for d in unpatched]
    with coll.database.client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": "0000-listed", "k": ["b"]}, session=session)
        query = {"_id": {"$in": [*listed, "0000-listed"]}}
        inside = [d["_id"] for d in coll.find(query, session=session).sort("_id", ASCENDING).limit(2)]
        assert inside[0] == "0000-listed"
        session.abort_transaction()
    assert "0000-listed" not in [d["_id"] for d in coll.find(query).sort("_id", ASCENDING).limit(5)]


def test_a_list_of_ids_reads_a_page_in_utf8_order(counted: tuple[Any, dict[str, int]]) -> None:
    """A page of 21 from 2,000 listed ids checks 21 documents, ordered as MongoDB orders strings
    (by their UTF-8 bytes: "Z" < "a" < "é" < "中" < "😀")."""
    storage, checked = counted
    stems = ["Z", "a", "é", "中", "😀", "ab", "a b"]
    ids = [f"{stems[i % len(stems)]}{i:04d}" for i in range(2000)]
    storage.insert("x", "y", [{"_id": i, "n": n} for n, i in enumerate(ids)])
    for direction in (1, -1):
        checked["n"] = 0
        page = storage.find_matching("x", "y", {"_id": {"$in": ids}}, limit=21, sort={"_id": direction})
        by_bytes = sorted(ids, key=lambda i: i.encode(), reverse=direction == -1)
        assert [d["_id"] for d in page] == by_bytes[:21]
        assert checked["n"] <= 21
        checked["n"] = 0
        hinted = storage.find_matching(
            "x", "y", {"_id": {"$in": ids}}, limit=21, sort={"_id": direction}, hint="_id_"
        )
        assert hinted == page and checked["n"] >= 2000
