"""Walk a resource instance along its R4 element trees to run the checks the models skip.

Why: required bindings and reference rules are attached to elements (``Patient.gender``,
``Quantity.comparator`` wherever a Quantity sits, ``Observation.subject``), so the walk
follows the definitions, from the instance's own keys: cost grows with the size of the
resource, not of its definition. Unknown keys and complex values of the wrong JSON type are
left to the structural check, which reports them; the walk must simply not trip over them.
Contained and bundled resources are walked as resources of their own ``resourceType``.
It also reports every missing required element (min >= 1) and choice-type conflict at once,
where the models stop at the first layer of errors, and enforces the JSON rules the models
let through (they coerce ``"yes"`` to ``true`` and ``"12"`` to 12): primitives carry their
own JSON type, no ``null`` property, no empty string, array or object, and a ``#id``
reference names a contained resource (R4 ``ref-1``); contained resources follow dom-2 to dom-5.
"""

from __future__ import annotations

import binascii
from collections.abc import Set
from typing import Any

from fhir_server.validation import clean, memo
from fhir_server.validation.bindings import check_code, check_codeable_concept, check_coding
from fhir_server.validation.contained import Frame, own_rules, unreferenced
from fhir_server.validation.definitions import COMPLEX, PRIMITIVE, RESOURCE, Child, Definitions, Node
from fhir_server.validation.ids import bad_id, is_valid_id
from fhir_server.validation.issues import Issue, error, short
from fhir_server.validation.references import check_reference

_URI_TYPES = ("canonical", "uri", "url")
_BOOLEAN = ("boolean", "http://hl7.org/fhirpath/System.Boolean")
_INTEGER = ("integer", "positiveInt", "unsignedInt", "integer64", "http://hl7.org/fhirpath/System.Integer")
_DECIMAL = ("decimal", "http://hl7.org/fhirpath/System.Decimal")


def _json_type_error(type_name: str, value: Any) -> str | None:
    """What JSON type ``value`` should have had, or None when it has the right one."""
    if type_name in _BOOLEAN:
        return None if isinstance(value, bool) else "booléen JSON (true/false) attendu"
    if type_name in _INTEGER:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "nombre entier JSON attendu"
    if type_name in _DECIMAL:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "nombre JSON attendu"
    return None if isinstance(value, str) else "chaîne de caractères JSON attendue"


