"""Required terminology bindings: the codes the fhir.resources models accept but R4 forbids.

Why: the models type ``Patient.gender`` as any ``code`` string, so ``"banana"`` passes them.
R4 says a required binding's concept SHALL come from the value set. For ``code`` elements the
string must be one of the value set's codes. For ``Coding`` and ``CodeableConcept`` we apply
the rule the R4 terminology page and the HL7 Java validator apply: the Coding (or at least
one Coding of the CodeableConcept) must be a (system, code) pair of the value set; text alone
does not satisfy a required binding. Value sets that cannot be expanded from the vendored
content are not enforced (see :func:`skipped_bindings`).
"""

from __future__ import annotations

from typing import Any

from fhir_server.validation.definitions import definitions
from fhir_server.validation.issues import Issue, error, short
from fhir_server.validation.valuesets import Expansion, expand
from terminology import TerminologyError
from terminology.checks import TERMINOLOGY_TYPES, check_resource

_MAX_LISTED = 12


def _listing(expansion: Expansion) -> str:
    codes = sorted(expansion.codes)
    listed = ", ".join(codes[:_MAX_LISTED])
    return listed + (", …" if len(codes) > _MAX_LISTED else "")


def check_code(value: str, value_set: str, expression: str) -> Issue | None:
    """A ``code`` (or other primitive) element bound to ``value_set``."""
    expansion = expand(value_set)
    if expansion is None or value in expansion.codes:
        return None
    return error(
        "code-invalid",
        f"Code {short(value)} is not in the required value set {value_set}. "
        f"Code non autorisé : valeurs admises {_listing(expansion)}.",
        expression,
    )


def _pair(coding: Any) -> tuple[str, str] | None:
    if isinstance(coding, dict):
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str):
            return system, code
    return None


def check_coding(coding: dict[str, Any], value_set: str, expression: str) -> Issue | None:
    """A ``Coding`` element bound to ``value_set``."""
    expansion = expand(value_set)
    if expansion is None or _pair(coding) in expansion.pairs:
        return None
    return error(
        "code-invalid",
        f"Coding is not in the required value set {value_set}. "
        f"Codage non autorisé : system et code doivent venir du jeu de valeurs "
        f"({', '.join(sorted(expansion.systems))} : {_listing(expansion)}).",
        expression,
    )


def check_codeable_concept(concept: dict[str, Any], value_set: str, expression: str) -> Issue | None:
    """A ``CodeableConcept`` element bound to ``value_set``: one of its codings must be in it."""
    expansion = expand(value_set)
    if expansion is None:
        return None
    codings = concept.get("coding")
    if isinstance(codings, list) and any(_pair(c) in expansion.pairs for c in codings):
        return None
    return error(
        "code-invalid",
        f"No coding from the required value set {value_set}. "
        f"Aucun codage du jeu de valeurs obligatoire (le texte seul ne suffit pas) : attendu "
        f"un code de {', '.join(sorted(expansion.systems))} parmi {_listing(expansion)}.",
        expression,
    )


def skipped_bindings() -> dict[str, list[str]]:
    """Required value sets the vendored terminology cannot expand, with the elements bound to
    them: these bindings are not enforced (external systems such as UCUM or MIME types)."""
    required = definitions().required_value_sets
    return {url: sorted(paths) for url, paths in sorted(required.items()) if expand(url) is None}


def terminology_resource_issues(resource_type: str, resource: dict[str, Any]) -> list[Issue]:
    """A CodeSystem, ValueSet or ConceptMap the terminology service could not serve (duplicate
    codes, supplement without target, malformed compose, self-inclusion): refused on write
    rather than stored and then missing from ``$expand``/``$lookup``."""
    if resource_type not in TERMINOLOGY_TYPES:
        return []
    try:
        check_resource(resource)
    except TerminologyError as exc:
        return [
            error(
                exc.code if exc.code != "processing" else "business-rule",
                f"The terminology service cannot use this {resource_type}. {exc.message}.",
                exc.expression,
            )
        ]
    return []
