"""Stupéfiants: medicines that may not be prescribed in a teleconsultation.

French rule: stupéfiants are prescribed on a secured ordonnance after a face-to-face
consultation; the teleconsultation platforms refuse them. Recognised by ATC code (WHO ATC
classification, substances of the ANSM list of stupéfiants used in human medicine, arrêté
du 22 février 1990 as amended) or, for a free-text line, by the substance's French name.
The list covers the substances of medicines marketed in France; a medicine coded by CIP or
UCD only is recognised by its name (its text or display).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

ATC_SYSTEMS = frozenset({"http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"})
# ATC code -> substance (French INN)
NARCOTIC_ATC: dict[str, str] = {
    "N02AA01": "morphine",
    "N02AA03": "hydromorphone",
    "N02AA05": "oxycodone",
    "N02AA55": "oxycodone",  # oxycodone + naloxone
    "N02AB02": "péthidine",
    "N02AB03": "fentanyl",
    "N01AH01": "fentanyl",
    "N01AH03": "sufentanil",
    "N01AH02": "alfentanil",
    "N01AH06": "rémifentanil",
    "N02AX06": "tapentadol",
    "N07BC02": "méthadone",
    "N06BA04": "méthylphénidate",
    "N06BA02": "dexamfétamine",
    "N07XX04": "oxybate de sodium",
    "N01AX03": "kétamine",
    "N01AX14": "eskétamine",
    "N06AX27": "eskétamine",
    "N02AG01": "morphine",  # morphine + antispasmodics
}
NARCOTIC_NAMES = frozenset(
    {
        "morphine", "hydromorphone", "oxycodone", "pethidine", "fentanyl", "sufentanil", "alfentanil",
        "remifentanil", "tapentadol", "methadone", "methylphenidate", "dexamfetamine", "oxybate",
        "ketamine", "esketamine", "cocaine", "nabilone", "dronabinol",
        "skenan", "actiskenan", "oxycontin", "oxynorm", "durogesic", "abstral", "instanyl",
        "ritaline", "concerta", "quasym", "medikinet", "xyrem", "palexia", "sophidone",
    }
)  # fmt: skip


def fold(text: str) -> str:
    """Lower case, accents removed: ``Méthylphénidate`` -> ``methylphenidate``."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def narcotic_in(concept: dict[str, Any] | None) -> str | None:
    """The stupéfiant a CodeableConcept names (by ATC code or by name), or None."""
    if not isinstance(concept, dict):
        return None
    texts = [str(concept.get("text") or "")]
    for coding in concept.get("coding") or []:
        if not isinstance(coding, dict):
            continue
        if coding.get("system") in ATC_SYSTEMS and str(coding.get("code")) in NARCOTIC_ATC:
            return NARCOTIC_ATC[str(coding.get("code"))]
        texts.append(str(coding.get("display") or ""))
    words = " ".join(fold(t) for t in texts)
    # whole words: "morphine" is found in "sulfate de morphine", not in "hydromorphine"
    return next((n for n in sorted(NARCOTIC_NAMES) if re.search(rf"(?<![a-z]){n}(?![a-z])", words)), None)
