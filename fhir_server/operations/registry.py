"""The one place operations are registered.

Each operation module declares its :class:`Operation` with :func:`register`; the routes
(``/$op``, ``/{type}/$op``, ``/{type}/{id}/$op``) dispatch through :data:`OPERATIONS` and
the CapabilityStatement lists what is registered, so neither can disagree with the code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import FhirError
from fhir_server.rest.formats import Format


@dataclass
class Call:
    """One invocation: where it was called, with which parameters."""

    request: Request
    fmt: Format
    level: str  # system, type or instance
    type: str | None
    id: str | None
    # Parameters by name, in order (from the query string, or a Parameters body)
    params: list[tuple[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] | None = None  # a body that is a resource, not Parameters

    def first(self, name: str) -> Any:
        return next((v for k, v in self.params if k == name), None)

    def all(self, name: str) -> list[Any]:
        return [v for k, v in self.params if k == name]


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    name: str  # without "$"
    definition: str  # canonical URL of the OperationDefinition
    levels: frozenset[str]
    handler: Handler
    affects_state: bool = False  # only POST when True
    resource_types: frozenset[str] | None = None  # None: every type
    # Types whose OperationDefinition differs from ``definition`` (one name, several
    # definitions: CodeSystem/$validate-code beside ValueSet/$validate-code).
    definitions: tuple[tuple[str, str], ...] = ()
    # The handler decides who may call it (prescription operations: prescriber, patient,
    # pharmacist), so the dispatcher lets every authenticated caller through to it.
    authorizes_itself: bool = False
    # Media types other than FHIR JSON/XML the handler answers (``application/pdf``): an
    # ``Accept`` naming one of them is not a 406.
    produces: frozenset[str] = frozenset()
    # Shown in the CapabilityStatement (``operation.documentation``): parameters and effect,
    # for operations of our own whose definition is not published elsewhere.
    documentation: str = ""

    def definition_for(self, type_: str | None) -> str:
        return dict(self.definitions).get(type_ or "", self.definition)

    def check(self, level: str, type_: str | None, method: str) -> None:
        if level not in self.levels:
            where = {"system": "[base]", "type": "[type]", "instance": "[type]/[id]"}[level]
            raise FhirError(
                400,
                "not-supported",
                f"${self.name} ne s'appelle pas sur {where}.",
                expression=[f"${self.name}"],
            )
        if self.resource_types is not None and type_ is not None and type_ not in self.resource_types:
            allowed = ", ".join(sorted(self.resource_types))
            raise FhirError(
                400,
                "not-supported",
                f"${self.name} ne s'applique qu'à : {allowed}.",
                expression=[f"${self.name}"],
            )
        if self.affects_state and method != "POST":
            raise FhirError(
                405,
                "not-supported",
                f"${self.name} modifie des données : POST obligatoire.",
                expression=[f"${self.name}"],
            )


OPERATIONS: dict[str, Operation] = {}


def register(operation: Operation) -> Operation:
    OPERATIONS[operation.name] = operation
    return operation


def lookup(name: str) -> Operation:
    from fhir_server.operations import load_all

    load_all()
    operation = OPERATIONS.get(name)
    if operation is None:
        raise FhirError(
            404, "not-supported", f"Opération ${name} inconnue de ce serveur.", expression=[f"${name}"]
        )
    return operation
