"""The pharmacy counter: ``$pharmacy-check`` and ``$dispense`` (pharmacists, PSC profession 21).

``GET|POST [base]/$pharmacy-check?prescription=N[&token=T]`` — what the pharmacy page shows
after a scan (``token``: the one in the QR code's URL; a typed number comes without one). A
token that this server did not sign for that number is refused (403) whatever the number.
Answer (Parameters): ``status`` ``delivrable`` / ``deja-delivree`` / ``annulee``, a French
``message`` ("Ordonnance délivrable", "Ordonnance déjà délivrée le … par …"), the patient's
name and birth date with the advice to check identity, the prescriber, and each ``line``
(the MedicationRequest). Drafts do not exist for pharmacies (404).

``POST [base]/$dispense`` — ``prescription``, optional ``token``, and one ``line`` per line
delivered (parts ``request`` = Reference(MedicationRequest), optional ``quantity`` =
Quantity, default the prescribed one; ``substituted`` boolean; ``note`` string). In ONE
transaction: a MedicationDispense per line delivered (completed, type FF or FFP for a partial
fill, performer = the pharmacist's PractitionerRole, ``authorizingPrescription``), each line
delivered ``completed``, the lines not delivered ``stopped``. A second dispensing, even at
the same instant from another pharmacy, is a 409 "Ordonnance déjà délivrée" (the line
updates are optimistic: the loser's transaction is retried, sees the lines completed, and
stops). Pharmacy software can do the same with plain FHIR (search by ``group-identifier``,
then a transaction Bundle), see the README.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from eprescription import display
from eprescription.tokens import TokenError
from eprescription.tokens import verify as verify_token
from fhir_server.errors import FhirError
from fhir_server.operations.prescription_common import (
    Ordonnance,
    french_date,
    keys_file,
    load,
    not_found,
    number_param,
    person_name,
    policy_of,
    read_body,
)
from fhir_server.operations.prescription_document import PARIS, local
from fhir_server.operations.registry import Call, Operation, register
from fhir_server.rest.http import fhir_response
from fhir_server.storage.records import fhir_instant, now_ms

FILL = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTITY_ADVICE = "Vérifiez l'identité du patient (pièce d'identité ou carte Vitale) avant de délivrer."


def _pharmacist(call: Call) -> Any:
    """The pharmacist's policy (None under --no-auth); 403 for anyone else."""
    policy = policy_of(call)
    if policy is None:
        return None
    from fhir_server.auth import roles

    if policy.role != roles.PHARMACIST:
        raise FhirError(403, "forbidden", "Réservé aux pharmaciens (Pro Santé Connect, profession 21).")
    return policy


def _check_token(call: Call, number: str) -> None:
    token = call.first("token")
    if token is None:
        return
    from fhir_server.auth.keys import signing_keys

    try:
        verify_token(number, str(token), signing_keys(keys_file(call.request).keys_file))
    except TokenError as exc:
        raise FhirError(
            403,
            "security",
            "QR code non reconnu : il n'a pas été émis par Passerelle pour cette ordonnance.",
            expression=["token"],
        ) from exc


async def _ordonnance(call: Call, number: str, session: Any = None) -> Ordonnance:
    ordonnance = await load(call.request.app.state.repository, number, session)
    if ordonnance is None or ordonnance.status == "draft":
        raise not_found(number)
    if ordonnance.type != "MedicationRequest":
        raise FhirError(
            422,
            "business-rule",
            "Ordonnance d'examens : elle se présente au laboratoire ou au centre d'imagerie.",
            expression=["prescription"],
        )
    return ordonnance


async def dispenses(repository: Any, ordonnance: Ordonnance, session: Any = None) -> list[dict[str, Any]]:
    refs = [f"MedicationRequest/{line['id']}" for line in ordonnance.lines]
    out = []
    query = {"s.prescription": {"$in": refs}}
    async for doc in repository.db["MedicationDispense"].find(query, {"j": 1, "d": 1}, session=session):
        if not doc.get("d") and doc.get("j"):
            out.append(orjson.loads(bytes(doc["j"])))
    return out


def _pharmacy_name(dispense: dict[str, Any]) -> str:
    for performer in dispense.get("performer") or []:
        display_ = (performer.get("actor") or {}).get("display")
        if display_:
            return str(display_)
    return "une pharmacie"


