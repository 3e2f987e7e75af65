"""eHDSI CDA (Patient Summary, later ePrescription) <-> FHIR IPS, with translation to French.

Public surface:

* ``to_fhir(xml, *, lang="fr-FR", terminology=None) -> ToFhirResult``: eHDSI Patient Summary
  CDA (L3 or L1) to a FHIR R4 document Bundle, with an OperationOutcome of warnings;
* ``to_cda(bundle) -> bytes``: the reverse direction (``cda_transform.to_cda``);
* ``TransformError``: the one refusal, convertible to an OperationOutcome;
* ``Terminology``: the protocol a terminology service must satisfy (``display``).
"""

from cda_transform.document import ToFhirResult, to_fhir
from cda_transform.errors import TransformError
from cda_transform.to_cda import to_cda
from cda_transform.translate import Terminology

__all__ = ["Terminology", "ToFhirResult", "TransformError", "to_cda", "to_fhir"]
