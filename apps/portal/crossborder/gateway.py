"""The portal's side of the NCP-B flow: one ``CrossBorderQuery`` per request, the flows in progress.

A flow (identification, consent, summary) lives in this process's memory, bound to the portal
session that started it and dropped after ``FLOW_MINUTES``: the HCP/TRC assertions it holds are
short-lived and never leave the server. (One process: ``passerelle serve`` runs one.)
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ehdsi_gateway import FhirClient, GatewaySettings
from ehdsi_gateway.fhir_client import BackendToken
from ehdsi_gateway.initiator import CrossBorderQuery, Identification, SummaryResult
from ehdsi_gateway.ism import SearchMask
from ehdsi_gateway.peers import Peer

FLOW_MINUTES = 30

COUNTRIES_FR = {
    "AT": "Autriche", "BE": "Belgique", "BG": "Bulgarie", "CY": "Chypre", "CZ": "République tchèque",
    "DE": "Allemagne", "DK": "Danemark", "EE": "Estonie", "ES": "Espagne", "FI": "Finlande",
    "FR": "France", "GR": "Grèce", "EL": "Grèce", "HR": "Croatie", "HU": "Hongrie", "IE": "Irlande",
    "IT": "Italie", "LT": "Lituanie", "LU": "Luxembourg", "LV": "Lettonie", "MT": "Malte",
    "NL": "Pays-Bas", "PL": "Pologne", "PT": "Portugal", "RO": "Roumanie", "SE": "Suède",
    "SI": "Slovénie", "SK": "Slovaquie",
}  # fmt: skip

#: where the identifier is written, per country (the "où trouver ces informations ?" help)
HELP_FR = {
    "CZ": "Numéro d'assuré (rodné číslo, 9 ou 10 chiffres) : au verso de la carte européenne "
    "d'assurance maladie et sur la carte d'assuré tchèque (« Číslo pojištěnce »).",
    "HR": "Numéro d'identification personnel (OIB) ou numéro d'assuré MBO : sur la carte d'assuré "
    "HZZO (« MBO ») et sur la carte d'identité croate (« OIB »).",
    "MT": "Numéro de carte d'identité maltaise (7 chiffres suivis d'une lettre, ex. 9999002M) : "
    "au recto de la carte d'identité ou du passeport maltais.",
    "PT": "Numéro d'utilisateur du service national de santé (« Nº Utente de Saúde », 9 chiffres) : "
    "au verso de la carte de citoyen (Cartão de Cidadão).",
    "LU": "Matricule national (13 chiffres) : sur la carte de sécurité sociale luxembourgeoise (CNS).",
}
HELP_DEFAULT = (
    "Le numéro d'identification national du patient figure sur sa carte d'identité, sa carte "
    "d'assuré de son pays ou sa carte européenne d'assurance maladie (champ 6 ou 7)."
)


def country_name(code: str) -> str:
    return COUNTRIES_FR.get(code.upper(), code.upper())


def identifier_label(label: str, country: str) -> str:
    known = {
        "label.ism.nationalPersonIdentifier": "Identifiant national du patient",
        "label.ism.socialSecurityNumber": "Numéro de sécurité sociale",
        "label.ism.healthInsuranceNumber": "Numéro d'assuré",
        "label.ism.passport": "Numéro de passeport",
    }
    return known.get(label, label.rsplit(".", 1)[-1] if label else "Identifiant du patient")


@dataclass
class Flow:
    key: str
    session: str
    country: str
    ident: Identification
    created: float = field(default_factory=time.monotonic)
    consent: dict[str, Any] | None = None
    result: SummaryResult | None = None


class Gateway:
    """What the area keeps per portal: the gateway's settings and FHIR client, the flows."""

    def __init__(self, data_dir: Any, app: Any, fhir_url: str | None) -> None:
        self.settings = GatewaySettings.from_env(data_dir)
        key = self.settings.ehdsi_dir / "fhir-client.jwk"
        BackendToken.ensure_key(key)
        token = BackendToken(self.settings.fhir_client_id, key)
        if fhir_url:
            self.fhir = FhirClient(fhir_url, token=token)
        else:
            self.fhir = FhirClient.in_process(lambda: app(), token=token)
        self.flows: dict[str, Flow] = {}

    def query(self) -> CrossBorderQuery:
        """A query bound to the current peers registry (re-read: peers may be added while running)."""
        return CrossBorderQuery(self.settings, self.fhir)

    def peers(self) -> dict[str, Peer]:
        return dict(sorted(self.settings.peers().peers.items()))

    def add(self, session: str, country: str, ident: Identification) -> Flow:
        self._expire()
        flow = Flow(secrets.token_urlsafe(16), session, country, ident)
        self.flows[flow.key] = flow
        return flow

    def get(self, key: str, session: str) -> Flow | None:
        self._expire()
        flow = self.flows.get(key)
        return flow if flow is not None and secrets.compare_digest(flow.session, session) else None

    def _expire(self) -> None:
        limit = time.monotonic() - FLOW_MINUTES * 60
        for key in [k for k, f in self.flows.items() if f.created < limit]:
            self.flows.pop(key, None)


def form_fields(mask: SearchMask | None) -> dict[str, Any]:
    """What the identity-trait form shows, from the country's search mask."""
    if mask is None:
        return {"identifiers": [], "birth_date": None, "gender": None, "family": None, "given": None}
    return {
        "identifiers": mask.identifiers,
        "birth_date": mask.birth_date,
        "gender": mask.gender,
        "family": mask.text_fields.get("label.ism.familyName"),
        "given": mask.text_fields.get("label.ism.firstName"),
    }
