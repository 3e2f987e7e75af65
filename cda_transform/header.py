"""The CDA header: patient, author, custodian, legal authenticator, contacts.

The same professional or organisation often appears several times in a header (author,
legal authenticator, service-event performer); they are deduplicated on their identifiers so
the Bundle holds one Practitioner and one Organization per real-world party.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.extensions import SOURCE_CONCEPT
from cda_transform.parse import has_null, kid, kids, path, path_all, text_of

GENDER = {"M": "male", "F": "female", "UN": "other", "U": "unknown", "UNK": "unknown"}

V2_0131 = "http://terminology.hl7.org/CodeSystem/v2-0131"
CONTACT_CLASS = {  # CDA role class -> (v2-0131 code, its display, our French label)
    "NOK": ("N", "Next-of-Kin", "Proche (next of kin)"),
    "ECON": ("C", "Emergency Contact", "Contact en cas d'urgence"),
    "GUARD": ("N", "Next-of-Kin", "Tuteur légal"),
    "PRS": ("N", "Next-of-Kin", "Personne de l'entourage"),
    "CAREGIVER": ("U", "Unknown", "Aidant"),
    "AGNT": ("U", "Unknown", "Représentant"),
}


def _key(kind: str, el: etree._Element | None) -> str | None:
    ids = [i for i in dt.identifiers(el) if i.get("value")]
    if ids:
        first = ids[0]
        return f"{kind}|{first.get('system', '')}|{first['value']}"
    return None


def organization(ctx: Context, el: etree._Element | None) -> dict[str, str] | None:
    """An Organization from any CDA organisation element (null or nameless ones are skipped)."""
    if el is None or has_null(el):
        return None
    res: dict[str, Any] = {"resourceType": "Organization"}
    ids = dt.identifiers(el)
    name = dt.org_name(el)
    if ids:
        res["identifier"] = ids
    if name:
        res["name"] = name
    if not ids and not name:
        return None
    telecom, addr = dt.telecoms(el), dt.addresses(el)
    if telecom:
        res["telecom"] = telecom
    if addr:
        res["address"] = addr
    # Placeholder ids (root 2.999) are shared by unrelated organisations: the name is part of the key.
    key = f"{_key('Organization', el) or 'Organization|-'}|{name}"
    return ctx.add(res, key=key)


def practitioner(
    ctx: Context, entity: etree._Element | None, person_tag: str = "assignedPerson"
) -> dict[str, str] | None:
    """A Practitioner from an assignedAuthor / assignedEntity (when it names a person)."""
    if entity is None:
        return None
    person = kid(entity, person_tag)
    res: dict[str, Any] = {"resourceType": "Practitioner"}
    ids = dt.identifiers(entity)
    names = dt.names(person)
    if ids:
        res["identifier"] = ids
    if names:
        res["name"] = names
    if not ids and not names:
        return None
    telecom, addr = dt.telecoms(entity), dt.addresses(entity)
    if telecom:
        res["telecom"] = telecom
    if addr:
        res["address"] = addr
    key = _key("Practitioner", entity)
    if key and names:
        key += "|" + repr(names[0])
    return ctx.add(res, key=key)


def practitioner_role(
    ctx: Context, entity: etree._Element | None, function_code: etree._Element | None
) -> dict[str, str] | None:
    """PractitionerRole tying the person, the organisation and the role codes (ISCO-08)."""
    if entity is None:
        return None
    who = practitioner(ctx, entity)
    org = organization(ctx, kid(entity, "representedOrganization"))
    codes = [
        c for c in (ctx.translator.concept(function_code), ctx.translator.concept(kid(entity, "code"))) if c
    ]
    if who is None and org is None:
        return None
    res: dict[str, Any] = {"resourceType": "PractitionerRole"}
    if who:
        res["practitioner"] = who
    if org:
        res["organization"] = org
    if codes:
        res["code"] = codes
    key = f"PractitionerRole|{who and who['reference']}|{org and org['reference']}|{codes!r}"
    return ctx.add(res, key=key)


def patient(ctx: Context, root: etree._Element) -> dict[str, Any]:
    role = path(root, "recordTarget/patientRole")
    person = kid(role, "patient")
    if person is None:
        ctx.warn(
            "Élément recordTarget/patientRole/patient absent (ou hors de l'espace de noms HL7 v3) : "
            "nom, sexe et date de naissance du patient inconnus.",
            role if role is not None else root,
        )
    res: dict[str, Any] = {"resourceType": "Patient"}
    ids = dt.identifiers(role)
    if ids:
        res["identifier"] = ids
    for ident, el in zip(ids, [e for e in kids(role, "id") if dt.identifier(e)], strict=False):
        root_oid = (el.get("root") or "").strip()
        if el.get("extension") and root_oid:
            ident.setdefault("assigner", {})["identifier"] = {
                "system": "urn:ietf:rfc:3986",
                "value": dt.system_uri(root_oid) or root_oid,
            }
    names = dt.names(person)
    if names:
        res["name"] = names
    gender_el = kid(person, "administrativeGenderCode")
    if gender_el is not None:
        coded = ctx.translator.concept(
            gender_el
        )  # FHIR gender is a plain code: keep the CDA coding beside it
        if coded:
            res["_gender"] = {"extension": [{"url": SOURCE_CONCEPT, "valueCodeableConcept": coded}]}
        gender = GENDER.get((gender_el.get("code") or "").upper())
        if gender:
            res["gender"] = gender
        elif has_null(gender_el):
            res["gender"] = "unknown"
    birth = dt.ts_of(kid(person, "birthTime"))
    if birth:
        res["birthDate"] = birth.split("T")[0]
    telecom, addr = dt.telecoms(role), dt.addresses(role)
    if telecom:
        res["telecom"] = telecom
    if addr:
        res["address"] = addr
    contacts = [c for c in (_guardian(ctx, g) for g in kids(person, "guardian")) if c]
    contacts += [c for c in (_participant_contact(ctx, p) for p in kids(root, "participant")) if c]
    if contacts:
        res["contact"] = contacts
    langs = []
    for lc in kids(person, "languageCommunication"):
        lang_el = kid(lc, "languageCode")
        code = (lang_el.get("code") or "").strip() if lang_el is not None else ""
        if code:
            entry: dict[str, Any] = {"language": ctx.translator.synthetic("urn:ietf:bcp:47", code, None)}
            pref = kid(lc, "preferenceInd")
            if pref is not None and pref.get("value") == "true":
                entry["preferred"] = True
            langs.append(entry)
    if langs:
        res["communication"] = langs
    return res


def _contact(
    ctx: Context,
    entity: etree._Element,
    person: etree._Element | None,
    relationship: list[dict[str, Any]],
    org_el: etree._Element | None,
) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if relationship:
        out["relationship"] = relationship
    names = dt.names(person)
    if names:
        out["name"] = names[0]
    telecom = dt.telecoms(entity)
    if telecom:
        out["telecom"] = telecom
    addr = dt.addresses(entity)
    if addr:
        out["address"] = addr[0]
    org = organization(ctx, org_el)
    if org:
        out["organization"] = org
    if not (names or telecom or addr or org):
        return None
    return out


def _relationship(ctx: Context, role_class: str) -> dict[str, Any]:
    code, display, label = CONTACT_CLASS[role_class]
    return {**ctx.translator.synthetic(V2_0131, code, display), "text": label}


def _guardian(ctx: Context, g: etree._Element) -> dict[str, Any] | None:
    rel: list[dict[str, Any]] = [_relationship(ctx, "GUARD")]
    coded = ctx.translator.concept(kid(g, "code"))
    if coded:
        rel.append(coded)
    return _contact(ctx, g, kid(g, "guardianPerson"), rel, kid(g, "guardianOrganization"))


def _participant_contact(ctx: Context, p: etree._Element) -> dict[str, Any] | None:
    if p.get("typeCode") not in (None, "IND"):
        return None
    entity = kid(p, "associatedEntity")
    if entity is None:
        return None
    rel: list[dict[str, Any]] = []
    cls = entity.get("classCode") or ""
    if cls in CONTACT_CLASS:
        rel.append(_relationship(ctx, cls))
    coded = ctx.translator.concept(kid(entity, "code"))
    if coded:
        rel.append(coded)
    return _contact(ctx, entity, kid(entity, "associatedPerson"), rel, kid(entity, "scopingOrganization"))


def authors(ctx: Context, root: etree._Element) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    for author in kids(root, "author"):
        entity = kid(author, "assignedAuthor")
        if entity is None:
            continue
        device = kid(entity, "assignedAuthoringDevice")
        if device is not None and kid(entity, "assignedPerson") is None:
            name = text_of(kid(device, "softwareName")) or text_of(kid(device, "manufacturerModelName"))
            res: dict[str, Any] = {"resourceType": "Device"}
            if name:
                res["deviceName"] = [{"name": name, "type": "user-friendly-name"}]
            ids = dt.identifiers(entity)
            if ids:
                res["identifier"] = ids
            refs.append(ctx.add(res))
            continue
        ref = practitioner_role(ctx, entity, kid(author, "functionCode"))
        if ref:
            refs.append(ref)
    return refs


def custodian(ctx: Context, root: etree._Element) -> dict[str, str] | None:
    return organization(ctx, path(root, "custodian/assignedCustodian/representedCustodianOrganization"))


def attesters(ctx: Context, root: etree._Element) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for la in kids(root, "legalAuthenticator"):
        entry: dict[str, Any] = {"mode": "legal"}
        when = dt.ts_of(kid(la, "time"))
        if when:
            entry["time"] = when
        party = practitioner_role(ctx, kid(la, "assignedEntity"), None)
        if party:
            entry["party"] = party
        out.append(entry)
    return out


def service_events(ctx: Context, root: etree._Element) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for ev in path_all(root, "documentationOf/serviceEvent"):
        entry: dict[str, Any] = {}
        p = dt.period(kid(ev, "effectiveTime"))
        if p:
            entry["period"] = p
        code = ctx.translator.concept(kid(ev, "code"))
        if code:
            entry["code"] = [code]
        details = [
            r
            for r in (
                practitioner_role(ctx, kid(pf, "assignedEntity"), kid(pf, "functionCode"))
                for pf in kids(ev, "performer")
            )
            if r
        ]
        if details:
            entry["detail"] = details
        if entry:
            out.append(entry)
    return out
