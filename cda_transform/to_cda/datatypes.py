"""FHIR data types -> HL7 v3 data types (CD/CE, TS, IVL_TS, PQ, II, AD, TEL, PN).

Every function takes the FHIRPath of the FHIR value it converts, so that a value that cannot
be carried (a coding without an OID, a malformed date) is refused with the exact location.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import TransformError
from . import oids
from .designations import english
from .xmlns import V3, Element, el, set_xsi_type

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def ts(value: str, path: str) -> str:
    """FHIR date/dateTime/instant -> HL7 TS, keeping the precision the source had."""
    match = _DATE_RE.match(value.strip())
    if not match:
        raise TransformError(f"« {value} » n'est pas une date FHIR (date ou dateTime)", expression=path)
    parts = match.groupdict()
    out = parts["y"] + (parts["m"] or "") + (parts["d"] or "")
    if parts["H"]:
        out += parts["H"] + parts["M"] + (parts["S"] or "") + (parts["f"] or "")
        tz = parts["tz"]
        if tz == "Z":
            out += "+0000"
        elif tz:
            out += tz.replace(":", "")
    return out


def ts_element(
    parent: Element, tag: str, value: str | None, path: str, *, null_flavor: str = "UNK"
) -> Element:
    if value:
        return el(parent, tag, {"value": ts(value, path)})
    return el(parent, tag, {"nullFlavor": null_flavor})


def ivl_ts(
    parent: Element,
    tag: str,
    low: str | None,
    high: str | None,
    path: str,
    *,
    typed: bool = True,
    high_unknown: bool = False,
) -> Element:
    """An IVL_TS; with neither bound it is ``nullFlavor="UNK"``."""
    node = el(parent, tag)
    if typed:
        set_xsi_type(node, "IVL_TS")
    if not low and not high:
        node.set("nullFlavor", "UNK")
        return node
    if low:
        el(node, "low", {"value": ts(low, path)})
    else:
        el(node, "low", {"nullFlavor": "UNK"})
    if high:
        el(node, "high", {"value": ts(high, path)})
    elif high_unknown:
        el(node, "high", {"nullFlavor": "UNK"})
    return node


def period_bounds(resource: dict[str, Any], prefix: str) -> tuple[str | None, str | None, str]:
    """Start/end of a ``<prefix>[x]`` choice (dateTime or Period) with the FHIRPath of the value."""
    if f"{prefix}DateTime" in resource:
        return resource[f"{prefix}DateTime"], None, f"{prefix}DateTime"
    if f"{prefix}Period" in resource:
        period = resource[f"{prefix}Period"]
        return period.get("start"), period.get("end"), f"{prefix}Period"
    return None, None, prefix


#: key of a :func:`coding_attrs` result that is no attribute: the text of ``originalText``, for a
#: coding whose code system is unknown (``nullFlavor="OTH"``)
ORIGINAL_TEXT = "#originalText"


def unidentified_text(coding: dict[str, Any]) -> str:
    """What a coding without ``system`` says, as readable text: its display and its code."""
    display = str(coding.get("display") or "").strip()
    code = str(coding.get("code") or "").strip()
    if display and code and display != code:
        return f"{display} ({code})"
    return display or code


def coding_attrs(coding: dict[str, Any], path: str) -> dict[str, str | None]:
    """CD attributes of one Coding; refuses a coding with a system a CDA cannot identify.

    A coding with no ``system`` at all (``cda to-fhir`` writes one for a CDA code that had no
    ``codeSystem``) is not refused: HL7 v3 says such a value is ``nullFlavor="OTH"`` (outside
    the known code systems) with what it said in ``originalText`` (see :func:`write_cd`).
    """
    system = coding.get("system")
    code = coding.get("code")
    if not system:
        return {"nullFlavor": "OTH", ORIGINAL_TEXT: unidentified_text(coding) or None}
    if not code:
        raise TransformError("Codage sans code : impossible à porter dans un CDA", expression=f"{path}.code")
    mapped = oids.code_system(system)
    if mapped is None:
        raise TransformError(
            f"Le système de codes « {system} » n'a pas d'OID connu pour le CDA ; utiliser un system urn:oid: "
            "ou un système de cda_transform.to_cda.oids",
            code="not-supported",
            expression=f"{path}.system",
        )
    oid, name = mapped
    return {
        "code": code,
        "codeSystem": oid,
        "codeSystemName": name,
        "codeSystemVersion": coding.get("version"),
        "displayName": coding.get("display"),
    }


def primary_index(codings: Sequence[dict[str, Any]], prefer: Sequence[str]) -> int:
    """Index of the coding that becomes the CD itself; the others become translations.

    ``prefer`` lists system URIs in the eHDSI value set order for the element (e.g. ICD-10 first
    for a problem), so that the MVC code leads and national codes follow as translations.
    """
    for system in prefer:
        for index, coding in enumerate(codings):
            if coding.get("system") == system:
                return index
    return 0


def coded(
    parent: Element,
    tag: str,
    concept: dict[str, Any] | None,
    path: str,
    *,
    prefer: Sequence[str] = (),
    ns: str = V3,
    xsi_type: str | None = None,
    text_ref: str | None = None,
    null_flavor: str = "UNK",
    extra_translations: Iterable[dict[str, str | None]] = (),
) -> Element:
    """A CD/CE from a CodeableConcept: preferred coding first, every other coding as translation."""
    node = el(parent, tag, ns=ns)
    if xsi_type:
        set_xsi_type(node, xsi_type)
    all_codings = list((concept or {}).get("coding") or [])
    # Codings without a system cannot be the CD's code nor a coded translation: their text goes
    # into originalText, and with no identified coding at all the CD is nullFlavor OTH.
    codings = [c for c in all_codings if c.get("system")]
    unidentified = [unidentified_text(c) for c in all_codings if not c.get("system")]
    first = -1
    local: dict[str, str | None] | None = None
    if codings:
        first = primary_index(codings, prefer)
        index_in_all = all_codings.index(codings[first])
        attrs = coding_attrs(codings[first], f"{path}.coding[{index_in_all}]")
        designation = english(str(codings[first]["system"]), str(attrs["code"]))
        if designation and attrs["displayName"] and attrs["displayName"] != designation:
            local = {k: attrs[k] for k in ("code", "codeSystem", "codeSystemName", "displayName")}
        attrs["displayName"] = designation or attrs["displayName"]
        for key, value in attrs.items():
            if value is not None:
                node.set(key, value)
    else:
        node.set("nullFlavor", "OTH" if unidentified else null_flavor)
    text = (concept or {}).get("text")
    said = [t for t in unidentified if t]
    words = [text] if text and not codings and not any(t.startswith(text) for t in said) else []
    words += said
    if text_ref or words:
        original = el(node, "originalText")
        if words:
            original.text = " ; ".join(dict.fromkeys(words))
        if text_ref:
            el(original, "reference", {"value": f"#{text_ref}"})
    if local is not None:  # the input's own designation, kept beside the English one
        el(node, "translation", local)
    for index, coding in enumerate(all_codings):
        if coding.get("system") and (not codings or coding is not codings[first]):
            el(node, "translation", coding_attrs(coding, f"{path}.coding[{index}]"))
    for attrs in extra_translations:
        el(node, "translation", attrs)
    return node


def fixed_code(
    parent: Element,
    tag: str,
    code: str,
    system_oid: str,
    display: str | None = None,
    system_name: str | None = None,
    *,
    xsi_type: str | None = None,
    translations: Iterable[dict[str, str | None]] = (),
) -> Element:
    """A code chosen by the transform itself (template codes, mapped status values)."""
    node = el(parent, tag)
    if xsi_type:
        set_xsi_type(node, xsi_type)
    for key, value in {
        "code": code,
        "codeSystem": system_oid,
        "codeSystemName": system_name,
        "displayName": display,
    }.items():
        if value is not None:
            node.set(key, value)
    for attrs in translations:
        translation(node, attrs)
    return node


def translation(parent: Element, attrs: dict[str, str | None]) -> Element:
    """A ``translation`` from :func:`coding_attrs`, with the ``originalText`` of an unidentified coding."""
    text = attrs.get(ORIGINAL_TEXT)
    node = el(parent, "translation", {k: v for k, v in attrs.items() if k != ORIGINAL_TEXT})
    if text:
        el(node, "originalText", text=text)
    return node


def concept_display(concept: dict[str, Any] | None) -> str:
    """Human-readable label of a CodeableConcept, for the narrative."""
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if coding.get("display"):
            return str(coding["display"])
    codings = concept.get("coding") or []
    return ", ".join(str(c.get("code", "")) for c in codings)


def first_system(concept: dict[str, Any] | None) -> str | None:
    codings = (concept or {}).get("coding") or []
    return codings[0].get("system") if codings else None


def is_absent_unknown(concept: dict[str, Any] | None) -> bool:
    """True for the IPS absent/unknown codes (``no-known-allergies`` ...)."""
    return any(c.get("system") == oids.ABSENT_UNKNOWN_URI for c in (concept or {}).get("coding") or [])


def quantity_unit(quantity: dict[str, Any]) -> str | None:
    """UCUM unit of a Quantity, or None when the quantity has no unit usable as ``PQ/@unit``."""
    if quantity.get("system") == "http://unitsofmeasure.org" and quantity.get("code"):
        return str(quantity["code"])
    unit = quantity.get("code") or quantity.get("unit")
    if unit and not re.search(r"\s", str(unit)):
        return str(unit)
    return None if unit else "1"


def pq(
    parent: Element,
    tag: str,
    quantity: dict[str, Any] | None,
    path: str,
    *,
    xsi_type: str | None = None,
    ns: str = V3,
) -> Element:
    node = el(parent, tag, ns=ns)
    if xsi_type:
        set_xsi_type(node, xsi_type)
    if not quantity or quantity.get("value") is None:
        node.set("nullFlavor", "UNK")
        return node
    unit = quantity_unit(quantity)
    if unit is None:
        raise TransformError(
            f"L'unité « {quantity.get('unit')} » n'est pas un code UCUM : impossible à porter en PQ",
            code="not-supported",
            expression=f"{path}.unit",
        )
    node.set("value", _number(quantity["value"]))
    node.set("unit", unit)
    return node


def _number(value: Any) -> str:
    text = str(value)
    return text[:-2] if text.endswith(".0") and isinstance(value, float) else text


def ii(parent: Element, identifier: dict[str, Any] | None, *, tag: str = "id") -> Element | None:
    """An II from an Identifier whose system has an OID; None when it has none."""
    if not identifier:
        return None
    mapped = oids.identifier_root(identifier.get("system"), identifier.get("value"))
    if mapped is None:
        return None
    root, extension = mapped
    return el(parent, tag, {"root": root, "extension": extension})


def resource_id(parent: Element, resource: dict[str, Any], full_url: str, *, tag: str = "id") -> Element:
    """The entry's id: a mapped business identifier, else a stable UUID derived from the fullUrl."""
    for identifier in resource.get("identifier") or []:
        node = ii(parent, identifier, tag=tag)
        if node is not None:
            return node
    return el(parent, tag, {"root": str(uuid.uuid5(uuid.NAMESPACE_URL, full_url)).upper()})


