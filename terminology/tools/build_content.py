"""Build the vendored French designation files and the extra eHDSI value sets from ``sources/``.

Run from the repository root: ``python -m terminology.tools.build_content``. Inputs are the
reviewed source files in ``terminology/tools/sources/`` (each says where its content comes
from and under which licence); outputs are FHIR resources under ``terminology/data/``:

- ``fr/fr-ans-language-pack.json.gz``: CodeSystem supplements from the ANS FR language pack;
- ``fr/fr-passerelle.json.gz``: CodeSystem supplements with the labels we wrote;
- ``ehdsi/ehdsi-extra-valuesets.json``: eHDSI value sets missing from the MVC FSH package.

Every resource carries ``publisher``, ``copyright`` and a provenance note (extension
:data:`PROVENANCE_URL`), so a French display can always be traced to its source.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import Any

import orjson

from terminology.content import EHDSI_DIR, EHDSI_EXTRA, FR_DIR, MVC_DIR, read_json

SOURCES = Path(__file__).parent / "sources"
BASE = "https://passerelle.fr/fhir"
PROVENANCE_URL = f"{BASE}/StructureDefinition/terminology-provenance"
EDQM = "http://standardterms.edqm.eu"
BCP47 = "urn:ietf:bcp:47"
ISO3166 = "urn:iso:std:iso:3166"
DATE = "2026-11-22"


def provenance(note: str, source_url: str | None = None) -> list[dict[str, Any]]:
    ext: list[dict[str, Any]] = [{"url": "note", "valueString": note}]
    if source_url:
        ext.append({"url": "source", "valueUri": source_url})
    return [{"url": PROVENANCE_URL, "extension": ext}]


def supplement(
    ident: str,
    system: str,
    fr: dict[str, str],
    publisher: str,
    copyright_: str,
    note: str,
    source_url: str | None,
    title: str,
) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": ident,
        "extension": provenance(note, source_url),
        "url": f"{BASE}/CodeSystem/{ident}",
        "version": DATE,
        "name": "".join(part.capitalize() for part in ident.replace("_", "-").split("-"))[:250],
        "title": title,
        "status": "active",
        "date": DATE,
        "publisher": publisher,
        "copyright": copyright_,
        "language": "fr-FR",
        "content": "supplement",
        "supplements": system,
        "concept": [
            {
                "code": code,
                "designation": [
                    {
                        "language": "fr-FR",
                        "use": {
                            "system": "http://terminology.hl7.org/CodeSystem/designation-usage",
                            "code": "display",
                        },
                        "value": value,
                    }
                ],
            }
            for code, value in fr.items()
        ],
    }


def build_ans() -> list[dict[str, Any]]:
    src = read_json(SOURCES / "ans_fr_language_pack.json")
    out = []
    for item in src["files"]:
        short = item["system"].rstrip("/").rsplit("/", 1)[-1]
        url = f"{src['repository']}/blob/{item['commit']}/{item['path']}"
        out.append(
            supplement(
                f"fr-ans-{short}",
                item["system"],
                item["fr"],
                src["publisher"],
                f"ANS FR language pack for FHIR ({src['package']}), licence {src['license']}",
                src["note"],
                url,
                f"Désignations françaises ANS pour {short}",
            )
        )
    return out


def build_passerelle() -> list[dict[str, Any]]:
    src = read_json(SOURCES / "passerelle_fr.json")
    systems: dict[str, dict[str, str]] = {k: dict(v) for k, v in src["systems"].items()}
    notes = [src["note"]]
    for extra in sorted(SOURCES.glob("passerelle_fr_*.json")):  # e.g. the eHDSIVaccine labels
        more = read_json(extra)
        notes.append(more["note"])
        for system, labels in more.get("systems", {}).items():
            systems.setdefault(system, {}).update(labels)
    systems[BCP47] = language_labels(
        read_json(SOURCES / "passerelle_fr_languages.json")["languages"], systems.get(ISO3166, {})
    )
    edqm = read_json(MVC_DIR / "CodeSystem-edqm-all.json.gz")
    by_display = src["edqm_by_english_display"]
    edqm_fr = systems.setdefault(EDQM, {})
    for concept in edqm["concept"]:
        french = by_display.get(concept.get("display") or "")
        if french:
            edqm_fr[concept["code"]] = french
    out = []
    for system, fr in systems.items():
        short = system.rstrip("/").rsplit("/", 1)[-1].replace(":", "-").replace(".", "-")
        out.append(
            supplement(
                f"fr-passerelle-{short}",
                system,
                fr,
                src["publisher"],
                f"Libellés rédigés par l'équipe Passerelle, licence {src['license']}",
                " ".join(notes),
                None,
                f"Libellés français Passerelle pour {system}",
            )
        )
    return out


def language_labels(languages: dict[str, str], countries: dict[str, str]) -> dict[str, str]:
    """« langue (pays) » for every language-REGION tag of eHDSILanguage whose parts we name."""
    valueset = read_json(MVC_DIR / "ValueSet-eHDSILanguage-8.1.0.json.gz")
    labels: dict[str, str] = {}
    for include in valueset["compose"]["include"]:
        for concept in include.get("concept", []):
            language, _, region = concept["code"].partition("-")
            if language in languages and (not region or region in countries):
                labels[concept["code"]] = (
                    f"{languages[language]} ({countries[region]})" if region else languages[language]
                )
    labels.update({code: name for code, name in languages.items() if code not in labels})
    return labels


def build_extra_valuesets() -> list[dict[str, Any]]:
    src = read_json(SOURCES / "ehdsi_extra_valuesets.json")
    out = []
    for vs in src["valueSets"]:
        out.append(
            {
                "resourceType": "ValueSet",
                "id": vs["name"],
                "extension": provenance(src["note"], vs["source"]),
                "url": f"http://terminology.ehdsi.eu/ValueSet/{vs['name']}",
                "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{vs['oid']}"}],
                "name": vs["name"],
                "status": "active",
                "publisher": "eHDSI (epSOS MVC, ART-DECOR export)",
                "copyright": "eHDSI MVC; ART-DECOR export in ncez-cz/NCP-exception (EUPL-1.2)",
                "compose": {
                    "include": [
                        {
                            "system": vs["system"],
                            "concept": [{"code": c, "display": d} for c, d in vs["concepts"]],
                        }
                    ]
                },
            }
        )
    return out


def write_gz(path: Path, resources: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(orjson.dumps(resources, option=orjson.OPT_INDENT_2), mtime=0))


def main(argv: list[str]) -> int:
    ans, ours = build_ans(), build_passerelle()
    write_gz(FR_DIR / "fr-ans-language-pack.json.gz", ans)
    write_gz(FR_DIR / "fr-passerelle.json.gz", ours)
    extra = build_extra_valuesets()
    (EHDSI_DIR / EHDSI_EXTRA).write_bytes(orjson.dumps(extra, option=orjson.OPT_INDENT_2))
    count = sum(len(r["concept"]) for r in ans), sum(len(r["concept"]) for r in ours)
    print(
        f"ANS: {len(ans)} supplements, {count[0]} designations; Passerelle: {len(ours)} supplements, "
        f"{count[1]} designations; {len(extra)} extra eHDSI value sets"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