def _is_base64(value: str) -> bool:
    """R4 base64Binary (whitespace allowed between groups); the models accept any string."""
    try:
        binascii.a2b_base64("".join(value.split()), strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return True


class Walker:
    """Collects issues for one top-level resource (one instance per call: not thread-shared)."""

    def __init__(self, defs: Definitions, known_types: Set[str], *, allow_conditional: bool) -> None:
        self.defs = defs
        self.known_types = known_types
        self.allow_conditional = allow_conditional
        self.issues: list[Issue] = []
        self.skip_clean = memo.enabled()  # elements already walked clean are skipped (clean.py)
        # one frame per container: the contained ids "#id" may name, the local references seen
        self._frames: list[Frame] = []

    def walk_resource(
        self, resource_type: str, resource: dict[str, Any], path: str, *, contained: bool = False
    ) -> None:
        node = self.defs.node(resource_type)
        if node is None:
            return
        if contained and self._frames:
            self._walk_object(node, resource, path)
            return
        siblings = resource.get("contained")
        ids = {
            item["id"]
            for item in (siblings if isinstance(siblings, list) else ())
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        }
        frame = Frame(ids)
        self._frames.append(frame)
        try:
            self._walk_object(node, resource, path)
        finally:
            self._frames.pop()
        if siblings is not None:
            self.issues.extend(unreferenced(frame, siblings, path))

    def _nested_resource(self, value: Any, path: str, contained: bool) -> None:
        if not isinstance(value, dict):
            return  # the model reports the wrong JSON type
        resource_type = value.get("resourceType")
        if resource_type is None:
            self.issues.append(
                error(
                    "required",
                    "Missing resourceType. Type de ressource (resourceType) absent.",
                    f"{path}.resourceType",
                )
            )
            return
        if not isinstance(resource_type, str) or resource_type not in self.known_types:
            self.issues.append(
                error(
                    "not-supported",
                    f"Unsupported resource type {short(resource_type)}. "
                    f"Type de ressource inconnu ou non pris en charge : {short(resource_type)}.",
                    path,
                )
            )
            return
        if "id" in value and not is_valid_id(value["id"]):
            self.issues.append(bad_id(value["id"], f"{path}.id"))
        if not contained:
            self.walk_resource(resource_type, value, path)
            return
        self.issues.extend(own_rules(value, path))
        frame = self._frames[-1] if self._frames else None
        if frame is not None:
            frame.current = _index(path)
        try:
            self.walk_resource(resource_type, value, path, contained=True)
        finally:
            if frame is not None:
                frame.current = None

    def _walk_object(self, node: Node, obj: dict[str, Any], path: str) -> None:
        children = node.children
        for key, value in obj.items():
            child = children.get(key) if isinstance(key, str) else None
            if child is None:
                continue
            if isinstance(value, list):
                base = f"{path}.{child.name}"
                if not value:
                    self.issues.append(_empty(base, "tableau vide"))
                for index, item in enumerate(value):
                    self._visit(child, item, f"{base}[{index}]")
            elif value is None:
                self.issues.append(_empty(f"{path}.{child.name}", "valeur null"))
            else:
                self._visit(child, value, f"{path}.{child.name}")
        for name, keys in node.choices:
            present = [key for key in keys if key in obj]
            if len(present) > 1:
                self.issues.append(
                    error(
                        "structure",
                        f"Several types for choice element {name}[x]: {', '.join(present)}. "
                        f"Un seul type permis pour l'élément à choix {name}[x] : {', '.join(present)}.",
                        f"{path}.{name}",
                    )
                )
        for name, keys in node.required:
            if not any(key in obj for key in keys):
                diagnostics = f"Missing required element {name}. Élément obligatoire absent : {name}."
                self.issues.append(error("required", diagnostics, f"{path}.{name}"))

    def _visit(self, child: Child, value: Any, path: str) -> None:
        kind = child.kind
        if kind == PRIMITIVE:
            if value is None:
                return  # a null beside a "_name" extension in a primitive array
            expected = _json_type_error(child.type_name, value)
            if expected is not None:
                self.issues.append(
                    error(
                        "structure",
                        f"Wrong JSON type for {child.type_name}: {short(value)}. "
                        f"Type JSON incorrect pour un {child.type_name} : {expected}.",
                        path,
                    )
                )
            elif value == "":
                self.issues.append(_empty(path, "chaîne vide"))
            elif child.value_set is not None:
                self._add(check_code(value, child.value_set, path))
            elif child.type_name in _URI_TYPES and value[0] == "#" and self._frames:
                self._frames[-1].saw_local_reference(value)  # dom-3 counts canonical/uri too
            elif child.type_name == "base64Binary" and not _is_base64(value):
                self.issues.append(
                    error(
                        "value",
                        f"Invalid base64Binary. Contenu base64 invalide. Reçu : {short(value)}.",
                        path,
                    )
                )
            return
        if not isinstance(value, dict):
            return
        if not value:
            self.issues.append(_empty(path, "objet vide"))
            return
        if kind == RESOURCE:
            self._nested_resource(value, path, child.name == "contained")
            return
        if kind == COMPLEX:
            item = clean.key(child, value, self.allow_conditional) if self.skip_clean else None
            if item is not None and clean.known(item):
                return  # the same bytes at the same kind of place were walked without issue
            before = len(self.issues)
            self._visit_complex(child, value, path)
            if item is not None and len(self.issues) == before:
                clean.walked_clean(item)

    def _visit_complex(self, child: Child, value: dict[str, Any], path: str) -> None:
        """Bindings, reference format and the children of one complex element."""
        type_name = child.type_name
        if child.value_set is not None:
            if type_name == "CodeableConcept":
                self._add(check_codeable_concept(value, child.value_set, path))
            elif type_name == "Coding":
                self._add(check_coding(value, child.value_set, path))
        elif type_name == "Reference":
            reference = value.get("reference")
            if isinstance(reference, str) and reference.startswith("#"):
                self._check_local(reference, f"{path}.reference")
            elif isinstance(reference, str):
                self._add(
                    check_reference(
                        reference,
                        f"{path}.reference",
                        known_types=self.known_types,
                        targets=child.targets,
                        allow_conditional=self.allow_conditional,
                    )
                )
        if child.node is not None:
            self._walk_object(child.node, value, path)

    def _check_local(self, reference: str, expression: str) -> None:
        if not self._frames:
            return
        self._frames[-1].saw_local_reference(reference)
        if reference != "#" and reference[1:] not in self._frames[-1].ids:
            self.issues.append(
                error(
                    "invalid",
                    f"Local reference {short(reference)} names no contained resource. "
                    f"Référence locale sans ressource contenue (contained) d'id {short(reference[1:])}.",
                    expression,
                )
            )

    def _add(self, issue: Issue | None) -> None:
        if issue is not None:
            self.issues.append(issue)


def _empty(expression: str, what: str) -> Issue:
    return error(
        "structure",
        f"Empty value ({what}): FHIR JSON forbids null, empty strings, arrays and objects. "
        f"Valeur vide interdite en JSON FHIR ({what}) : omettre l'élément.",
        expression,
    )


def _index(path: str) -> int | None:
    """The list index ending ``path`` (``Patient.contained[2]`` -> 2)."""
    if path.endswith("]"):
        digits = path[path.rfind("[") + 1 : -1]
        if digits.isdigit():
            return int(digits)
    return None
