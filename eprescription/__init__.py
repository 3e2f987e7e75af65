"""E-prescription (ordonnance numérique): the pieces that need no database.

Used by the FHIR server's prescription operations (``fhir_server/operations/prescription_*``)
and by the portal; imports nothing from ``fhir_server`` or ``apps``.

- :mod:`.numbers` — prescription numbers (16 digits, ISO 7064 check digits), their system;
- :mod:`.model` — what a line of an ordonnance must say, how people read it, the signed content;
- :mod:`.narcotics` — stupéfiants (refused in teleconsultation);
- :mod:`.tokens` — the QR code's signed token and the pharmacy URL;
- :mod:`.pdf` — the ordonnance PDF.
"""

from eprescription.model import (
    NUMBER_ELEMENT,
    NUMBER_PARAM,
    REIMBURSABLE_URL,
    LineError,
    LineView,
    canonical,
    check_line,
    content_hash,
    line_view,
    number_of,
)
from eprescription.narcotics import narcotic_in
from eprescription.numbers import PRESCRIPTION_SYSTEM, display, is_valid, new_number, normalize
from eprescription.tokens import TokenError, pharmacy_url

__all__ = [
    "NUMBER_ELEMENT",
    "NUMBER_PARAM",
    "PRESCRIPTION_SYSTEM",
    "REIMBURSABLE_URL",
    "LineError",
    "LineView",
    "TokenError",
    "canonical",
    "check_line",
    "content_hash",
    "display",
    "is_valid",
    "line_view",
    "narcotic_in",
    "new_number",
    "normalize",
    "number_of",
    "pharmacy_url",
]
