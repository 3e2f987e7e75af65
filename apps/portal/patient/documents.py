"""``/mes-documents``: the medical documents of the holder and of each dependent — reports
(Composition), documents (DocumentReference: uploads, letters, results) and signed ordonnances —
listed and downloadable. Every read goes through the FHIR API with the patient's token."""

from __future__ import annotations

import base64
import binascii
import re
from html import unescape
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.fhir import FhirClient, FhirError
from apps.portal.filters import coding_text, human_name
from apps.portal.patient.pdf import report_pdf
from apps.portal.patient.people import Person, chosen
from apps.portal.patient.routing import router
from apps.portal.prescriptions.views import group
from apps.portal.web import Fhir, PatientUser, render

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
TAGS = re.compile(r"<[^>]+>")


def _subject(resource: dict[str, Any]) -> str:
    ref = resource.get("subject") or resource.get("patient") or {}
    return str(ref.get("reference") or "").removeprefix("Patient/")


async def _mine(request: Request, fhir: FhirClient, resource: dict[str, Any]) -> Person:
    """The person a document is about, when it is the holder or one of their dependents (else 404)."""
    person, _ = await chosen(request, fhir, _subject(resource) or "-")
    return person


async def documents_of(fhir: FhirClient, person: Person) -> dict[str, list[Any]]:
    ref = f"Patient/{person.id}"
    compositions = await fhir.search_resources(
        "Composition", {"subject": ref, "_sort": "-date", "_count": "200"}
    )
    references = await fhir.search_resources(
        "DocumentReference", {"subject": ref, "status": "current", "_sort": "-date", "_count": "200"}
    )
    prescribed: list[dict[str, Any]] = []
    for type_ in ("MedicationRequest", "ServiceRequest"):
        prescribed += await fhir.search_resources(type_, {"subject": ref, "_count": "200"})
    return {
        "reports": [c for c in compositions if c.get("status") != "entered-in-error"],
        "documents": references,
        "ordonnances": [o for o in group(prescribed) if o.status != "draft"],
    }


@router.get("/mes-documents")
async def my_documents(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    person, everyone = await chosen(request, fhir, request.query_params.get("patient"))
    found = await documents_of(fhir, person)
    return await render(request, "patient/documents.html", {"person": person, "people": everyone, **found})


def _attachment(doc: dict[str, Any]) -> dict[str, Any]:
    for content in doc.get("content") or []:
        if content.get("attachment"):
            return dict(content["attachment"])
    raise HTTPException(404, "Ce document n'a pas de fichier.")


@router.get("/mes-documents/document/{doc_id}")
async def download_document(request: Request, doc_id: str, user: PatientUser, fhir: Fhir) -> Response:
    doc = await fhir.read("DocumentReference", doc_id)
    await _mine(request, fhir, doc)
    attachment = _attachment(doc)
    data = attachment.get("data")
    url = str(attachment.get("url") or "")
    if data is None and url:
        binary_id = url.rsplit("Binary/", 1)[-1] if "Binary/" in url else ""
        if not binary_id or "/" in binary_id:
            raise HTTPException(404, "Le fichier de ce document est conservé ailleurs.")
        binary = await fhir.read("Binary", binary_id)
        data = binary.get("data")
        attachment.setdefault("contentType", binary.get("contentType"))
    try:
        content = base64.b64decode(str(data or ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(404, "Le fichier de ce document est illisible.") from exc
    title = str(attachment.get("title") or doc.get("description") or f"document-{doc_id}")
    filename = SAFE_NAME.sub("-", title).strip("-")[:80] or f"document-{doc_id}"
    media = str(attachment.get("contentType") or "application/octet-stream")
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
                 "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


def _text(div: str | None) -> str:
    """The narrative of a section as plain text (paragraphs and list items on their own lines)."""
    if not div:
        return ""
    div = re.sub(r"</(p|li|div|tr|h\d)>|<br\s*/?>", "\n", div)
    return unescape(TAGS.sub("", div)).strip()


@router.get("/mes-documents/compte-rendu/{composition_id}.pdf")
async def report(request: Request, composition_id: str, user: PatientUser, fhir: Fhir) -> Response:
    composition = await fhir.read("Composition", composition_id)
    person = await _mine(request, fhir, composition)
    title = str(composition.get("title") or coding_text(composition.get("type")) or "Compte rendu")
    authors = []
    for author in composition.get("author") or []:
        ref = str(author.get("reference") or "")
        if ref.startswith("Practitioner/"):
            try:
                authors.append(human_name(await fhir.read("Practitioner", ref.split("/", 1)[1])))
            except FhirError:  # a missing author does not stop the report
                authors.append(str(author.get("display") or ""))
        elif author.get("display"):
            authors.append(str(author["display"]))
    header = f"{person.name} — {str(composition.get('date') or '')[:10]}"
    if authors:
        header += " — " + ", ".join(a for a in authors if a)
    lines = [("", _text((composition.get("text") or {}).get("div")))] if composition.get("text") else []
    for section in composition.get("section") or []:
        lines.append((str(section.get("title") or ""), _text((section.get("text") or {}).get("div"))))
    content = await report_pdf(title, header, lines)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="compte-rendu-{composition_id}.pdf"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip
