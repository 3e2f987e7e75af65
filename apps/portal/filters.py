"""Jinja filters for FHIR data shown in French (dates, names, codings)."""

from __future__ import annotations

import re
from datetime import date, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

PARIS = ZoneInfo("Europe/Paris")
MONTHS = [
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
]  # fmt: skip
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def parse_fhir_date(value: str | None) -> datetime | date | None:
    """A FHIR date or dateTime as a Python value (dateTimes in Paris time)."""
    if not value:
        return None
    try:
        if "T" in value:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return dt.astimezone(PARIS) if dt.tzinfo else dt
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        return None
    return None


def date_fr(value: Any, long: bool = False) -> str:
    """``12/03/2026`` (or ``jeudi 12 mars 2026`` with ``long``); partial FHIR dates as given."""
    v = parse_fhir_date(value) if isinstance(value, str) else value
    if v is None or not isinstance(v, date):  # absent (a Jinja Undefined) or unreadable
        return value if isinstance(value, str) else ""
    if long:
        return f"{DAYS[v.weekday()]} {v.day} {MONTHS[v.month - 1]} {v.year}"
    return f"{v.day:02d}/{v.month:02d}/{v.year}"


def datetime_fr(value: Any) -> str:
    v = parse_fhir_date(value) if isinstance(value, str) else value
    if not isinstance(v, datetime):
        return date_fr(value)
    return f"{v.day:02d}/{v.month:02d}/{v.year} à {v.hour:02d}h{v.minute:02d}"


def time_fr(value: Any) -> str:
    v = parse_fhir_date(value) if isinstance(value, str) else value
    return f"{v.hour:02d}h{v.minute:02d}" if isinstance(v, datetime) else ""


def human_name(resource: dict[str, Any] | None, with_prefix: bool = True) -> str:
    """``Dr Marie MARTIN`` / ``Jeanne DUPONT``: the first (official) name of a Patient or Practitioner."""
    if not resource:
        return ""
    names = resource.get("name") or []
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if name.get("text") and not name.get("family"):
        return str(name["text"])
    parts = []
    if with_prefix and name.get("prefix"):
        parts.append(" ".join(name["prefix"]))
    parts.extend(name.get("given", [])[:1])
    if name.get("family"):
        parts.append(str(name["family"]).upper())
    return " ".join(parts)


def coding_text(concept: dict[str, Any] | None) -> str:
    """The text of a CodeableConcept: its text, else the first display, else the first code."""
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display"):
            return str(coding["display"])
    codes = concept.get("coding") or [{}]
    return str(codes[0].get("code", ""))


def identifier_value(resource: dict[str, Any] | None, system: str) -> str:
    for ident in (resource or {}).get("identifier", []):
        if ident.get("system") == system:
            return str(ident.get("value", ""))
    return ""


def phone_fr(value: str | None) -> str:
    """A French number as written in France (+33612345678 -> 06 12 34 56 78); others unchanged."""
    text = (value or "").strip()
    compact = re.sub(r"[\s.\-()]", "", text)
    if compact.startswith("0033"):
        compact = "+" + compact[2:]
    match = re.fullmatch(r"(?:\+33|0)([1-9]\d{8})", compact)
    if match is None:
        return text
    digits = "0" + match.group(1)
    return " ".join(digits[i : i + 2] for i in range(0, 10, 2))


def nir_fr(value: str | None) -> str:
    """A NIR as printed on the carte Vitale: 1 92 01 75 056 042 53 (sex, year, month, department,
    commune, order, key); anything else unchanged."""
    compact = re.sub(r"\s", "", value or "")
    if not re.fullmatch(r"[12378]\d{2}(?:0[1-9]|1[0-2]|[2-9]\d)(?:\d{2}|2[AB])\d{6}\d{2}", compact):
        return (value or "").strip()
    cuts = (0, 1, 3, 5, 7, 10, 13, 15)
    return " ".join(compact[a:b] for a, b in pairwise(cuts))


GENDERS = {"female": "Femme", "male": "Homme", "other": "Autre", "unknown": "Inconnu"}


def install(env: Environment) -> None:
    env.filters.update(
        date_fr=date_fr,
        datetime_fr=datetime_fr,
        time_fr=time_fr,
        human_name=human_name,
        coding_text=coding_text,
        identifier_value=identifier_value,
        phone_fr=phone_fr,
        nir_fr=nir_fr,
        gender_fr=lambda g: GENDERS.get(g or "", ""),
    )
