"""XML namespaces and fixed identifiers of the eHDSI profiles (IHE ITI TF-2, XUA, eHDSI)."""

from __future__ import annotations

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
ISM = "http://ec.europa.eu/sante/ehncp/ism"

# SOAP actions (IHE ITI TF-2b 3.55, 3.38, 3.39)
ACTION_XCPD = "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery"
ACTION_XCPD_RESPONSE = "urn:hl7-org:v3:PRPA_IN201306UV02:CrossGatewayPatientDiscovery"
ACTION_XCA_QUERY = "urn:ihe:iti:2007:CrossGatewayQuery"
ACTION_XCA_QUERY_RESPONSE = "urn:ihe:iti:2007:CrossGatewayQueryResponse"
ACTION_XCA_RETRIEVE = "urn:ihe:iti:2007:CrossGatewayRetrieve"
ACTION_XCA_RETRIEVE_RESPONSE = "urn:ihe:iti:2007:CrossGatewayRetrieveResponse"

# ebXML / XDS identifiers
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
DOCUMENT_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"  # stable DocumentEntry objectType
CLASS_CODE_SCHEME = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
FORMAT_CODE_SCHEME = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
TYPE_CODE_SCHEME = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
CONFIDENTIALITY_SCHEME = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
PRACTICE_SETTING_SCHEME = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
HEALTHCARE_FACILITY_SCHEME = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
PATIENT_ID_SCHEME = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
UNIQUE_ID_SCHEME = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
RESPONSE_SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
RESPONSE_FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
RESPONSE_PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
ERROR_SEVERITY = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"

LOINC = "2.16.840.1.113883.6.1"
PS_CLASS_CODE = "60591-5"
FORMAT_PIVOT = "urn:epSOS:ps:ps:2010"
FORMAT_PDF = "urn:ihe:iti:xds-sd:pdf:2008"
FORMAT_SCHEME_NAME = "eHDSI formatCodes"
PURPOSE_OF_USE_SYSTEM = "2.16.840.1.113883.3.18.7.1"
ISCO_08 = "2.16.840.1.113883.2.9.6.2.7"

NSMAP_SOAP = {"env": SOAP, "wsa": WSA}