_TEL_PREFIX = {"phone": "tel:", "fax": "fax:", "email": "mailto:", "sms": "tel:", "url": ""}
_TEL_USE = {"home": "HP", "work": "WP", "mobile": "MC", "temp": "TMP", "old": "BAD"}


def telecoms(parent: Element, contact_points: list[dict[str, Any]] | None, *, required: bool = False) -> None:
    written = 0
    for contact in contact_points or []:
        value = contact.get("value")
        if not value:
            continue
        prefix = _TEL_PREFIX.get(contact.get("system", ""), "")
        compact = re.sub(r"\s", "", value) if prefix in ("tel:", "fax:") else value.strip()
        url = compact if prefix and compact.startswith(prefix) else prefix + compact
        el(parent, "telecom", {"value": url, "use": _TEL_USE.get(contact.get("use", ""))})
        written += 1
    if required and not written:
        el(parent, "telecom", {"nullFlavor": "NI"})


_ADDR_USE = {"home": "H", "work": "WP", "temp": "TMP", "old": "BAD"}


def addresses(parent: Element, addrs: list[dict[str, Any]] | None, *, required: bool = False) -> None:
    written = 0
    for address in addrs or []:
        node = el(parent, "addr", {"use": _ADDR_USE.get(address.get("use", ""))})
        for line in address.get("line") or []:
            el(node, "streetAddressLine", text=line)
        for key, tag in (
            ("postalCode", "postalCode"),
            ("city", "city"),
            ("state", "state"),
            ("country", "country"),
        ):
            if address.get(key):
                el(node, tag, text=address[key])
        if len(node) == 0 and address.get("text"):
            el(node, "streetAddressLine", text=address["text"])
        if len(node) == 0:
            node.set("nullFlavor", "NI")
        written += 1
    if required and not written:
        el(parent, "addr", {"nullFlavor": "NI"})


def person_names(parent: Element, names: list[dict[str, Any]] | None) -> None:
    """PN elements; a person without any name gets ``<name nullFlavor="UNK"/>``."""
    written = 0
    for name in names or []:
        node = el(parent, "name")
        for prefix in name.get("prefix") or []:
            el(node, "prefix", text=prefix)
        if name.get("family"):
            el(node, "family", text=name["family"])
        for given in name.get("given") or []:
            el(node, "given", text=given)
        for suffix in name.get("suffix") or []:
            el(node, "suffix", text=suffix)
        if len(node) == 0:
            if name.get("text"):
                node.text = name["text"]
            else:
                node.set("nullFlavor", "UNK")
        written += 1
    if not written:
        el(parent, "name", {"nullFlavor": "UNK"})


def name_text(names: list[dict[str, Any]] | None) -> str:
    for name in names or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("prefix", []), *name.get("given", []), name.get("family", "")]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return ""
