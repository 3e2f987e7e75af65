"""International Search Masks (``ehdsi-ism-2023.xsd``): read, write, and check identity traits.

A peer publishes which identity traits it needs (identifier domains with their regex and
mandatory flag, birth date, gender, name/address text fields); NCP-B checks the professional's
input against it *before* anything leaves France, with a French message per problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from . import xmlsafe
from .errors import EhdsiError
from .identity import PatientId, Traits
from .namespaces import ISM


@dataclass
class IdentifierField:
    domain: str
    format: str = ".+"
    mandatory: bool = True
    label: str = "label.ism.nationalPersonIdentifier"
    description: str = "nationalPersonIdentifier"


@dataclass
class SearchMask:
    country: str
    identifiers: list[IdentifierField]
    birth_date: bool | None = None  # None: not asked; True: mandatory; False: optional
    gender: bool | None = None
    text_fields: dict[str, bool] = field(default_factory=dict)  # label.ism.familyName -> mandatory

    @property
    def default_domain(self) -> str | None:
        return self.identifiers[0].domain if self.identifiers else None

    def check(self, traits: Traits) -> None:
        """Refuse traits that this mask does not accept (French message listing every problem)."""
        problems = []
        by_domain = {f.domain: f for f in self.identifiers}
        for pid in traits.ids:
            spec = by_domain.get(pid.root)
            if spec is None:
                known = ", ".join(by_domain) or "aucun"
                problems.append(f"domaine d'identifiant {pid.root} inconnu de ce pays (attendu : {known})")
            elif not re.fullmatch(spec.format, pid.extension):
                problems.append(
                    f"l'identifiant « {pid.extension} » n'a pas le format attendu ({spec.format})"
                )
        given_domains = {p.root for p in traits.ids}
        for spec in self.identifiers:
            if spec.mandatory and spec.domain not in given_domains and len(self.identifiers) == 1:
                problems.append(f"identifiant du domaine {spec.domain} obligatoire")
        if not traits.ids:
            problems.append("au moins un identifiant du patient est obligatoire")
        if self.birth_date and not traits.birth_date:
            problems.append("date de naissance obligatoire pour ce pays")
        if self.gender and not traits.gender:
            problems.append("sexe obligatoire pour ce pays")
        if self.text_fields.get("label.ism.familyName") and not traits.family:
            problems.append("nom de famille obligatoire pour ce pays")
        if self.text_fields.get("label.ism.firstName") and not traits.given:
            problems.append("prénom obligatoire pour ce pays")
        if problems:
            raise EhdsiError("ERROR_INVALID_TRAITS", " ; ".join(problems))

    def patient_id(self, value: str) -> PatientId:
        return PatientId.parse(value, self.default_domain)

    def to_xml(self) -> bytes:
        root = etree.Element(f"{{{ISM}}}searchFields", nsmap={"ism": ISM})
        country = etree.SubElement(
            root, f"{{{ISM}}}country", code=self.country, label="label.ism.addressCountry"
        )
        search = etree.SubElement(
            country, f"{{{ISM}}}patientSearch", friendlyName="Patient Identity Trait", scope="ALL"
        )
        ident = etree.SubElement(
            search, f"{{{ISM}}}identifier", type="NORMAL" if len(self.identifiers) < 2 else "CHOICE"
        )
        for spec in self.identifiers:
            etree.SubElement(
                ident,
                f"{{{ISM}}}id",
                contextualDescription=spec.description,
                domain=spec.domain,
                format=spec.format,
                label=spec.label,
                mandatory="true" if spec.mandatory else "false",
            )
        for label, mandatory in self.text_fields.items():
            node = etree.SubElement(search, f"{{{ISM}}}textField", label=label, format=".+")
            node.set("contextualDescription", label.split(".")[-1])
            node.set("mandatory", "true" if mandatory else "false")
        if self.birth_date is not None:
            etree.SubElement(
                search, f"{{{ISM}}}birthDate", label="label.ism.birthDate", format="yyyy-MM-dd",
                contextualDescription="birthDate", mandatory="true" if self.birth_date else "false",
            )  # fmt: skip
        if self.gender is not None:
            etree.SubElement(
                search, f"{{{ISM}}}gender", label="label.ism.gender", format="M|F|UN",
                contextualDescription="gender", mandatory="true" if self.gender else "false",
            )  # fmt: skip
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    @classmethod
    def from_xml(cls, data: bytes) -> SearchMask:
        root = xmlsafe.parse(data, limit=1024 * 1024, what="masque de recherche")
        country = root.find(f"{{{ISM}}}country")
        if root.tag != f"{{{ISM}}}searchFields" or country is None:
            raise EhdsiError("ERROR_INVALID_MESSAGE", "masque de recherche ISM illisible")
        search = country.find(f"{{{ISM}}}patientSearch")
        ids = []
        for node in country.iterfind(f".//{{{ISM}}}patientSearch/{{{ISM}}}identifier//{{{ISM}}}id"):
            ids.append(
                IdentifierField(
                    domain=node.get("domain", ""),
                    format=node.get("format", ".+"),
                    mandatory=node.get("mandatory", "false") == "true",
                    label=node.get("label", ""),
                    description=node.get("contextualDescription", ""),
                )
            )

        def flag(tag: str) -> bool | None:
            node = search.find(f"{{{ISM}}}{tag}") if search is not None else None
            return None if node is None else node.get("mandatory", "false") == "true"

        texts = {
            n.get("label", ""): n.get("mandatory", "false") == "true"
            for n in (search.iterfind(f"{{{ISM}}}textField") if search is not None else [])
        }
        return cls(country.get("code", ""), ids, flag("birthDate"), flag("gender"), texts)
