"""Coded CDA elements (CD/CE/CV) to FHIR CodeableConcepts, translated to French when possible.

How a translation is represented (the portal relies on it):

* Every ``Coding`` built from the CDA carries the extension
  ``https://passerelle.fr/fhir/StructureDefinition/translation-status`` with ``valueCode``
  ``translated`` or ``not-translated``. ``not-translated`` is what the portal shows as
  « non traduit ».
* ``translated``: ``Coding.display`` holds the French designation returned by the
  terminology service, and the designation the document gave (``@displayName``, or the
  narrative text its ``originalText`` points to) is kept in the extension
  ``https://passerelle.fr/fhir/StructureDefinition/original-display`` (``valueString``).
* ``not-translated``: ``Coding.display`` keeps the original designation unchanged. The
  original designation is ``@displayName``, else the narrative text ``originalText`` points
  to, else (the document gives none) the English MVC designation from the terminology.
* Codes FHIR requires in its own systems (clinical status, categories, the IPS absent/unknown
  codes a document implies) get the same treatment, starting from the code system's display.
* The code and system are never changed; the CDA ``<translation>`` children (national codes)
  follow as extra codings, processed the same way. ``CodeableConcept.text`` holds the
  original text (``originalText``, resolved through the narrative when it is a reference,
  else the original designation), so nothing the document said is lost.

The French designations come only from the terminology service (a ``Terminology`` passed
in, or the in-process ``terminology.display`` when that package provides it). There is no
built-in clinical translation table: without a terminology, every coding is marked
``not-translated``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from lxml import etree

from cda_transform.coded_elements import CodedElement
from cda_transform.datatypes import system_uri
from cda_transform.extensions import (
    DATA_ABSENT_REASON,
    ORIGINAL_DISPLAY,
    TRANSLATION_SOURCE,
    TRANSLATION_STATUS,
)
from cda_transform.parse import has_null, kid, kids, text_of

DATA_ABSENT = DATA_ABSENT_REASON

NULL_TO_ABSENT = {
    "UNK": "unknown",
    "NI": "unknown",
    "UNC": "unknown",
    "ASKU": "asked-unknown",
    "NAV": "temp-unknown",
    "NASK": "not-asked",
    "MSK": "masked",
    "NA": "not-applicable",
    "OTH": "unsupported",
    "PINF": "positive-infinity",
    "NINF": "negative-infinity",
    "NP": "unknown",
    "TRC": "unknown",
    "QS": "unknown",
    "INV": "error",
    "DER": "unknown",
}


DAR_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
DAR_DISPLAY = {
    "unknown": "Unknown",
    "asked-unknown": "Asked But Unknown",
    "temp-unknown": "Temporarily Unknown",
    "not-asked": "Not Asked",
    "masked": "Masked",
    "not-applicable": "Not Applicable",
    "unsupported": "Unsupported",
    "error": "Error",
    "positive-infinity": "Positive Infinity (PINF)",
    "negative-infinity": "Negative Infinity (NINF)",
}


class Terminology(Protocol):
    """The one call cda_transform needs from the terminology service."""

    def display(self, system: str, code: str, lang: str) -> str | None: ...


def default_describer() -> Callable[[str, str, str], Any] | None:
    """``terminology.designation`` (the designation with its source) when the package provides it."""
    try:
        import terminology
    except Exception:  # see default_terminology
        return None
    fn = getattr(terminology, "designation", None)
    return fn if callable(fn) else None


def source_extension(found: Any) -> dict[str, Any] | None:
    """The ``translation-source`` extension for a designation with its source (duck-typed)."""
    source = getattr(found, "source", None)
    if not isinstance(source, dict) or not source.get("url"):
        return None
    url = source["url"] + (f"|{source['version']}" if source.get("version") else "")
    parts: list[dict[str, Any]] = [{"url": "source", "valueCanonical": url}]
    for key in ("title", "publisher", "copyright"):
        if source.get(key):
            parts.append({"url": key, "valueString": str(source[key])})
    note = getattr(found, "note", None)
    if note:
        parts.append({"url": "resolution", "valueString": note})
        parts.append({"url": "resolvedCoding", "valueCoding": {"system": found.system, "code": found.code}})
    return {"url": TRANSLATION_SOURCE, "extension": parts}


def default_terminology() -> Callable[[str, str, str], str | None] | None:
    """``terminology.display`` when the in-process terminology package exposes it, else None."""
    try:
        import terminology
    except Exception:  # absent, or mid-development and broken: translate nothing rather than fail
        return None
    fn = getattr(terminology, "display", None)
    return fn if callable(fn) else None


class Translator:
    """Builds CodeableConcepts from CDA coded elements and keeps translation statistics."""

    def __init__(
        self,
        lookup: Callable[[str, str, str], str | None] | None,
        lang: str,
        narrative_ids: dict[str, str],
        listed: dict[etree._Element, CodedElement],
        describe: Callable[[str, str, str], Any] | None = None,
    ) -> None:
        self._lookup = lookup
        self._describe = describe
        self._sources: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.lang = lang
        self._ids = narrative_ids
        self.listed = listed
        self._cache: dict[tuple[str, str, str], str | None] = {}
        self.translated = 0
        self.untranslated = 0
        self.lookup_errors: list[str] = []
        self.untranslated_listed: list[etree._Element] = []
        self.seen_listed: set[etree._Element] = set()

    @property
    def has_lookup(self) -> bool:
        return self._lookup is not None

    # ------------------------------------------------------------ text helpers

    def original_text(self, el: etree._Element | None) -> str | None:
        """``originalText`` content, following ``reference/@value`` into the narrative."""
        ot = kid(el, "originalText")
        if ot is None:
            return None
        ref = kid(ot, "reference")
        if ref is not None:
            target = (ref.get("value") or "").lstrip("#")
            if target in self._ids:
                return self._ids[target]
        return text_of(ot) if ref is None else (text_of(ot) or None)

    def reference_text(self, stmt: etree._Element | None) -> str | None:
        """Text of a statement's ``text`` element (a narrative reference or inline text)."""
        t = kid(stmt, "text")
        if t is None:
            return None
        ref = kid(t, "reference")
        if ref is not None:
            target = (ref.get("value") or "").lstrip("#")
            if target in self._ids:
                return self._ids[target]
        return text_of(t)

    # ------------------------------------------------------------ translation

    def _designation(self, system: str, code: str, lang: str) -> str | None:
        if self._lookup is None:
            return None
        key = (system, code, lang)
        if key not in self._cache:
            try:
                value = self._lookup(system, code, lang)
            except Exception as exc:  # a failing terminology must not lose the document
                if len(self.lookup_errors) < 5:
                    self.lookup_errors.append(f"{system}|{code}: {type(exc).__name__}: {exc}")
                value = None
            self._cache[key] = value.strip() if isinstance(value, str) and value.strip() else None
        return self._cache[key]

    def _source(self, system: str, code: str) -> dict[str, Any] | None:
        """Where the French designation of (system, code) comes from, as an extension (cached)."""
        if self._describe is None:
            return None
        key = (system, code)
        if key not in self._sources:
            try:
                found = self._describe(system, code, self.lang)
            except Exception as exc:  # the designation is kept; only its source is missing
                if len(self.lookup_errors) < 5:
                    self.lookup_errors.append(f"{system}|{code}: {type(exc).__name__}: {exc}")
                found = None
            self._sources[key] = source_extension(found) if found is not None else None
        return self._sources[key]

    def _french(self, system: str, code: str) -> str | None:
        return self._designation(system, code, self.lang)

    def coding(self, el: etree._Element, fallback_display: str | None = None) -> dict[str, Any] | None:
        code = (el.get("code") or "").strip()
        if not code:
            return None
        out: dict[str, Any] = {}
        system = system_uri(el.get("codeSystem"))
        if system:
            out["system"] = system
        version = (el.get("codeSystemVersion") or "").strip()
        if version:
            out["version"] = version
        out["code"] = code
        original = (el.get("displayName") or "").strip() or fallback_display
        if not original and system:
            # No designation in the document at all: the English (MVC) one beats a bare code.
            original = self._designation(system, code, "en")
        self._mark(out, system, code, original)
        return out

    def _mark(self, out: dict[str, Any], system: str | None, code: str, original: str | None) -> None:
        french = self._french(system, code) if system else None
        if french:
            self.translated += 1
            out["display"] = french
            out["extension"] = [{"url": TRANSLATION_STATUS, "valueCode": "translated"}]
            if original and original != french:
                out["extension"].append({"url": ORIGINAL_DISPLAY, "valueString": original})
            source = self._source(system, code) if system else None
            if source is not None:
                out["extension"].append(source)
        else:
            self.untranslated += 1
            if original:
                out["display"] = original
            out["extension"] = [{"url": TRANSLATION_STATUS, "valueCode": "not-translated"}]

    def synthetic(self, system: str, code: str, display: str | None) -> dict[str, Any]:
        """A concept the CDA implies without coding it (IPS absent/unknown, FHIR-required codes).

        It is looked up and marked exactly like a coding read from the document.
        """
        coding: dict[str, Any] = {"system": system, "code": code}
        self._mark(coding, system, code, display)
        return {"coding": [coding], "text": display} if display else {"coding": [coding]}

    def absent_reason(self, null_flavor: str | None) -> dict[str, Any]:
        """A data-absent-reason concept for a CDA nullFlavor (the flavor kept as text)."""
        code = NULL_TO_ABSENT.get(null_flavor or "UNK", "unknown")
        out = self.synthetic(DAR_SYSTEM, code, DAR_DISPLAY.get(code, code))
        if null_flavor:
            out["text"] = null_flavor
        return out

    def concept(self, el: etree._Element | None, *, text: str | None = None) -> dict[str, Any] | None:
        """CodeableConcept for a CD element, or None when it says nothing at all."""
        if el is None:
            return None
        listed = el in self.listed
        if listed:
            self.seen_listed.add(el)
        orig_text = self.original_text(el)
        codings: list[dict[str, Any]] = []
        main = self.coding(el, orig_text)
        if main:
            codings.append(main)
            if listed and any(e.get("valueCode") == "not-translated" for e in main["extension"]):
                self.untranslated_listed.append(el)
        for c in self.translations(el):
            if c not in codings:
                codings.append(c)
        out: dict[str, Any] = {}
        if codings:
            out["coding"] = codings
        label = orig_text or (el.get("displayName") or "").strip() or text or None
        if label:
            out["text"] = label
        if not out:
            return None
        return out

    def translations(self, el: etree._Element | None) -> list[dict[str, Any]]:
        """Codings of the ``<translation>`` children of a coded element, nested ones included.

        Used alone where the element's own code is structural and the clinical codes ride as
        translations (the IHE PINSTRUCT act: its code says "patient instruction", the
        translations say which one).
        """
        codings: list[dict[str, Any]] = []
        stack = kids(el, "translation")
        while stack:
            tr = stack.pop(0)
            c = self.coding(tr, self.original_text(tr))
            if c and c not in codings:
                codings.append(c)
            stack.extend(kids(tr, "translation"))
        return codings

    def concept_or_absent(self, el: etree._Element | None, *, text: str | None = None) -> dict[str, Any]:
        """A CodeableConcept that always exists: for mandatory FHIR elements.

        When the CDA gives a nullFlavor (or nothing), the concept carries the standard
        data-absent-reason extension and whatever text the document had.
        """
        found = self.concept(el, text=text)
        if found:
            return found
        flavor = el.get("nullFlavor") if el is not None and has_null(el) else "UNK"
        out: dict[str, Any] = {
            "extension": [{"url": DATA_ABSENT, "valueCode": NULL_TO_ABSENT.get(flavor, "unknown")}]
        }
        out["text"] = text or "Information non disponible"
        return out


def code_of(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    value = (el.get("code") or "").strip()
    return value or None
