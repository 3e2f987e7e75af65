"""Input parameters of the terminology operations, typed as the R4 OperationDefinitions say.

One reader for both ways of calling an operation: a query string (GET, or POST form-less
with parameters in the URL), where every value is text, and a ``Parameters`` body (POST),
where values arrive as ``value[x]`` or ``resource``. Complex types get the R4 GET
convention: a ``Coding`` or ``CodeableConcept`` parameter in a query string is written
``system|code`` (R4 operations.html, "the parameters are formatted as for search tokens").
Every problem is a :class:`TerminologyError` naming the parameter (its ``expression``).
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import FhirError
from fhir_server.operations.registry import Call
from terminology import TerminologyError


def _bad(name: str, message: str) -> TerminologyError:
    return TerminologyError(f"Paramètre « {name} » : {message}", "invalid", name)


class Params:
    """Typed access to the parameters of one call (each at most once unless read as a list)."""

    def __init__(self, call: Call) -> None:
        self.call = call

    def _single(self, name: str) -> Any:
        values = self.call.all(name)
        if len(values) > 1:
            raise _bad(name, "donné plusieurs fois (cardinalité 0..1)")
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        value = self._single(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _bad(name, "une valeur texte est attendue")
        if not value.strip():
            raise _bad(name, "valeur vide")
        return value

    def texts(self, name: str) -> list[str]:
        values = self.call.all(name)
        for value in values:
            if not isinstance(value, str) or not value.strip():
                raise _bad(name, "une valeur texte non vide est attendue")
        return values

    def boolean(self, name: str) -> bool | None:
        value = self._single(name)
        if value is None or isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise _bad(name, f"booléen attendu (true ou false), reçu {str(value)[:40]!r}")

    def integer(self, name: str) -> int | None:
        """A non-negative integer (``count``, ``offset``)."""
        value = self._single(name)
        if value is None:
            return None
        if isinstance(value, str) and value.isdigit() and len(value) < 10:
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise _bad(name, f"entier positif ou nul attendu, reçu {str(value)[:40]!r}")

    def resource(self, name: str, resource_type: str) -> dict[str, Any] | None:
        value = self._single(name)
        if value is None:
            return None
        if isinstance(value, str):
            raise _bad(name, f"une ressource {resource_type} se passe dans le corps Parameters (POST)")
        if not isinstance(value, dict) or value.get("resourceType") != resource_type:
            raise _bad(name, f"une ressource {resource_type} est attendue")
        _validate(value)
        return value

    def coding(self, name: str) -> dict[str, Any] | None:
        value = self._single(name)
        if value is None:
            return None
        coding = _token(name, value) if isinstance(value, str) else value
        if not isinstance(coding, dict) or not isinstance(coding.get("code"), str) or not coding["code"]:
            raise _bad(name, "un Coding avec « code » est attendu")
        for key in ("system", "display", "version"):
            if key in coding and not isinstance(coding[key], str):
                raise _bad(name, f"{key} doit être un texte")
        return coding

    def codings(self, name: str) -> list[dict[str, Any]] | None:
        """The codings of a ``CodeableConcept`` parameter (at least one with a code)."""
        value = self._single(name)
        if value is None:
            return None
        if isinstance(value, str):
            return [_token(name, value)]
        raw = value.get("coding") if isinstance(value, dict) else None
        codings = [
            c for c in raw or [] if isinstance(c, dict) and isinstance(c.get("code"), str) and c["code"]
        ]
        if not codings:
            raise _bad(name, "un CodeableConcept avec au moins un coding (system, code) est attendu")
        return codings

    def display_language(self) -> str | None:
        """``displayLanguage``, else the preferred language of ``Accept-Language``.

        The header fallback follows the HL7 terminology ecosystem's language rules (a client
        may state its language with ``displayLanguage`` or the HTTP header, the parameter
        winning): a French browser gets French designations without asking twice.
        """
        explicit = self.text("displayLanguage")
        if explicit is not None:
            return explicit
        return preferred_language(self.call.request.headers.get("accept-language"))


def _validate(resource: dict[str, Any]) -> None:
    """A resource passed as a parameter is checked as a write would check it (structure,
    required bindings, terminology integrity): the engine only ever sees well-formed input."""
    from fhir_server.validation import validate_resource

    issues = [i for i in validate_resource(resource) if i.severity in ("error", "fatal")]
    if issues:
        raise FhirError(400, "invalid", "Ressource invalide", issues=[i.to_json() for i in issues])


def _token(name: str, value: str) -> dict[str, Any]:
    system, sep, code = value.partition("|")
    if not sep:
        raise _bad(name, "en GET, un Coding s'écrit system|code")
    if not code:
        raise _bad(name, "code absent (system|code)")
    return {"system": system, "code": code} if system else {"code": code}


def preferred_language(header: str | None) -> str | None:
    """The language tag with the highest quality in an ``Accept-Language`` header (not ``*``)."""
    if not header:
        return None
    best: tuple[float, str] | None = None
    for item in header.split(","):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, raw = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(raw)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, tag)
    return best[1] if best else None
