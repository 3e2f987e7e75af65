"""The eHDSI PS header: document identity, recordTarget, author, custodian, legalAuthenticator,
contacts (guardians and other IND participants)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from . import oids
from .datatypes import addresses, coded, ii, person_names, telecoms, ts
from .inputs import Entry, PatientData
from .refusals import refuse
from .sections_spec import EHDSI, PS_DOCUMENT_CODE
from .xmlns import Element, el, template_ids

GENDER = {"male": ("M", "Male"), "female": ("F", "Female"), "other": ("UN", "Undifferentiated")}
CONFIDENTIALITY = {
    "N": "normal",
    "R": "restricted",
    "V": "very restricted",
    "L": "low",
    "M": "moderate",
    "U": "unrestricted",
}
ROLE_CODE_URI = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONTACT_CLASS = {"N": "NOK", "C": "ECON", "E": "ECON"}


def document_time(data: PatientData) -> str:
    comp = data.composition.resource if data.composition else {}
    return comp.get("date") or data.bundle.get("timestamp") or datetime.now(UTC).isoformat(timespec="seconds")


def _time_path(data: PatientData) -> str:
    if data.composition and data.composition.resource.get("date"):
        return f"{data.composition.path}.date"
    return "Bundle.timestamp"


def build(doc: Element, data: PatientData) -> None:
    comp = data.composition.resource if data.composition else {}
    el(doc, "realmCode", {"code": "FR"})
    el(doc, "typeId", {"root": "2.16.840.1.113883.1.3", "extension": "POCD_HD000040"})
    template_ids(doc, f"{EHDSI}.1.3", "1.3.6.1.4.1.19376.1.5.3.1.1.1")
    # the pivot is a new document, derived from (relatedDocument XFRM) the French source
    el(
        doc,
        "id",
        {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, f"passerelle-ps:{_source_seed(data)}")).upper()},
    )
    el(
        doc,
        "code",
        {
            "code": PS_DOCUMENT_CODE,
            "codeSystem": oids.LOINC,
            "codeSystemName": "LOINC",
            "displayName": "Patient summary Document",
        },
    )
    el(doc, "title", text=comp.get("title") or "Résumé patient")
    when = document_time(data)
    el(doc, "effectiveTime", {"value": ts(when, _time_path(data))})
    confidentiality = comp.get("confidentiality") or "N"
    el(
        doc,
        "confidentialityCode",
        {
            "code": confidentiality,
            "codeSystem": oids.CONFIDENTIALITY,
            "codeSystemName": "Confidentiality",
            "displayName": CONFIDENTIALITY.get(confidentiality),
        },
    )
    el(doc, "languageCode", {"code": comp.get("language") or data.bundle.get("language") or "fr-FR"})
    _record_target(doc, data)
    author = _author_entry(data)
    _author(doc, data, author, when)
    _custodian(doc, data, author)
    _legal_authenticator(doc, data, author, when)
    _participants(doc, data, author)
    _documentation_of(doc, data, author, when)
    _related_document(doc, data)


def _source_seed(data: PatientData) -> str:
    return str(data.bundle.get("id") or (data.composition or data.patient).full_url)


def _related_document(doc: Element, data: PatientData) -> None:
    """relatedDocument XFRM: the pivot is a transformation of the national (FHIR) document."""
    parent = el(el(doc, "relatedDocument", {"typeCode": "XFRM"}), "parentDocument")
    comp = data.composition.resource if data.composition else {}
    if ii(parent, comp.get("identifier")) is None and ii(parent, data.bundle.get("identifier")) is None:
        el(
            parent,
            "id",
            {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, f"source:{_source_seed(data)}")).upper()},
        )


def _documentation_of(doc: Element, data: PatientData, author: Entry | None, when: str) -> None:
    """documentationOf/serviceEvent PCPR (required by the eHDSI PS header): the care provision
    summarised, up to the document time, performed by the author when the author is a person."""
    event = el(
        el(doc, "documentationOf", {"typeCode": "DOC"}),
        "serviceEvent",
        {"classCode": "PCPR", "moodCode": "EVN"},
    )
    time = el(event, "effectiveTime")
    el(time, "low", {"nullFlavor": "UNK"})
    el(time, "high", {"value": ts(when, _time_path(data))})
    role, person, _org = _role_parts(data, author)
    if person is None:
        return
    performer = el(event, "performer", {"typeCode": "PRF"})
    isco = _isco_role(role)
    if isco is not None:
        coded(performer, "functionCode", {"coding": [isco[0]]}, isco[1])
    _assigned(performer, "assignedEntity", data, author, with_code=False)


def _record_target(doc: Element, data: PatientData) -> None:
    patient, path = data.patient.resource, data.patient.path
    role = el(el(doc, "recordTarget"), "patientRole")
    written = [ii(role, identifier) for identifier in patient.get("identifier") or []]
    if not any(node is not None for node in written):
        refuse(
            "Le Patient n'a aucun identifiant dont le system est un OID "
            "(ex. INS urn:oid:1.2.250.1.213.1.4.8) ; "
            "une synthèse patient eHDSI ne peut pas identifier le patient",
            f"{path}.identifier",
            "required",
        )
    addresses(role, patient.get("address"), required=True)
    telecoms(role, patient.get("telecom"), required=True)
    person = el(role, "patient")
    person_names(person, patient.get("name"))
    gender = GENDER.get(patient.get("gender", ""))
    if gender:
        el(
            person,
            "administrativeGenderCode",
            {
                "code": gender[0],
                "codeSystem": oids.ADMINISTRATIVE_GENDER,
                "codeSystemName": "AdministrativeGender",
                "displayName": gender[1],
            },
        )
    else:
        el(person, "administrativeGenderCode", {"nullFlavor": "UNK"})
    if patient.get("birthDate"):
        el(person, "birthTime", {"value": ts(patient["birthDate"], f"{path}.birthDate")})
    else:
        el(person, "birthTime", {"nullFlavor": "UNK"})
    for c_index, contact in enumerate(patient.get("contact") or []):
        if _is_guardian(contact):
            guardian = el(person, "guardian", {"classCode": "GUARD"})
            template_ids(guardian, "1.3.6.1.4.1.19376.1.5.3.1.2.4")
            _relationship_code(guardian, contact, f"{path}.contact[{c_index}]")
            addresses(guardian, [contact["address"]] if contact.get("address") else [])
            telecoms(guardian, contact.get("telecom"))
            person_names(el(guardian, "guardianPerson"), [contact["name"]] if contact.get("name") else [])
    for language in patient.get("communication") or []:
        code = next((c.get("code") for c in (language.get("language") or {}).get("coding") or []), None)
        if code:
            el(el(person, "languageCommunication"), "languageCode", {"code": code})


def _is_guardian(contact: dict[str, Any]) -> bool:
    return any(
        c.get("code") == "GUARD" for r in contact.get("relationship") or [] for c in r.get("coding") or []
    )


def _relationship_code(parent: Element, contact: dict[str, Any], path: str) -> None:
    """The eHDSIPersonalRelationship code (v3 RoleCode) of a contact, when it has one."""
    for r_index, relationship in enumerate(contact.get("relationship") or []):
        for coding in relationship.get("coding") or []:
            if coding.get("system") == ROLE_CODE_URI:
                coded(parent, "code", {"coding": [coding]}, f"{path}.relationship[{r_index}]")
                return


def _participants(doc: Element, data: PatientData, author: Entry | None) -> None:
    """Contacts (IND, 1.3.6.1.4.1.19376.1.5.3.1.2.4), at least one as eHDSI requires: the
    patient's contacts, else the general practitioner or the author as preferred HP (PCP)."""
    patient, path = data.patient.resource, data.patient.path
    written = 0
    for c_index, contact in enumerate(patient.get("contact") or []):
        if _is_guardian(contact):
            continue
        codes = {c.get("code") for r in contact.get("relationship") or [] for c in r.get("coding") or []}
        class_code = next((CONTACT_CLASS[c] for c in codes if c in CONTACT_CLASS), "PRS")
        participant = el(doc, "participant", {"typeCode": "IND"})
        template_ids(participant, "1.3.6.1.4.1.19376.1.5.3.1.2.4")
        entity = el(participant, "associatedEntity", {"classCode": class_code})
        _relationship_code(entity, contact, f"{path}.contact[{c_index}]")
        addresses(entity, [contact["address"]] if contact.get("address") else [])
        telecoms(entity, contact.get("telecom"))
        person_names(el(entity, "associatedPerson"), [contact["name"]] if contact.get("name") else [])
        written += 1
    if written:
        return
    preferred = author
    for g_index, reference in enumerate(patient.get("generalPractitioner") or []):
        preferred = data.resolve(reference, f"{path}.generalPractitioner[{g_index}]") or preferred
        break
    role, person, org = _role_parts(data, preferred)
    participant = el(doc, "participant", {"typeCode": "IND"})
    template_ids(participant, "1.3.6.1.4.1.19376.1.5.3.1.2.4")
    el(
        participant,
        "functionCode",
        {
            "code": "PCP",
            "codeSystem": oids.PARTICIPATION_FUNCTION,
            "codeSystemName": "ParticipationFunction",
            "displayName": "primary care physician",
        },
    )
    entity = el(participant, "associatedEntity", {"classCode": "PRS"})
    source = person or org
    addresses(
        entity,
        (role.resource.get("address") if role else None)
        or (source.resource.get("address") if source else None),
    )
    telecoms(
        entity,
        (role.resource.get("telecom") if role else None)
        or (source.resource.get("telecom") if source else None),
    )
    person_names(el(entity, "associatedPerson"), person.resource.get("name") if person else None)
    if org is not None:
        _organization(entity, "scopingOrganization", org)


