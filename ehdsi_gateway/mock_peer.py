"""A foreign NCP-A that runs here: ``passerelle gateway mock-peer --country CC --port N``.

Its patient index and documents come from a folder of eHDSI CDA documents (default
``../shared/ehdsi/samples``): every Patient Summary (L3 or L1) is served under the identifiers
of its ``recordTarget`` with the demographics of its header. It publishes its International
Search Mask (the identifier domains of its documents), verifies the assertions it receives
like a real peer (same responder code as France's, trusting the development CA of its
``--data-dir`` or its own peers registry), answers ITI-39 with MTOM/XOP, and has scenarios
chosen by patient identifier, in the domain ``2.999.1`` (an example OID arc):

==================  ==========================================================
``NOMATCH``         no patient (XCPD NF, ERROR_PI_NO_MATCH) - as any unknown id
``MULTI``           two patients match (ERROR_PI_MULTIPLE_MATCHES)
``NOPS``            a patient without a summary (ITI-38 ERROR_PS_NOT_FOUND)
``L1ONLY``          a summary given only as an L1 PDF
``NIERROR``         national infrastructure error (XCPD AE, ERROR_PI_GENERIC)
``SLOW``            answers after ``--slow-seconds`` (the initiator times out)
==================  ==========================================================
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from starlette.applications import Starlette
from starlette.routing import Mount

from .audit import FileAuditSink
from .errors import EhdsiError
from .identity import Demographics, PatientId, Traits
from .ism import IdentifierField, SearchMask
from .namespaces import FORMAT_PDF, FORMAT_PIVOT, PS_CLASS_CODE
from .responder import Guard, ReplayCache, ResponderConfig, create_responder
from .settings import GatewaySettings
from .xca import DocumentEntry, RetrievedDocument, sha1

log = logging.getLogger("passerelle.ehdsi.mock")
V3 = "urn:hl7-org:v3"
SCENARIO_DOMAIN = "2.999.1"
SCENARIOS = ("NOMATCH", "MULTI", "NOPS", "L1ONLY", "NIERROR", "SLOW")


def home_community_of(country: str) -> str:
    """A stable example home community id for a mock country (``2.999.<letters>.1000.990.1``)."""
    return f"2.999.{''.join(str(ord(c)) for c in country.upper())}.1000.990.1"


@dataclass
class SampleDocument:
    name: str
    data: bytes
    level: str  # L3 / L1
    patient_ids: list[PatientId]
    demographics: Demographics
    unique_id: str = ""
    created: str = ""
    language: str = ""


@dataclass
class Index:
    documents: dict[str, SampleDocument] = field(default_factory=dict)  # unique id -> document
    by_patient: dict[PatientId, list[SampleDocument]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _t(node: etree._Element | None) -> str | None:
    return " ".join("".join(node.itertext()).split()) or None if node is not None else None


def load_documents(folder: Path, repository_id: str) -> Index:
    """Every Patient Summary of ``folder`` with its patient (others are skipped, with the reason)."""
    index = Index()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    for path in sorted(folder.glob("*.xml")):
        data = path.read_bytes()
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            index.skipped.append((path.name, f"XML illisible ({exc.msg})"))
            continue
        if root.tag != f"{{{V3}}}ClinicalDocument" or root.find(f"{{{V3}}}code") is None:
            index.skipped.append((path.name, "pas un ClinicalDocument"))
            continue
        if root.find(f"{{{V3}}}code").get("code") != PS_CLASS_CODE:  # type: ignore[union-attr]
            index.skipped.append((path.name, "pas une synthèse médicale"))
            continue
        body = root.find(f"{{{V3}}}component")
        level = "L3" if body is not None and body.find(f"{{{V3}}}structuredBody") is not None else "L1"
        role = root.find(f"{{{V3}}}recordTarget/{{{V3}}}patientRole")
        ids = [
            PatientId(i.get("root", ""), i.get("extension", ""))
            for i in (role.iterfind(f"{{{V3}}}id") if role is not None else [])
            if i.get("root") and i.get("extension")
        ]
        if not ids:
            index.skipped.append((path.name, "recordTarget sans identifiant"))
            continue
        person = role.find(f"{{{V3}}}patient") if role is not None else None
        demo = Demographics(ids=ids)
        if person is not None:
            demo.family = [t for t in (_t(n) for n in person.iterfind(f"{{{V3}}}name/{{{V3}}}family")) if t]
            demo.given = [t for t in (_t(n) for n in person.iterfind(f"{{{V3}}}name/{{{V3}}}given")) if t]
            gender = person.find(f"{{{V3}}}administrativeGenderCode")
            demo.gender = (
                gender.get("code") if gender is not None and gender.get("code") in ("M", "F", "UN") else None
            )
            birth = person.find(f"{{{V3}}}birthTime")
            value = birth.get("value", "") if birth is not None else ""
            demo.birth_date = value[:8] if value[:8].isdigit() and len(value) >= 8 else None
        addr = role.find(f"{{{V3}}}addr") if role is not None else None
        if addr is not None:
            demo.city = _t(addr.find(f"{{{V3}}}city"))
            demo.country = _t(addr.find(f"{{{V3}}}country"))
            demo.postal_code = _t(addr.find(f"{{{V3}}}postalCode"))
            demo.street = _t(addr.find(f"{{{V3}}}streetAddressLine"))
        when = root.find(f"{{{V3}}}effectiveTime")
        lang = root.find(f"{{{V3}}}languageCode")
        doc = SampleDocument(
            name=path.name,
            data=data,
            level=level,
            patient_ids=ids,
            demographics=demo,
            unique_id=f"{repository_id}^{hashlib.sha1(data).hexdigest()[:24]}",
            created=(when.get("value", "") if when is not None else "")[:14],
            language=lang.get("code", "") if lang is not None else "",
        )
        index.documents[doc.unique_id] = doc
        for pid in ids:
            index.by_patient.setdefault(pid, []).append(doc)
    return index


class SampleConnector:
    """The mock national infrastructure: sample documents plus the scenario patients."""

    def __init__(self, index: Index, settings: GatewaySettings, *, slow_seconds: float = 30.0) -> None:
        self.index = index
        self.settings = settings
        self.slow_seconds = slow_seconds
        l1 = next((d for d in index.documents.values() if d.level == "L1"), None)
        self.l1_only = l1

    def _scenario_demo(self, ext: str, family: str = "Scenario") -> Demographics:
        return Demographics(
            [PatientId(SCENARIO_DOMAIN, ext)], [family], [ext.title()], "F", "19700101", city="Zagreb"
        )

    async def find_patients(self, traits: Traits) -> list[Demographics]:
        found: list[Demographics] = []
        for pid in traits.ids:
            if pid.root == SCENARIO_DOMAIN:
                ext = pid.extension.upper()
                if ext == "SLOW":
                    await asyncio.sleep(self.slow_seconds)
                    found.append(self._scenario_demo(ext))
                elif ext == "NIERROR":
                    raise EhdsiError(
                        "ERROR_PI_GENERIC", "national infrastructure unavailable (mock scenario)"
                    )
                elif ext == "MULTI":
                    found += [self._scenario_demo(ext, "Premier"), self._scenario_demo(ext, "Second")]
                elif ext in ("NOPS", "L1ONLY"):
                    found.append(self._scenario_demo(ext))
                continue
            docs = self.index.by_patient.get(pid) or []
            if docs:
                demo = docs[0].demographics
                if traits.birth_date and demo.birth_date and demo.birth_date[:8] != traits.birth_date[:8]:
                    continue
                found.append(demo)
        return found

    async def list_documents(self, patient: PatientId, class_codes: list[str]) -> list[DocumentEntry]:
        if class_codes and PS_CLASS_CODE not in class_codes:
            raise EhdsiError("ERROR_GENERIC_SERVICE_SIGNIFIER_UNKNOWN", f"classes servies : {PS_CLASS_CODE}")
        if patient.root == SCENARIO_DOMAIN:
            docs = [self.l1_only] if patient.extension.upper() == "L1ONLY" and self.l1_only else []
        else:
            docs = self.index.by_patient.get(patient) or []
        return [
            DocumentEntry(
                unique_id=d.unique_id,
                repository_id=self.settings.repository_id,
                home_community_id=self.settings.home_community_id,
                patient=patient,
                format_code=FORMAT_PIVOT if d.level == "L3" else FORMAT_PDF,
                title=d.name,
                creation_time=d.created or dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
                language=d.language or "en-GB",
                size=len(d.data),
                hash=sha1(d.data),
            )
            for d in docs
        ]

    async def retrieve(
        self, repository_id: str, unique_id: str
    ) -> tuple[list[PatientId], RetrievedDocument] | None:
        doc = self.index.documents.get(unique_id)
        if doc is None or repository_id != self.settings.repository_id:
            return None
        owners = list(doc.patient_ids)
        if doc is self.l1_only:
            owners.append(PatientId(SCENARIO_DOMAIN, "L1ONLY"))
        return owners, RetrievedDocument(
            self.settings.home_community_id, repository_id, unique_id, "text/xml", doc.data
        )


def search_mask(country: str, index: Index) -> SearchMask:
    domains = sorted({pid.root for pid in index.by_patient} | {SCENARIO_DOMAIN})
    fields = [
        IdentifierField(d, ".+", False, "label.ism.nationalPersonIdentifier", "nationalPersonIdentifier")
        for d in domains
    ]
    return SearchMask(country, fields, birth_date=False, gender=False)


def create_mock_app(
    country: str, documents: Path, data_dir: Path, *, slow_seconds: float = 30.0
) -> tuple[Starlette, Index]:
    settings = GatewaySettings(
        data_dir=data_dir,
        country=country.upper(),
        home_community_id=home_community_of(country),
        hcp_issuer=f"urn:idp:{country.upper()}:countryB",
        trc_issuer=f"urn:ehdsi:{country.upper()}:trc-sts",
        peers_file=data_dir / "ehdsi" / f"mock-{country.upper()}-peers.json",
    )
    index = load_documents(documents, settings.repository_id)
    connector = SampleConnector(index, settings, slow_seconds=slow_seconds)
    guard = Guard(settings.peers(), settings.dev_ca, settings.audiences, ReplayCache())
    config = ResponderConfig(
        home_community_id=settings.home_community_id,
        guard=guard,
        audit=FileAuditSink(data_dir / "ehdsi" / f"mock-{country.upper()}-audit.jsonl"),
        mtom=True,
        source=f"Mock NCP-A {country.upper()}",
        ism=search_mask(country.upper(), index).to_xml(),
    )
    responder = create_responder(config, connector)
    return Starlette(routes=[Mount("/ehdsi", app=responder)]), index
