"""Syntax and check-digit rules of code systems the index knows only in part.

For LOINC, SNOMED CT, ICD-10, ATC and UCUM the index holds the codes the MVC lists, not the
whole system, so "not in the index" does not mean "invalid". These rules tell a code that
cannot exist (bad check digit, wrong shape) from one that is merely not listed:

- LOINC: ``NNNNN-C`` with the mod-10 check digit of the LOINC users' guide (digits at odd
  positions from the right doubled, digit sum, complement to the next multiple of 10);
- SNOMED CT: the Verhoeff check digit of the SCTID, and a concept partition (``00``/``10``);
- ICD-10: a letter, two digits, optionally a dot and one or two characters;
- ATC: ``A``, ``A01``, ``A01A``, ``A01AA``, ``A01AA01``;
- UCUM: no decimal factor (``mg/2.5.ml`` reads as mg/2 x 5 x ml in UCUM, factors are integers).

:func:`invalid_reason` returns a French message, or None when the code may be valid.
"""

from __future__ import annotations

import re

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"

_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$")
_ATC = re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$")
_DECIMAL_FACTOR = re.compile(r"(^|[./(])\d+\.\d+(?=[./)]|$|[A-Za-z\[{])")

# Verhoeff tables (dihedral group D5 multiplication, permutation, inverse).
_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]  # fmt: skip
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]  # fmt: skip


def loinc_check_digit(number: str) -> int:
    """The LOINC mod-10 check digit of the digits before the hyphen (the Luhn algorithm)."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return (10 - total % 10) % 10


def loinc_valid(code: str) -> bool:
    match = _LOINC.match(code or "")
    return bool(match) and loinc_check_digit(match.group(1)) == int(match.group(2))


def verhoeff_valid(number: str) -> bool:
    check = 0
    for position, char in enumerate(reversed(number)):
        check = _D[check][_P[position % 8][int(char)]]
    return check == 0


def sctid_valid(code: str) -> bool:
    """A SNOMED CT concept id: 6 to 18 digits, no leading zero, concept partition, Verhoeff digit."""
    if not code.isdigit() or not 6 <= len(code) <= 18 or code[0] == "0":
        return False
    return code[-3:-1] in ("00", "10") and verhoeff_valid(code)


def invalid_reason(system: str, code: str) -> str | None:
    """Why ``code`` cannot be a code of ``system`` (French), or None if nothing proves it invalid."""
    if system == LOINC:
        match = _LOINC.match(code)
        if not match:
            return f"Code LOINC mal formé : {code} (attendu NNNNN-C)"
        expected = loinc_check_digit(match.group(1))
        if expected != int(match.group(2)):
            return f"Code LOINC invalide : {code}, chiffre de contrôle attendu {match.group(1)}-{expected}"
    elif system == SNOMED:
        if not sctid_valid(code):
            return f"Identifiant SNOMED CT invalide : {code} (format ou chiffre de contrôle de Verhoeff)"
    elif system == ICD10:
        if not _ICD10.match(code):
            return f"Code CIM-10 mal formé : {code} (attendu lettre, deux chiffres, éventuellement .x)"
    elif system == ATC:
        if not _ATC.match(code):
            return f"Code ATC mal formé : {code}"
    elif system == UCUM and _DECIMAL_FACTOR.search(code):
        return (
            f"Unité UCUM invalide : {code} (facteur décimal : UCUM n'admet que des facteurs entiers, "
            "« 2.5 » s'y lit 2 x 5)"
        )
    return None
