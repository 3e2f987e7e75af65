"""A single create writes its history version first and extracts its search values while the
database works on it: the transaction still commits both or neither, and the two agree."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest


class _Refused(Exception):
    pass


def _patient(family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], "birthDate": "1984-03-12"}


def test_a_failed_extraction_leaves_neither_version(mongo_uri: str) -> None:
    from pymongo import AsyncMongoClient

    from fhir_server.search import index_resource
    from fhir_server.storage import MongoRepository

    def indexer(type_: str, stored: dict[str, Any]) -> dict[str, Any]:
        if stored.get("name", [{}])[0].get("family") == "Refusé":
            raise _Refused
        return index_resource(type_, stored)

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        repository = MongoRepository(client, f"order_{uuid.uuid4().hex[:8]}", indexer=indexer)
        await repository.ensure_indexes()
        with pytest.raises(_Refused):
            await repository.create("Patient", _patient("Refusé"), id_="refused")
        assert await repository.db["Patient"].count_documents({}) == 0
        assert await repository.db["history"].count_documents({}) == 0  # written first, rolled back

        version = await repository.create("Patient", _patient("Accepté"))
        current = await repository.db["Patient"].find_one({"_id": version.id})
        history = await repository.db["history"].find({"i": version.id}).to_list(None)
        assert current is not None and len(history) == 1
        assert current["v"] == history[0]["v"] == 1 and history[0]["m"] == "POST"
        assert bytes(current["j"]) == bytes(history[0]["j"]) and current["ts"] == history[0]["ts"]
        assert current["s"]["family"] == ["accepte"]  # folded, as searched
        # the resource reads back and is found by its search value
        read = await repository.read("Patient", version.id)
        assert read is not None and read.version == 1
        # a second create under the same id is refused, and the first stays as it was
        with pytest.raises(Exception):  # noqa: B017 - the duplicate key, after the repository's retries
            await repository.create("Patient", _patient("Doublon"), id_=version.id)
        assert await repository.db["history"].count_documents({"i": version.id}) == 1
        again = await repository.db["Patient"].find_one({"_id": version.id})
        assert again is not None and bytes(again["j"]) == bytes(current["j"])
        await client.close()

    asyncio.run(run())
