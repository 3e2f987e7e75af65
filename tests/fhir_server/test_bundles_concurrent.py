"""Transaction Bundles written side by side: complete, never duplicated, history equal to current.

Two layers are checked. Over HTTP, on a real server: many transaction Bundles posted at once
(the embedded database makes concurrent transactions conflict and runs their bodies again) each
leave exactly their resources, every one with a single history version byte-identical to the
current one, references rewritten to the right resource; and conditional creates of the same
identifier in concurrent Bundles still create one resource, the other Bundles linking to it.
In process, on the repository: a transaction body run twice (the first run refused by the
database, as after a write conflict) writes each resource once, extracts its search values once,
and the commit observers see one set of versions, the committed one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest

from bench.harness import ServerProcess

JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
SYSTEM = "urn:test:concurrent-bundles"


def _bundle(tag: str, observations: int) -> dict[str, Any]:
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient_url,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": SYSTEM, "value": tag}],
                "name": [{"family": f"Concurrent {tag}"}],
            },
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    for n in range(observations):
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": SYSTEM, "code": f"{tag}-{n}"}]},
                    "subject": {"reference": patient_url},
                },
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _all(http: httpx.Client, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every match of a search, page after page."""
    out: list[dict[str, Any]] = []
    page = http.get(path, params={**params, "_count": "100"}).json()
    while True:
        out.extend(e["resource"] for e in page.get("entry", []))
        link = next((x["url"] for x in page.get("link", []) if x["relation"] == "next"), None)
        if link is None:
            return out
        page = http.get(link).json()


def test_concurrent_transaction_bundles_are_complete_and_history_agrees(server: ServerProcess) -> None:
    tags = [f"c{uuid.uuid4().hex[:10]}" for _ in range(10)]
    observations = 12
    with httpx.Client(base_url=server.base, headers=JSON, timeout=180) as http:
        with ThreadPoolExecutor(5) as pool:
            replies = list(pool.map(lambda tag: http.post("/", json=_bundle(tag, observations)), tags))
        assert [r.status_code for r in replies] == [200] * len(tags), [r.text[:300] for r in replies]
        for tag, reply in zip(tags, replies, strict=True):
            entries = reply.json()["entry"]
            assert len(entries) == 1 + observations
            assert all(e["response"]["status"] == "201 Created" for e in entries)
            locations = [e["response"]["location"] for e in entries]
            assert all(loc.endswith("/_history/1") for loc in locations)
            assert len(set(locations)) == len(locations)

            patients = _all(http, "/Patient", {"identifier": f"{SYSTEM}|{tag}"})
            assert len(patients) == 1  # neither lost nor written twice
            patient_id = patients[0]["id"]
            assert locations[0] == f"Patient/{patient_id}/_history/1"
            found = _all(http, "/Observation", {"subject": f"Patient/{patient_id}"})
            codes = Counter(o["code"]["coding"][0]["code"] for o in found)
            assert codes == Counter(f"{tag}-{n}" for n in range(observations))
            assert {o["subject"]["reference"] for o in found} == {f"Patient/{patient_id}"}
            for resource in [patients[0], *found]:
                type_, id_ = resource["resourceType"], resource["id"]
                history = http.get(f"/{type_}/{id_}/_history").json()
                assert history["total"] == 1
                version = history["entry"][0]["resource"]
                current = http.get(f"/{type_}/{id_}")
                assert current.status_code == 200
                assert version == current.json()
                assert current.headers["etag"] == 'W/"1"'
                assert version["meta"]["versionId"] == "1"


def conditional_entries(value: str, n: int) -> list[dict[str, Any]]:
    """A Patient created only if none has identifier ``value`` (``ifNoneExist``), and an
    Observation ``n`` about it: the Bundle entries concurrent posters race with."""
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    return [
        {
            "fullUrl": patient_url,
            "resource": {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": value}]},
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={SYSTEM}|{value}"},
        },
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": SYSTEM, "code": f"{value}-{n}"}]},
                "subject": {"reference": patient_url},
            },
            "request": {"method": "POST", "url": "Observation"},
        },
    ]


