"""Vital signs: their LOINC codes, Observations built from a consultation form, and the
evolution chart (server-rendered SVG from Observations searched by code and date)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import Request
from starlette.responses import Response

from apps.portal.clinician.model import LOINC, OBS_CATEGORY, UCUM, ref
from apps.portal.clinician.routing import router
from apps.portal.filters import PARIS, parse_fhir_date
from apps.portal.web import Fhir, Practitioner, render

BP_PANEL = "85354-9"


@dataclass(frozen=True)
class Vital:
    key: str  # form field name
    label: str
    loinc: str
    display: str
    unit: str  # shown
    ucum: str
    low: float  # plausible bounds: outside them the entry is refused as a typing error
    high: float
    component_of: str | None = None  # systolic/diastolic: components of the BP panel


# fmt: off
VITALS = [
    Vital("poids", "Poids", "29463-7", "Body weight", "kg", "kg", 0.3, 400),
    Vital("taille", "Taille", "8302-2", "Body height", "cm", "cm", 20, 260),
    Vital("temperature", "Température", "8310-5", "Body temperature", "°C", "Cel",
          30, 45),
    Vital("pouls", "Fréquence cardiaque", "8867-4", "Heart rate", "bpm", "/min",
          20, 250),
    Vital("frequence_respiratoire", "Fréquence respiratoire", "9279-1", "Respiratory rate", "/min", "/min",
          4, 80),
    Vital("spo2", "Saturation en oxygène", "2708-6", "Oxygen saturation in Arterial blood", "%", "%",
          50, 100),
    Vital("systolique", "Pression artérielle systolique", "8480-6", "Systolic blood pressure", "mmHg",
          "mm[Hg]", 40, 300, BP_PANEL),
    Vital("diastolique", "Pression artérielle diastolique", "8462-4", "Diastolic blood pressure", "mmHg",
          "mm[Hg]", 20, 200, BP_PANEL),
]
# fmt: on
BY_KEY = {v.key: v for v in VITALS}
BY_LOINC = {v.loinc: v for v in VITALS}


def parse_number(raw: str) -> float | None:
    try:
        return float(raw.replace(",", ".").strip())
    except ValueError:
        return None


def check_vitals(values: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for vital in VITALS:
        raw = values.get(vital.key, "").strip()
        if not raw:
            continue
        number = parse_number(raw)
        if number is None:
            errors[vital.key] = f"{vital.label} : nombre attendu (ex. 72 ou 37,5)."
        elif not vital.low <= number <= vital.high:
            errors[vital.key] = (
                f"{vital.label} : valeur hors des limites plausibles "
                f"({vital.low:g} à {vital.high:g} {vital.unit})."
            )
    has_sys, has_dia = bool(values.get("systolique")), bool(values.get("diastolique"))
    if has_sys != has_dia:
        errors.setdefault(
            "diastolique" if has_sys else "systolique", "Indiquez la systolique et la diastolique."
        )
    return errors


def _quantity(vital: Vital, value: float) -> dict[str, Any]:
    return {"value": value, "unit": vital.unit, "system": UCUM, "code": vital.ucum}


def observations(
    values: dict[str, str], patient_id: str, encounter_id: str, performer: str, when: str
) -> list[dict[str, Any]]:
    """One vital-signs Observation per value entered (blood pressure: the LOINC panel, two components)."""
    base = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {"coding": [{"system": OBS_CATEGORY, "code": "vital-signs", "display": "Signes vitaux"}]}
        ],
        "subject": ref("Patient", patient_id),
        "encounter": ref("Encounter", encounter_id),
        "effectiveDateTime": when,
        "performer": [ref(*performer.split("/", 1))],
    }
    out = []
    for vital in VITALS:
        raw = values.get(vital.key, "").strip()
        if raw and vital.component_of is None:
            number = parse_number(raw)
            assert number is not None
            out.append(
                {
                    **base,
                    "code": {"coding": [{"system": LOINC, "code": vital.loinc, "display": vital.display}],
                             "text": vital.label},
                    "valueQuantity": _quantity(vital, number),
                }
            )  # fmt: skip
    if values.get("systolique") and values.get("diastolique"):
        components = []
        for key in ("systolique", "diastolique"):
            vital = BY_KEY[key]
            number = parse_number(values[key])
            assert number is not None
            components.append(
                {"code": {"coding": [{"system": LOINC, "code": vital.loinc, "display": vital.display}]},
                 "valueQuantity": _quantity(vital, number)}
            )  # fmt: skip
        out.append(
            {
                **base,
                "code": {"coding": [{"system": LOINC, "code": BP_PANEL, "display": "Blood pressure panel"}],
                         "text": "Pression artérielle"},
                "component": components,
            }
        )  # fmt: skip
    return out


def values_of(observation: dict[str, Any]) -> list[tuple[Vital, float]]:
    """The (vital, value) pairs an Observation carries (the BP panel gives two)."""
    out = []
    for coding in observation.get("code", {}).get("coding", []):
        vital = BY_LOINC.get(coding.get("code", ""))
        value = (observation.get("valueQuantity") or {}).get("value")
        if vital and coding.get("system") == LOINC and isinstance(value, int | float):
            out.append((vital, float(value)))
    for component in observation.get("component", []):
        for coding in component.get("code", {}).get("coding", []):
            vital = BY_LOINC.get(coding.get("code", ""))
            value = (component.get("valueQuantity") or {}).get("value")
            if vital and isinstance(value, int | float):
                out.append((vital, float(value)))
    return out


def latest(observations_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The most recent value of each vital sign (observations sorted newest first)."""
    seen: dict[str, dict[str, Any]] = {}
    for obs in observations_:
        for vital, value in values_of(obs):
            if vital.key not in seen:
                seen[vital.key] = {"vital": vital, "value": value, "when": obs.get("effectiveDateTime", "")}
    return [seen[v.key] for v in VITALS if v.key in seen]


