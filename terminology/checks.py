"""Can this CodeSystem / ValueSet / ConceptMap be served? Checked before it is stored.

Why: a terminology resource that the engine cannot use must be refused where it enters (a
FHIR write, ``terminology load``) with a clear message, not stored and then silently missing
from ``$expand`` or ``$lookup``. The checks cover what the structural validation of the FHIR
models does not: duplicate codes in a code system (R4 invariant csd-1), a supplement without
its target, a malformed ``ValueSet.compose`` (the rules :func:`valuesets.check_compose`
applies at expansion), a value set including itself; then the resource is indexed in a
scratch service, so that whatever the engine would choke on is found here.

Cycles through several value sets, unknown included value sets or code systems are not
errors on write (the other resource may come later): ``$expand`` reports them.
"""

from __future__ import annotations

from typing import Any

from terminology.errors import TerminologyError
from terminology.valuesets import check_compose

TERMINOLOGY_TYPES = frozenset({"CodeSystem", "ValueSet", "ConceptMap"})


def check_resource(resource: dict[str, Any]) -> None:
    """Raise :class:`TerminologyError` (with the FHIRPath of the fault) if ``resource`` cannot be served."""
    rtype = resource.get("resourceType")
    if rtype == "CodeSystem":
        _check_codesystem(resource)
    elif rtype == "ValueSet":
        _check_valueset(resource)
    elif rtype != "ConceptMap":
        return
    from terminology.service import TerminologyService

    try:
        TerminologyService().add_resource(resource)
    except TerminologyError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise TerminologyError(f"{rtype} impossible à indexer : {exc}", "invalid", str(rtype)) from exc


def _check_codesystem(resource: dict[str, Any]) -> None:
    if resource.get("content") == "supplement" and not resource.get("supplements"):
        raise TerminologyError(
            "Un supplément (content = supplement) doit indiquer le système qu'il complète",
            "required",
            "CodeSystem.supplements",
        )
    seen: dict[str, str] = {}
    stack = [(c, f"CodeSystem.concept[{i}]") for i, c in enumerate(resource.get("concept") or [])]
    stack.reverse()
    while stack:
        concept, where = stack.pop()
        if not isinstance(concept, dict):
            raise TerminologyError("Concept mal formé : un objet est attendu", "invalid", where)
        code = concept.get("code")
        if not isinstance(code, str) or not code:
            raise TerminologyError("Concept sans code", "required", f"{where}.code")
        if code in seen:
            raise TerminologyError(
                f"Code {code!r} défini deux fois ({seen[code]} et {where}) : les codes d'un système "
                "doivent être uniques (csd-1)",
                "invalid",
                f"{where}.code",
            )
        seen[code] = where
        children = concept.get("concept") or []
        stack.extend(reversed([(c, f"{where}.concept[{i}]") for i, c in enumerate(children)]))


def _check_valueset(resource: dict[str, Any]) -> None:
    if "compose" not in resource:
        return
    compose = check_compose(resource)
    url = resource.get("url")
    if not url:
        return
    for part in ("include", "exclude"):
        for i, include in enumerate(compose.get(part) or []):
            for j, ref in enumerate(include.get("valueSet") or []):
                if ref.split("|", 1)[0] == url:
                    raise TerminologyError(
                        f"La ValueSet {url} s'inclut elle-même (inclusion cyclique)",
                        "processing",
                        f"ValueSet.compose.{part}[{i}].valueSet[{j}]",
                    )
