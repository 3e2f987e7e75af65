"""FHIRPath expressions for pydantic error locations.

Why: pydantic locates an error by a tuple of JSON keys and list indexes, with a few
library artefacts (``root`` for custom types, ``resource_type``, Python-safe names such as
``class_fhir``, ``__ext`` fields); clients need the FHIRPath of the element
(``Patient.name[0].given[1]``). Primitive extensions (``_birthDate``) belong to their
primitive, so they map to ``birthDate``. Choice elements keep their typed JSON name
(``Observation.valueQuantity``), as the JSON the client sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*")
_LIBRARY_NAMES = {"resource_type": "resourceType"}


def fhir_name(part: str) -> str:
    """The FHIR element name behind a pydantic field name or alias."""
    if part in _LIBRARY_NAMES:
        return _LIBRARY_NAMES[part]
    if part.endswith("__ext"):
        part = part[: -len("__ext")]
    if part.endswith("_fhir"):  # fhir.resources renames Python keywords: class_fhir, import_fhir
        part = part[: -len("_fhir")]
    return part.lstrip("_") or part


def loc_to_expression(root: str, loc: Sequence[int | str], *, keep_last: bool = False) -> str:
    """``("name", 0, "given", 1)`` under ``Patient`` -> ``Patient.name[0].given[1]``.

    ``keep_last`` keeps the last key as sent (an unknown key is reported under its own name).
    """
    expression = root
    last = len(loc) - 1
    for position, part in enumerate(loc):
        if isinstance(part, int):
            expression += f"[{part}]"
        elif isinstance(part, str):
            if part == "root" or not _NAME.fullmatch(part):
                continue  # pydantic's own steps (custom-type roots, union tags)
            expression += "." + (part if keep_last and position == last else fhir_name(part))
    return expression


def choice_base(names: Sequence[str]) -> str | None:
    """``["deceasedBoolean", "deceasedDateTime"]`` -> ``"deceased"`` (the FHIRPath choice name)."""
    if not names:
        return None
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    while prefix and prefix[-1].isupper():  # "valueB" from valueBoolean/valueBase64Binary
        prefix = prefix[:-1]
    return prefix or None
