"""The eHDSI Patient Summary sections: LOINC codes, template ids, titles, and which FHIR
resource goes where.

Template ids come from the eHDSI PS pivot samples (Wave 7/8, e.g. OpenNCP
``2-1234-W7.xml`` and the Czech ``W8_..._VZOR_L3_bezchyb.xml``) and the eHDSI ART-DECOR
templates (``1.3.6.1.4.1.12559.11.10.1.3.1.2.n`` sections, ``...3.n`` entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

PS_DOCUMENT_CODE: Final = "60591-5"
EHDSI: Final = "1.3.6.1.4.1.12559.11.10.1.3.1"


@dataclass(frozen=True)
class SectionSpec:
    code: str
    display: str  # English LOINC display, as in eHDSISection
    title: str  # French title: the narrative of a French pivot stays in French
    template_ids: tuple[str, ...]
    mandatory: bool = False


MEDICATIONS = "10160-0"
ALLERGIES = "48765-2"
PROBLEMS = "11450-4"
PROCEDURES = "47519-4"
DEVICES = "46264-8"
IMMUNIZATIONS = "11369-6"
PAST_ILLNESS = "11348-0"
VITAL_SIGNS = "8716-3"
PREGNANCY = "10162-6"
SOCIAL_HISTORY = "29762-2"
RESULTS = "30954-2"

SPECS: Final[dict[str, SectionSpec]] = {
    s.code: s
    for s in (
        SectionSpec(
            ALLERGIES,
            "Allergies and adverse reactions Document",
            "Allergies, effets indésirables, alertes",
            (f"{EHDSI}.2.12", "1.3.6.1.4.1.19376.1.5.3.1.3.13", "2.16.840.1.113883.10.20.1.2"),
            True,
        ),
        SectionSpec(
            MEDICATIONS,
            "History of Medication use Narrative",
            "Historique de la prise médicamenteuse",
            (f"{EHDSI}.2.3", "2.16.840.1.113883.10.20.1.8"),
            True,
        ),
        SectionSpec(
            PROBLEMS,
            "Problem list - Reported",
            "Liste des problèmes",
            (f"{EHDSI}.2.9", "2.16.840.1.113883.10.20.1.11"),
            True,
        ),
        SectionSpec(
            PROCEDURES,
            "History of Procedures Document",
            "Antécédents chirurgicaux",
            (f"{EHDSI}.2.11", "2.16.840.1.113883.10.20.1.12"),
            True,
        ),
        SectionSpec(
            DEVICES,
            "History of medical device use",
            "Liste des dispositifs médicaux",
            (f"{EHDSI}.2.4", "2.16.840.1.113883.10.20.1.7"),
            True,
        ),
        SectionSpec(
            IMMUNIZATIONS,
            "History of Immunization Narrative",
            "Vaccinations",
            (f"{EHDSI}.2.15", "2.16.840.1.113883.10.20.1.6"),
        ),
        SectionSpec(
            PAST_ILLNESS, "History of Past illness Narrative", "Antécédents médicaux", (f"{EHDSI}.2.10",)
        ),
        SectionSpec(VITAL_SIGNS, "Vital signs", "Signes vitaux", (f"{EHDSI}.2.6",)),
        SectionSpec(
            PREGNANCY, "History of pregnancies Narrative", "Historique des grossesses", (f"{EHDSI}.2.7",)
        ),
        SectionSpec(
            SOCIAL_HISTORY,
            "Social history Narrative",
            "Mode de vie",
            (f"{EHDSI}.2.13", "2.16.840.1.113883.10.20.1.15"),
        ),
        SectionSpec(
            RESULTS,
            "Relevant diagnostic tests/laboratory data Narrative",
            "Résultats d'examens",
            (f"{EHDSI}.2.5",),
        ),
    )
}

#: eHDSI section templates of the narrative-only sections (no coded entries are produced)
NARRATIVE_TEMPLATES: Final = {
    "42348-3": f"{EHDSI}.2.16",  # advance directives
    "18776-5": f"{EHDSI}.2.8",  # health maintenance care plan
    "47420-5": f"{EHDSI}.2.14",  # functional status
}

#: document order: the five sections OpenNCP requires first, then the optional ones
ORDER: Final = (
    ALLERGIES,
    MEDICATIONS,
    PROBLEMS,
    PROCEDURES,
    DEVICES,
    IMMUNIZATIONS,
    PAST_ILLNESS,
    VITAL_SIGNS,
    PREGNANCY,
    SOCIAL_HISTORY,
    RESULTS,
)

BLOOD_GROUP_CODES: Final = {"34530-6", "882-1", "883-9", "10331-7"}
BP_PANEL_CODES: Final = {"85354-9", "55284-4", "35094-2"}
BP_COMPONENT_CODES: Final = {"8480-6", "8462-4"}
PREGNANCY_STATUS_CODES: Final = {"82810-3", "11449-6"}
PREGNANCY_EDD_CODES: Final = {"11778-8", "11779-6", "11780-4"}
PREGNANCY_OUTCOME_DATE_CODES: Final = {"93857-1"}
#: eHDSIOutcomeOfPregnancy (SNOMED CT) and the IPS pregnancy outcome LOINC codes
PREGNANCY_OUTCOME_CODES: Final = {
    "34801009",
    "417044008",
    "276507005",
    "281050002",
    "17369002",
    "276506001",
    "237364002",
    "57797005",
    "11636-8",
    "11637-6",
    "11638-4",
    "11639-2",
    "11640-0",
    "11612-9",
    "11613-7",
    "11614-5",
    "33065-4",
}
#: eHDSISocialHistory (SNOMED CT) plus the IPS tobacco/alcohol LOINC codes
SOCIAL_HISTORY_CODES: Final = {
    "364703007",
    "256235009",
    "364393001",
    "229819007",
    "425400000",
    "363908000",
    "228272008",
    "897148007",
    "72166-2",
    "74013-4",
    "11367-0",
    "11331-6",
}
CONDITION_INACTIVE: Final = {"inactive", "remission", "resolved"}


def _codes(concept: dict[str, Any] | None) -> set[str]:
    return {str(c.get("code")) for c in (concept or {}).get("coding") or []}


def _categories(resource: dict[str, Any]) -> set[str]:
    return {code for cat in resource.get("category") or [] for code in _codes(cat)}


def observation_kind(obs: dict[str, Any]) -> str:
    """blood-group | blood-pressure | pregnancy-status | pregnancy-edd | pregnancy-outcome |
    pregnancy-outcome-date | social-history | result."""
    codes = _codes(obs.get("code"))
    if codes & BLOOD_GROUP_CODES:
        return "blood-group"
    if codes & BP_PANEL_CODES or codes & BP_COMPONENT_CODES:
        return "blood-pressure"
    if codes & PREGNANCY_STATUS_CODES:
        return "pregnancy-status"
    if codes & PREGNANCY_EDD_CODES:
        return "pregnancy-edd"
    if codes & PREGNANCY_OUTCOME_DATE_CODES:
        return "pregnancy-outcome-date"
    if codes & PREGNANCY_OUTCOME_CODES:
        return "pregnancy-outcome"
    if codes & SOCIAL_HISTORY_CODES or "social-history" in _categories(obs):
        return "social-history"
    return "result"


_OBSERVATION_SECTIONS: Final = {
    "blood-group": RESULTS,
    "blood-pressure": VITAL_SIGNS,
    "pregnancy-status": PREGNANCY,
    "pregnancy-edd": PREGNANCY,
    "pregnancy-outcome": PREGNANCY,
    "pregnancy-outcome-date": PREGNANCY,
    "social-history": SOCIAL_HISTORY,
    "result": RESULTS,
}


def condition_is_past(condition: dict[str, Any]) -> bool:
    return bool(_codes(condition.get("clinicalStatus")) & CONDITION_INACTIVE)


def section_for(resource: dict[str, Any]) -> str | None:
    """The section a resource goes to when no Composition section places it."""
    kind = resource.get("resourceType")
    if kind == "AllergyIntolerance":
        return ALLERGIES
    if kind in ("MedicationStatement", "MedicationRequest"):
        return MEDICATIONS
    if kind == "Condition":
        return PAST_ILLNESS if condition_is_past(resource) else PROBLEMS
    if kind == "Procedure":
        return PROCEDURES
    if kind == "DeviceUseStatement":
        return DEVICES
    if kind == "Immunization":
        return IMMUNIZATIONS
    if kind == "Observation":
        return _OBSERVATION_SECTIONS[observation_kind(resource)]
    return None


def accepts(section_code: str | None, resource: dict[str, Any]) -> bool:
    """Whether a Composition section may hold this resource in the eHDSI structure."""
    natural = section_for(resource)
    if natural == section_code:
        return True
    return resource.get("resourceType") == "Condition" and section_code in (PROBLEMS, PAST_ILLNESS)
