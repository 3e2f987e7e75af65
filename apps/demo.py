"""Demo data for ``make run``: a small French practice, loaded idempotently on start.

Resources carry fixed ids and go through the same validation as the API; an existing
resource is left as it is, so restarting never creates new versions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from pymongo import AsyncMongoClient

from apps import demo_data
from fhir_server import MongoRepository, Settings
from fhir_server.validation import validate_resource

log = logging.getLogger("passerelle.demo")
DATA = Path(__file__).parent / "demo_data" / "resources.json"


async def load_demo(settings: Settings) -> int:
    """Store the demo resources that are not there yet; return how many were stored."""
    resources: list[dict[str, Any]] = [*orjson.loads(DATA.read_bytes()), *demo_data.extra_resources()]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
    repository = MongoRepository(client, settings.database)
    stored = 0
    try:
        await repository.ensure_indexes()
        for resource in resources:
            problems = [p for p in validate_resource(resource) if p.severity == "error"]
            if problems:
                raise ValueError(f"demo resource {resource['id']} is invalid: {problems}")
            if await repository.read(resource["resourceType"], resource["id"]) is None:
                await repository.update(resource["resourceType"], resource["id"], resource)
                stored += 1
        await demo_data.after_load(repository.db)
    finally:
        await client.close()
    log.info("demo data: %d resources stored, %d already there", stored, len(resources) - stored)
    return stored
