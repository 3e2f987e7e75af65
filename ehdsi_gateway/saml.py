"""XUA SAML 2.0 assertions of eHDSI: the HCP Identity Assertion and the TRC assertion.

Both are signed with XML-DSig RSA-SHA256 (exclusive C14N, enveloped, ``#ID`` reference) by
``signxml``; verification checks the signature against a trusted certificate *and* that the
signature covers the assertion itself (not some other element with the same ``ID``), then
the issuer, the validity window, the audience, the TRC's link to the HCP assertion and the
purpose of use. See ``../shared/docs/ehdsi.md`` §4.2-4.3 and IHE ITI TF-2b 3.40 (XUA).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography import x509
from lxml import etree
from signxml import XMLSigner, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

from .errors import EhdsiError
from .namespaces import DS, HL7, ISCO_08, PURPOSE_OF_USE_SYSTEM, SAML
from .pki import Credentials

HCP_QUALIFIER = "urn:ehdsi:assertions:hcp"
TRC_QUALIFIER = "urn:ehdsi:assertions:trc"
ATTR_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
ORGANIZATION = "urn:oasis:names:tc:xspa:1.0:subject:organization"
ORGANIZATION_ID = "urn:oasis:names:tc:xspa:1.0:subject:organization-id"
HOME_COMMUNITY = "urn:ihe:iti:xca:2010:homeCommunityId"
FACILITY_TYPE = "urn:ehdsi:names:subject:healthcare-facility-type"
PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
LOCALITY = "urn:oasis:names:tc:xspa:1.0:environment:locality"
PERMISSION = "urn:oasis:names:tc:xspa:1.0:subject:hl7:permission"
PURPOSES = {"TREATMENT": "Treatment", "EMERGENCY": "Emergency"}
#: XSPA permissions an HP needs to read a Patient Summary (PRD-003/004/005/010/016, PPD-046...)
# Authentication levels (the professional's ``acr``) the French NCP-B accepts: Pro Santé Connect's.
# A professional without CPS/e-CPS (password + SMS code, acr "2fa") never gets the service.
PSC_ASSURANCE = frozenset({"eidas1", "eidas2", "eidas3"})
DEFAULT_PERMISSIONS = ("PRD-003", "PRD-004", "PRD-005", "PRD-006", "PRD-010", "PRD-016", "PPD-046")
VALIDITY = dt.timedelta(hours=4)
SKEW = dt.timedelta(seconds=120)
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


@dataclass(frozen=True)
class Professional:
    """The health professional an HCP assertion is about (from Pro Santé Connect in France)."""

    identifier: str  # RPPS
    name: str
    role_code: str = "221"  # ISCO-08
    role_display: str = "Medical Doctors"
    organization: str = "Passerelle"
    organization_id: str = "urn:oid:1.2.250.1.71.4.2.2"
    facility_type: str = "Hospital"
    locality: str = "France"
    permissions: tuple[str, ...] = DEFAULT_PERMISSIONS
    # how the professional authenticated (token ``acr``); the CLI's operator-asserted identity is PSC's
    assurance: str = "eidas1"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None) -> dt.datetime:
    if not value:
        raise ValueError("missing")
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _q(tag: str) -> str:
    return f"{{{SAML}}}{tag}"


def _attribute(
    parent: etree._Element, name: str, friendly: str, values: Iterable[str | etree._Element]
) -> None:
    attr = etree.SubElement(parent, _q("Attribute"), FriendlyName=friendly, Name=name, NameFormat=ATTR_URI)
    for value in values:
        holder = etree.SubElement(attr, _q("AttributeValue"))
        if isinstance(value, str):
            holder.text = value
        else:
            holder.append(value)


def _coded(tag: str, code: str, system: str, system_name: str, display: str) -> etree._Element:
    node = etree.Element(f"{{{HL7}}}{tag}", nsmap={None: HL7})
    node.set("code", code)
    node.set("codeSystem", system)
    node.set("codeSystemName", system_name)
    node.set("displayName", display)
    return node


def _skeleton(
    qualifier: str,
    issuer: str,
    subject: str,
    audience: str | None,
    context_class: str,
    lifetime: dt.timedelta,
) -> tuple[etree._Element, str]:
    now = _now()
    assertion_id = f"_{uuid.uuid4()}"
    root = etree.Element(
        _q("Assertion"), nsmap={"saml2": SAML}, ID=assertion_id, IssueInstant=_iso(now), Version="2.0"
    )
    issuer_el = etree.SubElement(root, _q("Issuer"), NameQualifier=qualifier)
    issuer_el.text = issuer
    # signxml replaces this placeholder: SAML requires ds:Signature right after Issuer
    etree.SubElement(root, f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
    subj = etree.SubElement(root, _q("Subject"))
    name_id = etree.SubElement(
        subj, _q("NameID"), Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    )
    name_id.text = subject
    etree.SubElement(subj, _q("SubjectConfirmation"), Method="urn:oasis:names:tc:SAML:2.0:cm:sender-vouches")
    conditions = etree.SubElement(
        root,
        _q("Conditions"),
        NotBefore=_iso(now - dt.timedelta(seconds=60)),
        NotOnOrAfter=_iso(now + lifetime),
    )
    if audience:
        restriction = etree.SubElement(conditions, _q("AudienceRestriction"))
        etree.SubElement(restriction, _q("Audience")).text = audience
    return root, context_class


def _authn(root: etree._Element, context_class: str) -> None:
    statement = etree.SubElement(root, _q("AuthnStatement"), AuthnInstant=root.get("IssueInstant", ""))
    context = etree.SubElement(statement, _q("AuthnContext"))
    etree.SubElement(context, _q("AuthnContextClassRef")).text = context_class


def build_hcp(
    professional: Professional,
    *,
    issuer: str,
    home_community_id: str,
    purpose: str,
    audience: str | None = None,
    lifetime: dt.timedelta = VALIDITY,
) -> etree._Element:
    """An unsigned HCP Identity Assertion (sign it with :func:`sign`)."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose of use {purpose!r}")
    root, ctx = _skeleton(
        HCP_QUALIFIER, issuer, professional.identifier, audience,
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PreviousSession", lifetime,
    )  # fmt: skip
    _authn(root, ctx)
    attrs = etree.SubElement(root, _q("AttributeStatement"))
    _attribute(attrs, HOME_COMMUNITY, "HCI Identifier", [home_community_id])
    _attribute(attrs, SUBJECT_ID, "XSPA Subject", [professional.name])
    role = _coded("Role", professional.role_code, ISCO_08, "ISCO", professional.role_display)
    _attribute(attrs, ROLE, "XSPA Role", [role])
    _attribute(attrs, ORGANIZATION, "XSPA Organization", [professional.organization])
    _attribute(attrs, ORGANIZATION_ID, "XSPA Organization ID", [professional.organization_id])
    pou = _coded("PurposeOfUse", purpose, PURPOSE_OF_USE_SYSTEM, "nhin-purpose", PURPOSES[purpose])
    _attribute(attrs, PURPOSE, "XSPA Purpose of Use", [pou])
    _attribute(attrs, FACILITY_TYPE, "XSPA Healthcare Facility", [professional.facility_type])
    _attribute(attrs, LOCALITY, "XSPA Locality", [professional.locality])
    _attribute(attrs, PERMISSION, "Hl7 Permissions", [f"{PERMISSION}:{p}" for p in professional.permissions])
    return root


