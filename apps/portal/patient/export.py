"""``/mes-donnees``: "Télécharger mes données" — the whole record of the holder and of each dependent,
through ``Patient/$everything`` with the patient's token (so exactly what they may read), as the
FHIR JSON Bundle, a readable HTML page and a PDF."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from fastapi import Request
from starlette.responses import Response

from apps.portal.fhir import FhirClient
from apps.portal.patient.pdf import record_pdf
from apps.portal.patient.people import Person, chosen, people
from apps.portal.patient.readable import sections
from apps.portal.patient.routing import router
from apps.portal.web import Fhir, PatientUser, render
from fhir_server.storage.records import fhir_instant, now_ms

PAGE = 500
MAX_PAGES = 200  # 100,000 resources: beyond, the JSON says it is incomplete


async def everything(fhir: FhirClient, patient_id: str) -> dict[str, Any]:
    """Every page of ``Patient/{id}/$everything``, in one Bundle (no paging links left)."""
    entries: list[dict[str, Any]] = []
    params: list[tuple[str, str]] = [("_count", str(PAGE))]
    complete = False
    for _ in range(MAX_PAGES):
        page = (await fhir.request("GET", f"Patient/{patient_id}/$everything", params=params)).json()
        entries += page.get("entry") or []
        following = next(
            (link["url"] for link in page.get("link") or [] if link.get("relation") == "next"), None
        )
        if not following:
            complete = True
            break
        params = parse_qsl(urlsplit(following).query)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": fhir_instant(now_ms()),
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{fhir.base}/Patient/{patient_id}/$everything"}],
        "entry": entries,
    }
    if not complete:
        bundle["meta"] = {"tag": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                                   "code": "INCOMPLETE"}]}  # fmt: skip
    return bundle


def _filename(person: Person, ext: str) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in person.name.lower()).strip("-") or person.id
    return f"dossier-{safe}.{ext}"


def _download(content: bytes, media: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get("/mes-donnees")
async def my_data(request: Request, user: PatientUser, fhir: Fhir) -> Response:
    return await render(request, "patient/data.html", {"people": await people(request, fhir)})


@router.get("/mes-donnees/{patient_id}.json")
async def data_json(request: Request, patient_id: str, user: PatientUser, fhir: Fhir) -> Response:
    person, _ = await chosen(request, fhir, patient_id)
    bundle = await everything(fhir, person.id)
    return _download(orjson.dumps(bundle, option=orjson.OPT_INDENT_2), "application/fhir+json",
                     _filename(person, "json"))  # fmt: skip


@router.get("/mes-donnees/{patient_id}.html")
async def data_html(request: Request, patient_id: str, user: PatientUser, fhir: Fhir) -> Response:
    person, _ = await chosen(request, fhir, patient_id)
    bundle = await everything(fhir, person.id)
    return await render(
        request,
        "patient/record.html",
        {"person": person, "sections": sections(bundle), "total": bundle["total"]},
    )


@router.get("/mes-donnees/{patient_id}.pdf")
async def data_pdf(request: Request, patient_id: str, user: PatientUser, fhir: Fhir) -> Response:
    person, _ = await chosen(request, fhir, patient_id)
    bundle = await everything(fhir, person.id)
    content = await record_pdf(person.name, sections(bundle))
    return _download(content, "application/pdf", _filename(person, "pdf"))
