"""XSD validation of incoming CDA: current eHDSI ``CDA_Pharma.xsd`` first, epSOS ``CDA_extended.xsd`` next.

Schema errors never stop the conversion (many real pivots only pass the old epSOS schema,
some pass neither): they come back as warnings in the OperationOutcome returned with the
Bundle. Schemas are compiled once per process, from the vendored copies only.
"""

from __future__ import annotations

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


@lru_cache(maxsize=2)
def _schema(path: Path) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(path), parser))


def validate(root: etree._Element) -> list[dict[str, Any]]:
    """OperationOutcome issues: empty when a schema accepts the document."""
    first_errors: list[Any] = []
    first_name = ""
    for name, path in SCHEMAS:
        schema = _schema(path)
        if schema.validate(root):
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
            first_errors, first_name = list(schema.error_log), name
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
