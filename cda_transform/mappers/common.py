"""Helpers shared by the entry mappers: statement navigation, absent codes, notes, statuses."""

from __future__ import annotations

from typing import Any, TypeGuard

from lxml import etree

from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.extensions import SOURCE_CONCEPT
from cda_transform.parse import kid, kids, local, template_ids

ABSENT_OID = "2.16.840.1.113883.5.1150.1"
ABSENT_SYSTEM = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
ABSENT_CODES = frozenset(
    {
        "no-allergy-info",
        "no-known-allergies",
        "no-known-medication-allergies",
        "no-known-environmental-allergies",
        "no-known-food-allergies",
        "no-device-info",
        "no-known-devices",
        "no-medication-info",
        "no-known-medications",
        "no-problem-info",
        "no-known-problems",
        "no-procedure-info",
        "no-known-procedures",
    }
)

STATEMENTS = frozenset(
    {
        "act",
        "observation",
        "substanceAdministration",
        "procedure",
        "supply",
        "organizer",
        "encounter",
        "observationMedia",
        "regionOfInterest",
    }
)


def statements(entry: etree._Element) -> list[etree._Element]:
    """The clinical statements directly under an ``entry`` (normally exactly one)."""
    return [c for c in kids(entry) if local(c) in STATEMENTS]


def related(
    stmt: etree._Element | None, type_code: str | None = None, name: str | None = None
) -> list[etree._Element]:
    """Targets of ``entryRelationship`` (optionally filtered by typeCode and element name)."""
    out: list[etree._Element] = []
    for rel in kids(stmt, "entryRelationship"):
        if type_code and rel.get("typeCode") != type_code:
            continue
        out += [c for c in kids(rel) if local(c) in STATEMENTS and (name is None or local(c) == name)]
    return out


def with_template(elements: list[etree._Element], suffix: str) -> etree._Element | None:
    """First element carrying the eHDSI entry template ``1.3.6.1.4.1.12559.11.10.1.3.1.3.<suffix>``."""
    root = f"1.3.6.1.4.1.12559.11.10.1.3.1.3.{suffix}"
    for el in elements:
        if root in template_ids(el):
            return el
    return None


def with_code(elements: list[etree._Element], *codes: str) -> etree._Element | None:
    for el in elements:
        c = kid(el, "code")
        if c is not None and c.get("code") in codes:
            return el
    return None


def is_absent(el: etree._Element | None) -> TypeGuard[etree._Element]:
    """True for an IPS absent/unknown code (``no-known-allergies`` ...)."""
    if el is None:
        return False
    code = (el.get("code") or "").strip()
    return el.get("codeSystem") == ABSENT_OID or code in ABSENT_CODES


def absent_concept(ctx: Context, code: str, display: str) -> dict[str, Any]:
    """An IPS absent/unknown concept the CDA implied (e.g. an empty entry), translated like any other."""
    return ctx.translator.synthetic(ABSENT_SYSTEM, code, display)


def status_code(stmt: etree._Element | None) -> str | None:
    el = kid(stmt, "statusCode")
    return el.get("code") if el is not None else None


def note(ctx: Context, stmt: etree._Element | None) -> list[dict[str, str]]:
    """The entry's own narrative (original language), kept as an annotation."""
    text = ctx.translator.reference_text(stmt)
    return [{"text": text}] if text else []


def base(
    resource_type: str, ctx: Context, stmt: etree._Element | None, subject_field: str | None = "subject"
) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": resource_type}
    ids = dt.identifiers(stmt)
    if ids:
        res["identifier"] = ids
    if subject_field:
        res[subject_field] = dict(ctx.patient_ref)
    return res


def first_time(*elements: etree._Element | None) -> etree._Element | None:
    for el in elements:
        for t in kids(el, "effectiveTime"):
            if dt.period(t):
                return t
    return None


def put(res: dict[str, Any], key: str, value: Any) -> None:
    if value:
        res[key] = value


def source_concept(concept: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [{"url": SOURCE_CONCEPT, "valueCodeableConcept": concept}] if concept else []


def pick(
    elements: list[etree._Element], suffix: str | None = None, *codes: str, fallback_first: bool = False
) -> etree._Element | None:
    """The statement with eHDSI template ``suffix``, else with one of ``codes``, else (optionally) the first.

    lxml elements without children are falsy, so ``a or b`` must never be used to choose
    between elements; this helper makes the choice explicit.
    """
    found = with_template(elements, suffix) if suffix else None
    if found is None and codes:
        found = with_code(elements, *codes)
    if found is None and fallback_first and elements:
        found = elements[0]
    return found


def fhir_concept(
    ctx: Context, system: str, code: str, display: str, original: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A concept FHIR requires in its own code system, merged with the CDA concept it comes from.

    When the CDA already used the FHIR code (same system and code), that coding is reused as
    is (translated and marked); otherwise the FHIR coding is added first, with the code
    system's own (English) display put through the terminology like any other, and the CDA
    codings follow, so the source is never lost.
    """
    codings = list((original or {}).get("coding", []))
    same = next((c for c in codings if c.get("system") == system and c.get("code") == code), None)
    if same is None:
        same = ctx.translator.synthetic(system, code, display)["coding"][0]
    else:
        codings.remove(same)
    out: dict[str, Any] = {"coding": [same, *codings]}
    if original and original.get("text"):
        out["text"] = original["text"]
    return out
