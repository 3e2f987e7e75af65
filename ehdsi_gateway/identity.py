"""Patient identifiers (``EXT^^^&ROOT&ISO``), identity traits and demographics exchanged over XCPD."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import EhdsiError

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_CX = re.compile(r"^(?P<ext>[^\^]+)\^\^\^&(?P<root>[0-9.]+)&ISO$")


@dataclass(frozen=True)
class PatientId:
    root: str  # assigning authority OID (identifier domain)
    extension: str

    @property
    def cx(self) -> str:
        """The eHDSI / XDS form ``EXT^^^&ROOT&ISO``."""
        return f"{self.extension}^^^&{self.root}&ISO"

    @classmethod
    def parse(cls, value: str, default_root: str | None = None) -> PatientId:
        """``EXT^^^&ROOT&ISO``, or a bare extension in ``default_root``'s domain."""
        value = value.strip().strip("'")
        match = _CX.match(value)
        if match:
            root, ext = match["root"], match["ext"]
        elif "^" not in value and "&" not in value and value and default_root:
            root, ext = default_root, value
        else:
            raise EhdsiError("ERROR_INVALID_TRAITS", f"identifiant patient illisible : « {value} »")
        if not _OID.match(root):
            raise EhdsiError("ERROR_INVALID_TRAITS", f"domaine d'identifiant qui n'est pas un OID : {root}")
        return cls(root, ext)


@dataclass
class Traits:
    """What NCP-B asks with (``livingSubject*`` parameters of ITI-55)."""

    ids: list[PatientId]
    birth_date: str | None = None  # YYYYMMDD (HL7 TS)
    gender: str | None = None  # M, F, UN
    family: str | None = None
    given: str | None = None
    country: str | None = None


@dataclass
class Demographics:
    """One matched patient, as a responding gateway returns it."""

    ids: list[PatientId]
    family: list[str] = field(default_factory=list)
    given: list[str] = field(default_factory=list)
    gender: str | None = None
    birth_date: str | None = None
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @property
    def display_name(self) -> str:
        return " ".join([*self.given, *(f.upper() for f in self.family)]).strip()


def hl7_date(value: str | None) -> str | None:
    """``1985-04-12`` or ``19850412`` -> ``19850412``; anything else is refused."""
    if not value:
        return None
    digits = value.replace("-", "").strip()
    if not re.fullmatch(r"\d{4}(\d{2}(\d{2})?)?", digits):
        raise EhdsiError("ERROR_INVALID_TRAITS", f"date de naissance invalide : « {value} » (AAAA-MM-JJ)")
    return digits


def fhir_date(value: str | None) -> str | None:
    if not value or len(value) < 4:
        return None
    parts = [value[:4], value[4:6], value[6:8]]
    return "-".join(p for p in parts if p)
