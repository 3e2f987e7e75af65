"""The sample harvest: which French texts of French eHDSI documents become designations.

The documents are written by the tests. Expected values follow the HL7 v3 CD data type (a
``translation`` is the same concept in another code system) and the harvest's reviewed lists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from terminology.content import FR_FILES, load_default_content
from terminology.service import TerminologyService
from terminology.tools.harvest_samples import harvest

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
EHDSI_ICD10 = "1.3.6.1.4.1.12559.11.10.1.3.1.44.2"  # the eHDSI pivot's ICD-10 OID
NATIONAL = "1.3.182.5.29"  # a national ICD-10 edition (Luxembourg, in the public LU samples)
# the MVC's English display (eHDSIIllnessandDisorder): a pivot's own text is not French
B20_EN = "Human immunodeficiency virus [HIV] disease resulting in infectious and parasitic diseases"
ICD = f'codeSystem="{EHDSI_ICD10}"'
LU = f'codeSystem="{NATIONAL}"'
SCT = 'codeSystem="2.16.840.1.113883.6.96"'


def cda(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<component><structuredBody><component><section>"
        f'<entry><observation classCode="OBS" moodCode="EVN">{body}</observation></entry>'
        "</section></component></structuredBody></component></ClinicalDocument>"
    )


@pytest.fixture(scope="module")
def service() -> TerminologyService:
    service = TerminologyService()
    load_default_content(service, [name for name in FR_FILES if name != "fr-ehdsi-samples.json.gz"])
    return service


def run(service: TerminologyService, tmp_path: Path, docs: dict[str, tuple[str, str]]) -> dict:
    lines = ["file\tkind\tlanguage\tbytes"]
    for name, (language, body) in docs.items():
        (tmp_path / name).write_text(cda(body), encoding="utf-8")
        lines.append(f"{name}\tPS-L3\t{language}\t0")
    (tmp_path / "INDEX.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return harvest(service, tmp_path)


def test_same_code_translation_of_an_icd10_pivot_gives_the_icd10_designation(
    service: TerminologyService, tmp_path: Path
) -> None:
    kept = run(service, tmp_path, {
        "fr.xml": ("fr-LU",
            f'<value xsi:type="CD" code="A06.6" {ICD} displayName="Amoebic brain abscess">'
            f'<translation code="A06.6" {LU} displayName="abcès amibien de l\'encéphale"/>'
            "</value>"
            f'<value xsi:type="CD" code="B20" {ICD} displayName="{B20_EN}">'
            f'<translation code="B20.9" {LU} displayName="maladie due au VIH, sans précision"/>'
            "</value>"
            '<code code="J05AF06" codeSystem="2.16.840.1.113883.6.73" displayName="abacavir">'
            '<translation code="J05AF06" codeSystem="1.3.182.5.35" displayName="abacavir sulfate"/></code>'),
        "de.xml": ("de-AT",
            f'<value xsi:type="CD" code="J00" {ICD} displayName="Acute nasopharyngitis">'
            f'<translation code="J00" {LU} displayName="Akute Rhinopharyngitis"/></value>'),
    })  # fmt: skip
    assert kept[ICD10]["A06.6"][0] == "abcès amibien de l'encéphale"
    assert kept[ICD10]["A06.6"][1] == {"fr.xml"}
    # a translation to another code is a different concept: nothing for the pivot's B20
    assert "B20" not in kept.get(ICD10, {})
    # only ICD-10 editions keep the international codes: an ATC code's national substance
    # (a salt, "abacavir sulfate") is not the ATC class
    assert "J05AF06" not in kept.get(ATC, {})
    # documents that are not written in French are not read
    assert "J00" not in kept.get(ICD10, {})


def test_reviewed_same_word_and_corrected_spelling(service: TerminologyService, tmp_path: Path) -> None:
    kept = run(service, tmp_path, {
        "fr.xml": ("fr-LU",
            '<participant><participantRole><playingEntity>'
            '<code code="111088007" codeSystem="2.16.840.1.113883.6.96" displayName="Latex"/>'
            '<code code="118955007" codeSystem="2.16.840.1.113883.6.96"'
            ' displayName="Implantation sur le système cardio-vascuaire"/>'
            f'<code code="392048005" {SCT} displayName="Operation on urinary system"/>'
            "</playingEntity></participantRole></participant>"),
    })  # fmt: skip
    # "Latex" is the MVC's English display and also the French word (reviewed): kept
    assert kept[SNOMED]["111088007"][0] == "Latex"
    assert kept[SNOMED]["118955007"][0] == "Implantation sur le système cardio-vasculaire"
    # an English display in a French document is not a French designation
    assert "392048005" not in kept[SNOMED]
