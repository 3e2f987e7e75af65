"""Shared fixtures: the public eHDSI sample documents from ``../shared`` (tests only)."""

from __future__ import annotations

from functools import cache

import pytest

from cda_transform import ToFhirResult, TransformError, to_fhir
from tests.conftest import SHARED, shared_reason

SAMPLES = SHARED / "ehdsi" / "samples"
RICH = "ehealth__translations-and-mappings-ws_src_test_resources_2-1234-W7.xml"


def sample_index() -> list[tuple[str, str, str]]:
    """(file, kind, language) rows of ``INDEX.tsv``; empty when the shared folder is absent."""
    index = SAMPLES / "INDEX.tsv"
    if not index.exists():
        return []
    rows = [line.split("\t") for line in index.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    return [(r[0], r[1], r[2]) for r in rows]


@cache
def convert(name: str) -> ToFhirResult | TransformError:
    """Convert a sample once per test session (several tests look at the same result)."""
    try:
        return to_fhir((SAMPLES / name).read_bytes())
    except TransformError as error:
        return error


@pytest.fixture
def sample_bytes():
    def read(name: str) -> bytes:
        path = SAMPLES / name
        if not path.exists():
            pytest.skip(shared_reason("ehdsi", "samples", name))
        return path.read_bytes()

    return read
