"""French identifier checks: NIR/INS (mod-97 key), RPPS and FINESS (Luhn).

Used by the login flow (RPPS from Pro Santé Connect) and by the API (INS on Patient):
a mistyped digit in a national identifier would attach data to the wrong person, and
these keys exist precisely to catch it. ADELI and N° AM have no published key
algorithm, so they only get a format check (see ``docs/france.md`` §2).
"""

from __future__ import annotations

import re

NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNATPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"

_NIR_RE = re.compile(r"[1-478]\d{4}(?:\d{2}|2A|2B)\d{8}")
_SEPARATORS = re.compile(r"[\s.\-]")


def normalise(value: str) -> str:
    """Upper-case without the spaces, dots and dashes people type in printed numbers."""
    return _SEPARATORS.sub("", value).upper()


def nir_key(body: str) -> int:
    """The two-digit key of a 13-character NIR/INS body: 97 − (n mod 97).

    Corsica's departments 2A and 2B are not digits: the key is computed with them
    replaced by 19 and 18 (the numbers the INSEE used before the split).
    """
    b = normalise(body)
    if len(b) != 13:
        raise ValueError("le corps d'un NIR compte 13 caractères")
    if b[5:7] == "2A":
        b = b[:5] + "19" + b[7:]
    elif b[5:7] == "2B":
        b = b[:5] + "18" + b[7:]
    if not b.isdigit():
        raise ValueError("NIR non numérique")
    return 97 - int(b) % 97


def is_nir(value: str) -> bool:
    """A NIR or INS matricule (NIR or NIA) with a correct key; separators are tolerated."""
    n = normalise(value)
    if not _NIR_RE.fullmatch(n):
        return False
    return nir_key(n[:13]) == int(n[13:])


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        x = int(ch) * (2 if i % 2 else 1)
        total += x - 9 if x > 9 else x
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit to append to ``body`` so that the whole passes Luhn (for test data and generators)."""
    for d in "0123456789":
        if luhn_ok(body + d):
            return d
    raise ValueError("corps non numérique")


def is_rpps(value: str) -> bool:
    """An RPPS number: 11 digits, Luhn (holds on every ANS sample, real and test)."""
    v = normalise(value)
    return len(v) == 11 and luhn_ok(v)


def is_finess(value: str) -> bool:
    """A FINESS number (EJ or ET): 9 digits, Luhn.

    Corsican FINESS numbers start with 2A/2B; no normative source gives their key
    rule, so they get a format check only.
    """
    v = normalise(value)
    if re.fullmatch(r"2[AB]\d{7}", v):
        return True
    return len(v) == 9 and luhn_ok(v)


def rpps_from_idnat(subject_name_id: str) -> str | None:
    """The RPPS inside a PSC ``SubjectNameID`` (idNat_PS = "8" + RPPS), or None for other prefixes."""
    v = subject_name_id.strip()
    if len(v) == 12 and v.startswith("8") and is_rpps(v[1:]):
        return v[1:]
    return None
