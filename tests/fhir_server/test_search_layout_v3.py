"""Search-index layout v3 (issue #13, goal 2): fewer, wider indexes, and the upgrade of a v2 database.

v3 stores a token or uri parameter's values as typed ``~k`` keys (``code`` ␟ value) answered by
one index ``(s.~k, _id)`` instead of one index per parameter, answers ``_lastUpdated`` ranges from
its sort key's index, and keeps presence keys only where nothing else answers ``:missing=false``.
Expected values below come from the layout's definition (:mod:`fhir_server.search.indexes`), not
from running the code: a v3 Observation has no ``s_code``/``s_status``/``s__lastUpdated`` index,
and a v2 database is upgraded once at start, with its progress on the console.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SEP = "\x1f"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
    "subject": {"reference": "Patient/p1"},
    "performer": [{"display": "Dr Nobody"}],  # present, nothing searchable in it
    "effectiveDateTime": "2024-03-05T10:00:00Z",
    "valueQuantity": {"value": 172, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"},
}


@pytest.fixture()
def v3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from fhir_server.search import layout

    monkeypatch.delenv("PASSERELLE_SEARCH_LAYOUT", raising=False)
    layout.reset()
    yield
    layout.reset()


def test_v3_is_the_default_and_v2_v1_stay_selectable(monkeypatch: pytest.MonkeyPatch) -> None:
    from fhir_server.search import layout

    try:
        monkeypatch.delenv("PASSERELLE_SEARCH_LAYOUT", raising=False)
        layout.reset()
        assert layout.current().name == "v3" and layout.current().wide
        for name in ("v2", "v1"):
            monkeypatch.setenv("PASSERELLE_SEARCH_LAYOUT", name)
            layout.reset()
            assert layout.current().name == name and not layout.current().wide
        monkeypatch.setenv("PASSERELLE_SEARCH_LAYOUT", "v4")
        layout.reset()
        with pytest.raises(ValueError):
            layout.current()
    finally:
        monkeypatch.delenv("PASSERELLE_SEARCH_LAYOUT", raising=False)
        layout.reset()


def test_v3_indexes_and_keys_of_an_observation(v3: None) -> None:
    from fhir_server.search import index_resource
    from fhir_server.search.indexes import type_indexes

    names = {name: keys for name, keys in type_indexes("Observation")}
    # token and uri parameters: no index of their own, the wide one instead (paged in _id order)
    for gone in ("s_code", "s_status", "s_category", "s__profile", "s__lastUpdated", "s__lastUpdated.h"):
        assert gone not in names, gone
    assert names["s_~k"] == [("s.~k", 1), ("_id", 1)]
    # what stays: references (compartments, chains, includes), dates, quantities, pair keys
    for kept in ("s_subject", "s_performer", "s_date", "s_value-quantity", "s_subject+code", "s_lu"):
        assert kept in names, kept
    keys = index_resource("Observation", OBSERVATION)["~k"]
    for token in ("http://loinc.org|8302-2", "8302-2", "http://loinc.org|"):
        assert f"code{SEP}{token}" in keys
    assert f"status{SEP}final" in keys and f"category{SEP}vital-signs" in keys
    # presence keys: none for the wide parameters, nor for a reference with a sparse index of its
    # own, nor for _lastUpdated; kept where the parameter's index is a compound one
    for code in ("code", "status", "category", "performer", "_lastUpdated"):
        assert code not in keys, code
    assert "date" in keys and "subject" in keys


def test_v3_queries_lead_with_an_indexed_clause(v3: None) -> None:
    from fhir_server.search.query import Parsed, condition, flatten, wide_lead

    flat = flatten("Observation", [{"s.status": "final"}])
    assert next(iter(flat)) == "s.~k" and flat["s.~k"] == f"status{SEP}final" and flat["s.status"] == "final"
    flat = flatten("Observation", [{"s.category": {"$in": ["a", "b"]}}])
    assert flat["s.~k"] == {"$in": [f"category{SEP}a", f"category{SEP}b"]}
    # alternatives (one query each) are each led by their key
    flat = flatten("Observation", [{"$or": [{"s.status": "final"}, {"s.status": "amended"}]}])
    assert [alt["s.~k"] for alt in flat["$or"]] == [f"status{SEP}final", f"status{SEP}amended"]
    # a reference keeps its own index; a Task sweep by status gets its key (wide_lead is public)
    assert "s.~k" not in flatten("Observation", [{"s.subject": "Patient/1"}])
    assert next(iter(wide_lead("Task", {"s.status": "requested", "d": False}))) == "s.~k"

    from fhir_server.search.params import params_for

    last = params_for("Observation")["_lastUpdated"]
    cond = condition(None, last, Parsed("_lastUpdated", "_lastUpdated", None, None, "ge2024-01-01"))  # type: ignore[arg-type]
    assert cond is not None and next(iter(cond)) == "s._lastUpdated:>"
    missing = condition(None, params_for("Observation")["code"],  # type: ignore[arg-type]
                        Parsed("code:missing", "code", "missing", None, "false"))  # fmt: skip
    assert missing == {"s.~k": {"$gte": "code", "$lt": "code\x20"}, "s.code": {"$exists": True}}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from fhir_server import EmbeddedMongo

    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri
        return
    with EmbeddedMongo(Path(tmp_path_factory.mktemp("v3")) / "db") as db:
        yield db.uri


def test_v3_searches_find_what_they_should(database: str, v3: None) -> None:
    """Searches on the wide parameters, ``:missing`` and ``_lastUpdated`` over v3 documents."""
    from pymongo import AsyncMongoClient

    from fhir_server.search import ensure_search_indexes, find_matching, index_resource
    from fhir_server.storage import MongoRepository

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(database, tz_aware=True)
        repo = MongoRepository(client, f"v3_{uuid.uuid4().hex[:8]}", indexer=index_resource)
        await repo.ensure_indexes()
        await ensure_search_indexes(repo, ["Observation"])
        await repo.update("Observation", "o1", OBSERVATION)
        other = {"resourceType": "Observation", "status": "amended",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}}  # fmt: skip
        await repo.update("Observation", "o2", other)

        async def ids(*params: tuple[str, str]) -> list[str]:
            return sorted(v.id for v in await find_matching(repo, "Observation", list(params)))

        assert await ids(("code", "http://loinc.org|8302-2")) == ["o1"]
        assert await ids(("code", "http://loinc.org|")) == ["o1", "o2"]
        assert await ids(("code", "8302-2,29463-7")) == ["o1", "o2"]
        assert await ids(("status", "final"), ("code", "http://loinc.org|")) == ["o1"]
        assert await ids(("status:not", "final")) == ["o2"]
        assert await ids(("category:missing", "false")) == ["o1"]
        assert await ids(("category:missing", "true")) == ["o2"]
        assert await ids(("performer:missing", "false")) == ["o1"]  # a display alone is present
        assert await ids(("subject:missing", "false")) == ["o1"]
        assert await ids(("_lastUpdated:missing", "false")) == ["o1", "o2"]
        assert await ids(("_lastUpdated", "ge2000")) == ["o1", "o2"]
        assert await ids(("_lastUpdated", "lt2000")) == []
        assert await ids(("_lastUpdated", "gt2999")) == []
        await client.close()

    asyncio.run(run())


def test_a_v2_database_is_upgraded_once_at_start(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of layout v2 (one index per token parameter, presence keys) gets v3's values and
    indexes when the server starts, before its first request, with its progress on the console;
    a second start does nothing."""
    from pymongo import AsyncMongoClient

    from fhir_server.search import ensure_search_indexes, index_resource
    from fhir_server.storage import MongoRepository
    from tests.fhir_server.layout_upgrade import on_database, started_twice, written_with_layout

    data_dir = Path(tmp_path_factory.mktemp("v2"))
    name = f"v2_{uuid.uuid4().hex[:8]}"
    uri = os.environ.get("MONGODB_URI")

    async def write_v2(uri: str) -> None:
        from fhir_server.search.reindex import reindex_if_needed

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        repo = MongoRepository(client, name, indexer=index_resource)
        await repo.ensure_indexes()
        await ensure_search_indexes(repo, ["Observation"])
        await reindex_if_needed(repo)  # the marker: v2
        for i in range(3):
            status = ["final", "amended", "final"][i]
            await repo.update("Observation", f"o{i}", {**OBSERVATION, "status": status})
        found = {i["name"] async for i in await repo.db["Observation"].list_indexes()}
        assert "s_status" in found and "s_code" in found
        await client.close()

    async def check(uri: str) -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        coll = client[name]["Observation"]
        stored = await coll.find_one({"_id": "o0"})
        assert stored is not None
        assert f"status{SEP}final" in stored["s"]["~k"] and "status" not in stored["s"]["~k"]
        found = {i["name"]: dict(i["key"]) async for i in await coll.list_indexes()}
        assert found["s_~k"] == {"s.~k": 1, "_id": 1} and "s_status" not in found and "s_code" not in found
        marker = await client[name]["search_meta"].find_one({"_id": "extractor"})
        assert marker is not None and marker["layout"] == "v3"
        await client.close()

    written_with_layout(monkeypatch, "v2", data_dir, uri, write_v2)

    def requests(http: Any) -> None:
        bundle = http.get("/Observation", params={"status": "final"}).json()
        assert sorted(e["resource"]["id"] for e in bundle.get("entry", [])) == ["o0", "o2"]
        bundle = http.get("/Observation", params={"status:missing": "false", "_summary": "count"}).json()
        assert bundle["total"] == 3

    assert "layout v3" in started_twice(data_dir, uri, name, "Observation", 3, requests)
    on_database(data_dir, uri, check)
