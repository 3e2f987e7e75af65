"""Membership in the Patient compartment, from the R4 CompartmentDefinition.

Two forms of the same rule, built from the same definition so they cannot disagree:
:func:`compartment_params` (the search parameters that link a type to the patient;
the search code turns them into a Mongo filter on ``s.<param>``) and
:func:`in_compartment` (a predicate over a stored resource, used on instance reads and
writes, which must not depend on the search index being present).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

_WHERE_RE = re.compile(r"\.(where|ofType|as)\([^()]*(\([^()]*\))?[^()]*\)")


@cache
def _definition() -> dict[str, tuple[str, ...]]:
    from profiles import r4_bundle

    cd = r4_bundle("compartmentdefinition-patient")
    return {r["code"]: tuple(r.get("param", ())) for r in cd["resource"]}


def compartment_params(resource_type: str) -> tuple[str, ...] | None:
    """The search parameters linking ``resource_type`` to a patient; None when it is not in the compartment.

    ``Patient`` itself is in its own compartment through its id, plus ``link``.
    """
    params = _definition().get(resource_type)
    if resource_type == "Patient":
        return params or ("link",)
    return params if params else None


def in_patient_compartment_type(resource_type: str) -> bool:
    return compartment_params(resource_type) is not None


def _paths(resource_type: str) -> tuple[tuple[str, ...], ...]:
    """Element paths (without the type) of the compartment parameters of ``resource_type``."""
    return param_paths(resource_type, compartment_params(resource_type) or ())


@cache
def param_paths(resource_type: str, params: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Element paths (without the type) of the search parameters ``params`` of ``resource_type``."""
    from profiles import r4_bundle

    wanted = set(params)
    out: list[tuple[str, ...]] = []
    for entry in r4_bundle("search-parameters")["entry"]:
        sp = entry["resource"]
        if sp.get("code") not in wanted or resource_type not in sp.get("base", ()):
            continue
        for branch in (sp.get("expression") or "").split("|"):
            branch = _WHERE_RE.sub("", branch.strip()).strip("() ")
            if branch.startswith(resource_type + "."):
                out.append(tuple(branch.split(".")[1:]))
    return tuple(dict.fromkeys(out))


def _walk(node: Any, path: tuple[str, ...]) -> Iterable[Any]:
    if not path:
        yield node
        return
    items = node if isinstance(node, list) else [node]
    for item in items:
        if isinstance(item, dict):
            child = item.get(path[0])
            if child is None:  # choice element (value[x]) stored with its type suffix
                child = [
                    v for k, v in item.items() if k.startswith(path[0]) and k[len(path[0]) :][:1].isupper()
                ]
            yield from _walk(child, path[1:])


def patient_refs(resource_type: str, resource: dict[str, Any]) -> set[str]:
    """The ``Patient/<id>`` references that put ``resource`` in a patient's compartment."""
    refs = {r for r in references_at(resource_type, compartment_params(resource_type) or (), resource)}
    refs = {r for r in refs if r.startswith("Patient/")}
    if resource_type == "Patient" and resource.get("id"):
        refs.add(f"Patient/{resource['id']}")
    return refs


def references_at(resource_type: str, params: tuple[str, ...], resource: dict[str, Any]) -> set[str]:
    """The ``Type/id`` references (relative, absolute or versioned) under the search parameters ``params``."""
    refs: set[str] = set()
    for path in param_paths(resource_type, params):
        for value in _walk(resource, path):
            for v in value if isinstance(value, list) else [value]:
                ref = v.get("reference") if isinstance(v, dict) else None
                if isinstance(ref, str):
                    # relative, absolute or versioned: keep the trailing Type/id
                    refs.add("/".join(ref.split("/_history/")[0].split("/")[-2:]))
    return refs


def in_compartment(resource_type: str, resource: dict[str, Any], patient_ids: Iterable[str]) -> bool:
    wanted = {f"Patient/{p}" for p in patient_ids}
    return bool(wanted & patient_refs(resource_type, resource))


def compartment_filter(resource_type: str, patient_ids: Iterable[str]) -> dict[str, Any] | None:
    """A Mongo filter on the current-version collection of ``resource_type`` selecting the compartment.

    None when the type is not in the Patient compartment (no patient data to restrict).
    References are matched in their normalised ``Type/id`` form, as the search index stores them.
    """
    params = compartment_params(resource_type)
    if params is None:
        return None
    ids = sorted(set(patient_ids))
    refs = [f"Patient/{p}" for p in ids]
    clauses: list[dict[str, Any]] = [{f"s.{p}": {"$in": refs}} for p in params]
    if resource_type == "Patient":
        clauses.insert(0, {"_id": {"$in": ids}})
    return {"$or": clauses}


def named_patients(resource_type: str, resource: Any) -> dict[str, str]:
    """Every ``Patient/<id>`` a resource names, anywhere (contained resources included), with the
    FHIRPath of its first occurrence: what the single write rule (``AccessPolicy.check_named``) checks.

    Every ``reference`` string of every element is read, whatever its path: the compartment
    parameters are not enough (an Observation's ``performer``, an Appointment's ``actor`` or a
    Communication's ``subject`` open records through the care relationships).
    """
    found: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and not ref.startswith("#"):
                tail = "/".join(ref.split("/_history/")[0].split("?")[0].split("/")[-2:])
                if tail.startswith("Patient/") and len(tail) > len("Patient/"):
                    found.setdefault(tail, path)
            for key, value in node.items():
                if key != "reference":
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(resource, resource_type)
    return found
