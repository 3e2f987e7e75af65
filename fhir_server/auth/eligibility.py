"""Who may use the service, decided from the Pro Santé Connect claims (``SubjectRefPro``).

The rules are data, so each service can have its own; the default is the Sesali set
for the cross-border patient summary service (docs/france.md §4.d): the allowed TRE_G15
professions, médecine du travail (SM25) refused, a professional without any current
practice situation refused, practice for a private insurer refused. Refusals carry
a French message shown to the professional as is.

The TRE_R02 sector codes that identify a private insurer are not verified yet, so
``excluded_sectors`` is empty by default: set it in the rules file
(``PASSERELLE_ELIGIBILITY``) once the codes are confirmed against the NOS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SESALI_PROFESSIONS = {
    "10": "médecin",
    "21": "pharmacien",
    "40": "chirurgien-dentiste",
    "50": "sage-femme",
    "60": "infirmier",
    "70": "masseur-kinésithérapeute",
    "80": "pédicure-podologue",
    "91": "orthophoniste",
    "92": "orthoptiste",
    "94": "ergothérapeute",
    "95": "diététicien",
    "96": "psychomotricien",
    "98": "manipulateur ERM",
}

#: the service FAQ's reasons why a professional is refused (shown on every refusal)
FAQ_REASONS = (
    "votre profession ne fait pas partie des professions habilitées (médecins, pharmaciens, "
    "chirurgiens-dentistes, sages-femmes, infirmiers, masseurs-kinésithérapeutes, pédicures-podologues, "
    "orthophonistes, orthoptistes, ergothérapeutes, diététiciens, psychomotriciens, manipulateurs ERM) ;",
    "vous exercez la médecine du travail ;",
    "vous exercez pour le compte d'un organisme d'assurance privé ;",
    "vous n'avez plus de situation d'exercice en cours (vous n'exercez plus) ;",
    "les informations sur votre lieu d'exercice sont insuffisantes dans le RPPS ;",
    "votre carte CPS ou votre e-CPS est révoquée ou expirée, ou vous ne vous êtes pas connecté "
    "avec Pro Santé Connect ;",
    "votre navigateur n'est pas compatible, ou vous utilisez un appareil mobile.",
)


@dataclass(frozen=True)
class Rules:
    allowed_professions: frozenset[str] = frozenset(SESALI_PROFESSIONS)
    excluded_specialties: dict[str, str] = field(default_factory=lambda: {"SM25": "la médecine du travail"})
    excluded_sectors: dict[str, str] = field(default_factory=dict)  # TRE_R02 code -> label (private insurers)
    require_activity: bool = True

    @classmethod
    def load(cls, path: str | None) -> Rules:
        if not path:
            return cls()
        data = json.loads(Path(path).read_text())
        return cls(
            allowed_professions=frozenset(data.get("allowed_professions", SESALI_PROFESSIONS)),
            excluded_specialties=dict(data.get("excluded_specialties", {"SM25": "la médecine du travail"})),
            excluded_sectors=dict(data.get("excluded_sectors", {})),
            require_activity=bool(data.get("require_activity", True)),
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    exercices: tuple[dict[str, Any], ...] = ()  # the eligible exercices, with their eligible activities


def _refusal(text: str) -> Decision:
    return Decision(False, f"Accès refusé : {text}")


def evaluate(claims: dict[str, Any], rules: Rules) -> Decision:
    """The eligibility of a professional; allowed when at least one practice situation qualifies."""
    ref = claims.get("SubjectRefPro")
    exercices = ref.get("exercices") if isinstance(ref, dict) else None
    if not isinstance(exercices, list) or not exercices:
        return _refusal("aucun exercice professionnel n'est déclaré pour votre compte Pro Santé Connect.")
    reasons: list[str] = []
    eligible: list[dict[str, Any]] = []
    for ex in exercices:
        if not isinstance(ex, dict):
            continue
        profession = str(ex.get("codeProfession") or "")
        if profession not in rules.allowed_professions:
            reasons.append("votre profession n'est pas habilitée à utiliser ce service.")
            continue
        specialty = str(ex.get("codeSavoirFaire") or "")
        if specialty in rules.excluded_specialties:
            reasons.append(
                f"l'exercice de {rules.excluded_specialties[specialty]} n'ouvre pas droit à ce service."
            )
            continue
        activities = [a for a in ex.get("activities") or [] if isinstance(a, dict)]
        if rules.require_activity and not activities:
            reasons.append("aucune situation d'exercice en cours n'est enregistrée (RPPS).")
            continue
        kept = []
        for act in activities:
            sector = str(act.get("codeSecteurDactivite") or "")
            if sector in rules.excluded_sectors:
                label = rules.excluded_sectors[sector]
                reasons.append(f"l'exercice pour le compte {label} n'ouvre pas droit à ce service.")
                continue
            kept.append(act)
        if rules.require_activity and not kept:
            continue
        eligible.append({**ex, "activities": kept})
    if eligible:
        return Decision(True, exercices=tuple(eligible))
    return _refusal(reasons[0] if reasons else "aucun exercice éligible.")
