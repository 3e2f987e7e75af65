"""The COVID-19 pathway: the patient's orientation page (then a video question), and the doctors'
multi-step form (a QuestionnaireResponse kept in the record: the next doctor reads it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from apps.portal.teleconsultation.consult import question
from apps.portal.teleconsultation.model import COVID
from apps.portal.teleconsultation.routing import router
from apps.portal.web import (
    Fhir,
    FormState,
    PatientUser,
    Practitioner,
    flash,
    form_data,
    form_dict,
    redirect,
    render,
)

# The doctors' form, step by step: (linkId, question, choices or None for a date/text).
STEPS: list[list[tuple[str, str, list[tuple[str, str]] | None]]] = [
    [
        ("type", "Type de téléconsultation", [("premiere", "Première téléconsultation"), ("suivi", "Suivi")]),
        (
            "parcours",
            "Parcours du patient",
            [("seul", "Venu de lui-même"), ("hopital", "Adressé par un établissement hospitalier")],
        ),
    ],
    [
        (
            "pcr",
            "Confirmation par test PCR",
            [
                ("positif", "PCR positive"),
                ("negatif", "PCR négative"),
                ("attente", "En attente de résultat"),
                ("non-fait", "Non réalisée"),
            ],
        ),
        ("debut", "Date de début des symptômes", None),
    ],
    [
        (
            "evaluation",
            "Évaluation de la situation",
            [
                ("domicile", "Maintien à domicile avec surveillance"),
                ("consultation", "Consultation physique à organiser"),
                ("urgence", "Orientation vers les urgences (appel du 15)"),
            ],
        ),
        ("commentaire", "Commentaire", None),
    ],
]
LABELS = {link: dict(choices or []) for step in STEPS for link, _, choices in step}


@router.get("/teleconsultation/covid")
async def orientation(request: Request, user: PatientUser) -> Response:
    return await render(request, "teleconsultation/covid.html", {})


def _step(form: FormState, n: int) -> None:
    for link, text, choices in STEPS[n]:
        value = form.values.get(link, "")
        if choices is not None and value not in dict(choices):
            form.error(link, f"{text} : choisissez une réponse.")
        if link == "debut":
            try:
                if datetime.fromisoformat(value).date() > datetime.now(UTC).date():
                    form.error(link, "La date de début des symptômes ne peut pas être dans le futur.")
            except ValueError:
                form.error(link, "Date de début des symptômes : une date (jj/mm/aaaa).")


@router.get("/file-attente/consultation/{encounter_id}/covid")
async def covid_form(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    await question(fhir, encounter_id, user.fhir_user)
    return await render(
        request, "teleconsultation/covid_form.html", {"eid": encounter_id, "n": 0, "steps": STEPS}
    )


@router.post("/file-attente/consultation/{encounter_id}/covid")
async def covid_step(request: Request, encounter_id: str, user: Practitioner, fhir: Fhir) -> Response:
    form = FormState(form_dict(await form_data(request)))
    n = min(max(int(form.values.get("etape", "0") or 0), 0), len(STEPS) - 1)
    if form.values.get("retour") == "1":
        return await render(
            request,
            "teleconsultation/covid_form.html",
            {"eid": encounter_id, "n": max(n - 1, 0), "steps": STEPS},
            form=form,
        )
    for earlier in range(n + 1):
        _step(form, earlier)
    if form:
        first = min(i for i, step in enumerate(STEPS) if any(link in form.errors for link, _, _ in step))
        return await render(
            request,
            "teleconsultation/covid_form.html",
            {"eid": encounter_id, "n": first, "steps": STEPS},
            422,
            form=form,
        )
    if n < len(STEPS) - 1:
        return await render(
            request,
            "teleconsultation/covid_form.html",
            {"eid": encounter_id, "n": n + 1, "steps": STEPS},
            form=form,
        )
    encounter, _ = await question(fhir, encounter_id, user.fhir_user)
    items: list[dict[str, Any]] = []
    for step in STEPS:
        for link, text, choices in step:
            value = form.values.get(link, "")
            if not value:
                continue
            if link == "debut":
                answer: dict[str, Any] = {"valueDate": value}
            elif choices is not None:
                answer = {"valueCoding": {"system": COVID, "code": value, "display": LABELS[link][value]}}
            else:
                answer = {"valueString": value}
            items.append({"linkId": link, "text": text, "answer": [answer]})
    await fhir.create(
        {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": COVID,
            "status": "completed",
            "subject": encounter["subject"],
            "encounter": {"reference": f"Encounter/{encounter_id}"},
            "authored": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "author": {"reference": user.fhir_user},
            "item": items,
        }
    )
    await flash(request, "Formulaire COVID-19 enregistré dans le dossier du patient.", "succes")
    return redirect(f"/file-attente/consultation/{encounter_id}")