async def delivered_message(repository: Any, ordonnance: Ordonnance, session: Any = None) -> tuple[str, str]:
    """("Ordonnance déjà délivrée le … par …", its date) from the dispenses recorded."""
    found = await dispenses(repository, ordonnance, session)
    if not found:
        return "Ordonnance déjà délivrée.", ""
    first = min(found, key=lambda d: str(d.get("whenHandedOver") or ""))
    when = local(first.get("whenHandedOver"))
    text = f"Ordonnance déjà délivrée le {when:%d/%m/%Y} à {when:%H:%M} par {_pharmacy_name(first)}."
    return text, str(first.get("whenHandedOver") or "")


async def _check(call: Call) -> Response:
    _pharmacist(call)
    number = number_param(call)
    _check_token(call, number)
    repository = call.request.app.state.repository
    ordonnance = await _ordonnance(call, number)
    status = ordonnance.status
    params: list[dict[str, Any]] = [{"name": "prescription", "valueString": number}]
    if status in ("active", "on-hold"):
        params += [
            {"name": "status", "valueCode": "delivrable"},
            {"name": "message", "valueString": "Ordonnance délivrable"},
        ]
    elif status == "cancelled":
        params += [
            {"name": "status", "valueCode": "annulee"},
            {"name": "message", "valueString": "Ordonnance annulée par le prescripteur : ne pas délivrer."},
        ]
    else:
        text, when = await delivered_message(repository, ordonnance)
        params += [{"name": "status", "valueCode": "deja-delivree"}, {"name": "message", "valueString": text}]
        if when:
            params.append({"name": "dispensed", "valueDateTime": when})
    if status == "cancelled":  # no patient data nor lines: pharmacies no longer read them
        return fhir_response({"resourceType": "Parameters", "parameter": params}, call.fmt, 200)
    patient = await read_body(repository, ordonnance.ref("subject")) or {}
    prescriber = await read_body(repository, ordonnance.ref("requester")) or {}
    params += [
        {
            "name": "patient",
            "part": [
                {"name": "name", "valueString": person_name(patient)},
                {"name": "birthDate", "valueString": french_date(patient.get("birthDate"))},
                {"name": "advice", "valueString": IDENTITY_ADVICE},
            ],
        },
        {"name": "prescriber", "valueString": f"Dr {person_name(prescriber, family_first=False)}"},
        *({"name": "line", "resource": line} for line in ordonnance.lines),
    ]
    return fhir_response({"resourceType": "Parameters", "parameter": params}, call.fmt, 200)


def _requested(call: Call, ordonnance: Ordonnance) -> dict[str, dict[str, Any]]:
    """Line id -> what the pharmacist delivers of it (from the ``line`` parameters)."""
    ids = {line["id"] for line in ordonnance.lines}
    out: dict[str, dict[str, Any]] = {}
    for index, param in enumerate(call.all("line")):
        where = f"Parameters.parameter[line][{index}]"
        parts = {p.get("name"): p for p in (param.get("part") or []) if isinstance(p, dict)}
        reference = str((parts.get("request") or {}).get("valueReference", {}).get("reference") or "")
        line_id = reference.removeprefix("MedicationRequest/")
        if line_id not in ids:
            raise FhirError(
                400, "invalid", f"Ligne {reference!r} absente de cette ordonnance.", expression=[where]
            )
        if line_id in out:
            raise FhirError(400, "invalid", "Chaque ligne est délivrée une fois.", expression=[where])
        quantity = (parts.get("quantity") or {}).get("valueQuantity")
        if quantity is not None and (
            not isinstance(quantity.get("value"), int | float) or quantity["value"] <= 0
        ):
            raise FhirError(400, "invalid", "Quantité délivrée positive attendue.", expression=[where])
        out[line_id] = {
            "quantity": quantity,
            "substituted": bool((parts.get("substituted") or {}).get("valueBoolean", False)),
            "note": str((parts.get("note") or {}).get("valueString") or ""),
        }
    if not out:
        raise FhirError(400, "required", "Indiquez au moins une ligne délivrée (line).", expression=["line"])
    return out


async def _performer(call: Call, policy: Any) -> dict[str, Any]:
    """The pharmacist who records the dispensing: their pharmacy role (Practitioner without one)."""
    repository = call.request.app.state.repository
    if policy is None:
        raw = call.first("performer")
        ref = raw.get("reference") if isinstance(raw, dict) else None
        if not ref:
            raise FhirError(400, "required", "performer (Reference) requis sans authentification.",
                            expression=["performer"])  # fmt: skip
        name = raw.get("display") if isinstance(raw, dict) else None
        return {"reference": ref, **({"display": str(name)} if name else {})}
    for actor in sorted(policy.actors):
        if actor.startswith("PractitionerRole/"):
            role = await read_body(repository, actor) or {}
            name = (role.get("organization") or {}).get("display")
            return {"reference": actor, **({"display": str(name)} if name else {})}
    return {"reference": policy.fhir_user}