def _author_entry(data: PatientData) -> Entry | None:
    """Composition.author[0], else the first PractitionerRole/Practitioner/Organization in the Bundle."""
    if data.composition:
        for a_index, reference in enumerate(data.composition.resource.get("author") or []):
            found = data.resolve(reference, f"{data.composition.path}.author[{a_index}]")
            if found is not None:
                return found
    for kind in ("PractitionerRole", "Practitioner"):
        found_all = data.of_type(kind)
        if found_all:
            return found_all[0]
    return None


def _role_parts(data: PatientData, entry: Entry | None) -> tuple[Entry | None, Entry | None, Entry | None]:
    """(PractitionerRole, Practitioner, Organization) behind an author reference."""
    if entry is None:
        return None, None, None
    if entry.type == "PractitionerRole":
        person = data.resolve(entry.resource.get("practitioner"), f"{entry.path}.practitioner")
        org = data.resolve(entry.resource.get("organization"), f"{entry.path}.organization")
        return entry, person, org
    if entry.type == "Practitioner":
        return None, entry, None
    if entry.type == "Organization":
        return None, None, entry
    return None, None, None


def _organization(parent: Element, tag: str, org: Entry) -> Element:
    node = el(parent, tag, {"classCode": "ORG", "determinerCode": "INSTANCE"})
    written = [ii(node, identifier) for identifier in org.resource.get("identifier") or []]
    if not any(w is not None for w in written):
        el(node, "id", {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, org.full_url)).upper()})
    name = org.resource.get("name")
    el(node, "name", None if name else {"nullFlavor": "UNK"}, text=name)
    telecoms(node, org.resource.get("telecom"))
    addresses(node, org.resource.get("address"))
    return node


