"""Documents of the patient's record: typed upload (drag and drop), list, open.

The file travels inside the DocumentReference (``content.attachment.data``): a practitioner's
token may not create a Binary under the FHIR access rules (Binary is outside the Patient
compartment), and an attachment within the DocumentReference is read under the same rules
as the record itself.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.responses import Response

from apps.portal.clinician.model import LOINC, now_iso, ref, ref_id
from apps.portal.clinician.routing import router
from apps.portal.fhir import FhirError
from apps.portal.web import (
    Fhir,
    FormState,
    Practitioner,
    flash,
    form_data,
    form_dict,
    redirect,
    render,
    upload,
)

MAX_BYTES = 8 * 1024 * 1024
DOC_TYPES = [
    ("11488-4", "Compte rendu de consultation"),
    ("57833-6", "Ordonnance"),
    ("11502-2", "Résultats de biologie"),
    ("18748-4", "Compte rendu d'imagerie"),
    ("57133-1", "Courrier d'adressage"),
]
# What a file must start with to be what its name says (the browser's type is not trusted).
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
EXTENSIONS = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def content_type_of(filename: str, data: bytes) -> str | None:
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    ctype = EXTENSIONS.get(ext)
    if ctype is None or not data.startswith(SIGNATURES[ctype]):
        return None
    return ctype


async def _list(fhir: Any, patient_id: str) -> list[dict[str, Any]]:
    return list(
        await fhir.search_resources(
            "DocumentReference",
            {"subject": f"Patient/{patient_id}", "_sort": "-date", "_count": "100",
             "_elements": "type,date,description,author,content,subject,status"},
        )
    )  # fmt: skip


@router.get("/patients/{patient_id}/documents")
async def documents_page(request: Request, patient_id: str, user: Practitioner, fhir: Fhir) -> Response:
    patient = await fhir.read("Patient", patient_id)
    return await render(
        request,
        "clinician/documents.html",
        {"patient": patient, "documents": await _list(fhir, patient_id), "types": DOC_TYPES},
    )


@router.post("/patients/{patient_id}/documents")
async def upload_document(request: Request, patient_id: str, user: Practitioner, fhir: Fhir) -> Response:
    patient = await fhir.read("Patient", patient_id)
    form_raw = await form_data(request)
    values = form_dict(form_raw)
    form = FormState(values)
    file = upload(form_raw, "fichier")
    type_code = values.get("type", "")
    if type_code not in dict(DOC_TYPES):
        form.error("type", "Choisissez le type de document.")
    data = b""
    ctype: str | None = None
    if file is None:
        form.error("fichier", "Choisissez un fichier (PDF, PNG ou JPEG).")
    else:
        data = await file.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            form.error("fichier", "Le fichier dépasse 8 Mo.")
        elif not data:
            form.error("fichier", "Le fichier est vide.")
        else:
            ctype = content_type_of(file.filename or "", data)
            if ctype is None:
                form.error(
                    "fichier", "Format non accepté : seuls les fichiers PDF, PNG et JPEG sont acceptés."
                )
    if len(values.get("description", "")) > 200:
        form.error("description", "Description : 200 caractères au plus.")
    ctx = {"patient": patient, "documents": await _list(fhir, patient_id), "types": DOC_TYPES}
    if form:
        return await render(request, "clinician/documents.html", ctx, status_code=422, form=form)
    assert file is not None and ctype is not None
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": LOINC, "code": type_code, "display": dict(DOC_TYPES)[type_code]}]},
        "subject": ref("Patient", patient_id),
        "date": now_iso(),
        "author": [ref(*user.fhir_user.split("/", 1))],
        "description": values.get("description") or (file.filename or "Document"),
        "content": [
            {
                "attachment": {
                    "contentType": ctype,
                    "data": base64.b64encode(data).decode(),
                    "size": len(data),
                    "hash": base64.b64encode(hashlib.sha1(data).digest()).decode(),
                    "title": (file.filename or "document")[:200],
                    "creation": now_iso(),
                }
            }
        ],
    }
    try:
        created = await fhir.create(document)
    except FhirError as exc:
        if exc.status >= 500:
            raise
        form.error("fichier", f"Document refusé : {exc.message}")
        return await render(request, "clinician/documents.html", ctx, status_code=exc.status, form=form)
    await flash(request, f"Document « {created.get('description')} » ajouté au dossier.", "succes")
    return redirect(f"/patients/{patient_id}/documents")


@router.get("/patients/{patient_id}/documents/{document_id}")
async def open_document(
    request: Request, patient_id: str, document_id: str, user: Practitioner, fhir: Fhir
) -> Response:
    document = await fhir.read("DocumentReference", document_id)
    if ref_id(document.get("subject"), "Patient") != patient_id:
        raise HTTPException(404, "Document introuvable dans ce dossier.")
    attachment = (document.get("content") or [{}])[0].get("attachment", {})
    ctype = attachment.get("contentType", "application/octet-stream")
    if attachment.get("data"):
        body = base64.b64decode(attachment["data"])
    elif attachment.get("url", "").startswith("Binary/"):
        response = await fhir.request("GET", attachment["url"], headers={"Accept": ctype})
        body = response.content
    else:
        raise HTTPException(404, "Ce document n'a pas de contenu consultable.")
    name = attachment.get("title") or "document"
    safe = (
        ctype if ctype in SIGNATURES or ctype == "text/plain; charset=utf-8" else "application/octet-stream"
    )
    return Response(
        body,
        media_type=safe,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "no-store",
        },
    )
