"""What the teleconsultation screens share: codes, the question's Task, reading operation answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apps.portal.fhir import FhirClient, FhirError
from apps.portal.filters import date_fr, datetime_fr
from fhir_server.operations.teleconsultation import (
    CHANNELS,
    MIN_SYMPTOMS,
    SPECIALTIES,
    SYMPTOMS_LINK,
    TC_SYSTEM,
    hours,
    open_now,
)

QUESTIONNAIRE = "https://passerelle.fr/fhir/Questionnaire/teleconsultation-question"
RATING = "https://passerelle.fr/fhir/Questionnaire/teleconsultation-evaluation"
COVID = "https://passerelle.fr/fhir/Questionnaire/teleconsultation-covid19"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
REPORT_TYPE = {"system": LOINC, "code": "11488-4", "display": "Consult note"}
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]

__all__ = ["CHANNELS", "MIN_SYMPTOMS", "SPECIALTIES", "SYMPTOMS_LINK", "TC_SYSTEM", "open_now"]


def ops_params(answer: dict[str, Any]) -> dict[str, Any]:
    """A ``Parameters`` answer as a dict (``task`` -> the resource, others -> their value)."""
    out: dict[str, Any] = {}
    for p in answer.get("parameter", []):
        if "resource" in p:
            out[p["name"]] = p["resource"]
        else:
            out[p["name"]] = next((v for k, v in p.items() if k.startswith("value")), None)
    return out


def task_input(task: dict[str, Any], name: str) -> Any:
    for item in task.get("input") or []:
        if (item.get("type") or {}).get("text") == name:
            return next((v for k, v in item.items() if k.startswith("value")), None)
    return None


def deadline(task: dict[str, Any]) -> datetime | None:
    end = ((task.get("restriction") or {}).get("period") or {}).get("end")
    try:
        return datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None


def seconds_left(task: dict[str, Any], now: datetime | None = None) -> int:
    end = deadline(task)
    if end is None:
        return 0
    return max(0, int((end - (now or datetime.now(UTC))).total_seconds()))


def view(task: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A Task as the templates show it."""
    channel = str(task_input(task, "channel") or "")
    specialty = str(task_input(task, "routed") or task_input(task, "specialty") or "")
    return {
        "id": task.get("id"),
        "status": task.get("status"),
        "business": (task.get("businessStatus") or {}).get("text", ""),
        "since": task.get("authoredOn", ""),
        "left": seconds_left(task, now),
        "channel": channel,
        "channel_label": CHANNELS.get(channel, channel),
        "specialty": specialty,
        "specialty_label": SPECIALTIES.get(specialty, specialty),
        "asked": SPECIALTIES.get(str(task_input(task, "specialty") or ""), ""),
        "covid": bool(task_input(task, "covid")),
        "encounter": str((task.get("encounter") or {}).get("reference", "")).partition("/")[2],
        "owner": str((task.get("owner") or {}).get("reference", "")),
        "note": " ".join(n.get("text", "") for n in task.get("note") or []),
    }


async def task_for(fhir: FhirClient, encounter_id: str) -> dict[str, Any]:
    """The queue Task of a question (404 page when the user does not reach it)."""
    found = await fhir.search_resources(
        "Task", {"encounter": f"Encounter/{encounter_id}", "code": f"{TC_SYSTEM}|question", "_count": "5"}
    )
    if not found:
        raise FhirError(404, "Question introuvable ou hors de vos dossiers.")
    return found[0]


def hours_table() -> list[tuple[str, str]]:
    """The specialists' hours, in words, per specialty."""
    out = []
    for code, label in SPECIALTIES.items():
        if code == "generaliste":
            out.append((label, "7 jours sur 7, 24 heures sur 24"))
            continue
        parts = []
        for slot in hours().get(code, []):
            days = slot.get("days", [])
            names = (
                f"du {DAYS[days[0]]} au {DAYS[days[-1]]}"
                if len(days) > 2 and days == list(range(days[0], days[-1] + 1))
                else ", ".join(DAYS[d] for d in days)
            )
            parts.append(f"{names}, de {slot.get('start')} à {slot.get('end')}")
        out.append((label, " ; ".join(parts) or "fermé"))
    return out


def _answer_text(key: str, value: Any) -> str:
    if isinstance(value, dict):  # valueCoding
        return str(value.get("display", value.get("code", "")))
    if value is True or value is False:
        return "oui" if value else "non"
    if key == "valueDate":
        return date_fr(value)
    if key == "valueDateTime":
        return datetime_fr(value)
    return str(value)


def _answered(response: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Each answered item of a QuestionnaireResponse (nested ones too) with its answers as French text."""
    out: list[tuple[dict[str, Any], str]] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            values = [
                _answer_text(key, value)
                for answer in item.get("answer") or []
                for key, value in answer.items()
                if key.startswith("value")
            ]
            if values:
                out.append((item, ", ".join(values)))
            walk(item.get("item") or [])

    walk(response.get("item") or [])
    return out


def answers(response: dict[str, Any]) -> dict[str, str]:
    """A QuestionnaireResponse's answers by linkId, as text."""
    return {item.get("linkId", ""): text for item, text in _answered(response)}


def answer_rows(response: dict[str, Any]) -> list[tuple[str, str]]:
    """A QuestionnaireResponse as (question, answer) rows for a reader: the question's text
    (its linkId only when it has none), dates as written in France."""
    return [(item.get("text") or item.get("linkId", ""), text) for item, text in _answered(response)]
