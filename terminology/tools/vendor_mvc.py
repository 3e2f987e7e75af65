"""Vendor the eHDSI MVC 8.1.0 files from ``../shared/ehdsi/mvc`` and write their manifest.

Run from the repository root: ``python -m terminology.tools.vendor_mvc [SOURCE_DIR]``.
The manifest lists, per file, the value set URLs and code systems it covers and whether the
default service loads it lazily (files with more than ``LAZY_THRESHOLD`` concepts).
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import orjson

from terminology.content import MVC_DIR
from terminology.systems import SystemRegistry, identifier_oids

LAZY_THRESHOLD = 5_000
DEFAULT_SOURCE = Path(__file__).resolve().parents[2].parent / "shared" / "ehdsi" / "mvc"


def build_manifest(directory: Path) -> dict:
    registry = SystemRegistry()
    files = []
    for path in sorted(directory.glob("*.json.gz")):
        resource = orjson.loads(gzip.decompress(path.read_bytes()))
        urls, systems, count = [], set(), 0
        if resource.get("url"):
            urls.append(resource["url"])
        urls.extend(
            f"urn:oid:{oid}" for oid in identifier_oids(resource) if resource["resourceType"] == "ValueSet"
        )
        if resource["resourceType"] == "CodeSystem":
            systems.add(registry.canonical(resource["url"]))
            count = resource.get("count") or len(resource.get("concept") or [])
        else:
            for include in resource.get("compose", {}).get("include", []):
                if include.get("system"):
                    systems.add(registry.canonical(include["system"]))
                count += len(include.get("concept") or [])
        files.append(
            {
                "file": path.name,
                "resourceType": resource["resourceType"],
                "urls": urls,
                "systems": sorted(systems),
                "count": count,
                "lazy": count > LAZY_THRESHOLD,
            }
        )
    return {"source": "hl7-eu/EHDSI-Terminology-package, MVC 8.1.0 (package 0.2.0)", "files": files}


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    MVC_DIR.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.json.gz")):
        shutil.copyfile(path, MVC_DIR / path.name)
    manifest = build_manifest(MVC_DIR)
    (MVC_DIR / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    print(f"{len(manifest['files'])} files, {sum(f['lazy'] for f in manifest['files'])} lazy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
