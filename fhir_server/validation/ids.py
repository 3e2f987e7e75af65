"""The R4 ``id`` datatype rule, shared by resource ids and reference checks."""

from __future__ import annotations

import re
from typing import Any

from fhir_server.validation.issues import Issue, error, short

ID_PATTERN = r"[A-Za-z0-9\-\.]{1,64}"
ID_RE = re.compile(ID_PATTERN)


def is_valid_id(value: object) -> bool:
    """R4 ``id``: 1 to 64 of ``A-Z a-z 0-9 - .`` (https://hl7.org/fhir/R4/datatypes.html#id)."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def bad_id(value: Any, expression: str) -> Issue:
    """The issue for a resource id that breaks the rule."""
    return error(
        "value",
        f"Invalid id {short(value)}. "
        "Identifiant invalide : 1 à 64 caractères parmi A-Z, a-z, 0-9, '-' et '.'.",
        expression,
    )
