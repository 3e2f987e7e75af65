"""Every single-parameter search on the types users search most is answered from an index.

The filters are the ones the search builder emits (``search_query``), split into the
queries the handler runs (``split_or``: one per alternative), and each is explained by the
database as sent, with no hint: the plan it really runs. Each must be an index scan
(IXSCAN, no COLLSCAN), except the shapes no index can bound: negations (``:not``,
``:missing=true``; ``ne`` is two bounded ranges), ``:contains`` and a token's ``:text``
(patterns inside the text).

A filter with several fields leads with its indexed clause (a string's stored prefix, a
date's ``l``...), the rest being checked on what the index yields. MongoDB's explain shows
that plan. SecantusDB's executor looks the first clause it can answer from an index up
alone and checks the others on the documents found (``_try_index_id_keys`` in its
storage.py), but its ``explain`` reports any filter of several fields as a COLLSCAN: on
SecantusDB the test explains the clauses one by one, in order, as its executor tries them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TYPES = (
    "Patient", "Practitioner", "Encounter", "Observation", "Condition", "MedicationRequest", "Communication",
    "Appointment", "Slot", "Consent", "DocumentReference",
)  # fmt: skip

SAMPLE = {
    "string": ["dupont", "Jean-Philippe Dupont"],  # longer than the stored prefixes
    "token": ["http://loinc.org|8302-2", "8302-2", "http://loinc.org|", "|8302-2"],
    "reference": ["Patient/123", "123", "http://example.org/fhir/Patient/123"],
    "date": [
        "2024-03-05",
        "ge2024",
        "lt2024-03-05T10:00:00Z",
        "ne2024-03",
        "ap2024",
        "sa2020",
        "eb2030",
        "gt2024-03-05T10:00:00+02:00",
        "le2024-03",
    ],
    "number": ["5", "gt5.5", "ne3"],
    "quantity": ["5.4|http://unitsofmeasure.org|mg", "gt5", "le5||mg", "5.4"],
    "uri": ["http://example.org/fhir/x"],
}
MODIFIERS = {
    "string": [":exact", ":contains"],
    "token": [":not", ":of-type", ":text"],
    "reference": [":identifier"],
    "uri": [":below", ":above"],
}
# no index bounds these: complements, and patterns inside the text
UNBOUNDED = (":not", ":contains", ":text", ":missing=true")


def _value(kind: str, modifier: str, sample: str) -> str:
    if modifier == ":of-type":
        return "http://terminology.hl7.org/CodeSystem/v2-0203|MR|123"
    if modifier == ":identifier":
        return "urn:oid:1.2.250.1.71.4.2.1|10003"
    if modifier == ":below":
        return "http://example.org/fh"
    return sample


def single_parameter_searches(type_: str) -> list[list[tuple[str, str]]]:
    from fhir_server.search.params import params_for

    out: list[list[tuple[str, str]]] = [[("_id", "123")]]
    for code, param in sorted(params_for(type_).items()):
        if code == "_id":
            continue
        if param.type == "composite":
            parts = [SAMPLE[c.type][0] for c in param.components]
            out.append([(code, "$".join(parts))])
            continue
        for sample in SAMPLE.get(param.type, []):
            out.append([(code, sample)])
        for modifier in MODIFIERS.get(param.type, []):
            if modifier == ":of-type" and code != "identifier":
                continue
            out.append([(code + modifier, _value(param.type, modifier, SAMPLE[param.type][0]))])
        if param.type == "reference" and param.targets:
            out.append([(f"{code}:{sorted(param.targets)[0]}", "123")])
        if param.type != "special":
            out.append([(f"{code}:missing", "true")])
            out.append([(f"{code}:missing", "false")])
    return out


def unbounded(params: list[tuple[str, str]]) -> bool:
    name, value = params[0]
    return any(name.endswith(m) for m in UNBOUNDED) or f"{name}={value}".endswith(":missing=true")


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    from fhir_server import EmbeddedMongo

    uri = os.environ.get("MONGODB_URI")
    embedded = None
    if not uri:
        embedded = EmbeddedMongo(Path(tmp_path_factory.mktemp("explain")) / "db")
        embedded.start()
        uri = embedded.uri
    try:
        yield uri, f"explain_{uuid.uuid4().hex[:8]}"
    finally:
        if embedded is not None:
            embedded.stop()


def test_every_single_parameter_search_uses_an_index(repository: tuple[str, str]) -> None:
    from pymongo import AsyncMongoClient

    from fhir_server.search import ensure_search_indexes, index_resource, search_query
    from fhir_server.search.handler import split_or
    from fhir_server.storage import MongoRepository

    uri, database = repository
    failures: list[tuple[str, list[tuple[str, str]], str]] = []
    indexed = scanned = 0

    async def run() -> None:
        nonlocal indexed, scanned
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        secantus = "secantusVersion" in await client.admin.command("buildInfo")
        repo = MongoRepository(client, database, indexer=index_resource)
        await ensure_search_indexes(repo, TYPES)

        async def plan(type_: str, filter_: dict[str, Any]) -> str:
            command = {"find": type_, "filter": filter_}
            explained = await repo.db.command("explain", command, verbosity="queryPlanner")
            return str(explained["queryPlanner"]["winningPlan"])

        async def uses_index(type_: str, filter_: dict[str, Any]) -> tuple[bool, str]:
            winning = await plan(type_, filter_)
            if "IXSCAN" in winning and "COLLSCAN" not in winning:
                return True, winning
            # SecantusDB's executor: no index at all for a filter with a top-level $and/$or/$nor
            if secantus and len(filter_) > 1 and not any(k.startswith("$") for k in filter_):
                for key, clause in filter_.items():
                    if "IXSCAN" in (await plan(type_, {key: clause})):
                        return True, key
            return False, winning

        for type_ in TYPES:
            await repo.update(type_, "123", {"resourceType": type_})
            for params in single_parameter_searches(type_):
                query = await search_query(repo, type_, params)
                for part in split_or(query.filter):
                    ok, winning = await uses_index(type_, part)
                    if unbounded(params):
                        scanned += 1
                        continue
                    indexed += 1
                    if not ok:
                        failures.append((type_, params, f"{part} -> {winning[:200]}"))
        await client.close()

    asyncio.run(run())
    print(f"\n{indexed} queries of single-parameter searches from an index; {scanned} negations and patterns")
    assert indexed > 1200
    assert not failures, failures[:20]


def test_values_written_before_search_are_reindexed_and_found(repository: tuple[str, str]) -> None:
    """Data stored without the indexer (or by an older extractor) is re-extracted once, then found."""
    from pymongo import AsyncMongoClient

    from fhir_server.search import find_matching, index_resource
    from fhir_server.search.reindex import reindex_if_needed
    from fhir_server.storage import MongoRepository

    uri, database = repository
    database += "_reindex"

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        plain = MongoRepository(client, database)  # no indexer: no search values stored
        await plain.update("Patient", "old", {"resourceType": "Patient", "name": [{"family": "Ancien"}]})
        indexed = MongoRepository(client, database, indexer=index_resource)
        assert await find_matching(indexed, "Patient", [("family", "ancien")]) == []
        assert await reindex_if_needed(indexed) == 1
        assert await reindex_if_needed(indexed) == 0  # the marker says it is done
        found = await find_matching(indexed, "Patient", [("family", "ancien")])
        assert [v.id for v in found] == ["old"]

        async def inside(session: Any) -> None:  # reads within a transaction see its writes
            await indexed.update(
                "Patient", "new", {"resourceType": "Patient", "gender": "other"}, session=session
            )
            assert [
                v.id for v in await find_matching(indexed, "Patient", [("gender", "other")], session=session)
            ] == ["new"]

        await indexed.run_transaction(inside)
        await client.close()

    asyncio.run(run())


@pytest.fixture()
def words_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as a deployment with word search on (``PASSERELLE_SEARCH_WORDS=1``)."""
    from fhir_server.search import layout

    monkeypatch.setenv("PASSERELLE_SEARCH_WORDS", "1")
    layout.reset()
    yield
    monkeypatch.delenv("PASSERELLE_SEARCH_WORDS")
    layout.reset()


