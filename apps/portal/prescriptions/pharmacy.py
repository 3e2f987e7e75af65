"""The pharmacy page, opened by the QR code's URL (``/pharmacie/ordonnance/{number}?t=…``) or by
typing the number: "Ordonnance délivrable" with the lines to deliver, or "déjà délivrée"."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from apps.portal.fhir import FhirError
from apps.portal.prescriptions import router
from apps.portal.web import Fhir, FormState, Practitioner, flash, form_data, form_dict, redirect, render
from eprescription import display, is_valid, line_view, normalize


@router.get("/pharmacie")
async def counter(request: Request, user: Practitioner) -> Response:
    return await render(request, "prescriptions/counter.html", {})


@router.post("/pharmacie")
async def typed(request: Request, user: Practitioner) -> Response:
    form = FormState(form_dict(await form_data(request)))
    number = normalize(form.values.get("numero", ""))
    if not is_valid(number):
        form.error("numero", "Numéro d'ordonnance invalide : 16 chiffres, vérifiez la saisie.")
        return await render(request, "prescriptions/counter.html", {}, 422, form=form)
    return redirect(f"/pharmacie/ordonnance/{number}")


def _values(parameters: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"line": []}
    for p in parameters.get("parameter", []):
        if p["name"] == "line":
            out["line"].append(p["resource"])
        elif "part" in p:
            out[p["name"]] = {
                q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]
            }
        else:
            out[p["name"]] = next(v for k, v in p.items() if k.startswith("value"))
    return out


async def _check(fhir: Any, number: str, token: str | None) -> dict[str, Any]:
    params = {"prescription": number, **({"token": token} if token else {})}
    return _values((await fhir.request("GET", "$pharmacy-check", params=params)).json())


@router.get("/pharmacie/ordonnance/{number}")
async def scanned(request: Request, number: str, user: Practitioner, fhir: Fhir) -> Response:
    number = normalize(number)
    if not is_valid(number):
        raise FhirError(404, "Numéro d'ordonnance invalide.")
    token = request.query_params.get("t")
    check = await _check(fhir, number, token)
    return await render(request, "prescriptions/pharmacy.html", _context(number, token, check))


def _context(number: str, token: str | None, check: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": number,
        "shown_number": display(number),
        "token": token or "",
        "check": check,
        "lines": [(line, line_view("MedicationRequest", line)) for line in check["line"]],
    }


@router.post("/pharmacie/ordonnance/{number}")
async def dispense(request: Request, number: str, user: Practitioner, fhir: Fhir) -> Response:
    number = normalize(number)
    form = FormState(form_dict(await form_data(request)))
    token = form.values.get("t") or None
    check = await _check(fhir, number, token)
    parameters: list[dict[str, Any]] = [{"name": "prescription", "valueString": number}]
    if token:
        parameters.append({"name": "token", "valueString": token})
    for line in check["line"]:
        if form.values.get(f"delivre-{line['id']}") != "on":
            continue
        parts: list[dict[str, Any]] = [
            {"name": "request", "valueReference": {"reference": f"MedicationRequest/{line['id']}"}}
        ]
        raw = form.values.get(f"quantite-{line['id']}", "").strip().replace(",", ".")
        if raw:
            try:
                value = float(raw)
            except ValueError:
                value = -1
            if value <= 0:
                form.error(f"quantite-{line['id']}", "Quantité délivrée : un nombre positif.")
                continue
            unit = ((line.get("dispenseRequest") or {}).get("quantity") or {}).get("unit")
            parts.append(
                {"name": "quantity", "valueQuantity": {"value": value, **({"unit": unit} if unit else {})}}
            )
        if form.values.get(f"substitue-{line['id']}") == "on":
            parts.append({"name": "substituted", "valueBoolean": True})
        parameters.append({"name": "line", "part": parts})
    if not form and len(parameters) == (2 if token else 1):
        form.error("lignes", "Cochez au moins une ligne délivrée.")
    if form:
        return await render(
            request, "prescriptions/pharmacy.html", _context(number, token, check), 422, form=form
        )
    try:
        await fhir.request("POST", "$dispense", json={"resourceType": "Parameters", "parameter": parameters})
    except FhirError as exc:
        if exc.status != 409:
            raise
        await flash(request, exc.message, "erreur")
    else:
        await flash(request, "Délivrance enregistrée.", "succes")
    query = f"?{urlencode({'t': token})}" if token else ""
    return redirect(f"/pharmacie/ordonnance/{number}{query}")
