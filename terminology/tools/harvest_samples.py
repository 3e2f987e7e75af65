"""Harvest French designations from the public eHDSI sample documents written in French.

Run from the repository root: ``python -m terminology.tools.harvest_samples [SAMPLES_DIR]``
(default ``../shared/ehdsi/samples``). Writes ``terminology/data/fr/fr-ehdsi-samples.json.gz``.

Only documents whose ``INDEX.tsv`` language is French (fr-FR, fr-BE, fr-LU...) are read. In
each, every coded element of the eHDSI coded element list and every ``translation`` child of
one yields a (code system, code, displayName) candidate (older epSOS documents use IHE templates
the list does not match, so any coded element with a displayName counts). A ``translation``
that carries the *same code* as its ICD-10 parent (a national edition of ICD-10, e.g. the
Luxembourg ``1.3.182.5.29`` under the eHDSI pivot) also yields its text for the ICD-10 code
itself: the HL7 v3 CD data type makes a translation the same concept in another code system,
and the identical code says the national system is an edition of the same classification.
SNOMED CT candidates are kept only for concepts the MVC carries. A candidate is kept as a
French designation when its text is not the code system's English display (unless the
reviewer listed it in :data:`SAME_IN_FRENCH`: the French word is the English one) and is not
in :data:`REJECTED` — displayNames the reviewer found to be English or unusable although the
document is French (pivot documents carry English MVC displays); :data:`CORRECTED` fixes
reviewed misspellings. Each designation records the sample file it comes from; the resource
records the repositories and their licences.
"""

from __future__ import annotations

import csv
import gzip
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

from terminology.content import FR_DIR
from terminology.coverage import coded_values, load_coded_elements, localise_cda, safe_parser
from terminology.service import TerminologyService
from terminology.tools.build_content import BASE, DATE, provenance
from terminology.valuesets import fold

SNOMED = "http://snomed.info/sct"
DEFAULT_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "ehdsi" / "samples"
SOURCES = {
    "ehealth": "ncp-docker-dev-AT/eHDSI_ehealth (EUPL-1.2)",
    "openncp_old": "khypponen/openncp (EUPL-1.1)",
    "django": "ddeveloper72/Django_NCP",
    "cz": "ncez-cz/NCP-exception (EUPL-1.2)",
    "dk": "Sundhedsdatastyrelsen/ehdsi",
}
# (code, text) pairs reviewed and rejected: English text, or text that is not a designation.
REJECTED: set[tuple[str, str]] = {
    # English section or document titles in French documents
    ("11369-6", "History of Immunization Narrative"),
    ("18776-5", "TREATMENT PLAN"),
    ("29544-3", "PROCEDURES"),
    ("29762-2", "SOCIAL HISTORY"),
    ("34133-9", "Patient Summary"),
    ("56445-0", "Patient Summary"),
    ("60593-1", "eDispensation"),
    ("80286-8", "History of Surgical procedures of cardiovascular system"),
    ("8462-4", "INTRAVASCULAR DIASTOLIC"),
    ("8480-6", "INTRAVASCULAR SYSTOLIC"),
    ("8716-3", "PHYSICAL FINDINGS"),
    ("182904002", "Drug treatment unknown"),
    ("46680005", "Vital signs"),
    ("716186003", "No known allergy"),
    # placeholders, wrong codes, other languages, truncated labels and misspellings
    ("85847-2", "inconnue"),
    ("SEV", "inconnue"),
    ("1", "inconnue"),
    ("IMMUNIZ", "inconnue"),
    ("male", "Masculin"),
    ("PCP", "Médico de Família"),
    ("Z02", "Doses globules"),
    ("1.2.3.4", "123123"),
    ("D09.3", "Thyroïde et autres glandes endocrines"),
    ("428214002", "Vaccin ant diphtérique"),
}
# (code, text) pairs equal to the English display that are also the French word (reviewed).
SAME_IN_FRENCH: set[tuple[str, str]] = {
    ("111088007", "Latex"),  # fr-LU patient summary, eHDSIAllergenNoDrug
    ("47703008", "Lactose"),  # fr-LU patient summary, eHDSIAllergenNoDrug
}
# (code, text as written) -> the same text with a reviewed misspelling fixed.
CORRECTED: dict[tuple[str, str], str] = {
    ("118955007", "Implantation sur le système cardio-vascuaire"): (
        "Implantation sur le système cardio-vasculaire"
    ),
}
# Classifications whose national editions keep the international codes (see module doc).
SAME_CODE_EDITIONS = frozenset({"http://hl7.org/fhir/sid/icd-10"})


