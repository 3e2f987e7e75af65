"""Cardinality and types of R4 elements, as FHIRPath Patch needs them.

Why: ``add`` must know whether ``name`` repeats (append to a JSON array) or not (set a
property), and which JSON key a choice element takes (``deceased`` + ``Boolean``). The
validation trees do not keep the maximum cardinality, so a compact table is built here
once, on the first FHIRPath Patch, from the vendored StructureDefinitions.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache

import orjson

from profiles import R4_DIR


@dataclass(frozen=True, slots=True)
class ElementInfo:
    many: bool
    types: tuple[str, ...]
    choice: bool
    # Where the children of a value of this element are defined: a type name ("HumanName")
    # or, for backbone elements and content references, an element path ("Patient.contact").
    children_at: str | None


@cache
def elements() -> dict[str, ElementInfo]:
    table: dict[str, ElementInfo] = {}
    for name in ("profiles-types", "profiles-resources"):
        with gzip.open(R4_DIR / f"{name}.json.gz", "rb") as fh:
            bundle = orjson.loads(fh.read())
        for entry in bundle.get("entry", []):
            sd = entry.get("resource", {})
            if sd.get("resourceType") != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            elements_ = sd.get("snapshot", {}).get("element", [])
            paths = {el["path"] for el in elements_}
            parents = {p.rpartition(".")[0] for p in paths}
            for el in elements_:
                path: str = el["path"]
                if "." not in path:
                    continue
                types = tuple(t.get("code", "") for t in el.get("type") or [])
                choice = path.endswith("[x]")
                key = path[:-3] if choice else path
                if "contentReference" in el:
                    children_at: str | None = el["contentReference"].lstrip("#")
                elif path in parents:
                    children_at = path
                elif len(types) == 1:
                    children_at = types[0]
                else:
                    children_at = None
                table[key] = ElementInfo(el.get("max") not in ("0", "1"), types, choice, children_at)
    return table


def lookup(parent_type: str, name: str) -> ElementInfo | None:
    """The element ``name`` of a value whose children are defined at ``parent_type``."""
    return elements().get(f"{parent_type}.{name}")
