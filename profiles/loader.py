"""Loading of the vendored FHIR R4 definition bundles (gzip JSON) and of Passerelle's own definitions."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path
from typing import Any

import orjson

R4_DIR = Path(__file__).parent / "r4"
PASSERELLE_DIR = Path(__file__).parent / "passerelle"


@cache
def r4_bundle(name: str) -> dict[str, Any]:
    """Return the parsed Bundle ``profiles/r4/<name>.json.gz`` (cached: the files are read-only)."""
    with gzip.open(R4_DIR / f"{name}.json.gz", "rb") as fh:
        return orjson.loads(fh.read())


@cache
def passerelle_bundle(name: str) -> dict[str, Any]:
    """Return the parsed Bundle ``profiles/passerelle/<name>.json``: definitions of this server's own."""
    return orjson.loads((PASSERELLE_DIR / f"{name}.json").read_bytes())
