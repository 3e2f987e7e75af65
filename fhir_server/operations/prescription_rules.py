"""The ordonnance's write rules, run by the repository inside every writing transaction.

They hold whoever writes and through whichever door (REST create/update/PATCH/DELETE,
Bundles, conditional interactions), for the lines of this server's ordonnances (a
MedicationRequest ``groupIdentifier`` or a ServiceRequest ``requisition`` in
:data:`eprescription.PRESCRIPTION_SYSTEM`):

- a line is created as a draft (``status = draft``), says what a line must say
  (:func:`eprescription.check_line`) and joins only a draft ordonnance of the same patient,
  prescriber and encounter; medicines and bilans never share a number;
- a stupéfiant is refused when the encounter is a teleconsultation (``Encounter.class`` VR);
- a draft becomes active only through the signature (``$sign``, :func:`internal`);
- a signed line is never edited nor deleted: only its status moves forward along the
  dispensing (active ⇄ on-hold → completed / stopped); cancelling goes through ``$sign``
  with ``action=cancel`` (signed too).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from eprescription import (
    NUMBER_ELEMENT,
    NUMBER_PARAM,
    PRESCRIPTION_SYSTEM,
    LineError,
    check_line,
    is_valid,
    narcotic_in,
    number_of,
)
from fhir_server.errors import FhirError

TYPES = frozenset(NUMBER_ELEMENT)
# Status changes allowed on a signed line outside the signature operations.
FORWARD = {
    "active": frozenset({"on-hold", "completed", "stopped"}),
    "on-hold": frozenset({"active", "completed", "stopped"}),
}
_IGNORED = ("meta", "text", "status", "statusReason")
_INTERNAL: contextvars.ContextVar[bool] = contextvars.ContextVar("passerelle_rx_internal", default=False)


@contextmanager
def internal() -> Iterator[None]:
    """Writes of the signature operations (draft → active, active → cancelled) pass the rules."""
    token = _INTERNAL.set(True)
    try:
        yield
    finally:
        _INTERNAL.reset(token)


def refuse(text: str, expression: str | None = None, status: int = 422) -> FhirError:
    return FhirError(status, "business-rule", text, expression=[expression] if expression else None)


def _ref(value: Any) -> str:
    ref = value.get("reference") if isinstance(value, dict) else None
    return "/".join(str(ref).split("/_history/")[0].split("/")[-2:]) if ref else ""


async def siblings(db: Any, type_: str, number: str, session: Any = None) -> list[dict[str, Any]]:
    """The current lines of ordonnance ``number`` of ``type_`` (bodies with their id)."""
    query = {f"s.{NUMBER_PARAM[type_]}": f"{PRESCRIPTION_SYSTEM}|{number}"}
    out = []
    async for doc in db[type_].find(query, {"j": 1, "d": 1}, session=session):
        if not doc.get("d") and doc.get("j"):
            out.append(orjson.loads(bytes(doc["j"])))
    return out


async def _body(db: Any, reference: str, session: Any) -> dict[str, Any] | None:
    type_, _, id_ = reference.partition("/")
    if not type_ or not id_:
        return None
    doc = await db[type_].find_one({"_id": id_}, {"j": 1, "d": 1}, session=session)
    return orjson.loads(bytes(doc["j"])) if doc and doc.get("j") and not doc.get("d") else None


def is_teleconsultation(encounter: dict[str, Any] | None) -> bool:
    cls = (encounter or {}).get("class") or {}
    return isinstance(cls, dict) and cls.get("code") == "VR"


async def check_new_line(db: Any, session: Any, type_: str, id_: str, line: dict[str, Any]) -> None:
    """The rules of a line being created or edited as a draft (422 with the FHIRPath otherwise)."""
    number = number_of(type_, line) or ""
    element = NUMBER_ELEMENT[type_]
    if not is_valid(number):
        raise refuse(
            f"Numéro d'ordonnance invalide ({number!r}) : 16 chiffres dont 2 de contrôle.",
            f"{type_}.{element}.value",
        )
    if line.get("status") != "draft":
        raise refuse(
            "Une ordonnance s'écrit en brouillon (status = draft) ; elle devient active par sa "
            "signature ($sign, code SMS).",
            f"{type_}.status",
        )
    try:
        check_line(type_, line)
    except LineError as exc:
        raise refuse(str(exc), exc.expression) from exc
    other = "ServiceRequest" if type_ == "MedicationRequest" else "MedicationRequest"
    if await siblings(db, other, number, session):
        raise refuse(
            "Les examens (bilans) et les médicaments ont chacun leur ordonnance : ce numéro est déjà "
            "utilisé par l'autre sorte.",
            f"{type_}.{element}",
        )
    for sibling in await siblings(db, type_, number, session):
        if sibling.get("id") == id_:
            continue
        if sibling.get("status") != "draft":
            raise refuse(
                "Cette ordonnance est signée : on n'y ajoute plus de ligne.", f"{type_}.{element}", 409
            )
        for key in ("subject", "requester", "encounter"):
            if _ref(sibling.get(key)) != _ref(line.get(key)):
                raise refuse(
                    f"Toutes les lignes d'une ordonnance ont le même {key} (patient, prescripteur, "
                    "consultation).",
                    f"{type_}.{key}",
                )
    encounter_ref = _ref(line.get("encounter"))
    if type_ == "MedicationRequest" and encounter_ref.startswith("Encounter/"):
        encounter = await _body(db, encounter_ref, session)
        if is_teleconsultation(encounter):
            concept = line.get("medicationCodeableConcept")
            medication_ref = _ref(line.get("medicationReference"))
            if medication_ref.startswith("Medication/"):
                concept = ((await _body(db, medication_ref, session)) or {}).get("code")
            narcotic = narcotic_in(concept)
            if narcotic:
                raise refuse(
                    f"Les stupéfiants ({narcotic}) ne peuvent pas être prescrits en téléconsultation : "
                    "une consultation en présence du patient est nécessaire.",
                    "MedicationRequest.medication",
                )


async def rule(
    db: Any, session: Any, type_: str, id_: str, new: dict[str, Any] | None, current: dict[str, Any] | None
) -> None:
    if number_of(type_, new) is None and number_of(type_, current) is None:
        return
    if _INTERNAL.get():
        return
    current_status = (current or {}).get("status")
    if current is None or current_status == "draft":
        if new is None:
            return  # deleting a draft (or nothing)
        await check_new_line(db, session, type_, id_, {**new, "id": id_})
        return
    element = NUMBER_ELEMENT[type_]
    if new is None:
        raise refuse(
            "Une ordonnance signée ne se supprime pas : annulez-la ($sign avec action=cancel).",
            type_,
            409,
        )
    kept = {k: v for k, v in new.items() if k not in _IGNORED and k != "id"}
    before = {k: v for k, v in current.items() if k not in _IGNORED and k != "id"}
    if kept != before:
        raise refuse(
            "Une ordonnance signée ne se modifie plus : seule son annulation signée est possible.",
            f"{type_}.{element}" if kept.get(element) != before.get(element) else type_,
            409,
        )
    status = new.get("status")
    if status != current_status and status not in FORWARD.get(str(current_status), frozenset()):
        hint = " : l'annulation passe par $sign (action=cancel)" if status in ("cancelled", "draft") else ""
        raise refuse(
            f"Statut {current_status} → {status} impossible pour une ordonnance signée{hint}.",
            f"{type_}.status",
            409,
        )


def install(repository: Any) -> None:
    """Register the rules on ``repository`` (at application start)."""
    repository.add_db_rule(TYPES, rule)