def test_conditional_creates_of_one_identifier_in_concurrent_bundles_make_one_resource(
    server: ServerProcess,
) -> None:
    value = uuid.uuid4().hex

    def bundle(n: int) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "transaction", "entry": conditional_entries(value, n)}

    with httpx.Client(base_url=server.base, headers=JSON, timeout=180) as http:
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda n: http.post("/", json=bundle(n)), range(6)))
        assert [r.status_code for r in replies] == [200] * 6, [r.text[:300] for r in replies]
        statuses = sorted(r.json()["entry"][0]["response"]["status"] for r in replies)
        assert statuses == ["200 OK"] * 5 + ["201 Created"]
        patients = _all(http, "/Patient", {"identifier": f"{SYSTEM}|{value}"})
        assert len(patients) == 1
        patient_id = patients[0]["id"]
        assert {r.json()["entry"][0]["fullUrl"].rsplit("/", 1)[1] for r in replies} == {patient_id}
        found = _all(http, "/Observation", {"subject": f"Patient/{patient_id}"})
        assert sorted(o["code"]["coding"][0]["code"] for o in found) == sorted(
            f"{value}-{n}" for n in range(6)
        )


# -- in process: a body the database runs twice ------------------------------------------------


def test_a_body_run_twice_writes_and_extracts_each_resource_once(mongo_uri: str) -> None:
    from pymongo import AsyncMongoClient
    from pymongo.errors import OperationFailure

    from fhir_server.bundles import BundleProcessor
    from fhir_server.config import Settings
    from fhir_server.search import index_resource
    from fhir_server.storage import MongoRepository, StoredVersion

    extracted: Counter[str] = Counter()

    def indexer(type_: str, stored: dict[str, Any]) -> dict[str, Any]:
        extracted[f"{type_}/{stored['id']}"] += 1
        return index_resource(type_, stored)

    class RefusedOnce(MongoRepository):
        """The first run of a transaction body is refused after its writes, like a write conflict."""

        refused = 0

        async def create_many(self, *args: Any, **kwargs: Any) -> list[StoredVersion]:
            out = await super().create_many(*args, **kwargs)
            if not self.refused:
                self.refused += 1
                error = OperationFailure("injected write conflict", code=112)
                error._add_error_label("TransientTransactionError")
                raise error
            return out

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        repository = RefusedOnce(client, f"retried_{uuid.uuid4().hex[:8]}", indexer=indexer)
        seen: list[list[StoredVersion]] = []

        async def observer(versions: list[StoredVersion]) -> None:
            seen.append(versions)

        repository.observe(frozenset({"Patient", "Observation"}), observer)
        tag = uuid.uuid4().hex
        processor = BundleProcessor(repository, Settings(), "http://test/fhir", "minimal")
        entries = _bundle(tag, 4)["entry"]
        response = await processor.transaction(entries)
        assert repository.refused == 1
        assert repository.stats.transactions == 1 and repository.stats.bodies == 2
        ids = [e["response"]["location"].split("/")[:2] for e in response]
        assert [t for t, _ in ids] == ["Patient"] + ["Observation"] * 4
        # search values extracted once per resource, although the body ran twice
        assert extracted == Counter(f"{t}/{i}" for t, i in ids)
        # the observers saw the committed versions once
        assert len(seen) == 1 and sorted((v.type, v.id) for v in seen[0]) == sorted(map(tuple, ids))
        db = repository.db
        for type_, id_ in ids:
            current = await db[type_].find_one({"_id": id_})
            versions = await db["history"].find({"t": type_, "i": id_}).to_list(None)
            assert current is not None and len(versions) == 1
            assert current["v"] == versions[0]["v"] == 1
            assert bytes(current["j"]) == bytes(versions[0]["j"])
            assert current["ts"] == versions[0]["ts"]
        assert await db["Observation"].count_documents({}) == 4
        assert await db["Patient"].count_documents({}) == 1
        await client.close()

    asyncio.run(run())


