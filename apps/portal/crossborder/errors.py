"""Each gateway refusal as the professional reads it: a title, the gateway's message, what to do next."""

from __future__ import annotations

from dataclasses import dataclass

from ehdsi_gateway import EhdsiError


@dataclass(frozen=True)
class Problem:
    code: str
    title: str
    message: str
    next_step: str
    status: int


NEXT_STEPS: dict[str, tuple[str, str, int]] = {
    "ERROR_PI_NO_MATCH": (
        "Patient introuvable",
        "Vérifiez l'identifiant et la date de naissance sur le document d'identité du patient, "
        "corrigez-les puis relancez la recherche.",
        404,
    ),
    "ERROR_PI_MULTIPLE_MATCHES": (
        "Plusieurs patients correspondent",
        "Complétez la recherche (date de naissance, sexe) pour ne désigner qu'un seul patient.",
        409,
    ),
    "ERROR_PS_NOT_FOUND": (
        "Aucune synthèse médicale",
        "Ce patient n'a pas de synthèse médicale dans son pays : recueillez ses antécédents "
        "directement auprès de lui, ou faites une nouvelle recherche pour un autre patient.",
        404,
    ),
    "ERROR_CONNECTION_NOT_POSSIBLE": (
        "Pays injoignable",
        "Le service du pays du patient ne répond pas pour le moment : réessayez dans quelques minutes ; "
        "si le problème persiste, contactez l'assistance du service.",
        502,
    ),
    "ERROR_TIMEOUT": (
        "Délai de réponse dépassé",
        "Le pays du patient n'a pas répondu à temps : relancez la recherche dans quelques minutes.",
        504,
    ),
    "ERROR_UNKNOWN_PEER": (
        "Pays non disponible",
        "Ce pays n'est pas (ou plus) raccordé au service : choisissez un pays de la liste.",
        400,
    ),
    "ERROR_NO_CONSENT": (
        "Consentement manquant",
        "Cochez les deux cases de confirmation après avoir remis la notice d'information au patient.",
        400,
    ),
}
DEFAULT_NEXT = (
    "Échange impossible",
    "Réessayez dans quelques minutes ; si le problème persiste, faites une nouvelle recherche ou "
    "contactez l'assistance du service.",
    502,
)


def problem(error: EhdsiError) -> Problem:
    title, next_step, status = NEXT_STEPS.get(error.code, DEFAULT_NEXT)
    return Problem(error.code, title, error.message, next_step, status)
