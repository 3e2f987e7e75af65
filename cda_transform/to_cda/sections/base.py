"""What a section builder receives: the input data, the ``section`` element and its narrative."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import oids
from ..datatypes import fixed_code
from ..inputs import Entry, PatientData
from ..narrative import Narrative
from ..sections_spec import EHDSI
from ..xmlns import Element, el

#: IPS absent/unknown codes per section: (known absence, no information)
ABSENT_CODES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "allergies": (
        ("no-known-allergies", "No known allergies"),
        ("no-allergy-info", "No information about allergies"),
    ),
    "medications": (
        ("no-known-medications", "No known medications"),
        ("no-medication-info", "No information about medications"),
    ),
    "problems": (
        ("no-known-problems", "No known problems"),
        ("no-problem-info", "No information about problems"),
    ),
    "procedures": (
        ("no-known-procedures", "No known procedures"),
        ("no-procedure-info", "No information about past history of procedures"),
    ),
    "devices": (
        ("no-known-devices", "No known devices in use"),
        ("no-device-info", "No information about devices"),
    ),
}

#: French narrative for the absent/unknown codes (the narrative stays in the source language)
ABSENT_TEXT_FR: dict[str, str] = {
    "no-known-allergies": "Aucune allergie connue",
    "no-allergy-info": "Pas d'information sur les allergies",
    "no-known-medication-allergies": "Aucune allergie médicamenteuse connue",
    "no-known-environmental-allergies": "Aucune allergie environnementale connue",
    "no-known-food-allergies": "Aucune allergie alimentaire connue",
    "no-known-medications": "Aucun traitement connu",
    "no-medication-info": "Pas d'information sur les traitements",
    "no-known-problems": "Aucun problème connu",
    "no-problem-info": "Pas d'information sur les problèmes",
    "no-known-procedures": "Aucun acte connu",
    "no-procedure-info": "Pas d'information sur les actes",
    "no-known-devices": "Aucun dispositif médical connu",
    "no-device-info": "Pas d'information sur les dispositifs médicaux",
}


@dataclass
class Context:
    data: PatientData
    section: Element
    narrative: Narrative
    empty_reason: str | None = None

    def entry(self, type_code: str | None = "DRIV") -> Element:
        return el(self.section, "entry", {"typeCode": type_code})

    def absent_code(self, family: str) -> tuple[str, str]:
        """Known absence when the Composition says ``nilknown``, otherwise "no information"."""
        known, no_info = ABSENT_CODES[family]
        return known if self.empty_reason == "nilknown" else no_info

    def reference(self, ref: dict[str, Any] | None, path: str) -> Entry | None:
        return self.data.resolve(ref, path)


def absent_code_element(
    parent: Element, tag: str, code: str, display: str, *, xsi_type: str | None = None
) -> Element:
    return fixed_code(
        parent, tag, code, oids.ABSENT_UNKNOWN, display, "IPS Absent and Unknown Data", xsi_type=xsi_type
    )


def text_reference(parent: Element, row_id: str) -> None:
    el(el(parent, "text"), "reference", {"value": f"#{row_id}"})


def tpl(n: str) -> str:
    """eHDSI entry template id ``1.3.6.1.4.1.12559.11.10.1.3.1.3.<n>``."""
    return f"{EHDSI}.3.{n}"
