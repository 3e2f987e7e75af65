"""Mon profil: personal data and fees (the professional's own profile PractitionerRole), their
Ordre registration and insurance certificates (DocumentReference about themselves), and inviting
a colleague by e-mail.

What Pro Santé Connect says (name, RPPS, profession, practice situations) is shown as is: it is
refreshed at every login and is not edited here.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.clinician.documents import MAX_BYTES, SIGNATURES, content_type_of
from apps.portal.clinician.identity import EMAIL_RE, PHONE_RE
from apps.portal.clinician.model import PORTAL_CS, now_iso, ref, ref_id
from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirClient, FhirError, version_etag
from apps.portal.web import (
    Fhir,
    FormState,
    Practitioner,
    flash,
    form_data,
    form_dict,
    portal_of,
    redirect,
    render,
    upload,
)
from fhir_server.auth.notify import MailError, send_mail
from fhir_server.auth.settings import auth_settings

ROLE_CODE = {"system": f"{PORTAL_CS}/portal-role", "code": "profil", "display": "Profil du praticien"}
FEE_URL = "https://passerelle.fr/fhir/StructureDefinition/tarif"
ADDRESS_URL = "https://passerelle.fr/fhir/StructureDefinition/adresse-cabinet"
FEES = [
    ("cabinet", "Consultation au cabinet"),
    ("teleconsultation", "Téléconsultation"),
    ("tele-expertise", "Télé-expertise"),
]
PAPERS = [
    ("inscription-ordre", "Attestation d'inscription à l'Ordre"),
    ("assurance-rcp", "Attestation d'assurance RCP"),
]
PAPER_CS = f"{PORTAL_CS}/portal-document"


async def profile_role(fhir: FhirClient, me: str) -> dict[str, Any] | None:
    roles = await fhir.search_resources(
        "PractitionerRole", {"practitioner": me, "role": f"{ROLE_CODE['system']}|{ROLE_CODE['code']}"}
    )
    return roles[0] if roles else None


def role_values(role: dict[str, Any] | None) -> dict[str, str]:
    """The profile role as form values."""
    values: dict[str, str] = {}
    for t in (role or {}).get("telecom", []):
        values.setdefault(
            {"phone": "phone", "email": "email"}.get(t.get("system", ""), "_"), t.get("value", "")
        )
    for ext in (role or {}).get("extension", []):
        if ext.get("url") == ADDRESS_URL:
            address = ext.get("valueAddress", {})
            values["line"] = " ".join(address.get("line", []))
            values["postalCode"] = address.get("postalCode", "")
            values["city"] = address.get("city", "")
        if ext.get("url") == FEE_URL:
            parts = {e["url"]: e for e in ext.get("extension", [])}
            act = parts.get("acte", {}).get("valueCode", "")
            amount = parts.get("montant", {}).get("valueMoney", {}).get("value")
            if act and amount is not None:
                values[f"tarif_{act}"] = f"{Decimal(str(amount)):.2f}".replace(".", ",")
    values.pop("_", None)
    return values


def missing_from(values: dict[str, str]) -> list[str]:
    missing = []
    if not values.get("phone"):
        missing.append("téléphone")
    if not values.get("city"):
        missing.append("adresse du cabinet")
    if not any(values.get(f"tarif_{k}") for k, _ in FEES):
        missing.append("tarifs")
    return missing


def check_profile(values: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if values.get("phone") and not PHONE_RE.match(values["phone"]):
        errors["phone"] = "Numéro de téléphone invalide (ex. 01 23 45 67 89)."
    if values.get("email") and not EMAIL_RE.match(values["email"]):
        errors["email"] = "Adresse e-mail invalide."
    if values.get("postalCode") and not re.fullmatch(r"\d{5}", values["postalCode"]):
        errors["postalCode"] = "Code postal invalide (5 chiffres)."
    for key, label in FEES:
        raw = values.get(f"tarif_{key}", "")
        if raw:
            try:
                amount = Decimal(raw.replace(",", ".").replace("€", "").strip())
                if not Decimal(0) <= amount <= Decimal(1000) or amount != amount.quantize(Decimal("0.01")):
                    raise InvalidOperation
            except InvalidOperation:
                errors[f"tarif_{key}"] = f"{label} : montant en euros, ex. 30 ou 26,50."
    return errors


def build_role(values: dict[str, str], me: str, role_id: str | None) -> dict[str, Any]:
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "active": True,
        "practitioner": ref(*me.split("/", 1)),
        "code": [{"coding": [ROLE_CODE]}],
    }
    if role_id:
        role["id"] = role_id
    telecom = [{"system": s, "value": values[s], "use": "work"} for s in ("phone", "email") if values.get(s)]
    if telecom:
        role["telecom"] = telecom
    extensions: list[dict[str, Any]] = []
    if values.get("line") or values.get("city") or values.get("postalCode"):
        address = {
            k: v for k, v in (("postalCode", values.get("postalCode")), ("city", values.get("city"))) if v
        }
        if values.get("line"):
            address["line"] = [values["line"]]
        extensions.append({"url": ADDRESS_URL, "valueAddress": {**address, "country": "FR"}})
    for key, _ in FEES:
        raw = values.get(f"tarif_{key}", "")
        if raw:
            amount = Decimal(raw.replace(",", ".").replace("€", "").strip())
            extensions.append(
                {
                    "url": FEE_URL,
                    "extension": [
                        {"url": "acte", "valueCode": key},
                        {"url": "montant", "valueMoney": {"value": float(amount), "currency": "EUR"}},
                    ],
                }
            )
    if extensions:
        role["extension"] = extensions
    return role


async def _page(
    request: Request, fhir: FhirClient, me: str, form: FormState | None, status: int = 200
) -> Response:
    practitioner = await fhir.read("Practitioner", me.split("/", 1)[1])
    roles = await fhir.search_resources("PractitionerRole", {"practitioner": me})
    role = next(
        (r for r in roles if ROLE_CODE in [c for cc in r.get("code", []) for c in cc.get("coding", [])]), None
    )
    situations = [r for r in roles if r is not role]
    papers = await fhir.search_resources(
        "DocumentReference", {"subject": me, "_elements": "type,date,description,subject,status"}
    )
    values = role_values(role)
    return await render(
        request,
        "clinician/profile.html",
        {
            "practitioner": practitioner,
            "situations": situations,
            "fees": FEES,
            "papers": papers,
            "paper_types": PAPERS,
            "missing": missing_from(values),
        },
        status_code=status,
        form=form or FormState(values),
    )


@router.get("/profil")
async def profile(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    return await _page(request, fhir, user.fhir_user, None)


@router.post("/profil")
async def save_profile(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    values = form_dict(await form_data(request))
    values.pop("csrf", None)
    form = FormState(values, check_profile(values))
    if form:
        return await _page(request, fhir, user.fhir_user, form, 422)
    current = await profile_role(fhir, user.fhir_user)
    role = build_role(values, user.fhir_user, current["id"] if current else None)
    try:
        if current is None:
            await fhir.create(role)
        else:
            await fhir.update(role, if_match=version_etag(current))
    except FhirError as exc:
        if exc.status >= 500:
            raise
        form.error("phone", f"Profil non enregistré : {exc.message}")
        return await _page(request, fhir, user.fhir_user, form, exc.status)
    await flash(request, "Profil enregistré.", "succes")
    return redirect("/profil")


@router.post("/profil/documents")
async def upload_paper(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    raw = await form_data(request)
    values = form_dict(raw)
    kind = dict(PAPERS).get(values.get("papier", ""))
    file = upload(raw, "fichier")
    data = await file.read(MAX_BYTES + 1) if file else b""
    ctype = content_type_of(file.filename or "", data) if file and data and len(data) <= MAX_BYTES else None
    if kind is None or ctype is None:
        form = FormState(values)
        if kind is None:
            form.error("papier", "Choisissez le type d'attestation.")
        if ctype is None:
            form.error("fichier", "Joignez un fichier PDF, PNG ou JPEG de 8 Mo au plus.")
        return await _page(request, fhir, user.fhir_user, form, 422)
    assert file is not None
    await fhir.create(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": {
                "coding": [{"system": PAPER_CS, "code": values["papier"], "display": kind}],
                "text": kind,
            },
            "subject": ref(*user.fhir_user.split("/", 1)),
            "author": [ref(*user.fhir_user.split("/", 1))],
            "date": now_iso(),
            "description": kind,
            "content": [
                {
                    "attachment": {
                        "contentType": ctype,
                        "data": base64.b64encode(data).decode(),
                        "size": len(data),
                        "title": (file.filename or "attestation")[:200],
                    }
                }
            ],
        }
    )
    await flash(request, f"{kind} ajoutée à votre profil.", "succes")
    return redirect("/profil")


@router.get("/profil/documents/{document_id}")
async def open_paper(request: Request, document_id: str, user: Practitioner, fhir: Fhir) -> Response:
    document = await fhir.read("DocumentReference", document_id)
    if ref_id(document.get("subject"), "Practitioner") != user.id:
        raise HTTPException(404, "Document introuvable.")
    attachment = (document.get("content") or [{}])[0].get("attachment", {})
    ctype = attachment.get("contentType", "")
    return Response(
        base64.b64decode(attachment.get("data", "")),
        media_type=ctype if ctype in SIGNATURES else "application/octet-stream",
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(attachment.get('title') or 'document')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "no-store",
        },
    )


@router.post("/profil/invitation")
async def invite_colleague(request: Request, user: Practitioner, fhir: Fhir) -> Response:
    values = form_dict(await form_data(request))
    email = values.get("invite_email", "")
    message = values.get("invite_message", "")[:1000]
    if not EMAIL_RE.match(email):
        form = FormState(values)
        form.error("invite_email", "Adresse e-mail du confrère invalide.")
        return await _page(request, fhir, user.fhir_user, form, 422)
    portal = portal_of(request)
    home = portal.link_root(request) + "/"
    body = (
        f"Bonjour,\n\n{user.name} vous invite à rejoindre Passerelle, la plateforme de téléconsultation "
        f"et de télé-expertise.\n\n"
        + (f"Son message : {message}\n\n" if message else "")
        + f"Pour vous connecter avec Pro Santé Connect (e-CPS) : {home}\n"
    )
    try:
        await send_mail(
            auth_settings(portal.settings.data_dir), email, f"{user.name} vous invite sur Passerelle", body
        )
    except MailError:
        form = FormState(values)
        form.error("invite_email", "L'e-mail n'a pas pu être envoyé : réessayez dans un instant.")
        return await _page(request, fhir, user.fhir_user, form, 503)
    await flash(request, f"Invitation envoyée à {email}.", "succes")
    return redirect("/profil")