def build_trc(
    hcp: etree._Element,
    *,
    patient_id: str,
    purpose: str,
    issuer: str,
    audience: str | None = None,
    lifetime: dt.timedelta = dt.timedelta(hours=2),
) -> etree._Element:
    """An unsigned TRC assertion for ``patient_id`` (``ext^^^&root&ISO``) pointing at ``hcp``."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose of use {purpose!r}")
    subject = hcp.findtext(f"{_q('Subject')}/{_q('NameID')}") or ""
    root, ctx = _skeleton(
        TRC_QUALIFIER,
        issuer,
        subject,
        audience,
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PreviousSession",
        lifetime,
    )
    advice = etree.Element(_q("Advice"))
    etree.SubElement(advice, _q("AssertionIDRef")).text = hcp.get("ID")
    root.find(_q("Conditions")).addnext(advice)  # type: ignore[union-attr]
    _authn(root, ctx)
    attrs = etree.SubElement(root, _q("AttributeStatement"))
    _attribute(attrs, SUBJECT_ID, "XSPA subject", [patient_id])
    pou = _coded("PurposeOfUse", purpose, PURPOSE_OF_USE_SYSTEM, "nhin-purpose", PURPOSES[purpose])
    _attribute(attrs, PURPOSE, "XSPA Purpose of Use", [pou])
    return root


def sign(assertion: etree._Element, credentials: Credentials) -> etree._Element:
    """The assertion signed in place of its placeholder (RSA-SHA256, exclusive C14N)."""
    if assertion.find(f"{{{DS}}}Signature") is None:  # an assertion built elsewhere (templates)
        issuer = assertion.find(_q("Issuer"))
        placeholder = etree.Element(f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
        if issuer is not None:
            issuer.addnext(placeholder)
        else:
            assertion.insert(0, placeholder)
    signer = XMLSigner(signature_algorithm="rsa-sha256", digest_algorithm="sha256", c14n_algorithm=EXC_C14N)
    signed = signer.sign(
        assertion,
        key=credentials.key_pem,
        cert=credentials.cert_pem.decode(),
        reference_uri=f"#{assertion.get('ID')}",
        id_attribute="ID",
    )
    return signed


@dataclass
class AssertionInfo:
    """What a verified assertion says."""

    id: str
    qualifier: str
    issuer: str
    subject: str
    not_on_or_after: dt.datetime
    certificate: x509.Certificate
    attributes: dict[str, list[str]] = field(default_factory=dict)
    codes: dict[str, list[str]] = field(default_factory=dict)  # coded attribute values (@code)
    advice_ids: list[str] = field(default_factory=list)

    def first(self, name: str) -> str:
        return (self.attributes.get(name) or [""])[0]

    @property
    def purpose(self) -> str:
        return (self.codes.get(PURPOSE) or [""])[0]

    @property
    def role(self) -> str:
        return (self.codes.get(ROLE) or [""])[0]


def _certificate_of(assertion: etree._Element) -> x509.Certificate:
    node = assertion.find(f"{{{DS}}}Signature/{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    if node is None or not (node.text or "").strip():
        raise EhdsiError("ERROR_SEC_DATA_INTEGRITY_NOT_ENSURED", "assertion sans certificat de signature")
    import base64

    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join((node.text or "").split())))
    except ValueError as exc:
        raise EhdsiError("ERROR_SEC_DATA_INTEGRITY_NOT_ENSURED", "certificat de signature illisible") from exc


def verify(
    assertion: etree._Element,
    *,
    trusted: Callable[[x509.Certificate], bool],
    audiences: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> AssertionInfo:
    """Verify one assertion; raises :class:`EhdsiError` with the eHDSI code of the failure."""
    qualifier = assertion.findtext(f"{_q('Issuer')}[@NameQualifier]") and assertion.find(_q("Issuer")).get(
        "NameQualifier", ""
    )  # type: ignore[union-attr]
    code = "ERROR_NOT_VALID_TRC_ASSERTION" if qualifier == TRC_QUALIFIER else "ERROR_NOT_VALID_ASSERTION"
    if assertion.find(f"{{{DS}}}Signature") is None:
        raise EhdsiError(code, "assertion non signée")
    cert = _certificate_of(assertion)
    if not trusted(cert):
        raise EhdsiError(code, "assertion signée par un certificat qui n'est pas celui d'un pair enregistré")
    assertion_id = assertion.get("ID") or ""
    try:
        result = XMLVerifier().verify(
            etree.tostring(assertion), x509_cert=cert, id_attribute="ID", expect_references=1
        )
    except (InvalidSignature, InvalidInput, ValueError) as exc:
        raise EhdsiError(code, f"signature invalide ({exc})") from exc
    signed = result.signed_xml  # type: ignore[union-attr]
    if signed is None or signed.tag != _q("Assertion") or signed.get("ID") != assertion_id:
        raise EhdsiError(code, "la signature ne couvre pas l'assertion")
    assertion = signed  # from here on read only what the signature covers
    now = now or dt.datetime.now(dt.UTC)
    conditions = assertion.find(_q("Conditions"))
    try:
        not_before = _parse_time(conditions.get("NotBefore")) if conditions is not None else None
        not_after = _parse_time(conditions.get("NotOnOrAfter")) if conditions is not None else None
        issued = _parse_time(assertion.get("IssueInstant"))
    except ValueError as exc:
        raise EhdsiError(code, "dates de validité absentes ou illisibles") from exc
    if not_before is None or not_after is None:
        raise EhdsiError(code, "dates de validité absentes")
    if now + SKEW < not_before or now + SKEW < issued:
        raise EhdsiError(code, "assertion pas encore valide")
    if now - SKEW >= not_after:
        raise EhdsiError(code, "assertion expirée")
    wanted = set(audiences)
    given = [
        a.text or ""
        for a in assertion.iterfind(f"{_q('Conditions')}/{_q('AudienceRestriction')}/{_q('Audience')}")
    ]
    if given and wanted and not wanted.intersection(given):
        raise EhdsiError(code, f"assertion destinée à un autre public ({', '.join(given)})")
    issuer = (assertion.findtext(_q("Issuer")) or "").strip()
    info = AssertionInfo(
        id=assertion_id,
        qualifier=qualifier or "",
        issuer=issuer,
        subject=(assertion.findtext(f"{_q('Subject')}/{_q('NameID')}") or "").strip(),
        not_on_or_after=not_after,
        certificate=cert,
        advice_ids=[
            (a.text or "").strip() for a in assertion.iterfind(f"{_q('Advice')}/{_q('AssertionIDRef')}")
        ],
    )
    for attr in assertion.iterfind(f"{_q('AttributeStatement')}/{_q('Attribute')}"):
        name = attr.get("Name", "")
        for value in attr.iterfind(_q("AttributeValue")):
            coded = next((c for c in value if isinstance(c.tag, str)), None)
            if coded is not None and coded.get("code"):
                info.codes.setdefault(name, []).append(coded.get("code", ""))
            info.attributes.setdefault(name, []).append("".join(value.itertext()).strip())
    return info


def find_assertions(security: etree._Element | None) -> tuple[etree._Element | None, etree._Element | None]:
    """The HCP and TRC assertions of a ``wsse:Security`` header (by their Issuer's NameQualifier)."""
    hcp = trc = None
    if security is None:
        return None, None
    for assertion in security.iterfind(_q("Assertion")):
        issuer = assertion.find(_q("Issuer"))
        qualifier = issuer.get("NameQualifier") if issuer is not None else None
        if qualifier == TRC_QUALIFIER:
            if trc is not None:
                raise EhdsiError("ERROR_NOT_VALID_TRC_ASSERTION", "plusieurs assertions TRC")
            trc = assertion
        elif qualifier == HCP_QUALIFIER or qualifier is None:
            if hcp is not None:
                raise EhdsiError("ERROR_NOT_VALID_ASSERTION", "plusieurs assertions HCP")
            hcp = assertion
    return hcp, trc
