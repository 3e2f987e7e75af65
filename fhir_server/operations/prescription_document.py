"""``GET [base]/$ordonnance-pdf?prescription=N``: the signed ordonnance as a PDF (application/pdf).

For the prescriber and the practitioners caring for the patient, and for the patient (their
record; drafts stay invisible to them): the lines must be readable by the caller's policy.
Only signed, uncancelled ordonnances have a PDF. Each rendering carries a fresh QR token
(:mod:`eprescription.tokens`); all of them are valid, none names the patient.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from eprescription import display, line_view, pharmacy_url
from eprescription import pdf as rx_pdf
from eprescription.model import category, concept_text
from eprescription.tokens import sign as sign_token
from fhir_server.errors import FhirError
from fhir_server.identifiers import FINESS_SYSTEM
from fhir_server.operations.prescription_common import (
    Ordonnance,
    french_date,
    keys_file,
    load,
    not_found,
    number_param,
    person_name,
    pharmacy_base,
    policy_of,
    read_body,
)
from fhir_server.operations.prescription_rules import is_teleconsultation
from fhir_server.operations.prescription_sign import profile_roles, rpps_of
from fhir_server.operations.registry import Call, Operation, register

PARIS = ZoneInfo("Europe/Paris")
PRACTICE_ADDRESS = "https://passerelle.fr/fhir/StructureDefinition/adresse-cabinet"
WEIGHT = "http://loinc.org|29463-7"
SEX = {"female": "Féminin", "male": "Masculin", "other": "Autre", "unknown": "Non renseigné"}
# TRE_R38 specialties most seen on ordonnances (docs/france.md §2)
SPECIALTIES = {
    "SM26": "Médecine générale", "SM53": "Médecine générale", "SM54": "Médecine générale",
    "SM15": "Dermatologie et vénéréologie", "SM04": "Cardiologie et maladies vasculaires",
    "SM40": "Pédiatrie", "SM42": "Psychiatrie", "SM19": "Gynécologie médicale",
    "SM20": "Gynécologie obstétrique", "SM38": "Ophtalmologie", "SM32": "Neurologie",
}  # fmt: skip
PHARMACY_TEXT = [
    "Scannez ce QR code (lecteur 2D ou appareil photo) ou saisissez le numéro {number} sur la page "
    "pharmacie de Passerelle, connecté(e) par Pro Santé Connect (carte CPS ou e-CPS).",
    "Vérifiez l'identité du patient (nom, prénom, date de naissance) avant toute délivrance.",
    "Enregistrez la délivrance ligne par ligne (quantité délivrée, éventuellement partielle) : elle "
    "n'est enregistrée qu'une fois ; un nouveau scan affiche « Ordonnance déjà délivrée », avec la "
    "date et la pharmacie.",
    "Un QR code modifié ou non émis par Passerelle est refusé.",
]


def local(instant: str | None) -> datetime:
    moment = datetime.fromisoformat(instant) if instant else datetime.now(PARIS)
    return moment.astimezone(PARIS)


async def _signature(repository: Any, ordonnance: Ordonnance) -> dict[str, Any] | None:
    """The Provenance that signed the ordonnance (activity LA)."""
    target = f"{ordonnance.type}/{ordonnance.lines[0]['id']}"
    async for doc in repository.db["Provenance"].find({"s.target": target}, {"j": 1, "d": 1}):
        if doc.get("d") or not doc.get("j"):
            continue
        body = orjson.loads(bytes(doc["j"]))
        codes = {c.get("code") for c in (body.get("activity") or {}).get("coding") or []}
        if "LA" in codes:
            return body  # type: ignore[no-any-return]
    return None


async def _weight(repository: Any, subject: str) -> str:
    latest: tuple[str, str] | None = None
    query = {"s.subject": subject, "s.code": WEIGHT}
    async for doc in repository.db["Observation"].find(query, {"j": 1, "d": 1}):
        if doc.get("d") or not doc.get("j"):
            continue
        obs = orjson.loads(bytes(doc["j"]))
        value = obs.get("valueQuantity") or {}
        if obs.get("status") in ("entered-in-error", "cancelled") or value.get("value") is None:
            continue
        when = str(obs.get("effectiveDateTime") or obs.get("issued") or "")
        if latest is None or when > latest[0]:
            latest = (when, f"{value['value']:g} {value.get('unit') or 'kg'}")
    return latest[1] if latest else ""


async def _prescriber(repository: Any, reference: str) -> rx_pdf.Prescriber:
    practitioner = await read_body(repository, reference) or {}
    roles = await profile_roles(repository, reference)
    specialty = finess = structure = phone = ""
    address: list[str] = []
    for role in roles:
        for ext in role.get("extension") or []:  # the portal's "Mon profil": address of the practice
            if ext.get("url") == PRACTICE_ADDRESS and not address:
                address = _address([ext.get("valueAddress")])
        for telecom in role.get("telecom") or []:
            if telecom.get("system") == "phone" and not phone:
                phone = str(telecom.get("value") or "")
        for concept in role.get("specialty") or []:
            for coding in concept.get("coding") or []:
                specialty = specialty or SPECIALTIES.get(str(coding.get("code")), concept_text(concept))
        org = role.get("organization") or {}
        ident = org.get("identifier") or {}
        if ident.get("system") == FINESS_SYSTEM and not finess:
            finess, structure = str(ident.get("value") or ""), str(org.get("display") or "")
        org_ref = str(org.get("reference") or "")
        if org_ref.startswith("Organization/"):
            organization = await read_body(repository, org_ref) or {}
            structure = structure or str(organization.get("name") or "")
            for oid in organization.get("identifier") or []:
                if oid.get("system") == FINESS_SYSTEM and not finess:
                    finess = str(oid.get("value") or "")
            address = address or _address(organization.get("address"))
    address = _address(practitioner.get("address")) or address
    for telecom in practitioner.get("telecom") or []:
        if telecom.get("system") == "phone" and telecom.get("use") in ("work", None) and not phone:
            phone = str(telecom.get("value") or "")
    name = person_name(practitioner, family_first=False)
    return rx_pdf.Prescriber(
        name=f"Dr {name}" if name else "Dr",
        rpps=rpps_of(practitioner) or "",
        specialty=specialty,
        address=address,
        phone=phone,
        finess=finess,
        structure=structure,
    )


def _address(addresses: Any) -> list[str]:
    for address in addresses or []:
        if isinstance(address, dict):
            lines = [str(x) for x in address.get("line") or []]
            city = " ".join(str(address.get(k) or "") for k in ("postalCode", "city")).strip()
            return [*lines, city] if city else lines
    return []


def title(ordonnance: Ordonnance) -> str:
    if ordonnance.type == "MedicationRequest":
        return "Ordonnance"
    kinds = {category(line) for line in ordonnance.lines}
    if kinds == {"lab"}:
        return "Ordonnance d'examens de biologie"
    if kinds == {"imaging"}:
        return "Ordonnance d'examens d'imagerie"
    return "Ordonnance d'examens"


async def line_views(repository: Any, ordonnance: Ordonnance) -> list[Any]:
    views = []
    for line in ordonnance.lines:
        medication_text = None
        reference = str((line.get("medicationReference") or {}).get("reference") or "")
        if reference.startswith("Medication/"):
            medication_text = concept_text((await read_body(repository, reference) or {}).get("code"))
        views.append(line_view(ordonnance.type, line, medication_text))
    return views


async def document(call: Call, ordonnance: Ordonnance) -> rx_pdf.OrdonnanceDocument:
    from fhir_server.auth.keys import signing_key

    repository = call.request.app.state.repository
    signature = await _signature(repository, ordonnance)
    if signature is None:
        raise FhirError(409, "business-rule", "Ordonnance sans signature enregistrée : pas de PDF.")
    signed = local(signature.get("recorded"))
    prescriber = await _prescriber(repository, ordonnance.ref("requester"))
    subject = ordonnance.ref("subject")
    patient = await read_body(repository, subject) or {}
    encounter = (
        await read_body(repository, ordonnance.ref("encounter")) if ordonnance.ref("encounter") else None
    )
    key = signing_key(keys_file(call.request).keys_file)
    token = sign_token(ordonnance.number, key)
    when = f"{signed:%d/%m/%Y} à {signed:%H:%M}"
    mention = (
        f"Ordonnance signée électroniquement par {prescriber.name} (RPPS {prescriber.rpps}) le {when}, "
        "après vérification d'un code à usage unique envoyé par SMS. Signature : "
        f"Provenance/{signature.get('id')} (JWS, clé du serveur {key.kid[:12]})."
    )
    return rx_pdf.OrdonnanceDocument(
        number=ordonnance.number,
        title=title(ordonnance),
        issued=when,
        prescriber=prescriber,
        patient=rx_pdf.PatientInfo(
            name=person_name(patient),
            birth_date=french_date(patient.get("birthDate")),
            sex=SEX.get(str(patient.get("gender")), "Non renseigné"),
            weight=await _weight(repository, subject),
        ),
        lines=await line_views(repository, ordonnance),
        signature=mention,
        qr_url=pharmacy_url(pharmacy_base(call.request), ordonnance.number, token),
        pharmacy_text=[t.format(number=display(ordonnance.number)) for t in PHARMACY_TEXT],
        teleconsultation=is_teleconsultation(encounter),
    )


async def _pdf(call: Call) -> Response:
    number = number_param(call)
    repository = call.request.app.state.repository
    ordonnance = await load(repository, number)
    policy = policy_of(call)
    if ordonnance is None:
        raise not_found(number)
    if policy is not None:
        from fhir_server.auth import roles

        if policy.role == roles.PHARMACIST:
            raise FhirError(403, "forbidden", "Le pharmacien consulte l'ordonnance par $pharmacy-check.")
        if ordonnance.status == "draft" and policy.kind != "practitioner":
            raise not_found(number)
        if not all(policy.can_read(ordonnance.type, line) for line in ordonnance.lines):
            raise not_found(number)
    if ordonnance.status == "draft":
        raise FhirError(409, "business-rule", "Ordonnance en brouillon : signez-la pour obtenir le PDF.")
    if ordonnance.status == "cancelled":
        raise FhirError(409, "business-rule", "Ordonnance annulée par le prescripteur : pas de PDF.")
    data = await run_in_threadpool(rx_pdf.render, await document(call, ordonnance))
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="ordonnance-{number}.pdf"',
            "Cache-Control": "no-store",
        },
    )


register(
    Operation(
        name="ordonnance-pdf",
        documentation=(
            "Ordonnance signée en PDF (Accept: application/pdf) avec le QR code de la "
            "pharmacie ; paramètre `prescription` (numéro)."
        ),
        definition="urn:passerelle:OperationDefinition:ordonnance-pdf",
        levels=frozenset({"system"}),
        handler=_pdf,
        authorizes_itself=True,
        produces=frozenset({"application/pdf"}),
    )
)
