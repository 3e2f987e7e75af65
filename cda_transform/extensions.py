"""Every extension URL and local code system cda_transform writes, in one place.

The portal and other readers of the Bundle depend on these; they are stable identifiers.

``TRANSLATION_STATUS`` (on each ``Coding`` built from the CDA)
    ``valueCode`` ``translated`` (``display`` is the French designation from the terminology
    service) or ``not-translated`` (``display`` is the document's own designation; shown
    « non traduit »).
``ORIGINAL_DISPLAY`` (on a translated ``Coding``)
    ``valueString``: the designation the CDA gave (``@displayName`` or its ``originalText``).
``TRANSLATION_SOURCE`` (on a translated ``Coding``)
    where the French designation comes from: sub-extensions ``source`` (valueCanonical, the
    supplement / code system / value set ``url|version``), ``title``, ``publisher`` and
    ``copyright`` (valueString), and ``resolution`` (valueString, French) with ``resolvedCoding``
    (valueCoding) when the code was read under another system (national ICD-10, value-set OID
    used as system, published national -> EDQM map).
``SOURCE_CONCEPT`` (on a primitive such as ``_gender``, ``_type``, ``_criticality``, ``_severity``,
    or on the resource)
    ``valueCodeableConcept``: the CDA coded element behind a FHIR plain code, or a CDA code
    with no FHIR home (e.g. allergy certainty outside the FHIR value set), kept unchanged.
``HEALTH_STATUS`` (on Condition)
    ``valueCodeableConcept``: the eHDSI health status / resolution outcome of a problem.
``MEDICATION_PACKAGE`` (on Medication; R4 has no packaging element)
    sub-extensions ``form`` (valueCodeableConcept), ``name`` (valueString), ``capacity`` and
    ``quantity`` (valueQuantity).
``PROVENANCE_ACTIVITY`` (code system)
    ``translation``: the Provenance activity of the translation step.
"""

from __future__ import annotations

BASE = "https://passerelle.fr/fhir"
TRANSLATION_STATUS = f"{BASE}/StructureDefinition/translation-status"
ORIGINAL_DISPLAY = f"{BASE}/StructureDefinition/original-display"
TRANSLATION_SOURCE = f"{BASE}/StructureDefinition/translation-source"
SOURCE_CONCEPT = f"{BASE}/StructureDefinition/source-concept"
HEALTH_STATUS = f"{BASE}/StructureDefinition/health-status"
MEDICATION_PACKAGE = f"{BASE}/StructureDefinition/medication-package"
PROVENANCE_ACTIVITY = f"{BASE}/CodeSystem/provenance-activity"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