def _entity_ids(parent: Element, *entries: Entry | None) -> None:
    written = False
    for entry in entries:
        for identifier in (entry.resource.get("identifier") if entry else None) or []:
            written = ii(parent, identifier) is not None or written
    if not written:
        seed = next((e.full_url for e in entries if e is not None), "urn:passerelle:authoring-software")
        el(parent, "id", {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, seed)).upper()})


def _assigned(
    parent: Element, tag: str, data: PatientData, author: Entry | None, *, with_code: bool
) -> Element:
    role, person, org = _role_parts(data, author)
    assigned = el(parent, tag)
    _entity_ids(assigned, person or org or role)
    isco = _isco_role(role) if with_code else None
    if isco is not None:
        coded(assigned, "code", {"coding": [isco[0]]}, isco[1])
    source = person or org
    addresses(
        assigned,
        (role.resource.get("address") if role else None)
        or (source.resource.get("address") if source else None),
        required=True,
    )
    telecoms(
        assigned,
        (role.resource.get("telecom") if role else None)
        or (source.resource.get("telecom") if source else None),
        required=True,
    )
    if person is not None:
        person_names(el(assigned, "assignedPerson"), person.resource.get("name"))
    elif tag == "assignedAuthor":
        el(el(assigned, "assignedAuthoringDevice"), "softwareName", text="Passerelle")
    if org is not None:
        _organization(assigned, "representedOrganization", org)
    return assigned


