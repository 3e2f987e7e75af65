"""State shared while one CDA document becomes one Bundle: ids, resources, warnings.

Resource ids are UUID v5 derived from the document's own identifier and a running counter,
so converting the same document twice yields the same Bundle (stable tests, idempotent
storage), while two documents never share ids.
"""

from __future__ import annotations

import uuid
from typing import Any

from lxml import etree

from cda_transform.parse import xpath_of
from cda_transform.translate import Translator

_NAMESPACE = uuid.UUID("0b3b7f0e-6a51-4b7e-9a4c-2c1f5a0e9d11")


class Context:
    def __init__(self, doc_key: str, translator: Translator, source_lang: str | None) -> None:
        self._doc_key = doc_key
        self._counter = 0
        self.translator = translator
        self.source_lang = source_lang
        self.entries: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.patient_ref: dict[str, str] = {}
        self._by_key: dict[str, str] = {}

    def new_id(self) -> str:
        self._counter += 1
        return str(uuid.uuid5(_NAMESPACE, f"{self._doc_key}#{self._counter}"))

    def add(self, resource: dict[str, Any], *, key: str | None = None) -> dict[str, str]:
        """Put a resource in the Bundle and return a reference to it.

        ``key`` deduplicates resources that the header repeats (the same organisation as
        author's employer, custodian and legal authenticator's employer).
        """
        if key and key in self._by_key:
            return {"reference": self._by_key[key]}
        rid = self.new_id()
        resource["id"] = rid
        full = f"urn:uuid:{rid}"
        self.entries.append({"fullUrl": full, "resource": resource})
        if key:
            self._by_key[key] = full
        return {"reference": full}

    def warn(
        self,
        message: str,
        el: etree._Element | None = None,
        *,
        severity: str = "warning",
        code: str = "business-rule",
    ) -> None:
        issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
        if el is not None:
            issue["expression"] = [xpath_of(el)]
        self.issues.append(issue)
