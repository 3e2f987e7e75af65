"""XSD validation of incoming CDA: current eHDSI ``CDA_Pharma.xsd`` first, epSOS ``CDA_extended.xsd`` next.

Schema errors never stop the conversion (many real pivots only pass the old epSOS schema,
some pass neither): they come back as warnings in the OperationOutcome returned with the
Bundle. Schemas are compiled once per process, from the vendored copies only.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

XSD_DIR = Path(__file__).parent / "xsd"
SCHEMAS = (
    ("CDA_Pharma.xsd (eHDSI)", XSD_DIR / "current" / "CDA_Pharma.xsd"),
    ("CDA_extended.xsd (epSOS)", XSD_DIR / "epsos" / "CDA_extended.xsd"),
)
MAX_REPORTED = 10
_LOCK = threading.Lock()
"""Compiled schemas are shared by the whole process; lxml does not promise that one schema
object can validate in several threads at once, so validations are serialised."""


@lru_cache(maxsize=2)
def _schema(path: Path) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(path), parser))


def validate(root: etree._Element) -> list[dict[str, Any]]:
    """OperationOutcome issues: empty when a schema accepts the document."""
    first_errors: list[Any] = []
    first_name = ""
    for name, path in SCHEMAS:
        with _LOCK:
            schema = _schema(path)
            valid = schema.validate(root)
            errors = list(schema.error_log)
        if valid:
            if first_errors:
                return [
                    {
                        "severity": "information",
                        "code": "informational",
                        "diagnostics": f"Document non conforme à {first_name}, mais conforme à {name}.",
                    }
                ]
            return []
        if not first_errors:
            first_errors, first_name = errors, name
    issues = [
        {
            "severity": "warning",
            "code": "structure",
            "diagnostics": f"Document non conforme aux schémas eHDSI ({', '.join(n for n, _ in SCHEMAS)}) ; "
            f"{len(first_errors)} erreur(s) pour {first_name}. Conversion poursuivie.",
        }
    ]
    for err in first_errors[:MAX_REPORTED]:
        issue: dict[str, Any] = {
            "severity": "warning",
            "code": "structure",
            "diagnostics": f"ligne {err.line} : {err.message}",
        }
        if err.path:
            issue["expression"] = [err.path]
        issues.append(issue)
    return issues
