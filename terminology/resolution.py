"""Where a code given under the wrong or a national system really belongs.

eHDSI documents do not always name the code system the code comes from. When the index has
no designation for (system, code) as written, :func:`candidates` proposes, in order, the
(system, code) pairs it may stand for, each with a French note saying why:

1. a **national code system that is ICD-10 in disguise** (the Czech MKN-10
   ``1.2.203.24341.11.2.1`` writes ``D093`` for ICD-10 ``D09.3``): ICD-10 with the dot restored;
2. a **value-set OID used as the code system** (``1.3.6.1.4.1.12559.11.10.1.3.1.42.24`` is
   eHDSIActiveIngredient, whose codes are ATC): the code system(s) that value set draws from;
3. a **published mapping**: a ConceptMap of the service (the MVC's, or one shipped with the
   project such as the national dose-form/route maps to EDQM) with an ``equivalent`` /
   ``equal`` target.

Nothing is guessed from display texts; a pair is proposed only by one of these rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from terminology.service import TerminologyService

ICD10 = "http://hl7.org/fhir/sid/icd-10"

# National classifications that are ICD-10 written without the dot (OID -> name).
NATIONAL_ICD10: dict[str, str] = {
    "1.2.203.24341.11.2.1": "MKN-10 (classification tchèque, ÚZIS)",
}

# Misspelt value-set OIDs seen in real documents -> the OID they mean (HL7 v3 value sets are
# registered under 2.16.840.1.113883.1.11.N; documents drop the ".1").
VALUESET_OID_TYPOS: dict[str, str] = {
    "2.16.840.1.113883.11.19563": "2.16.840.1.113883.1.11.19563",  # PersonalRelationshipRoleType
}

EXACT = frozenset({"equivalent", "equal"})


@dataclass(slots=True, frozen=True)
class Candidate:
    system: str
    code: str
    note: str  # French: why this pair stands for the code as written


def dotted(code: str) -> str:
    """``D093`` -> ``D09.3``; codes of three characters or already dotted are unchanged."""
    if len(code) > 3 and "." not in code:
        return f"{code[:3]}.{code[3:]}"
    return code


def candidates(service: TerminologyService, system: str, code: str) -> Iterator[Candidate]:
    """The (system, code) pairs ``code`` under ``system`` may stand for (see module doc)."""
    canonical = service.canonical_system(system)
    oid = canonical[8:] if canonical.startswith("urn:oid:") else None
    if oid in NATIONAL_ICD10:
        yield Candidate(ICD10, dotted(code), f"{NATIONAL_ICD10[oid]} : code CIM-10 {dotted(code)}")
        return
    if oid is not None:
        vs_oid = VALUESET_OID_TYPOS.get(oid, oid)
        systems = service.valueset_systems(vs_oid)
        for target in systems:
            if target != canonical:
                yield Candidate(target, code, f"OID de ValueSet {oid} employé comme système : {target}")
    for match in service.conceptmaps.translate(canonical, code).matches:
        if match.equivalence in EXACT and match.system and match.code:
            yield Candidate(
                match.system, match.code, f"correspondance publiée ({match.source or 'ConceptMap'})"
            )