ISCO_URIS = {f"urn:oid:{oids.ISCO08}"}


def _isco_role(role: Entry | None) -> tuple[dict[str, Any], str] | None:
    """The ISCO-08 coding of a PractitionerRole (eHDSIHealthcareProfessionalRole), with its path.

    ``assignedAuthor/code`` only takes ISCO-08; national profession codes (e.g. the French
    TRE_G15 ProfessionSante) describe the author, not the patient, and are not written.
    """
    if role is None:
        return None
    for c_index, concept in enumerate(role.resource.get("code") or []):
        for k_index, coding in enumerate(concept.get("coding") or []):
            if coding.get("system") in ISCO_URIS:
                return coding, f"{role.path}.code[{c_index}].coding[{k_index}]"
    return None


def _author(doc: Element, data: PatientData, author: Entry | None, when: str) -> None:
    node = el(doc, "author")
    el(node, "time", {"value": ts(when, _time_path(data))})
    _assigned(node, "assignedAuthor", data, author, with_code=True)


def _custodian(doc: Element, data: PatientData, author: Entry | None) -> None:
    org: Entry | None = None
    if data.composition and data.composition.resource.get("custodian"):
        org = data.resolve(data.composition.resource["custodian"], f"{data.composition.path}.custodian")
    org = org or _role_parts(data, author)[2]
    if org is None and data.patient.resource.get("managingOrganization"):
        org = data.resolve(
            data.patient.resource["managingOrganization"], f"{data.patient.path}.managingOrganization"
        )
    orgs = data.of_type("Organization")
    org = org or (orgs[0] if orgs else None)
    assigned = el(el(doc, "custodian"), "assignedCustodian")
    if org is not None and org.type == "Organization":
        _organization(assigned, "representedCustodianOrganization", org)
    else:
        node = el(
            assigned, "representedCustodianOrganization", {"classCode": "ORG", "determinerCode": "INSTANCE"}
        )
        el(node, "id", {"nullFlavor": "NI"})
        el(node, "name", {"nullFlavor": "NI"})


def _legal_authenticator(doc: Element, data: PatientData, author: Entry | None, when: str) -> None:
    signer, time, time_path = author, when, _time_path(data)
    if data.composition:
        for a_index, attester in enumerate(data.composition.resource.get("attester") or []):
            if attester.get("mode") == "legal" and attester.get("party"):
                base = f"{data.composition.path}.attester[{a_index}]"
                signer = data.resolve(attester["party"], f"{base}.party")
                if attester.get("time"):
                    time, time_path = attester["time"], f"{base}.time"
                break
    _role, person, _org = _role_parts(data, signer)
    node = el(doc, "legalAuthenticator")
    el(node, "time", {"value": ts(time, time_path)})
    if person is None:
        # required by eHDSI, but only a person signs: say that nobody is known to have signed
        el(node, "signatureCode", {"nullFlavor": "NI"})
        entity = el(node, "assignedEntity")
        el(entity, "id", {"nullFlavor": "NI"})
        return
    el(node, "signatureCode", {"code": "S"})
    _assigned(node, "assignedEntity", data, signer, with_code=False)
