"""XCPD ITI-55 messages: ``PRPA_IN201305UV02`` (query) and ``PRPA_IN201306UV02`` (response).

Built and read for both roles (IHE ITI TF-2b 3.55, eHDSI XCPD profile); error codes travel in
``reasonOf/detectedIssueEvent/mitigatedBy/detectedIssueManagement/code`` as OpenNCP does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from lxml import etree

from .errors import EhdsiError
from .identity import Demographics, PatientId, Traits
from .namespaces import HL7, XSI

#: code system of the eHDSI error codes in DetectedIssueManagement (OpenNCP)
ERROR_CODE_SYSTEM = "1.3.6.1.4.1.12559.11.10.1.3.2.2.1"
INTERACTION_ROOT = "2.16.840.1.113883.1.6"


def _e(parent: etree._Element | None, tag: str, **attrs: str) -> etree._Element:
    qname = f"{{{HL7}}}{tag}"
    node = etree.Element(qname, nsmap={None: HL7}) if parent is None else etree.SubElement(parent, qname)
    for key, value in attrs.items():
        node.set(key.rstrip("_"), value)
    return node


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


def _device(parent: etree._Element, tag: str, type_code: str, oid: str) -> None:
    holder = _e(parent, tag, typeCode=type_code)
    device = _e(holder, "device", classCode="DEV", determinerCode="INSTANCE")
    _e(device, "id", root=oid)
    agent = _e(device, "asAgent", classCode="AGNT")
    org = _e(agent, "representedOrganization", classCode="ORG", determinerCode="INSTANCE")
    _e(org, "id", root=oid)


def _header(root: etree._Element, interaction: str, sender: str, receiver: str) -> None:
    _e(root, "id", root=str(uuid.uuid4()))
    _e(root, "creationTime", value=_now())
    _e(root, "interactionId", root=INTERACTION_ROOT, extension=interaction)
    _e(root, "processingCode", code="P")
    _e(root, "processingModeCode", code="T")


def build_request(traits: Traits, *, sender: str, receiver: str) -> etree._Element:
    """The query of an initiating gateway (``sender``/``receiver``: home community OIDs)."""
    root = _e(None, "PRPA_IN201305UV02", ITSVersion="XML_1.0")
    _header(root, "PRPA_IN201305UV02", sender, receiver)
    _e(root, "acceptAckCode", code="AL")
    _device(root, "receiver", "RCV", receiver)
    _device(root, "sender", "SND", sender)
    cap = _e(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    _e(cap, "code", code="PRPA_TE201305UV02", codeSystem=INTERACTION_ROOT)
    author = _e(cap, "authorOrPerformer", typeCode="AUT")
    _e(author, "assignedPerson", classCode="ASSIGNED")
    query = _e(cap, "queryByParameter")
    _e(query, "queryId", root=str(uuid.uuid4()))
    _e(query, "statusCode", code="new")
    _e(query, "responseModalityCode", code="R")
    _e(query, "responsePriorityCode", code="I")
    params = _e(query, "parameterList")
    if traits.gender:
        g = _e(params, "livingSubjectAdministrativeGender")
        _e(g, "value", code=traits.gender, codeSystem="2.16.840.1.113883.5.1")
        _e(g, "semanticsText").text = "LivingSubject.administrativeGender"
    if traits.birth_date:
        b = _e(params, "livingSubjectBirthTime")
        _e(b, "value", value=traits.birth_date)
        _e(b, "semanticsText").text = "LivingSubject.birthTime"
    for pid in traits.ids:
        s = _e(params, "livingSubjectId")
        _e(s, "value", root=pid.root, extension=pid.extension)
        _e(s, "semanticsText").text = "LivingSubject.id"
    if traits.family or traits.given:
        n = _e(params, "livingSubjectName")
        value = _e(n, "value")
        if traits.given:
            _e(value, "given").text = traits.given
        if traits.family:
            _e(value, "family").text = traits.family
        _e(n, "semanticsText").text = "LivingSubject.name"
    if traits.country:
        a = _e(params, "patientAddress")
        _e(_e(a, "value"), "country").text = traits.country
        _e(a, "semanticsText").text = "Patient.addr"
    return root


def _find(node: etree._Element, path: str) -> etree._Element | None:
    return node.find(path.replace("h:", f"{{{HL7}}}"))


def _all(node: etree._Element, path: str) -> list[etree._Element]:
    return node.findall(path.replace("h:", f"{{{HL7}}}"))


def parse_request(root: etree._Element) -> Traits:
    if root.tag != f"{{{HL7}}}PRPA_IN201305UV02":
        raise EhdsiError("ERROR_INVALID_MESSAGE", f"message XCPD attendu, reçu {etree.QName(root).localname}")
    params = _find(root, "h:controlActProcess/h:queryByParameter/h:parameterList")
    if params is None:
        raise EhdsiError("ERROR_PI_GENERIC", "queryByParameter/parameterList absent")
    ids = []
    for value in _all(params, "h:livingSubjectId/h:value"):
        if value.get("root") and value.get("extension"):
            ids.append(PatientId(value.get("root", ""), value.get("extension", "")))
    if not ids:
        raise EhdsiError(
            "ERROR_PI_GENERIC", "aucun livingSubjectId : l'identifiant du patient est obligatoire"
        )
    birth = _find(params, "h:livingSubjectBirthTime/h:value")
    gender = _find(params, "h:livingSubjectAdministrativeGender/h:value")
    family = _find(params, "h:livingSubjectName/h:value/h:family")
    given = _find(params, "h:livingSubjectName/h:value/h:given")
    country = _find(params, "h:patientAddress/h:value/h:country")
    return Traits(
        ids=ids,
        birth_date=birth.get("value") if birth is not None else None,
        gender=gender.get("code") if gender is not None else None,
        family=(family.text or "").strip() if family is not None else None,
        given=(given.text or "").strip() if given is not None else None,
        country=(country.text or "").strip() if country is not None else None,
    )


def _patient(parent: etree._Element, match: Demographics, home_community_id: str) -> None:
    subject = _e(parent, "subject", typeCode="SUBJ")
    event = _e(subject, "registrationEvent", classCode="REG", moodCode="EVN")
    _e(event, "id", nullFlavor="NA")
    _e(event, "statusCode", code="active")
    s1 = _e(event, "subject1", typeCode="SBJ")
    patient = _e(s1, "patient", classCode="PAT")
    for pid in match.ids:
        _e(patient, "id", root=pid.root, extension=pid.extension)
    _e(patient, "statusCode", code="active")
    person = _e(patient, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
    name = _e(person, "name")
    for given in match.given:
        _e(name, "given").text = given
    for family in match.family:
        _e(name, "family").text = family
    if match.gender:
        _e(person, "administrativeGenderCode", code=match.gender, codeSystem="2.16.840.1.113883.5.1")
    if match.birth_date:
        _e(person, "birthTime", value=match.birth_date)
    if any((match.street, match.city, match.postal_code, match.country)):
        addr = _e(person, "addr")
        if match.street:
            _e(addr, "streetAddressLine").text = match.street
        if match.city:
            _e(addr, "city").text = match.city
        if match.postal_code:
            _e(addr, "postalCode").text = match.postal_code
        if match.country:
            _e(addr, "country").text = match.country
    subject_of = _e(patient, "subjectOf1")
    observation = _e(subject_of, "queryMatchObservation", classCode="COND", moodCode="EVN")
    _e(observation, "code", code="IHE_PDQ")
    value = _e(observation, "value", value="100")
    value.set(f"{{{XSI}}}type", "INT")
    custodian = _e(event, "custodian", typeCode="CST")
    entity = _e(custodian, "assignedEntity", classCode="ASSIGNED")
    _e(entity, "id", root=home_community_id)
    _e(entity, "code", code="NotHealthDataLocator", codeSystem="1.3.6.1.4.1.19376.1.2.27.2")


def build_response(
    request: etree._Element,
    matches: list[Demographics],
    *,
    home_community_id: str,
    error: EhdsiError | None = None,
) -> etree._Element:
    """The answer: OK with the match, NF (no match) or AE (error) with the eHDSI code."""
    root = _e(None, "PRPA_IN201306UV02", ITSVersion="XML_1.0")
    sender_el = _find(request, "h:sender/h:device/h:id")
    requester = sender_el.get("root", home_community_id) if sender_el is not None else home_community_id
    _header(root, "PRPA_IN201306UV02", home_community_id, requester)
    _e(root, "acceptAckCode", code="NE")
    _device(root, "receiver", "RCV", requester)
    _device(root, "sender", "SND", home_community_id)
    ack = _e(root, "acknowledgement")
    _e(ack, "typeCode", code="AE" if error is not None and error.code not in _NOT_FOUND else "AA")
    target = _e(ack, "targetMessage")
    request_id = _find(request, "h:id")
    if request_id is not None:
        target.append(etree.fromstring(etree.tostring(request_id)))
    else:
        _e(target, "id", nullFlavor="NI")
    cap = _e(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    _e(cap, "code", code="PRPA_TE201306UV02", codeSystem=INTERACTION_ROOT)
    if error is None:
        for match in matches:
            _patient(cap, match, home_community_id)
    else:
        reason = _e(cap, "reasonOf", typeCode="RSON")
        issue = _e(reason, "detectedIssueEvent", classCode="ALRT", moodCode="EVN")
        _e(issue, "code", code="ActAdministrativeDetectedIssueCode", codeSystem="2.16.840.1.113883.5.4")
        mitigated = _e(issue, "mitigatedBy", typeCode="MITGT")
        management = _e(mitigated, "detectedIssueManagement", classCode="ACT", moodCode="EVN")
        code = _e(management, "code", code=error.code, codeSystem=ERROR_CODE_SYSTEM)
        _e(code, "originalText").text = error.description + (f" ({error.detail})" if error.detail else "")
    query_ack = _e(cap, "queryAck")
    query_id = _find(request, "h:controlActProcess/h:queryByParameter/h:queryId")
    if query_id is not None:
        query_ack.append(etree.fromstring(etree.tostring(query_id)))
    status = ("OK" if matches else "NF") if error is None else "NF" if error.code in _NOT_FOUND else "AE"
    _e(query_ack, "queryResponseCode", code=status)
    query = _find(request, "h:controlActProcess/h:queryByParameter")
    if query is not None:
        cap.append(etree.fromstring(etree.tostring(query)))
    return root


_NOT_FOUND = {"ERROR_PI_NO_MATCH"}


@dataclass
class XcpdResult:
    status: str  # OK, NF, AE
    matches: list[Demographics] = field(default_factory=list)
    error: EhdsiError | None = None


def _text(node: etree._Element | None) -> str | None:
    return (node.text or "").strip() or None if node is not None else None


def parse_response(root: etree._Element) -> XcpdResult:
    if root.tag != f"{{{HL7}}}PRPA_IN201306UV02":
        raise EhdsiError(
            "ERROR_PI_GENERIC", f"réponse XCPD attendue, reçu {etree.QName(root).localname}", sender=False
        )
    cap = _find(root, "h:controlActProcess")
    if cap is None:
        raise EhdsiError("ERROR_PI_GENERIC", "réponse XCPD sans controlActProcess", sender=False)
    code_el = _find(cap, "h:queryAck/h:queryResponseCode")
    status = code_el.get("code", "") if code_el is not None else ""
    error = None
    for issue in _all(cap, "h:reasonOf/h:detectedIssueEvent"):
        code = _find(issue, "h:mitigatedBy/h:detectedIssueManagement/h:code")
        if code is None:
            code = _find(issue, "h:triggerFor/h:actOrderRequired/h:code")
        if code is not None and code.get("code"):
            error = EhdsiError(code.get("code", ""), _text(_find(code, "h:originalText")) or "", sender=False)
            break
    matches = []
    for patient in _all(cap, "h:subject/h:registrationEvent/h:subject1/h:patient"):
        person = _find(patient, "h:patientPerson")
        demo = Demographics(
            ids=[
                PatientId(i.get("root", ""), i.get("extension", ""))
                for i in _all(patient, "h:id")
                if i.get("root")
            ]
        )
        if person is not None:
            demo.family = [t for t in (_text(f) for f in _all(person, "h:name/h:family")) if t]
            demo.given = [t for t in (_text(g) for g in _all(person, "h:name/h:given")) if t]
            gender = _find(person, "h:administrativeGenderCode")
            demo.gender = gender.get("code") if gender is not None else None
            birth = _find(person, "h:birthTime")
            demo.birth_date = birth.get("value") if birth is not None else None
            demo.street = _text(_find(person, "h:addr/h:streetAddressLine"))
            demo.city = _text(_find(person, "h:addr/h:city"))
            demo.postal_code = _text(_find(person, "h:addr/h:postalCode"))
            demo.country = _text(_find(person, "h:addr/h:country"))
        matches.append(demo)
    if status == "OK" and not matches:
        status = "NF"
    return XcpdResult(status, matches, error)