def test_words_positions_and_pairs_of_older_data_are_reindexed(
    repository: tuple[str, str], words_on: None
) -> None:
    """Resources stored before ``_text``/``_content``, ``near`` and pair keys existed are found by them
    once the start-up re-extraction has run (the same path as an extractor version change)."""
    from pymongo import AsyncMongoClient

    from fhir_server.search import find_matching, index_resource
    from fhir_server.search.reindex import reindex_if_needed
    from fhir_server.storage import MongoRepository

    uri, database = repository
    database += "_reindex_words"
    location = {
        "resourceType": "Location",
        "name": "Hôpital Lariboisière",
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">Service de cardiologie</div>',
        },
        "position": {"latitude": 48.8828, "longitude": 2.3522},
    }
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
        "subject": {"reference": "Patient/p1"},
    }

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        plain = MongoRepository(client, database)  # as written before: no search values
        await plain.update("Location", "loc", location)
        await plain.update("Observation", "obs", observation)
        indexed = MongoRepository(client, database, indexer=index_resource)
        searches = [
            ("Location", [("_text", "cardio")]),
            ("Location", [("_content", "lariboisiere")]),
            ("Location", [("near", "48.8530|2.3499|4|km")]),  # Notre-Dame, 3.3 km away
            ("Observation", [("subject", "Patient/p1"), ("code", "http://loinc.org|8302-2")]),
        ]
        for type_, params in searches:
            assert await find_matching(indexed, type_, params) == [], params
        assert await reindex_if_needed(indexed) == 2
        for type_, params in searches:
            assert [v.id for v in await find_matching(indexed, type_, params)] == [
                "loc" if type_ == "Location" else "obs"
            ], params
        assert await find_matching(indexed, "Location", [("near", "48.8530|2.3499|3|km")]) == []
        await client.close()

    asyncio.run(run())


