# ruff: noqa: E501  (publisher-format sample rows are kept one per line)
"""Importers of the publishers' French distributions, on files in the publishers' own formats.

ATIH, LOINC, SNOMED CT RF2 and Orphadata XML files are written here, small, in the exact
layouts the publishers distribute (the real ones are licensed or large); the ANS SMT ATC
export and the Orphanet CSV are read from ../shared/terminology-sources when present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from terminology.content import load_default_content
from terminology.importers import detect_format, import_file, imported_source
from terminology.importers.common import MAX_CONCEPTS
from terminology.service import TerminologyService
from tests.conftest import SHARED, needs_shared

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ORPHA = "https://www.orpha.net"
ATC = "http://www.whocc.no/atc"
SOURCES = SHARED / "terminology-sources"

# LIBCIM10MULTI.TXT: code padded to 6, MCO/HAD type, SMR profile, PSY type, short, long label.
ATIH_LINES = [
    "J00   |0|NNN|0|RHINOPHARYNGITE AIGUE|Rhinopharyngite aiguë [rhume banal]",
    "D093  |0|NNN|0|CA IN SITU THYROIDE|Carcinome in situ de la thyroïde et des autres glandes endocrines",
    "B24+0 |0|NNN|0|INF. VIH SYMPTO.|Infection par le VIH, symptomatique",
    "E11   |0|NNN|0|DIABETE TYPE 2|Diabète sucré de type 2",
    "1234  |0|NNN|0|PAS UN CODE|Ligne qui n'est pas un code CIM-10",
]


def service_with(resources: list[dict]) -> TerminologyService:
    service = TerminologyService()
    load_default_content(service)
    service.load_resources(resources)
    return service


def test_atih_kit_in_latin1_with_crlf(tmp_path: Path) -> None:
    path = tmp_path / "LIBCIM10MULTI.TXT"
    path.write_bytes("\r\n".join(ATIH_LINES).encode("iso-8859-1") + b"\r\n")
    assert detect_format(path) == "atih"
    result = import_file([path], "atih", release="2024")
    assert (result.concepts, result.skipped) == (4, 1)
    (supplement,) = result.resources
    assert supplement["supplements"] == ICD10 and supplement["content"] == "supplement"
    assert supplement["version"] == "2024" and "ATIH" in supplement["copyright"]
    assert "CC BY-NC-ND" in supplement["copyright"]
    codes = [c["code"] for c in supplement["concept"]]
    assert codes == ["B24+0", "D09.3", "E11", "J00"]  # WHO notation; the ATIH "+" extension as written
    service = service_with(result.resources)
    assert service.display(ICD10, "J00", "fr") == "Rhinopharyngite aiguë [rhume banal]"
    # The Czech national ICD-10 writes D093: resolved to ICD-10 D09.3, with its source.
    found = service.designation("urn:oid:1.2.203.24341.11.2.1", "D093", "fr")
    assert found is not None and found.value.startswith("Carcinome in situ de la thyroïde")
    assert (found.system, found.code) == (ICD10, "D09.3") and "MKN-10" in (found.note or "")
    assert found.source["url"] == supplement["url"] and found.source["version"] == "2024"
    assert imported_source(service.codesystems[supplement["url"]])[0].format == "atih"  # type: ignore[index]


def test_import_is_deterministic(tmp_path: Path) -> None:
    path = tmp_path / "LIBCIM10MULTI.TXT"
    path.write_bytes("\r\n".join(ATIH_LINES).encode("iso-8859-1"))
    assert (
        import_file([path], "atih", release="2024").resources
        == import_file([path], "atih", release="2024").resources
    )


def test_loinc_linguistic_variant(tmp_path: Path) -> None:
    header = (
        '"LOINC_NUM","COMPONENT","PROPERTY","TIME_ASPCT","SYSTEM","SCALE_TYP","METHOD_TYP","CLASS",'
        '"SHORTNAME","LONG_COMMON_NAME","RELATEDNAMES2","LinguisticVariantDisplayName"'
    )
    rows = [
        '"2345-7","Glucose","Masse/Volume","Ponctuel","Sérum/Plasma","Quantitatif","","CHIM","",'
        '"Glucose [Masse/Volume] Sérum/Plasma ; Numérique","Glycémie",""',
        '"718-7","Hémoglobine","Masse/Volume","Ponctuel","Sang","Quantitatif","","HEM","","","",'
        '"Hémoglobine sang"',
        '"2345-8","Glucose","Masse/Volume","Ponctuel","Sang","Quantitatif","","CHIM","","Mauvais chiffre","",""',
    ]
    path = tmp_path / "frFR18LinguisticVariant.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    assert detect_format(path) == "loinc"
    result = import_file([path], "loinc", release="2.77")
    assert (result.concepts, result.skipped) == (2, 1)  # 2345-8 fails the mod-10 check digit (2345-7)
    assert result.resources[0]["language"] == "fr-FR"
    service = service_with(result.resources)
    assert service.display(LOINC, "2345-7", "fr") == "Glucose [Masse/Volume] Sérum/Plasma ; Numérique"
    assert service.display(LOINC, "718-7", "fr-FR") == "Hémoglobine sang"  # the variant display name
    assert service.display(LOINC, "2345-8", "fr") is None


def _rf2(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\r\n".join("\t".join(r) for r in [header, *rows]) + "\r\n", encoding="utf-8")
    return path


def test_snomed_rf2_preferred_terms_of_the_language_refset(tmp_path: Path) -> None:
    from terminology.importers.snomed import DESCRIPTION_COLUMNS, LANGUAGE_COLUMNS

    fsn, syn, mod, refset = "900000000000003001", "900000000000013009", "11000315107", "10031000315102"
    pref, acc = "900000000000548007", "900000000000549004"
    release = tmp_path / "SnomedCT_FR" / "Snapshot" / "Terminology"
    release.mkdir(parents=True)
    _rf2(release / "sct2_Description_Snapshot-fr_FR1000315_20231221.txt", DESCRIPTION_COLUMNS, [
        ["101", "20231221", "1", mod, "182849000", "fr", fsn, "aucun traitement médicamenteux prescrit (situation)",
         "900000000000448009"],
        ["102", "20231221", "1", mod, "182849000", "fr", syn, "aucun traitement médicamenteux prescrit",
         "900000000000448009"],
        ["103", "20231221", "1", mod, "182849000", "fr", syn, "pas de médicament prescrit", "900000000000448009"],
        ["104", "20231221", "0", mod, "44558001", "fr", syn, "terme retiré", "900000000000448009"],
        ["105", "20231221", "1", mod, "44558001", "fr", syn, "cure de hernie inguinale", "900000000000448009"],
        ["106", "20231221", "1", mod, "44558001", "en", syn, "Repair of inguinal hernia", "900000000000448009"],
    ])  # fmt: skip
    refset_dir = release.parent / "Refset" / "Language"
    refset_dir.mkdir(parents=True)
    _rf2(refset_dir / "der2_cRefset_LanguageSnapshot-fr_FR1000315_20231221.txt", LANGUAGE_COLUMNS, [
        ["a1", "20231221", "1", mod, refset, "101", pref],
        ["a2", "20231221", "1", mod, refset, "102", pref],
        ["a3", "20231221", "1", mod, refset, "103", acc],
        ["a4", "20231221", "1", mod, refset, "104", pref],
        ["a5", "20231221", "1", mod, refset, "105", pref],
    ])  # fmt: skip
    root = release.parent.parent
    assert detect_format(root) == "snomed"
    result = import_file([root], "snomed")
    assert result.release == "2023-12-21" and result.concepts == 2
    service = service_with(result.resources)
    # the preferred synonym, not the FSN nor the acceptable synonym
    assert service.display(SNOMED, "182849000", "fr") == "aucun traitement médicamenteux prescrit"
    assert service.display(SNOMED, "44558001", "fr") == "cure de hernie inguinale"  # inactive one ignored
    assert "SNOMED International" in result.resources[0]["copyright"]
    with pytest.raises(Exception, match="sct2_Description"):
        import_file([refset_dir], "snomed")


ORPHADATA = """<?xml version="1.0" encoding="UTF-8"?>
<JDBOR date="2024-07-01 03:42:05" version="1.3.30 / 4.1.7 [2023-01-09]" copyright="Orphanet (c) 2024">
  <DisorderList count="3">
    <Disorder id="17601">
      <OrphaCode>52416</OrphaCode>
      <ExpertLink lang="fr">http://www.orpha.net/consor/cgi-bin/OC_Exp.php?lng=fr&amp;Expert=52416</ExpertLink>
      <Name lang="fr">Lymphome à cellules du manteau</Name>
      <DisorderFlagList count="1"><DisorderFlag id="1"><Value>1</Value><Label></Label></DisorderFlag></DisorderFlagList>
      <SynonymList count="1"><Synonym lang="fr">LCM</Synonym></SynonymList>
      <DisorderType id="21394"><Name lang="fr">Maladie</Name></DisorderType>
      <DisorderGroup id="36547"><Name lang="fr">Désordre</Name></DisorderGroup>
    </Disorder>
    <Disorder id="99">
      <OrphaCode>199</OrphaCode>
      <Name lang="fr">Syndrome de Cornelia de Lange</Name>
      <SynonymList count="0"></SynonymList>
    </Disorder>
    <Disorder id="100">
      <OrphaCode>12345</OrphaCode>
      <Name lang="fr">Entité retirée</Name>
      <DisorderFlagList count="1"><DisorderFlag id="2"><Value>8192</Value><Label>Inactive</Label></DisorderFlag></DisorderFlagList>
    </Disorder>
  </DisorderList>
