"""``$validate`` (R4 Resource-validate): would this resource be accepted, without storing it.

It runs exactly the checks of create and update (:func:`prepare_resource`), so that a
client learns here what the write would answer. The answer is 200 with an
OperationOutcome listing every issue (or one informational issue when there are none):
the operation succeeded even when the resource is invalid.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.responses import Response

from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.operations.registry import Call, Operation, register
from fhir_server.rest.http import fhir_response

_MODES = ("create", "update", "delete")


def _check_profile(profile: str | None, type_: str) -> None:
    """Only the base definition of the type is known for now; R4: a server that cannot validate
    against the nominated profile SHALL return an error (rather than a silent base validation)."""
    if profile is None or profile == f"http://hl7.org/fhir/StructureDefinition/{type_}":
        return
    raise FhirError(
        400,
        "not-supported",
        f"Profil {profile!r} inconnu de ce serveur : seule la définition de base {type_} est disponible.",
        expression=["profile"],
    )


async def _validate(call: Call) -> Response:
    from fhir_server.rest.crud import prepare_resource
    from fhir_server.rest.patch import read_current

    mode = call.first("mode")
    if mode is not None and mode not in _MODES:
        raise FhirError(400, "invalid", f"mode {mode!r} inconnu ({', '.join(_MODES)}).", expression=["mode"])
    profile = call.first("profile")
    if profile is not None and not isinstance(profile, str):
        raise FhirError(400, "invalid", "profile doit être une URL canonique.", expression=["profile"])
    resource = call.first("resource") if call.resource is None else call.resource
    type_ = call.type or (resource.get("resourceType") if isinstance(resource, dict) else None)
    repository = call.request.app.state.repository

    if mode == "delete":
        if call.level != "instance" or call.type is None or call.id is None:
            raise FhirError(
                400, "invalid", "mode=delete se demande sur [type]/[id]/$validate.", expression=["mode"]
            )
        current = await read_current(repository, call.type, call.id, None)
        if current is None or current.deleted:
            raise FhirError(404, "not-found", f"{call.type}/{call.id} introuvable : rien à supprimer.")
        return _answer(call, [])

    if resource is None and call.level == "instance" and call.type and call.id:
        import orjson

        current = await read_current(repository, call.type, call.id, None)
        if current is None or current.deleted or current.body is None:
            raise FhirError(404, "not-found", f"{call.type}/{call.id} introuvable.")
        resource = orjson.loads(current.body)
    if not isinstance(resource, dict) or not isinstance(type_, str):
        raise FhirError(
            400,
            "required",
            "Aucune ressource à valider (corps ou paramètre resource).",
            expression=["resource"],
        )
    if call.type is not None and resource.get("resourceType") != call.type:
        raise FhirError(
            400,
            "invalid",
            f"Le type de la ressource ({resource.get('resourceType')!r}) "
            f"ne correspond pas à l'URL ({call.type}).",
            expression=["resourceType"],
        )
    expected_id: str | None = None
    if mode == "update" or call.level == "instance":
        expected_id = call.id if call.id is not None else resource.get("id")
        if expected_id is None:
            raise FhirError(
                400, "required", "mode=update : l'id de la ressource est requis.", expression=[f"{type_}.id"]
            )
    _check_profile(profile, type_)
    try:
        prepare_resource(copy.deepcopy(resource), type_, expected_id)
    except FhirError as exc:
        return _answer(call, exc.issues)
    return _answer(call, [])


def _answer(call: Call, issues: list[dict[str, Any]]) -> Response:
    if not issues:
        issues = [issue("information", "informational", "Aucun problème détecté : la ressource est valide.")]
    return fhir_response(operation_outcome(issues), call.fmt, 200)


register(
    Operation(
        name="validate",
        definition="http://hl7.org/fhir/OperationDefinition/Resource-validate",
        levels=frozenset({"type", "instance"}),
        handler=_validate,
    )
)
