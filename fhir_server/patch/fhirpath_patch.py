"""FHIRPath Patch (R4 fhirpatch.html): a ``Parameters`` resource of add/insert/delete/replace/move.

Why fhirpathpy with raw nodes: the patch paths are full FHIRPath (``where()``, indexes,
``first()``...). fhirpathpy's raw result nodes carry the concrete location of each
match (``Patient.name[0].given[1]``), so the evaluator selects and this module edits
the JSON at that exact place, with no second, home-made path language.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import FhirError
from fhir_server.patch.elements import ElementInfo, lookup

_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")
_LAST_NAME = re.compile(r"^(.*)\.([A-Za-z][A-Za-z0-9_]*)$")
_DIV_ELEMENT = re.compile(r"\.div\b(?!\s*\()")
_OPERATIONS = ("add", "insert", "delete", "replace", "move")


def _fail(message: str, expression: str, status: int = 422, code: str = "processing") -> FhirError:
    return FhirError(status, code, f"FHIRPath Patch : {message}", expression=[expression])


def _bad(message: str, expression: str) -> FhirError:
    return _fail(message, expression, 400, "invalid")


@dataclass
class _Location:
    """Where a matched element lives: ``container[key]`` (and ``[index]`` for a repeat)."""

    container: dict[str, Any]
    key: str
    index: int | None
    type_path: str  # fhirpathpy's type (or backbone path) of the element
    choice_base: str | None = None  # "value" when the JSON key is "valueQuantity"

    @property
    def value(self) -> Any:
        value = self.container[self.key]
        return value if self.index is None else value[self.index]


@dataclass
class _Operation:
    type: str
    path: str
    name: str | None
    value: Any  # ("typed", suffix, json, extension json) or ("parts", [...]) or None
    index: int | None
    source: int | None
    destination: int | None
    where: str


def _evaluate(resource: dict[str, Any], path: str, where: str) -> list[Any]:
    import fhirpathpy
    from fhirpathpy.models import models

    # "div" is also the integer-division keyword: fhirpathpy wants Narrative.div delimited.
    path = _DIV_ELEMENT.sub(".`div`", path)
    try:
        return list(fhirpathpy.evaluate(resource, path, model=models["r4"], options={"returnRawData": True}))
    except Exception as exc:  # the evaluator raises many kinds on bad expressions
        raise _bad(f"expression {path!r} invalide ({exc}).", where) from exc


def _locate(resource: dict[str, Any], path: str, where: str) -> list[_Location]:
    from fhirpathpy.engine.nodes import ResourceNode

    found: list[_Location] = []
    for node in _evaluate(resource, path, where):
        if not isinstance(node, ResourceNode) or not node.propName:
            if isinstance(node, ResourceNode) and node.data is resource:
                raise _bad(f"{path!r} désigne la ressource entière, pas un élément.", where)
            raise _bad(f"{path!r} ne désigne pas des éléments de la ressource.", where)
        found.append(_walk(resource, node.propName, node.path or "", path, where))
    return found


def _walk(resource: dict[str, Any], prop: str, type_path: str, path: str, where: str) -> _Location:
    steps = prop.split(".")[1:]  # the first step is the resource type
    current: Any = resource
    location: _Location | None = None
    for step in steps:
        m = _STEP.match(step)
        if m is None or not isinstance(current, dict):
            raise _bad(f"emplacement {prop!r} non pris en charge.", where)
        name, index = m.group(1), m.group(2)
        key, base = name, None
        if key not in current:
            # a choice element: FHIRPath says "value", the JSON says "valueQuantity"
            key = next(
                (k for k in current if k.startswith(name) and k[len(name) : len(name) + 1].isupper()), key
            )
            base = name
        if key not in current:
            raise _fail(f"élément {prop!r} introuvable.", where)
        value = current[key]
        if index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                raise _fail(f"élément {prop!r} introuvable.", where)
            location = _Location(current, key, int(index), type_path, base)
            current = value[int(index)]
        else:
            location = _Location(current, key, None, type_path, base)
            current = value
    if location is None:
        raise _bad(f"{path!r} désigne la ressource entière, pas un élément.", where)
    return location


def _single(resource: dict[str, Any], path: str, where: str, verb: str) -> _Location:
    found = _locate(resource, path, where)
    if not found:
        raise _fail(f"aucun élément trouvé en {path} pour {verb}.", where)
    if len(found) > 1:
        raise _fail(f"{path} désigne {len(found)} éléments ; un seul est attendu pour {verb}.", where)
    return found[0]


def _list_at(resource: dict[str, Any], path: str, where: str, create: bool) -> tuple[dict[str, Any], str]:
    """The object holding the list ``path`` designates, and its key (``Patient.identifier``)."""
    m = _LAST_NAME.match(path.strip())
    if m is None:
        raise _bad(f"{path!r} doit se terminer par un nom d'élément (liste).", where)
    parent_path, name = m.groups()
    if "." not in parent_path and "(" not in parent_path and "[" not in parent_path:
        if parent_path != resource.get("resourceType"):
            raise _fail(f"{parent_path} n'est pas le type de la ressource.", where)
        holder: dict[str, Any] = resource
    else:
        location = _single(resource, parent_path, where, "cette opération")
        holder = location.value
        if not isinstance(holder, dict):
            raise _fail(f"{parent_path} n'est pas un élément complexe.", where)
    if name not in holder or not isinstance(holder[name], list):
        if not create or name in holder:
            raise _fail(f"{path} n'est pas une liste présente dans la ressource.", where)
        holder[name] = []
    return holder, name


# -- values ---------------------------------------------------------------------------------


def _value_json(value: Any, info: ElementInfo | None, where: str) -> tuple[Any, str | None, Any]:
    """(JSON value, type suffix of a value[x] or None for an anonymous type, primitive extension)."""
    kind = value[0]
    if kind == "typed":
        _, suffix, data, ext = value
        return copy.deepcopy(data), suffix, copy.deepcopy(ext)
    parts = value[1]
    at = info.children_at if info is not None else None
    return _anonymous(parts, at, where), None, None


def _anonymous(parts: list[Any], at: str | None, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise _bad("partie sans nom dans une valeur anonyme.", where)
        name = part["name"]
        info = lookup(at, name) if at else None
        parsed = _parse_value(part, where)
        if parsed is None:
            raise _bad(f"partie {name!r} sans valeur.", where)
        data, suffix, ext = _value_json(parsed, info, where)
        key = name + suffix if (info is not None and info.choice and suffix) else name
        many = info.many if info is not None else key in out
        if many:
            out.setdefault(key, []).append(data)
            if ext is not None:
                out.setdefault("_" + key, []).append(ext)
        else:
            out[key] = data
            if ext is not None:
                out["_" + key] = ext
    return out


def _parse_value(part: dict[str, Any], where: str) -> Any:
    for key, data in part.items():
        if key.startswith("value") and len(key) > 5 and key[5].isupper():
            return ("typed", key[5:], data, part.get("_" + key))
    if isinstance(part.get("part"), list):
        return ("parts", part["part"])
    return None


def parse_operations(parameters: dict[str, Any]) -> list[_Operation]:
    """The operations of a FHIRPath Patch ``Parameters``; 400 on a malformed one."""
    if parameters.get("resourceType") != "Parameters":
        raise _bad("le corps doit être une ressource Parameters.", "Parameters")
    raw = parameters.get("parameter", [])
    if not isinstance(raw, list):
        raise _bad("Parameters.parameter doit être une liste.", "Parameters.parameter")
    ops: list[_Operation] = []
    for i, param in enumerate(raw):
        where = f"Parameters.parameter[{i}]"
        if not isinstance(param, dict) or param.get("name") != "operation":
            raise _bad("chaque paramètre doit s'appeler 'operation'.", f"{where}.name")
        fields: dict[str, Any] = {}
        for j, part in enumerate(param.get("part") or []):
            if not isinstance(part, dict) or not isinstance(part.get("name"), str):
                raise _bad("partie sans nom.", f"{where}.part[{j}]")
            fields[part["name"]] = part
        op_type = _string(fields, "type", where, "valueCode")
        if op_type not in _OPERATIONS:
            raise _bad(f"type d'opération {op_type!r} inconnu ({', '.join(_OPERATIONS)}).", f"{where}.part")
        path = _string(fields, "path", where, "valueString")
        name = _string(fields, "name", where, "valueString", required=op_type == "add")
        value = _parse_value(fields["value"], where) if "value" in fields else None
        if op_type in ("add", "insert", "replace") and value is None:
            raise _bad(f"l'opération {op_type} exige une valeur (value).", f"{where}.part")
        ops.append(
            _Operation(
                op_type,
                path or "",
                name,
                value,
                _integer(fields, "index", where, op_type == "insert"),
                _integer(fields, "source", where, op_type == "move"),
                _integer(fields, "destination", where, op_type == "move"),
                where,
            )
        )
    return ops


def _string(fields: dict[str, Any], name: str, where: str, key: str, required: bool = True) -> str | None:
    part = fields.get(name)
    if part is None:
        if required:
            raise _bad(f"partie {name!r} manquante.", f"{where}.part")
        return None
    value = part.get(key, part.get("valueString", part.get("valueCode")))
    if not isinstance(value, str) or not value:
        raise _bad(f"partie {name!r} : chaîne attendue.", f"{where}.part")
    return value


def _integer(fields: dict[str, Any], name: str, where: str, required: bool) -> int | None:
    part = fields.get(name)
    if part is None:
        if required:
            raise _bad(f"partie {name!r} manquante.", f"{where}.part")
        return None
    value = part.get("valueInteger")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(f"partie {name!r} : entier positif attendu.", f"{where}.part")
    return value


# -- application ----------------------------------------------------------------------------


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """A patched copy of ``resource``; the original is never modified (a failed patch stores nothing)."""
    ops = parse_operations(parameters)
    result = copy.deepcopy(resource)
    for op in ops:
        _apply(result, op)
    _prune(result)
    return result


def _prune(value: Any) -> bool:
    """Drop the objects and arrays a delete left empty (FHIR JSON forbids them); True if empty."""
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if _prune(v)]:
            del value[key]
        return not value
    if isinstance(value, list):
        value[:] = [v for v in value if not _prune(v)]
        return not value
    return False


def _apply(resource: dict[str, Any], op: _Operation) -> None:
    where = op.where
    if op.type == "add":
        holder, type_path = _single_container(resource, op.path, where)
        assert op.name is not None
        info = lookup(type_path, op.name)
        data, suffix, ext = _value_json(op.value, info, where)
        key = op.name + suffix if (info is not None and info.choice and suffix) else op.name
        many = info.many if info is not None else isinstance(holder.get(key), list)
        if many:
            holder.setdefault(key, []).append(data)
            if ext is not None:
                holder.setdefault("_" + key, []).append(ext)
        else:
            if key in holder:
                raise _fail(f"{op.path}.{op.name} a déjà une valeur (utilisez replace).", where)
            holder[key] = data
            if ext is not None:
                holder["_" + key] = ext
    elif op.type == "insert":
        holder, key = _list_at(resource, op.path, where, create=True)
        items = holder[key]
        assert op.index is not None
        if op.index > len(items):
            raise _fail(f"index {op.index} hors de la liste {op.path} ({len(items)} éléments).", where)
        data, _, _ = _value_json(op.value, _list_info(resource, op.path), where)
        items.insert(op.index, data)
    elif op.type == "delete":
        found = _locate(resource, op.path, where)
        if len(found) > 1:
            raise _fail(f"{op.path} désigne {len(found)} éléments ; un seul est attendu pour delete.", where)
        if found:
            _remove(found[0])
    elif op.type == "replace":
        location = _single(resource, op.path, where, "replace")
        data, suffix, ext = _value_json(op.value, _info_at(location), where)
        key = location.key
        choice = location.choice_base
        if location.index is None and suffix is not None and choice is not None and key != choice + suffix:
            # value[x] changing type: valueQuantity → valueString
            location.container.pop(location.key)
            location.container.pop("_" + location.key, None)
            key = choice + suffix
        if location.index is None:
            location.container[key] = data
        else:
            location.container[key][location.index] = data
    elif op.type == "move":
        holder, key = _list_at(resource, op.path, where, create=False)
        items = holder[key]
        assert op.source is not None and op.destination is not None
        if op.source >= len(items) or op.destination >= len(items):
            raise _fail(f"index hors de la liste {op.path} ({len(items)} éléments).", where)
        items.insert(op.destination, items.pop(op.source))


def _single_container(resource: dict[str, Any], path: str, where: str) -> tuple[dict[str, Any], str]:
    if path.strip() == resource.get("resourceType"):
        return resource, path.strip()
    found = _locate(resource, path, where)
    if not found:
        raise _fail(f"No content found at {path} when adding (aucun élément à cet endroit).", where)
    if len(found) > 1:
        raise _fail(f"{path} désigne {len(found)} éléments ; un seul est attendu pour add.", where)
    value = found[0].value
    if not isinstance(value, dict):
        raise _fail(f"{path} n'est pas un élément complexe : impossible d'y ajouter un élément.", where)
    return value, found[0].type_path


def _info_at(location: _Location) -> ElementInfo | None:
    """The definition of the element at ``location``: its children are typed by ``type_path``."""
    return ElementInfo(False, (), False, location.type_path) if location.type_path else None


def _list_info(resource: dict[str, Any], path: str) -> ElementInfo | None:
    m = _LAST_NAME.match(path.strip())
    if m is None:
        return None
    parent_path, name = m.groups()
    parent_type = resource.get("resourceType", "")
    if parent_path != parent_type:
        try:
            found = _locate(resource, parent_path, "")
        except FhirError:
            return None
        if len(found) != 1:
            return None
        parent_type = found[0].type_path
    return lookup(parent_type, name)


def _remove(location: _Location) -> None:
    container, key = location.container, location.key
    if location.index is None:
        container.pop(key, None)
        container.pop("_" + key, None)
        return
    items = container[key]
    items.pop(location.index)
    extensions = container.get("_" + key)
    if isinstance(extensions, list) and location.index < len(extensions):
        extensions.pop(location.index)
        if not extensions or all(e is None for e in extensions):
            container.pop("_" + key)
    if not items:
        container.pop(key)
