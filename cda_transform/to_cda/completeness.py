"""The last check before a CDA leaves: every code of every carried statement is in it.

The builders place each coding where the eHDSI templates want it; this module verifies the
result instead of trusting them, so that an element no builder handles (say a new optional
CodeableConcept) becomes a clear refusal with its FHIRPath, never a silent loss. The few
codings deliberately not carried are listed in ``NOT_CARRIED`` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from ..errors import TransformError
from . import oids
from .datatypes import unidentified_text
from .inputs import Entry, PatientData
from .xmlns import Element

#: FHIRPath patterns (indexes removed) of codings with no place in a pivot CDA
NOT_CARRIED: Final = (
    # expressed by the section the observation is in (members contained in a panel too)
    re.compile(r"^Observation\.(contained\.)?category\."),
    re.compile(r"\.doseAndRate\.type\."),  # calculated vs ordered dose: no CDA element
)
#: subtrees that are not clinical content of the statement
SKIPPED_KEYS: Final = {"meta", "extension", "text"}
UCUM: Final = "http://unitsofmeasure.org"  # quantity units go to PQ/@unit, not to codes


def _codings(node: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    if isinstance(node, dict):
        coding = "system" in node or ("display" in node and "value" not in node)
        if coding and isinstance(node.get("code"), str) and "resourceType" not in node:
            yield node, path
        for key, value in node.items():
            if key not in SKIPPED_KEYS:
                yield from _codings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _codings(value, f"{path}[{index}]")


def _carried(data: PatientData) -> list[Entry]:
    """Statements placed in sections, with what they contain or point to (members, product, device)."""
    seen: dict[int, Entry] = {}
    todo = [entry for section in data.sections.values() for entry in section.entries]
    while todo:
        entry = todo.pop()
        if id(entry) in seen:
            continue
        seen[id(entry)] = entry
        res = entry.resource
        refs = [*(res.get("hasMember") or []), res.get("medicationReference"), res.get("device")]
        refs += [i.get("itemReference") for i in res.get("ingredient") or []]
        for reference in refs:
            target = data.resolve(reference, entry.path) if reference else None
            if target is not None:
                todo.append(target)
    return list(seen.values())


def check(data: PatientData, root: Element) -> None:
    written = {
        (n.get("codeSystem"), n.get("code")) for n in root.iter() if n.get("code") and n.get("codeSystem")
    }
    original_texts = " ".join(
        n.text or "" for n in root.iter() if isinstance(n.tag, str) and n.tag.endswith("}originalText")
    )
    for entry in _carried(data):
        for coding, path in _codings(entry.resource, entry.path):
            if coding.get("system") == UCUM:
                continue
            if not coding.get("system"):  # carried as nullFlavor OTH + originalText (datatypes.coded)
                said = unidentified_text(coding)
                if said and said not in original_texts:
                    raise TransformError(
                        f"Le codage sans system « {said} » n'a pas de place dans le CDA eHDSI produit ; "
                        "il n'est pas abandonné en silence",
                        code="not-supported",
                        expression=path,
                    )
                continue
            generic = re.sub(r"\[\d+\]", "", path.removeprefix(f"{entry.path}."))
            if any(p.search(f"{entry.type}.{generic}") for p in NOT_CARRIED):
                continue
            mapped = oids.code_system(str(coding.get("system")))
            if mapped is None or (mapped[0], str(coding.get("code"))) not in written:
                raise TransformError(
                    f"Le codage {coding.get('system')}|{coding.get('code')} n'a pas de place dans le CDA "
                    "eHDSI produit ; il n'est pas abandonné en silence",
                    code="not-supported",
                    expression=path,
                )
