"""The fund → échelon (ELSM) table is the FHIR layer's (:mod:`fhir_server.auth.echelons`): the same
table decides which insured patients a médecin conseil reaches and where a doctor's message goes."""

from fhir_server.auth.echelons import (
    DEFAULT_TABLE,
    ELSM_SYSTEM,
    FUND_SYSTEM,
    Echelon,
    Fund,
    RoutingTable,
    parse_table,
    routing_table,
)

__all__ = [
    "DEFAULT_TABLE", "ELSM_SYSTEM", "FUND_SYSTEM", "Echelon", "Fund", "RoutingTable", "parse_table",
    "routing_table",
]  # fmt: skip
