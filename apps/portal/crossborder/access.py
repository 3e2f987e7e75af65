"""Who may use the cross-border service: Pro Santé Connect (CPS/e-CPS) and the Sesali rules.

The authorization server already refuses, at login, professionals the Sesali rules exclude
(``fhir_server.auth.eligibility``); this area checks again, on the practice situations of the
access token, what the service itself requires: a Pro Santé Connect login (``acr`` eidas1, so an
account without CPS/e-CPS never gets the service), an allowed profession, no occupational
medicine, no private-insurer sector, and a practice place (FINESS, SIRET or RPPS structure).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

from fhir_server.auth.eligibility import FAQ_REASONS, Rules

__all__ = ["FAQ_REASONS", "Eligibility", "evaluate", "rules", "token_claims"]

TERMS_VERSION = "2024-01"
TERMS_COOKIE = "passerelle_xb_cgu"


@dataclass(frozen=True)
class Eligibility:
    allowed: bool
    reason: str = ""
    profession: str = ""
    rpps: str = ""


def token_claims(access_token: str) -> dict[str, Any]:
    """The claims of our own access token (obtained by the portal itself: not re-verified)."""
    try:
        payload = access_token.split(".")[1]
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return data
    except (IndexError, ValueError):
        return {}


def rules() -> Rules:
    return Rules.load(os.environ.get("PASSERELLE_ELIGIBILITY"))


def evaluate(claims: dict[str, Any], rules: Rules) -> Eligibility:
    refuse = lambda text: Eligibility(False, f"Accès refusé : {text}")  # noqa: E731
    if str(claims.get("acr") or "") not in ("eidas1", "eidas2", "eidas3"):
        return refuse(
            "ce service est réservé aux professionnels connectés avec Pro Santé Connect (CPS ou e-CPS)."
        )
    situations = [s for s in claims.get("exercices") or [] if isinstance(s, dict)]
    if not situations:
        return refuse("aucune situation d'exercice en cours n'est enregistrée (RPPS).")
    reasons: list[str] = []
    for s in situations:
        profession, specialty, sector = s.get("profession", ""), s.get("specialty", ""), s.get("sector", "")
        if profession not in rules.allowed_professions:
            reasons.append("votre profession n'est pas habilitée à utiliser ce service.")
        elif specialty in rules.excluded_specialties:
            reasons.append(
                f"l'exercice de {rules.excluded_specialties[specialty]} n'ouvre pas droit à ce service."
            )
        elif sector in rules.excluded_sectors:
            reasons.append(
                f"l'exercice pour le compte {rules.excluded_sectors[sector]} n'ouvre pas droit à ce service."
            )
        elif not (s.get("finess") or s.get("siret") or s.get("structure")):
            reasons.append("les informations sur votre lieu d'exercice sont insuffisantes (RPPS).")
        else:
            return Eligibility(True, profession=profession, rpps=str(claims.get("sub") or ""))
    return refuse(reasons[0])