# -- the chart ---------------------------------------------------------------------------------


def svg_chart(points: list[tuple[datetime, float]], vital: Vital, width: int = 720, height: int = 320) -> str:
    """A line chart of ``points`` (time, value) as accessible SVG (title, description, data table beside)."""
    left, right, top, bottom = 56, 16, 16, 40
    label = f"Évolution : {vital.label} ({vital.unit})"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'class="chart" aria-labelledby="chart-title chart-desc">'
        f'<title id="chart-title">{html.escape(label)}</title>'
    )
    if not points:
        return head + '<desc id="chart-desc">Aucune mesure sur la période.</desc></svg>'
    times = [p[0].timestamp() for p in points]
    values = [p[1] for p in points]
    t0, t1 = min(times), max(times)
    v0, v1 = min(values), max(values)
    if t1 == t0:
        t0, t1 = t0 - 86400, t1 + 86400
    pad = (v1 - v0) * 0.1 or max(abs(v1) * 0.05, 1)
    v0, v1 = v0 - pad, v1 + pad
    w, h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * w

    def y(v: float) -> float:
        return top + (1 - (v - v0) / (v1 - v0)) * h

    first, last = points[0][0], points[-1][0]
    summary = (
        f"{len(points)} mesures du {first:%d/%m/%Y} au {last:%d/%m/%Y}, "
        f"de {min(values):g} à {max(values):g} {html.escape(vital.unit)}."
    )
    parts = [head, f'<desc id="chart-desc">{summary}</desc>']
    parts.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fff" stroke="#c8ced6"/>')
    for i in range(5):
        v = v0 + (v1 - v0) * i / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e9edf2"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="12">{v:.1f}</text>'
        )
    for i in range(5):
        t = t0 + (t1 - t0) * i / 4
        day = datetime.fromtimestamp(t, PARIS)
        parts.append(
            f'<text x="{x(t):.1f}" y="{top + h + 18}" text-anchor="middle" '
            f'font-size="12">{day:%d/%m/%y}</text>'
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}"
        for i, (t, v) in enumerate(zip(times, values, strict=True))
    )
    parts.append(f'<path d="{path}" fill="none" stroke="#1d4f91" stroke-width="2"/>')
    for t, v in zip(times, values, strict=True):
        parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="4" fill="#1d4f91" class="point"/>')
    parts.append("</svg>")
    return "".join(parts)


@router.get("/patients/{patient_id}/constantes")
async def vital_chart(request: Request, patient_id: str, user: Practitioner, fhir: Fhir) -> Response:
    patient = await fhir.read("Patient", patient_id)
    key = request.query_params.get("parametre", "poids")
    vital = BY_KEY.get(key, BY_KEY["poids"])
    today = date.today()
    errors: dict[str, str] = {}
    start_raw = request.query_params.get("du") or (today - timedelta(days=365)).isoformat()
    end_raw = request.query_params.get("au") or today.isoformat()
    try:
        start, end = date.fromisoformat(start_raw), date.fromisoformat(end_raw)
        if end < start:
            errors["au"] = "La date de fin précède la date de début."
    except ValueError:
        errors["du"] = "Dates invalides."
        start, end = today - timedelta(days=365), today
    points: list[tuple[datetime, float]] = []
    if not errors:
        code = BP_PANEL if vital.component_of else vital.loinc
        params = [
            ("subject", f"Patient/{patient_id}"),
            ("code", f"{LOINC}|{code}"),
            ("date", f"ge{start.isoformat()}"),
            ("date", f"le{end.isoformat()}"),
            ("_sort", "date"),
            ("_count", "500"),
        ]
        for obs in await fhir.search_resources("Observation", params):
            when = parse_fhir_date(obs.get("effectiveDateTime"))
            if not isinstance(when, datetime):
                continue
            for v, value in values_of(obs):
                if v.key == vital.key:
                    points.append((when, value))
        points.sort()
    return await render(
        request,
        "clinician/vitals.html",
        {
            "patient": patient,
            "vitals": VITALS,
            "vital": vital,
            "du": start_raw,
            "au": end_raw,
            "points": points,
            "svg": svg_chart(points, vital),
            "chart_errors": errors,
        },
        status_code=422 if errors else 200,
    )