def french_files(samples: Path) -> list[Path]:
    with (samples / "INDEX.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [samples / row["file"] for row in rows if (row.get("language") or "").lower().startswith("fr")]


def candidates(path: Path, elements: list) -> list[tuple[str, str, str]]:
    root = etree.parse(str(path), safe_parser()).getroot()
    localise_cda(root)
    found = []
    for _element, system, code, shown in coded_values(root, elements):
        if shown:
            found.append((system, code, shown.strip()))
    # Older epSOS documents use IHE templates the list's XPaths do not match: take every coded
    # element (code, translation, value...) that carries a displayName.
    for node in root.iter():
        if not isinstance(node.tag, str) or node.get("nullFlavor"):
            continue
        code, system, shown = node.get("code"), node.get("codeSystem"), node.get("displayName")
        if code and system and shown:
            found.append((system, code.strip(), shown.strip()))
    return found


def same_code_translations(path: Path) -> list[tuple[str, str, str]]:
    """(parent code system, code, translation displayName) for each ``translation`` whose code
    is its parent's code (the harvest keeps those whose parent is in :data:`SAME_CODE_EDITIONS`)."""
    root = etree.parse(str(path), safe_parser()).getroot()
    localise_cda(root)
    found = []
    for node in root.iter("translation"):
        parent = node.getparent()
        code, shown = (node.get("code") or "").strip(), (node.get("displayName") or "").strip()
        if parent is None or not code or not shown or parent.get("nullFlavor"):
            continue
        parent_system = parent.get("codeSystem")
        same_code = (parent.get("code") or "").strip() == code
        if parent_system and same_code and parent_system != node.get("codeSystem"):
            found.append((parent_system, code, shown))
    return found


def harvest(service: TerminologyService, samples: Path) -> dict[str, dict[str, tuple[str, set[str]]]]:
    elements = load_coded_elements()
    kept: dict[str, dict[str, tuple[str, set[str]]]] = defaultdict(dict)
    for path in french_files(samples):
        editions = [
            (raw, code, text)
            for raw, code, text in same_code_translations(path)
            if service.canonical_system(raw) in SAME_CODE_EDITIONS
        ]
        for raw_system, code, text in candidates(path, elements) + editions:
            system = service.canonical_system(raw_system)
            if system == SNOMED and service.index.concept(system, code) is None:
                continue  # no SNOMED CT content beyond the concepts the MVC carries
            english = service.display(system, code, "en")
            if (code, text) in REJECTED:
                continue
            if english and fold(english) == fold(text) and (code, text) not in SAME_IN_FRENCH:
                continue
            text = CORRECTED.get((code, text), text)
            previous = kept[system].get(code)
            if previous is None:
                kept[system][code] = (text, {path.name})
            elif fold(previous[0]) == fold(text):
                previous[1].add(path.name)
    return kept


def to_resources(kept: dict[str, dict[str, tuple[str, set[str]]]]) -> list[dict[str, Any]]:
    note = (
        "French displayNames found in public eHDSI/epSOS sample CDA documents written in French "
        "(INDEX.tsv language fr-*), excluding texts equal to the English display and reviewed "
        "rejections; harvested by terminology/tools/harvest_samples.py. Sources: "
        + "; ".join(SOURCES.values())
    )
    out = []
    for system, codes in sorted(kept.items()):
        short = system.rstrip("/").rsplit("/", 1)[-1].replace(":", "-").replace(".", "-")
        ident = f"fr-samples-{short}"
        out.append(
            {
                "resourceType": "CodeSystem",
                "id": ident,
                "extension": provenance(note),
                "url": f"{BASE}/CodeSystem/{ident}",
                "version": DATE,
                "name": "FrSamples" + "".join(ch for ch in short.title() if ch.isalnum())[:200],
                "title": f"Désignations françaises relevées dans les exemples eHDSI pour {system}",
                "status": "active",
                "publisher": "Passerelle project (harvest of public eHDSI sample documents)",
                "copyright": "Texts from public eHDSI/epSOS sample documents: " + "; ".join(SOURCES.values()),
                "language": "fr",
                "content": "supplement",
                "supplements": system,
                "concept": [
                    {
                        "code": code,
                        "designation": [{"language": "fr", "value": text}],
                        "extension": provenance(
                            "samples: " + ", ".join(sorted(files)) + _corrected(code, text)
                        ),
                    }
                    for code, (text, files) in sorted(codes.items())
                ],
            }
        )
    return out


def _corrected(code: str, text: str) -> str:
    """The provenance note's tail when ``text`` is a reviewed correction of what the sample wrote."""
    for (corrected_code, written), fixed in CORRECTED.items():
        if corrected_code == code and fixed == text:
            return f"; spelling corrected from the sample's {written!r}"
    return ""


def main(argv: list[str]) -> int:
    from terminology.content import FR_FILES, load_default_content

    samples = Path(argv[0]) if argv else DEFAULT_SAMPLES
    service = TerminologyService()
    # Without the previous harvest, so its output never feeds its own filters.
    load_default_content(service, [name for name in FR_FILES if name != "fr-ehdsi-samples.json.gz"])
    service.load_all()
    resources = to_resources(harvest(service, samples))
    FR_DIR.mkdir(parents=True, exist_ok=True)
    (FR_DIR / "fr-ehdsi-samples.json.gz").write_bytes(
        gzip.compress(orjson.dumps(resources, option=orjson.OPT_INDENT_2), mtime=0)
    )
    for resource in resources:
        for concept in resource["concept"]:
            print(f"{resource['supplements']}\t{concept['code']}\t{concept['designation'][0]['value']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
