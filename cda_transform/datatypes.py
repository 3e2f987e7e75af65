"""CDA (HL7 v3) data types to FHIR data types: TS, IVL_TS, PQ, II, PN, AD, TEL.

Every converter returns ``None`` rather than an invalid FHIR value: a malformed date or
number in a foreign document must not break the Bundle, and the caller then records the
value as absent (with the original kept in the narrative).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from lxml import etree

from cda_transform.parse import has_null, kid, kids, local, text_of
from cda_transform.systems import uri_for_oid

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(\.\d+)?)?\s*([+-]\d{4}|Z)?$")
_DECIMAL = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def system_uri(oid: str | None) -> str | None:
    """FHIR ``system`` for a CDA ``codeSystem`` (an OID, a UUID, or already a URI).

    A known OID gives its canonical URI from ``cda_transform.systems``, the table ``to_cda``
    writes OIDs from, so that a code keeps its system over a round trip; any other OID is
    kept as ``urn:oid:``.
    """
    if not oid:
        return None
    oid = oid.strip()
    known = uri_for_oid(oid)
    if known:
        return known
    if _OID.match(oid):
        return f"urn:oid:{oid}"
    if _UUID.match(oid):
        return f"urn:uuid:{oid.lower()}"
    if re.match(r"^[a-z][a-z0-9+.-]*:\S+$", oid):
        return oid
    return None


def identifier_system(root: str | None) -> str | None:
    return system_uri(root)


# ---------------------------------------------------------------- time


def ts(value: str | None) -> str | None:
    """HL7 TS to FHIR date/dateTime, keeping the precision the source had.

    FHIR requires a time zone as soon as hours and minutes are given; a TS with a time
    but no zone is reduced to its date rather than given an invented zone.
    """
    if not value:
        return None
    m = _TS.match(value.strip())
    if not m:
        return None
    year, month, day, hh, mi, ss, frac, tz = m.groups()
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None
    if int(year) < 1:
        return None
    out = year
    if month:
        out += f"-{month}"
        if day:
            out += f"-{day}"
    if not (month and day and hh and mi and tz):
        return out
    if int(hh) > 23 or int(mi) > 59 or (ss and int(ss) > 59):
        return out
    out += f"T{hh}:{mi}:{ss or '00'}{frac or ''}"
    out += "Z" if tz == "Z" else f"{tz[:3]}:{tz[3:]}"
    if tz != "Z" and (int(tz[1:3]) > 14 or int(tz[3:]) > 59):
        return out.split("T")[0]
    return out


def ts_of(el: etree._Element | None) -> str | None:
    if el is None or has_null(el):
        return None
    return ts(el.get("value"))


def period(el: etree._Element | None) -> dict[str, str] | None:
    """IVL_TS (or a plain TS with @value) to Period."""
    if el is None:
        return None
    out: dict[str, str] = {}
    single = ts_of(el)
    if single:
        out["start"] = single
    low, high = ts_of(kid(el, "low")), ts_of(kid(el, "high"))
    if low:
        out["start"] = low
    if high:
        out["end"] = high
    center = ts_of(kid(el, "center"))
    if center and not out:
        out["start"] = out["end"] = center
    if "start" in out and "end" in out and out["end"] < out["start"] and len(out["end"]) == len(out["start"]):
        out.pop("end")
    return out or None


def effective_times(stmt: etree._Element) -> list[etree._Element]:
    return kids(stmt, "effectiveTime")


def onset_and_end(el: etree._Element | None) -> tuple[str | None, str | None]:
    p = period(el)
    if not p:
        return None, None
    return p.get("start"), p.get("end")


# ---------------------------------------------------------------- quantities


def decimal(value: str | None) -> float | int | None:
    if value is None:
        return None
    value = value.strip()
    if not _DECIMAL.match(value) or len(value) > 30:
        return None
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if "." not in value and "e" not in value.lower() and abs(number) < 2**53:
        return int(value)
    return number


def quantity(el: etree._Element | None) -> dict[str, Any] | None:
    """PQ to a UCUM Quantity (unit "1" is the dimensionless UCUM unit, kept as code)."""
    if el is None or has_null(el):
        return None
    number = decimal(el.get("value"))
    if number is None:
        return None
    out: dict[str, Any] = {"value": number}
    unit = (el.get("unit") or "").strip()
    if unit:
        out.update(unit=unit, system="http://unitsofmeasure.org", code=unit)
    return out


def ratio(el: etree._Element | None) -> dict[str, Any] | None:
    if el is None:
        return None
    num, den = quantity(kid(el, "numerator")), quantity(kid(el, "denominator"))
    if num is None and den is None:
        single = quantity(el)
        return {"numerator": single, "denominator": {"value": 1}} if single else None
    out: dict[str, Any] = {}
    if num:
        out["numerator"] = num
    if den:
        out["denominator"] = den
    return out


# ---------------------------------------------------------------- identity, names, addresses


def identifier(el: etree._Element | None) -> dict[str, Any] | None:
    """II to Identifier; the assigning authority name, when given, becomes ``assigner``."""
    if el is None or (has_null(el) and not el.get("root")):
        return None
    root, ext = (el.get("root") or "").strip(), (el.get("extension") or "").strip()
    if not root and not ext:
        return None
    out: dict[str, Any] = {}
    if ext:
        system = identifier_system(root)
        if system:
            out["system"] = system
        out["value"] = ext
    else:
        out["system"] = "urn:ietf:rfc:3986"
        out["value"] = system_uri(root) or root
    authority = el.get("assigningAuthorityName")
    if authority and authority.strip():
        out["assigner"] = {"display": authority.strip()}
    return out


def identifiers(parent: etree._Element | None) -> list[dict[str, Any]]:
    return [i for i in (identifier(e) for e in kids(parent, "id")) if i]


_NAME_USE = {
    "L": "official",
    "P": "nickname",
    "A": "anonymous",
    "SRCH": "usual",
    "C": "old",
    "OR": "official",
}


def human_name(el: etree._Element | None) -> dict[str, Any] | None:
    if el is None or has_null(el):
        return None
    out: dict[str, Any] = {}
    given = [t for t in (text_of(g) for g in kids(el, "given")) if t]
    family = [t for t in (text_of(f) for f in kids(el, "family")) if t]
    prefix = [t for t in (text_of(p) for p in kids(el, "prefix")) if t]
    suffix = [t for t in (text_of(s) for s in kids(el, "suffix")) if t]
    if family:
        out["family"] = " ".join(family)
    if given:
        out["given"] = given
    if prefix:
        out["prefix"] = prefix
    if suffix:
        out["suffix"] = suffix
    if not out:
        whole = text_of(el)
        if not whole:
            return None
        out["text"] = whole
    use = _NAME_USE.get((el.get("use") or "").split(" ")[0])
    if use:
        out["use"] = use
    return out


def names(parent: etree._Element | None) -> list[dict[str, Any]]:
    return [n for n in (human_name(e) for e in kids(parent, "name")) if n]


def org_name(parent: etree._Element | None) -> str | None:
    for n in kids(parent, "name"):
        t = text_of(n)
        if t:
            return t
    return None


_ADDR_USE = {
    "H": "home",
    "HP": "home",
    "HV": "home",
    "WP": "work",
    "DIR": "work",
    "PUB": "work",
    "TMP": "temp",
    "OLD": "old",
    "BAD": "old",
}
_ADDR_PARTS = {
    "city": "city",
    "postalCode": "postalCode",
    "state": "state",
    "country": "country",
    "county": "district",
}


def address(el: etree._Element | None) -> dict[str, Any] | None:
    if el is None or has_null(el):
        return None
    out: dict[str, Any] = {}
    lines = [t for t in (text_of(e) for e in kids(el, "streetAddressLine")) if t]
    street = " ".join(t for t in (text_of(e) for e in kids(el, "houseNumber", "streetName")) if t)
    if street:
        lines.append(street)
    if lines:
        out["line"] = lines
    for child in kids(el):
        key = _ADDR_PARTS.get(local(child))
        value = text_of(child)
        if key and value and key not in out:
            out[key] = value
    if not out:
        whole = text_of(el)
        if not whole:
            return None
        out["text"] = whole
    use = _ADDR_USE.get((el.get("use") or "").split(" ")[0])
    if use:
        out["use"] = use
    return out


def addresses(parent: etree._Element | None) -> list[dict[str, Any]]:
    return [a for a in (address(e) for e in kids(parent, "addr")) if a]


_TEL_SCHEME = {"tel": "phone", "fax": "fax", "mailto": "email", "http": "url", "https": "url"}
_TEL_USE = {
    "H": "home",
    "HP": "home",
    "HV": "home",
    "WP": "work",
    "MC": "mobile",
    "TMP": "temp",
    "EC": "home",
    "PG": "mobile",
}


def contact_point(el: etree._Element | None) -> dict[str, Any] | None:
    if el is None or has_null(el):
        return None
    value = (el.get("value") or "").strip()
    if not value:
        return None
    scheme, _, rest = value.partition(":")
    system = _TEL_SCHEME.get(scheme.lower())
    out: dict[str, Any] = {}
    if system:
        out["system"] = system
        out["value"] = value if system == "url" else (rest.strip() or value)
    else:
        out["system"] = "other"
        out["value"] = value
    use = _TEL_USE.get((el.get("use") or "").split(" ")[0])
    if use:
        out["use"] = use
    return out


def telecoms(parent: etree._Element | None) -> list[dict[str, Any]]:
    return [t for t in (contact_point(e) for e in kids(parent, "telecom")) if t]