class _Watched:
    """A repository counting the transaction Bundles whose creates are under way at once."""

    @staticmethod
    def make(uri: str, bound: int) -> Any:
        from pymongo import AsyncMongoClient

        from fhir_server.search import index_resource
        from fhir_server.storage import MongoRepository, StoredVersion

        class Watched(MongoRepository):
            open_now = 0
            most = 0

            async def create_many(self, *args: Any, **kwargs: Any) -> list[StoredVersion]:
                self.open_now += 1
                self.most = max(self.most, self.open_now)
                try:
                    await asyncio.sleep(0.2)  # let the other Bundles reach the database meanwhile
                    return await super().create_many(*args, **kwargs)
                finally:
                    self.open_now -= 1

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        name = f"bound_{uuid.uuid4().hex[:8]}"
        return Watched(client, name, indexer=index_resource, bounded_transactions=bound)


@pytest.mark.parametrize("bound", [0, 1, 2])
def test_bundle_transactions_open_at_once_stay_within_the_bound(mongo_uri: str, bound: int) -> None:
    from fhir_server.bundles import BundleProcessor
    from fhir_server.config import Settings
    from fhir_server.search import ensure_search_indexes

    async def run() -> None:
        repository = _Watched.make(mongo_uri, bound)
        await ensure_search_indexes(repository, ["Patient", "Observation"])
        processor = BundleProcessor(repository, Settings(), "http://test/fhir", "minimal")
        tags = [uuid.uuid4().hex for _ in range(5)]
        answers = await asyncio.gather(*(processor.transaction(_bundle(tag, 3)["entry"]) for tag in tags))
        assert all(e["response"]["status"] == "201 Created" for a in answers for e in a)
        assert await repository.db["Observation"].count_documents({}) == 15
        assert await repository.db["history"].count_documents({}) == 20
        assert repository.stats.transactions == 5
        if bound:
            assert repository.most <= bound
        else:
            assert repository.most > 1  # unbounded: the Bundles' transactions were open together
        if bound == 1:
            assert repository.stats.bodies == 5  # one at a time: nothing to conflict with
        await repository.client.close()

    asyncio.run(run())


@pytest.mark.parametrize("bound", [0, 1])
def test_conditional_creates_in_concurrent_bundles_make_one_resource_whatever_the_bound(
    mongo_uri: str, bound: int
) -> None:
    from fhir_server.bundles import BundleProcessor
    from fhir_server.config import Settings
    from fhir_server.search import ensure_search_indexes

    value = uuid.uuid4().hex

    def bundle(n: int) -> list[dict[str, Any]]:
        return conditional_entries(value, n)

    async def run() -> None:
        repository = _Watched.make(mongo_uri, bound)
        await ensure_search_indexes(repository, ["Patient", "Observation"])
        processor = BundleProcessor(repository, Settings(), "http://test/fhir", "minimal")
        answers = await asyncio.gather(*(processor.transaction(bundle(n)) for n in range(5)))
        statuses = sorted(a[0]["response"]["status"] for a in answers)
        assert statuses == ["200 OK"] * 4 + ["201 Created"]
        patient_ids = {a[0]["fullUrl"].rsplit("/", 1)[1] for a in answers}
        assert len(patient_ids) == 1
        assert await repository.db["Patient"].count_documents({}) == 1
        observations = await repository.db["Observation"].find({}, {"j": 1}).to_list(None)
        assert len(observations) == 5
        subjects = {orjson.loads(bytes(o["j"]))["subject"]["reference"] for o in observations}
        assert subjects == {f"Patient/{patient_ids.pop()}"}
        await repository.client.close()

    asyncio.run(run())
