"""XCA ITI-38 (Cross Gateway Query) and ITI-39 (Cross Gateway Retrieve) messages.

ebRIM 3.0 ``AdhocQueryRequest``/``AdhocQueryResponse`` with FindDocuments, and XDS.b
``RetrieveDocumentSetRequest``/``RetrieveDocumentSetResponse`` (inline base64 or MTOM/XOP),
for both roles (IHE ITI TF-2a 3.18, TF-2b 3.38/3.39, eHDSI XCA profile).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field

from lxml import etree

from . import soap
from .errors import EhdsiError
from .identity import PatientId
from .namespaces import (
    CLASS_CODE_SCHEME,
    CONFIDENTIALITY_SCHEME,
    DOCUMENT_ENTRY,
    ERROR_SEVERITY,
    FIND_DOCUMENTS,
    FORMAT_CODE_SCHEME,
    FORMAT_SCHEME_NAME,
    HEALTHCARE_FACILITY_SCHEME,
    LOINC,
    PATIENT_ID_SCHEME,
    PRACTICE_SETTING_SCHEME,
    QUERY,
    RESPONSE_FAILURE,
    RESPONSE_PARTIAL,
    RESPONSE_SUCCESS,
    RIM,
    RS,
    STATUS_APPROVED,
    TYPE_CODE_SCHEME,
    UNIQUE_ID_SCHEME,
    XDSB,
)


def _r(parent: etree._Element | None, tag: str, ns: str = RIM, **attrs: str) -> etree._Element:
    qname = f"{{{ns}}}{tag}"
    nsmap = {"rim": RIM, "query": QUERY, "rs": RS}
    node = etree.Element(qname, nsmap=nsmap) if parent is None else etree.SubElement(parent, qname)
    for key, value in attrs.items():
        node.set(key, value)
    return node


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = _r(parent, "Slot", name=name)
    values_el = _r(slot, "ValueList")
    for value in values:
        _r(values_el, "Value").text = value


# --- ITI-38 ----------------------------------------------------------------------------------


def build_query(patient: PatientId, class_code: str = "60591-5") -> etree._Element:
    root = _r(None, "AdhocQueryRequest", QUERY)
    _r(root, "ResponseOption", QUERY, returnComposedObjects="true", returnType="LeafClass")
    query = _r(root, "AdhocQuery", id=FIND_DOCUMENTS)
    _slot(query, "$XDSDocumentEntryPatientId", f"'{patient.cx}'")
    _slot(query, "$XDSDocumentEntryStatus", f"('{STATUS_APPROVED}')")
    _slot(query, "$XDSDocumentEntryClassCode", f"('{class_code}^^{LOINC}')")
    return root


@dataclass
class Query:
    patient: PatientId
    class_codes: list[str]


def _slot_values(parent: etree._Element, name: str) -> list[str]:
    return [
        (v.text or "").strip()
        for v in parent.iterfind(f"{{{RIM}}}Slot[@name='{name}']/{{{RIM}}}ValueList/{{{RIM}}}Value")
    ]


def _list_values(raw: list[str]) -> list[str]:
    """``('a','b')`` and ``'a'`` values of a stored query slot, unquoted."""
    out = []
    for value in raw:
        for item in value.strip().strip("()").split(","):
            item = item.strip().strip("'")
            if item:
                out.append(item)
    return out


def parse_query(root: etree._Element) -> Query:
    if root.tag != f"{{{QUERY}}}AdhocQueryRequest":
        raise EhdsiError(
            "ERROR_INVALID_MESSAGE", f"AdhocQueryRequest attendu, reçu {etree.QName(root).localname}"
        )
    query = root.find(f"{{{RIM}}}AdhocQuery")
    if query is None or query.get("id") != FIND_DOCUMENTS:
        raise EhdsiError(
            "ERROR_GENERIC_SERVICE_SIGNIFIER_UNKNOWN", "seule la requête FindDocuments est servie"
        )
    patients = _list_values(_slot_values(query, "$XDSDocumentEntryPatientId"))
    if len(patients) != 1:
        raise EhdsiError("ERROR_INVALID_MESSAGE", "$XDSDocumentEntryPatientId absent ou multiple")
    classes = [c.split("^^")[0] for c in _list_values(_slot_values(query, "$XDSDocumentEntryClassCode"))]
    return Query(PatientId.parse(patients[0]), classes)


@dataclass
class DocumentEntry:
    unique_id: str
    repository_id: str
    home_community_id: str
    patient: PatientId
    format_code: str
    mime_type: str = "text/xml"
    class_code: str = "60591-5"
    title: str = "Patient Summary"
    creation_time: str = ""
    language: str = "en-GB"
    size: int = 0
    hash: str = ""
    entry_uuid: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")


def _classification(
    parent: etree._Element, scheme: str, entry: str, code: str, scheme_name: str, display: str
) -> None:
    c = _r(
        parent,
        "Classification",
        classificationScheme=scheme,
        classifiedObject=entry,
        id=f"urn:uuid:{uuid.uuid4()}",
        nodeRepresentation=code,
        objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification",
    )
    _slot(c, "codingScheme", scheme_name)
    name = _r(c, "Name")
    _r(name, "LocalizedString", value=display)


def _external(parent: etree._Element, scheme: str, entry: str, value: str, label: str) -> None:
    x = _r(
        parent,
        "ExternalIdentifier",
        id=f"urn:uuid:{uuid.uuid4()}",
        identificationScheme=scheme,
        registryObject=entry,
        value=value,
        objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier",
    )
    _r(_r(x, "Name"), "LocalizedString", value=label)


def build_query_response(entries: list[DocumentEntry], errors: list[EhdsiError] = ()) -> etree._Element:  # type: ignore[assignment]
    status = RESPONSE_SUCCESS if not errors else (RESPONSE_PARTIAL if entries else RESPONSE_FAILURE)
    root = _r(None, "AdhocQueryResponse", QUERY, status=status)
    if errors:
        _errors(root, errors)
    objects = _r(root, "RegistryObjectList")
    for doc in entries:
        eo = _r(
            objects,
            "ExtrinsicObject",
            id=doc.entry_uuid,
            mimeType=doc.mime_type,
            objectType=DOCUMENT_ENTRY,
            status=STATUS_APPROVED,
            home=f"urn:oid:{doc.home_community_id}",
        )
        if doc.creation_time:
            _slot(eo, "creationTime", doc.creation_time)
        if doc.hash:
            _slot(eo, "hash", doc.hash)
        _slot(eo, "languageCode", doc.language)
        _slot(eo, "repositoryUniqueId", doc.repository_id)
        if doc.size:
            _slot(eo, "size", str(doc.size))
        _slot(eo, "sourcePatientId", doc.patient.cx)
        _r(_r(eo, "Name"), "LocalizedString", value=doc.title)
        _classification(eo, CLASS_CODE_SCHEME, doc.entry_uuid, doc.class_code, LOINC, "Patient Summary")
        _classification(eo, CONFIDENTIALITY_SCHEME, doc.entry_uuid, "N", "2.16.840.1.113883.5.25", "Normal")
        _classification(
            eo, FORMAT_CODE_SCHEME, doc.entry_uuid, doc.format_code, FORMAT_SCHEME_NAME, doc.format_code
        )
        _classification(
            eo, HEALTHCARE_FACILITY_SCHEME, doc.entry_uuid, "Not Used", "eHDSI Healthcare Facility", "N/A"
        )
        _classification(
            eo, PRACTICE_SETTING_SCHEME, doc.entry_uuid, "Not Used", "eHDSI Practice Setting", "N/A"
        )
        _classification(eo, TYPE_CODE_SCHEME, doc.entry_uuid, doc.class_code, LOINC, "Patient Summary")
        _external(eo, PATIENT_ID_SCHEME, doc.entry_uuid, doc.patient.cx, "XDSDocumentEntry.patientId")
        _external(eo, UNIQUE_ID_SCHEME, doc.entry_uuid, doc.unique_id, "XDSDocumentEntry.uniqueId")
    return root


def _errors(parent: etree._Element, errors: list[EhdsiError]) -> None:
    error_list = _r(parent, "RegistryErrorList", RS)
    for error in errors:
        _r(
            error_list,
            "RegistryError",
            RS,
            errorCode=error.code,
            codeContext=error.description + (f" ({error.detail})" if error.detail else ""),
            severity=ERROR_SEVERITY,
            location="",
        )


def _read_errors(root: etree._Element) -> list[EhdsiError]:
    return [
        EhdsiError(e.get("errorCode", "ERROR_GENERIC"), e.get("codeContext", ""), sender=False)
        for e in root.iter(f"{{{RS}}}RegistryError")
        if e.get("severity", ERROR_SEVERITY) == ERROR_SEVERITY
    ]


@dataclass
class QueryResult:
    entries: list[DocumentEntry]
    errors: list[EhdsiError]


def parse_query_response(root: etree._Element) -> QueryResult:
    if root.tag != f"{{{QUERY}}}AdhocQueryResponse":
        raise EhdsiError(
            "ERROR_PS_GENERIC", f"réponse XCA attendue, reçu {etree.QName(root).localname}", sender=False
        )
    entries = []
    for eo in root.iter(f"{{{RIM}}}ExtrinsicObject"):
        schemes = {
            c.get("classificationScheme"): c.get("nodeRepresentation", "")
            for c in eo.iterfind(f"{{{RIM}}}Classification")
        }
        ids = {
            x.get("identificationScheme"): x.get("value", "")
            for x in eo.iterfind(f"{{{RIM}}}ExternalIdentifier")
        }
        repo = (_slot_values(eo, "repositoryUniqueId") or [""])[0]
        patient_cx = ids.get(PATIENT_ID_SCHEME) or (_slot_values(eo, "sourcePatientId") or [""])[0]
        try:
            patient = PatientId.parse(patient_cx)
        except EhdsiError:
            patient = PatientId("0", patient_cx)
        name = eo.find(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString")
        entries.append(
            DocumentEntry(
                unique_id=ids.get(UNIQUE_ID_SCHEME, ""),
                repository_id=repo,
                home_community_id=(eo.get("home") or "").removeprefix("urn:oid:"),
                patient=patient,
                format_code=schemes.get(FORMAT_CODE_SCHEME, ""),
                mime_type=eo.get("mimeType", ""),
                class_code=schemes.get(CLASS_CODE_SCHEME, ""),
                title=name.get("value", "") if name is not None else "",
                creation_time=(_slot_values(eo, "creationTime") or [""])[0],
                language=(_slot_values(eo, "languageCode") or [""])[0],
                entry_uuid=eo.get("id", ""),
            )
        )
    return QueryResult(entries, _read_errors(root))


# --- ITI-39 ----------------------------------------------------------------------------------


def build_retrieve(home_community_id: str, repository_id: str, unique_ids: list[str]) -> etree._Element:
    root = etree.Element(f"{{{XDSB}}}RetrieveDocumentSetRequest", nsmap={"xdsb": XDSB})
    for unique_id in unique_ids:
        request = etree.SubElement(root, f"{{{XDSB}}}DocumentRequest")
        etree.SubElement(request, f"{{{XDSB}}}HomeCommunityId").text = f"urn:oid:{home_community_id}"
        etree.SubElement(request, f"{{{XDSB}}}RepositoryUniqueId").text = repository_id
        etree.SubElement(request, f"{{{XDSB}}}DocumentUniqueId").text = unique_id
    return root


@dataclass
class DocumentRequest:
    home_community_id: str | None
    repository_id: str
    unique_id: str


def parse_retrieve(root: etree._Element) -> list[DocumentRequest]:
    if root.tag != f"{{{XDSB}}}RetrieveDocumentSetRequest":
        raise EhdsiError(
            "ERROR_INVALID_MESSAGE", f"RetrieveDocumentSetRequest attendu, reçu {etree.QName(root).localname}"
        )
    out = []
    for request in root.iterfind(f"{{{XDSB}}}DocumentRequest"):
        repo = (request.findtext(f"{{{XDSB}}}RepositoryUniqueId") or "").strip()
        doc = (request.findtext(f"{{{XDSB}}}DocumentUniqueId") or "").strip()
        home = (request.findtext(f"{{{XDSB}}}HomeCommunityId") or "").strip().removeprefix("urn:oid:") or None
        if not repo or not doc:
            raise EhdsiError(
                "ERROR_INVALID_MESSAGE", "DocumentRequest sans RepositoryUniqueId ou DocumentUniqueId"
            )
        out.append(DocumentRequest(home, repo, doc))
    if not out:
        raise EhdsiError("ERROR_INVALID_MESSAGE", "aucun DocumentRequest")
    return out


@dataclass
class RetrievedDocument:
    home_community_id: str
    repository_id: str
    unique_id: str
    mime_type: str
    data: bytes


def build_retrieve_response(
    documents: list[RetrievedDocument],
    errors: list[EhdsiError] = (),  # type: ignore[assignment]
    *,
    attachments: list[tuple[str, bytes, str]] | None = None,
) -> etree._Element:
    """The response; with ``attachments`` given, documents travel as MTOM/XOP parts."""
    status = RESPONSE_SUCCESS if not errors else (RESPONSE_PARTIAL if documents else RESPONSE_FAILURE)
    root = etree.Element(f"{{{XDSB}}}RetrieveDocumentSetResponse", nsmap={"xdsb": XDSB, "rs": RS})
    response = etree.SubElement(root, f"{{{RS}}}RegistryResponse", status=status)
    if errors:
        _errors(response, list(errors))
    for doc in documents:
        node = etree.SubElement(root, f"{{{XDSB}}}DocumentResponse")
        etree.SubElement(node, f"{{{XDSB}}}HomeCommunityId").text = f"urn:oid:{doc.home_community_id}"
        etree.SubElement(node, f"{{{XDSB}}}RepositoryUniqueId").text = doc.repository_id
        etree.SubElement(node, f"{{{XDSB}}}DocumentUniqueId").text = doc.unique_id
        etree.SubElement(node, f"{{{XDSB}}}mimeType").text = doc.mime_type
        content = etree.SubElement(node, f"{{{XDSB}}}Document")
        if attachments is not None:
            soap.xop_attach(content, doc.data, doc.mime_type, attachments)
        else:
            content.text = base64.b64encode(doc.data).decode()
    return root


@dataclass
class RetrieveResult:
    documents: list[RetrievedDocument]
    errors: list[EhdsiError]


def parse_retrieve_response(root: etree._Element, parts: dict[str, bytes] | None = None) -> RetrieveResult:
    if root.tag != f"{{{XDSB}}}RetrieveDocumentSetResponse":
        raise EhdsiError(
            "ERROR_PS_GENERIC", f"réponse ITI-39 attendue, reçu {etree.QName(root).localname}", sender=False
        )
    docs = []
    for node in root.iterfind(f"{{{XDSB}}}DocumentResponse"):
        content = node.find(f"{{{XDSB}}}Document")
        if content is None:
            continue
        docs.append(
            RetrievedDocument(
                home_community_id=(node.findtext(f"{{{XDSB}}}HomeCommunityId") or "")
                .strip()
                .removeprefix("urn:oid:"),
                repository_id=(node.findtext(f"{{{XDSB}}}RepositoryUniqueId") or "").strip(),
                unique_id=(node.findtext(f"{{{XDSB}}}DocumentUniqueId") or "").strip(),
                mime_type=(node.findtext(f"{{{XDSB}}}mimeType") or "").strip(),
                data=soap.resolve_xop(content, parts or {}),
            )
        )
    return RetrieveResult(docs, _read_errors(root))


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # XDS hash is SHA-1 by definition (ITI TF-3 4.2.3.2.11)
