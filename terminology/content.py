"""The default content: which vendored files feed the default service, and in what order.

Order matters for designations: later sources override earlier ones in ``display``, so the
French sources load from the least to the most trusted (designations harvested from sample
documents, then the ANS language pack, then the labels we wrote and reviewed).

Large MVC files (LOINC lab codes, SPOR substances, ICD-10, Orphanet, ATC, EMDN) are lazy:
the manifest written by ``terminology/tools/vendor_mvc.py`` says which code systems and value
set URLs each file covers, and the service reads a file the first time one of those is
needed.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from terminology.service import TerminologyService

DATA_DIR = Path(__file__).parent / "data"
R4_DIR = DATA_DIR / "r4"
MVC_DIR = DATA_DIR / "mvc"
EHDSI_DIR = DATA_DIR / "ehdsi"
FR_DIR = DATA_DIR / "fr"
CODED_ELEMENT_LIST = EHDSI_DIR / "coded_element_list_ehdsi.xml"

R4_FILES = ("valuesets.json.gz", "v3-codesystems.json.gz", "v2-tables.json.gz", "conceptmaps.json.gz")
# French designation files, least trusted first (later ones win in ``display``).
FR_FILES = (
    "fr-ehdsi-samples.json.gz",
    "fr-ans-language-pack.json.gz",
    "fr-passerelle.json.gz",
)
EHDSI_EXTRA = "ehdsi-extra-valuesets.json"
# National -> international equivalences from the publishers' definitions (terminology.resolution):
# dose forms/routes -> EDQM, administrative gender -> HL7 v3.
NATIONAL_MAPS = ("national-doseform-route-to-edqm.json", "national-gender-to-v3.json")


def read_json(path: Path) -> Any:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return orjson.loads(data)


def _resources(path: Path) -> Iterator[dict[str, Any]]:
    data = read_json(path)
    if isinstance(data, list):
        yield from data
    else:
        yield data


def load_default_content(service: TerminologyService, fr_files: Iterable[str] = FR_FILES) -> dict[str, float]:
    """Feed ``service`` with the vendored content; returns seconds spent per step."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    for name in R4_FILES:
        service.load_resources(_resources(R4_DIR / name))
    timings["r4"] = time.perf_counter() - start

    start = time.perf_counter()
    manifest = read_json(MVC_DIR / "manifest.json")
    for item in manifest["files"]:
        path = MVC_DIR / item["file"]
        if item.get("lazy"):
            service.add_lazy_source(
                partial(_resources, path), urls=item.get("urls", []), systems=item.get("systems", [])
            )
        else:
            service.load_resources(_resources(path))
    extra = EHDSI_DIR / EHDSI_EXTRA
    if extra.exists():
        service.load_resources(_resources(extra))
    for name in NATIONAL_MAPS:
        maps = EHDSI_DIR / name
        if maps.exists():
            service.load_resources(_resources(maps))
    timings["mvc"] = time.perf_counter() - start

    start = time.perf_counter()
    for name in fr_files:
        path = FR_DIR / name
        if path.exists():
            service.load_resources(_resources(path))
    timings["fr"] = time.perf_counter() - start
    return timings
