"""The Assurance Maladie's fund → échelon (ELSM) table, read by the FHIR access rules and the portal.

An échelon local du service médical serves the insured of the funds attached to it: the
patient's fund is the ``payor`` of their active Coverage (CPAM or MSA, docs/france.md §4.c),
an Organization identified by ``régime-caisse`` (:data:`FUND_SYSTEM`); the table (JSON,
:data:`DEFAULT_TABLE` or ``PASSERELLE_ELSM_TABLE``) maps that code to an échelon code, and the
échelon is the Organization carrying that code as identifier (:data:`ELSM_SYSTEM`).

Two readers, one table: the FHIR layer (:mod:`.relationships`) decides from it which insured
patients a médecin conseil reaches (those of their échelon's funds), and the portal routes a
doctor's message to the patient's échelon with it. The table is read once per process: the
Assurance Maladie changes it by deployment, not by request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson

DEFAULT_TABLE = Path(__file__).with_name("echelons.json")
FUND_SYSTEM = "urn:passerelle:caisse-assurance-maladie"
ELSM_SYSTEM = "urn:passerelle:elsm"


@dataclass(frozen=True)
class Fund:
    code: str  # régime-caisse, e.g. 01-751
    name: str
    elsm: str  # échelon code, e.g. ELSM-75


@dataclass(frozen=True)
class Echelon:
    code: str
    name: str
    department: str


@dataclass(frozen=True)
class RoutingTable:
    funds: dict[str, Fund]
    echelons: dict[str, Echelon]

    def echelon_of(self, fund_code: str) -> Echelon | None:
        fund = self.funds.get(fund_code)
        return self.echelons.get(fund.elsm) if fund else None

    def funds_of(self, echelon_code: str) -> list[str]:
        """The codes of the funds whose insured this échelon serves."""
        return sorted(code for code, fund in self.funds.items() if fund.elsm == echelon_code)


def parse_table(raw: bytes) -> RoutingTable:
    """The table from its JSON; a fund naming an unknown échelon is a configuration error."""
    data = orjson.loads(raw)
    echelons = {
        code: Echelon(code, str(e["nom"]), str(e.get("departement", "")))
        for code, e in (data.get("echelons") or {}).items()
    }
    funds: dict[str, Fund] = {}
    for code, f in (data.get("caisses") or {}).items():
        if f["elsm"] not in echelons:
            raise ValueError(
                f"table des échelons : la caisse {code} renvoie à un échelon inconnu ({f['elsm']})"
            )
        funds[code] = Fund(code, str(f["nom"]), str(f["elsm"]))
    return RoutingTable(funds, echelons)


@cache
def routing_table(path: str | None = None) -> RoutingTable:
    chosen = Path(path or os.environ.get("PASSERELLE_ELSM_TABLE") or DEFAULT_TABLE)
    return parse_table(chosen.read_bytes())
