"""Terminology service: CodeSystem, ValueSet and ConceptMap, French designations.

Will hold the concept index, ``$lookup``/``$expand``/``$validate-code``/``$translate``,
MVC/MTC loading and a Python API (``lookup``, ``validate_code``, ``expand``,
``translate``, ``display``) that the FHIR server and cda_transform call in-process.

Today it holds only the vendored FHIR R4 code systems and value sets in ``data/r4/``
(HL7, CC0), which the FHIR server reads to enforce required bindings.
"""

from pathlib import Path

R4_TERMINOLOGY_DIR = Path(__file__).parent / "data" / "r4"

__all__ = ["R4_TERMINOLOGY_DIR"]
