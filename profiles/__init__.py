"""StructureDefinitions the server validates against.

``profiles/r4/`` holds the official FHIR R4 4.0.1 definitions (HL7, CC0), vendored
so that the server never reads ``../shared`` at run time: resource and datatype
StructureDefinitions, search parameters and the Patient CompartmentDefinition.
Our own FR Core-style profiles will live beside them.

Public surface: :func:`r4_bundle` loads one of the vendored definition bundles.
"""

from profiles.loader import R4_DIR, r4_bundle

__all__ = ["R4_DIR", "r4_bundle"]
