"""Every resource of the 117 Synthea R4 patient bundles passes write-time validation.

Synthea output is the closest thing we have to real-world R4 at volume (~36,000 resources,
16 types): a false positive here would reject a whole class of real data. All entries are
validated (about 15 s), and each whole transaction Bundle of a few patients too.
"""

from __future__ import annotations

import tarfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from fhir_server.validation import validate_resource
from tests.conftest import SHARED, shared_reason

BUNDLES = SHARED / "datasets" / "synthea-r4" / "bundles.tar.gz"


def _bundles() -> Iterator[dict[str, Any]]:
    with tarfile.open(BUNDLES, "r:gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".json"):
                handle = archive.extractfile(member)
                assert handle is not None
                yield orjson.loads(handle.read())


@pytest.fixture(scope="module")
def bundles() -> list[dict[str, Any]]:
    if not BUNDLES.exists():
        pytest.skip(shared_reason("datasets", "synthea-r4", "bundles.tar.gz"))
    return list(_bundles())


def test_every_synthea_resource_is_valid(bundles: list[dict[str, Any]]) -> None:
    assert len(bundles) == 117
    types: Counter[str] = Counter()
    failures: list[str] = []
    for bundle in bundles:
        for entry in bundle["entry"]:
            resource = entry["resource"]
            types[resource["resourceType"]] += 1
            for issue in validate_resource(resource, expected_type=resource["resourceType"]):
                failures.append(f"{resource['resourceType']}/{resource.get('id')}: {issue.to_json()}")
    print(f"{sum(types.values())} Synthea resources validated: {dict(types)}")
    assert sum(types.values()) > 35_000
    assert not failures, "\n".join(failures[:20])


def test_whole_synthea_transaction_bundles_are_valid(bundles: list[dict[str, Any]]) -> None:
    for bundle in bundles[:5]:
        assert validate_resource(bundle) == []