def test_indexes_of_an_older_version_are_rebuilt(repository: tuple[str, str]) -> None:
    """A search index left by an older version (other keys or options, or no longer wanted) is
    replaced or dropped at start-up: same keys, sparse except the indexes walked for a sort."""
    from pymongo import ASCENDING, AsyncMongoClient

    from fhir_server.search import indexes
    from fhir_server.storage import MongoRepository

    uri, database = repository
    database += "_upgrade"

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        repo = MongoRepository(client, database)
        coll = repo.db["Patient"]
        await coll.create_index([("s.family", ASCENDING)], name="s_family")  # before prefixes
        await coll.create_index([("s.organization", ASCENDING)], name="s_organization")  # not sparse
        await coll.create_index([("s.gender", ASCENDING)], name="s_gender")  # layout v3: in s_~k
        await coll.create_index([("s.retired", ASCENDING)], name="s_retired")  # no longer wanted
        await coll.create_index([("other", ASCENDING)], name="other")  # not a search index: kept
        await indexes.ensure_type_indexes(repo, "Patient")
        found = {i["name"]: i async for i in await coll.list_indexes()}
        assert dict(found["s_family"]["key"]) == {"s.family:p": 1, "_id": 1}  # layout v2: paged in _id order
        assert found["s_family"].get("sparse") is True
        assert found["s_organization"].get("sparse") is True
        assert "s_gender" not in found and dict(found["s_~k"]["key"]) == {"s.~k": 1, "_id": 1}
        assert not found["s_lu"].get("sparse")  # walked for the default order: holds every document
        wanted = {name for name, _ in indexes.type_indexes("Patient")}
        assert set(found) == wanted | {"_id_", "other"}
        await client.close()

    asyncio.run(run())