</JDBOR>
"""


def test_orphadata_xml_pack(tmp_path: Path) -> None:
    path = tmp_path / "ORPHAnomenclature_fr_2024.xml"
    path.write_text(ORPHADATA, encoding="utf-8")
    assert detect_format(path) == "orphanet"
    result = import_file([path], "orphanet")
    assert result.release == "2024-07-01" and result.concepts == 3
    concepts = {c["code"]: c for c in result.resources[0]["concept"]}
    assert concepts["12345"]["property"] == [{"code": "inactive", "valueBoolean": True}]
    assert [p["code"] for p in result.resources[0]["property"]] == ["inactive"]  # declared
    assert "property" not in concepts["52416"]
    service = service_with(result.resources)
    assert service.display(ORPHA, "52416", "fr") == "Lymphome à cellules du manteau"  # not the synonym
    assert (
        service.display("1.3.6.1.4.1.12559.11.10.1.3.1.44.5", "199", "fr") == "Syndrome de Cornelia de Lange"
    )


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    from terminology.errors import TerminologyError

    bad = tmp_path / "LIBCIM10MULTI.TXT"
    bad.write_text("nothing here\n")
    with pytest.raises(TerminologyError, match="LIBCIM10MULTI"):
        import_file([bad], "atih")
    xml = tmp_path / "broken.xml"
    xml.write_text("<JDBOR><DisorderList><Disorder>")
    with pytest.raises(TerminologyError, match="Orphadata"):
        import_file([xml], "orphanet")
    csv_file = tmp_path / "export.csv"
    csv_file.write_text("Colonne;Autre\n1;2\n", encoding="utf-8")
    with pytest.raises(TerminologyError, match="colonnes"):
        import_file([csv_file], "smt")


def test_smt_csv_export_of_another_terminology_needs_its_system(tmp_path: Path) -> None:
    path = tmp_path / "TRE_R38-SpecialiteOrdinale.csv"
    path.write_bytes(
        "Code;Libellé;Date de création\nSM26;Qualifié en médecine générale;2020\n".encode("cp1252")
    )
    from terminology.errors import TerminologyError

    with pytest.raises(TerminologyError, match="--system"):
        import_file([path], "smt")
    result = import_file([path], "smt", system="https://mos.esante.gouv.fr/NOS/TRE_R38", release="2020-01-01")
    assert result.resources[0]["supplements"] == "https://mos.esante.gouv.fr/NOS/TRE_R38"
    assert result.resources[0]["concept"][0]["designation"][-1]["value"] == "Qualifié en médecine générale"


@needs_shared("terminology-sources", "ans-atc-fr")
def test_ans_smt_atc_export() -> None:
    import xlrd

    path = SOURCES / "ans-atc-fr" / "ATC-2023.xls"
    sheet = xlrd.open_workbook(str(path)).sheet_by_index(0)
    expected = {row[1]: row[4] for row in (sheet.row_values(r) for r in range(1, sheet.nrows)) if row[4]}
    result = import_file([path], detect_format(path) or "")
    assert result.release == "2022-05-24" and result.concepts == len(expected)
    assert result.concepts < MAX_CONCEPTS
    # every part is accepted by a server with the default element limit (PASSERELLE_MAX_ELEMENTS)
    assert all(_json_values(part) <= 20_000 for part in result.resources)
    service = service_with(result.resources)
    assert service.display(ATC, "N02BE01", "fr") == expected["N02BE01"]
    # the ATC code filed under the eHDSIActiveIngredient value-set OID
    assert service.display("1.3.6.1.4.1.12559.11.10.1.3.1.42.24", "A01AA01", "fr") == expected["A01AA01"]
    assert all("CC BY-ND 3.0 IGO" in part["copyright"] for part in result.resources)


@needs_shared("terminology-sources", "orphanet-fr")
def test_orphanet_csv_conversion() -> None:
    path = SOURCES / "orphanet-fr" / "orphanet-nomenclature-fr-2023-06-22.csv"
    result = import_file([path], "orphanet")
    assert result.release == "2023-06-22" and result.concepts == 10839
    service = service_with(result.resources)
    assert service.display(ORPHA, "58", "fr") == "Maladie d'Alexander"


def test_big_sources_are_split_in_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from terminology.importers import common

    monkeypatch.setattr(common, "MAX_CONCEPTS", 2)
    path = tmp_path / "LIBCIM10MULTI.TXT"
    path.write_bytes("\r\n".join(ATIH_LINES).encode("iso-8859-1"))
    resources = import_file([path], "atih", release="2024").resources
    assert [r["url"].rsplit("/", 1)[-1] for r in resources] == ["fr-cim10-atih", "fr-cim10-atih-part-2"]
    assert [r["count"] for r in resources] == [2, 2] and len({r["id"] for r in resources}) == 2
    service = service_with(resources)
    assert service.display(ICD10, "J00", "fr") == "Rhinopharyngite aiguë [rhume banal]"  # in part 2
    assert imported_source(resources[1])[0].ident == "fr-cim10-atih"  # type: ignore[index]


def _json_values(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + sum(_json_values(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_json_values(v) for v in node)
    return 1
