"""Loading of the vendored FHIR R4 definition bundles (gzip JSON)."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path
from typing import Any

import orjson

R4_DIR = Path(__file__).parent / "r4"


@cache
def r4_bundle(name: str) -> dict[str, Any]:
    """Return the parsed Bundle ``profiles/r4/<name>.json.gz`` (cached: the files are read-only)."""
    with gzip.open(R4_DIR / f"{name}.json.gz", "rb") as fh:
        return orjson.loads(fh.read())
