"""Prescription numbers: 14 random digits and 2 ISO 7064 MOD 97-10 check digits.

The CNAM numbering of the "ordonnance numérique" is not public (docs/france.md §3.4), so
Passerelle issues its own, in the way gematik's PrescriptionID and the IBAN do: the check
digits catch a mistyped number at the pharmacy counter (every single-digit error and every
transposition of adjacent digits). The number is not a secret: the QR code's signed token
is what proves a scanned ordonnance is genuine (:mod:`.tokens`).
"""

from __future__ import annotations

import re
import secrets

# The identifier system (NamingSystem) of the ordonnances this server issues and signs.
PRESCRIPTION_SYSTEM = "urn:passerelle:ordonnance"
_DIGITS = 14
_SEPARATORS = re.compile(r"[\s.\-]")
_FORMAT = re.compile(r"^\d{16}$")


def _check_digits(body: str) -> str:
    """ISO 7064 MOD 97-10: the two digits that make ``body + cc`` ≡ 1 (mod 97)."""
    return f"{98 - (int(body) * 100) % 97:02d}"


def new_number() -> str:
    """A fresh prescription number (16 digits)."""
    body = f"{secrets.randbelow(9 * 10 ** (_DIGITS - 1)) + 10 ** (_DIGITS - 1)}"
    return body + _check_digits(body)


def normalize(raw: str) -> str:
    """A number as typed (spaces, dots or dashes between groups allowed) in its 16-digit form."""
    return _SEPARATORS.sub("", raw or "")


def is_valid(number: str) -> bool:
    """Whether ``number`` (normalised) has the format and its check digits agree."""
    return bool(_FORMAT.match(number)) and int(number) % 97 == 1


def display(number: str) -> str:
    """``1234 5678 9012 3456``: how the number is printed and shown."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
