"""StructureDefinitions the server validates against.

``profiles/r4/`` holds the official FHIR R4 4.0.1 definitions (HL7, CC0), vendored
so that the server never reads ``../shared`` at run time: resource and datatype
StructureDefinitions, search parameters and the Patient CompartmentDefinition.
``profiles/passerelle/`` holds definitions of this server's own: search parameters R4
lacks (MedicationRequest ``group-identifier``, the prescription number).

Public surface: :func:`r4_bundle` loads one of the vendored definition bundles,
:func:`passerelle_bundle` one of ours.
"""

from profiles.loader import PASSERELLE_DIR, R4_DIR, passerelle_bundle, r4_bundle

__all__ = ["PASSERELLE_DIR", "R4_DIR", "passerelle_bundle", "r4_bundle"]