def _dispense(
    line: dict[str, Any], wanted: dict[str, Any], performer: dict[str, Any], now: str
) -> dict[str, Any]:
    prescribed = (line.get("dispenseRequest") or {}).get("quantity")
    quantity = wanted["quantity"] or prescribed
    partial = bool(
        prescribed
        and quantity
        and prescribed.get("value") is not None
        and quantity["value"] < prescribed["value"]
    )
    dispense: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "status": "completed",
        "subject": line["subject"],
        "performer": [{"actor": performer}],
        "authorizingPrescription": [{"reference": f"MedicationRequest/{line['id']}"}],
        "type": {"coding": [{"system": FILL, "code": "FFP" if partial else "FF"}]},
        "whenHandedOver": now,
        "substitution": {"wasSubstituted": wanted["substituted"]},
    }
    for key in ("medicationCodeableConcept", "medicationReference"):
        if key in line:
            dispense[key] = line[key]
    if quantity:
        dispense["quantity"] = quantity
    if line.get("dosageInstruction"):
        dispense["dosageInstruction"] = line["dosageInstruction"]
    if wanted["note"]:
        dispense["note"] = [{"text": wanted["note"]}]
    return dispense


async def _record(call: Call) -> Response:
    from fhir_server.rest.crud import prepare_resource

    policy = _pharmacist(call)
    number = number_param(call)
    _check_token(call, number)
    repository = call.request.app.state.repository
    performer = await _performer(call, policy)

    async def body(session: Any) -> list[str]:
        ordonnance = await _ordonnance(call, number, session)
        status = ordonnance.status
        if status == "cancelled":
            raise FhirError(409, "business-rule", "Ordonnance annulée par le prescripteur : ne pas délivrer.")
        if status not in ("active", "on-hold"):
            text, _ = await delivered_message(repository, ordonnance, session)
            raise FhirError(409, "conflict", text)
        wanted = _requested(call, ordonnance)
        now = fhir_instant(now_ms())
        created = []
        for line in ordonnance.lines:
            new = {k: v for k, v in line.items() if k != "meta"}
            if line["id"] in wanted:
                new["status"] = "completed"
            else:
                new["status"] = "stopped"
                new["statusReason"] = {"text": "Non délivrée par la pharmacie"}
            await repository.update(
                "MedicationRequest", line["id"], prepare_resource(new, "MedicationRequest", line["id"]),
                session=session,
            )  # fmt: skip
            if line["id"] in wanted:
                dispense = prepare_resource(_dispense(line, wanted[line["id"]], performer, now),
                                            "MedicationDispense", None)  # fmt: skip
                version = await repository.create("MedicationDispense", dispense, session=session)
                created.append(f"MedicationDispense/{version.id}")
        return created

    created = await repository.run_transaction(body)
    when = local(None)
    out = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "prescription", "valueString": number},
            {"name": "status", "valueCode": "deja-delivree"},
            {
                "name": "message",
                "valueString": f"Délivrance de l'ordonnance n° {display(number)} enregistrée le "
                f"{when.astimezone(PARIS):%d/%m/%Y à %H:%M}.",
            },
            *({"name": "dispense", "valueReference": {"reference": ref}} for ref in created),
        ],
    }
    return fhir_response(out, call.fmt, 200)


register(
    Operation(
        name="pharmacy-check",
        documentation=(
            "Pharmaciens : état d'une ordonnance (`prescription`, `token` du QR code) : "
            "délivrable, déjà délivrée (date, pharmacie) ou annulée ; patient (nom, date de "
            "naissance) et lignes."
        ),
        definition="urn:passerelle:OperationDefinition:pharmacy-check",
        levels=frozenset({"system"}),
        handler=_check,
        authorizes_itself=True,
    )
)
register(
    Operation(
        name="dispense",
        documentation=(
            "Pharmaciens : enregistre la délivrance (`line` : request, quantity, substituted)"
            " en une transaction : MedicationDispense et statut des lignes ; une seule fois "
            "(409 ensuite)."
        ),
        definition="urn:passerelle:OperationDefinition:dispense",
        levels=frozenset({"system"}),
        handler=_record,
        affects_state=True,
        authorizes_itself=True,
    )
)
