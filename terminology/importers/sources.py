"""The optional French sources a deployment may load, and what each would translate.

Each is a publisher's distribution the project does not ship (licence, or a file the
deployment downloads itself); :mod:`terminology.importers` reads it, the coverage report
names it for every code it would translate ("untranslatable for licence reasons") and says
which ones are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ORPHANET = "https://www.orpha.net"


@dataclass(frozen=True, slots=True)
class Source:
    ident: str  # supplement URL suffix, stable across releases
    format: str  # importer format name (``--format``)
    system: str  # code system translated
    title: str
    publisher: str
    copyright: str  # licence and required attribution, stored in CodeSystem.copyright
    licence: str  # short form, for reports
    note: str
    language: str = "fr-FR"
    home: str | None = None


SOURCES: tuple[Source, ...] = (
    Source(
        "fr-atc-ans",
        "smt",
        ATC,
        "ATC, libellés français (ANSM, serveur multi-terminologies de l'ANS)",
        "ANS (Agence du Numérique en Santé)",
        "ATC/DDD, WHO Collaborating Centre for Drug Statistics Methodology; French translation ANSM, "
        "distributed by ANS under CC BY-ND 3.0 IGO (labels used verbatim). The WHO restricts "
        "commercial redistribution: each deployment obtains its own copy from the ANS SMT.",
        "CC BY-ND 3.0 IGO (ANS) ; redistribution commerciale restreinte par l'OMS",
        "ANS SMT export of the ATC terminology (Excel 97 or CSV), French labels as published",
        home="https://smt.esante.gouv.fr/terminologie-atc/",
    ),
    Source(
        "fr-orphanet",
        "orphanet",
        ORPHANET,
        "Nomenclature Orphanet (français)",
        "Orphanet (INSERM US14)",
        "Orphanet nomenclature, www.orpha.net, CC BY 4.0 (INSERM). Attribution required.",
        "CC BY 4.0 (Orphanet/INSERM) ; fichier téléchargé par le déploiement",
        "Orphanet nomenclature pack (Orphadata XML, or its CSV conversion), French labels",
        home="https://www.orphadata.com/",
    ),
    Source(
        "fr-cim10-atih",
        "atih",
        ICD10,
        "CIM-10 FR à usage PMSI (ATIH), libellés",
        "ATIH (Agence technique de l'information sur l'hospitalisation)",
        "CIM-10 FR à usage PMSI, ATIH, on the basis of the WHO ICD-10 (© WHO). Licensed CC BY-NC-ND by the "
        "ATIH: not redistributable by this project; a deployment holding the right to use it loads it.",
        "CC BY-NC-ND (ATIH) : non redistribuable par le projet",
        "ATIH nomenclature kit, LIBCIM10MULTI.TXT (code|types|short label|long label)",
        home="https://www.atih.sante.fr/",
    ),
    Source(
        "fr-loinc-linguistic-variant",
        "loinc",
        LOINC,
        "LOINC, variante linguistique fr-FR",
        "Regenstrief Institute",
        "This material contains content from LOINC (http://loinc.org). LOINC is copyright © Regenstrief "
        "Institute, Inc. and the LOINC Committee and is available at no cost under the license at "
        "http://loinc.org/license. French linguistic variant as distributed in the LOINC release.",
        "licence LOINC (gratuite, téléchargement après inscription)",
        "LOINC release AccessoryFiles/LinguisticVariants/frFR*LinguisticVariant.csv",
        home="https://loinc.org/",
    ),
    Source(
        "fr-snomed-ct",
        "snomed",
        SNOMED,
        "SNOMED CT, descriptions françaises (RF2)",
        "SNOMED International / centre national de diffusion",
        "SNOMED CT® is the property of SNOMED International. French descriptions used under an "
        "Affiliate Licence (or a member country's national licence); not redistributable by this project.",
        "licence d'affilié SNOMED International",
        "SNOMED CT RF2 description file and French language reference set (preferred terms)",
        home="https://www.snomed.org/",
    ),
)

BY_FORMAT = {s.format: s for s in SOURCES}
BY_SYSTEM = {s.system: s for s in SOURCES}
BY_IDENT = {s.ident: s for s in SOURCES}