def test_a_server_started_on_older_data_finds_it_from_the_first_request(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Values of an older extractor are re-extracted before the server takes requests, so no
    search misses a resource meanwhile (here: stored with no search values at all)."""
    import httpx
    from pymongo import AsyncMongoClient

    from bench.harness import ServerProcess
    from fhir_server import EmbeddedMongo
    from fhir_server.storage import MongoRepository

    data_dir = Path(tmp_path_factory.mktemp("older"))
    database = f"older_{uuid.uuid4().hex[:8]}"
    uri = os.environ.get("MONGODB_URI")

    async def write(uri: str) -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        plain = MongoRepository(client, database)  # as written before search values existed
        for i, family in enumerate(("Lemaître-Fontaine", "Lemoine", "Martin")):
            await plain.update("Patient", f"p{i}", {"resourceType": "Patient", "name": [{"family": family}]})
        await client.close()

    if uri:
        asyncio.run(write(uri))
    else:
        with EmbeddedMongo(data_dir / "db") as db:  # where ``serve --data-dir`` keeps it
            asyncio.run(write(db.uri))
    server = ServerProcess(data_dir, mongodb_uri=uri, env={"PASSERELLE_DB": database}).start()
    try:
        with httpx.Client(base_url=server.base, timeout=30) as http:
            bundle = http.get("/Patient", params={"family": "lem"}).json()
            assert sorted(e["resource"]["id"] for e in bundle.get("entry", [])) == ["p0", "p1"]
            missing = http.get("/Patient", params={"family:missing": "false", "_summary": "count"}).json()
            assert missing["total"] == 3
    finally:
        server.stop()


def test_a_database_of_the_previous_layout_is_upgraded_once_at_start(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database written by the layout before issue #13 (v1: words of ``_text``/``_content``
    stored and indexed, single-field indexes, a marker without a layout) is upgraded when the
    server starts, before its first request, with its progress on the console: the search values
    are recomputed (no words), the indexes rebuilt (equality indexes continued by ``_id``); a
    second start does nothing."""
    from pymongo import AsyncMongoClient

    from fhir_server.search import ensure_search_indexes, index_resource
    from fhir_server.storage import MongoRepository
    from tests.fhir_server.layout_upgrade import on_database, started_twice, written_with_layout

    data_dir = Path(tmp_path_factory.mktemp("v1"))
    database = f"v1_{uuid.uuid4().hex[:8]}"
    uri = os.environ.get("MONGODB_URI")

    async def write_v1(uri: str) -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        repo = MongoRepository(client, database, indexer=index_resource)
        await repo.ensure_indexes()
        await ensure_search_indexes(repo, ["Patient"])
        for i, family in enumerate(("Lemaître-Fontaine", "Lemoine", "Martin")):
            body = {"resourceType": "Patient", "name": [{"family": family}], "gender": "female"}
            await repo.update("Patient", f"p{i}", body)
        await repo.db["search_meta"].replace_one(
            {"_id": "extractor"}, {"_id": "extractor", "v": 6}, upsert=True
        )
        stored = await repo.db["Patient"].find_one({"_id": "p0"})
        assert stored is not None and "lemaitre" in stored["s"]["_content"]  # v1 stores the words
        await client.close()

    async def check(uri: str) -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        coll = client[database]["Patient"]
        stored = await coll.find_one({"_id": "p0"})
        assert stored is not None and "_content" not in stored["s"] and "_text" not in stored["s"]
        found = {i["name"]: dict(i["key"]) async for i in await coll.list_indexes()}
        assert found["s_name"] == {"s.name:p": 1, "_id": 1} and "s__content" not in found
        await client.close()

    written_with_layout(monkeypatch, "v1", data_dir, uri, write_v1)

    def requests(http: Any) -> None:
        bundle = http.get("/Patient", params={"family": "lem"}).json()
        assert sorted(e["resource"]["id"] for e in bundle.get("entry", [])) == ["p0", "p1"]

    started_twice(data_dir, uri, database, "Patient", 3, requests)
    on_database(data_dir, uri, check)
