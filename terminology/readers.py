"""Reading terminology files: FHIR JSON/XML resources and Bundles, and eHDSI MTC exports.

Accepted inputs (``passerelle terminology load``):

- FHIR R4 JSON: one resource, a Bundle, a JSON array of resources, or NDJSON (one per line);
  ``.json``, ``.ndjson`` and their ``.gz`` forms;
- FHIR R4 XML (namespace ``http://hl7.org/fhir``): CodeSystem, ValueSet, ConceptMap or Bundle;
- eHDSI MTC / MVC value set exports in XML, in either of the two public shapes:
  ART-DECOR ``<valueSets><valueSet id="OID" name=…><conceptList><concept code codeSystem
  displayName><designation language displayName/>`` (as exported by the CTS / ART-DECOR), and
  the OpenNCP display-tool repository ``<ValueSet oid name><concept code codeSystem>
  <designation lang="fr-FR">text</designation>``. Each becomes a FHIR ValueSet whose concepts
  carry their designations, with ``urn:oid:`` identifier.

XML is parsed without entity resolution or network access.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

from terminology.errors import TerminologyError

FHIR_NS = "http://hl7.org/fhir"
TERMINOLOGY_TYPES = {"CodeSystem", "ValueSet", "ConceptMap"}
SUFFIXES = (".json", ".json.gz", ".ndjson", ".ndjson.gz", ".xml", ".xml.gz")


def terminology_files(paths: list[Path]) -> list[Path]:
    """The files to read: each file given, and the accepted files under each directory given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)))
        else:
            found.append(path)
    return found


def read_resources(path: Path) -> Iterator[dict[str, Any]]:
    """Terminology resources in ``path`` (Bundles flattened, other resource types skipped)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TerminologyError(
            f"Fichier illisible : {path} ({exc.strerror})", "not-found", str(path)
        ) from exc
    name = path.name
    if name.endswith(".gz"):
        data = gzip.decompress(data)
        name = name[:-3]
    if name.endswith(".xml") or data.lstrip()[:1] == b"<":
        yield from _terminology_only(_read_xml(data, path))
    elif name.endswith(".ndjson"):
        for line in data.splitlines():
            if line.strip():
                yield from _terminology_only(_flatten(_json(line, path)))
    else:
        parsed = _json(data, path)
        items = parsed if isinstance(parsed, list) else [parsed]
        for item in items:
            yield from _terminology_only(_flatten(item))


def _json(data: bytes, path: Path) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TerminologyError(f"JSON invalide dans {path} : {exc}", "structure", str(path)) from exc


def _flatten(resource: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(resource, dict):
        return
    if resource.get("resourceType") == "Bundle":
        for entry in resource.get("entry") or []:
            yield from _flatten((entry or {}).get("resource"))
    else:
        yield resource


def _terminology_only(resources: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for resource in resources:
        if resource.get("resourceType") in TERMINOLOGY_TYPES:
            yield resource


def _read_xml(data: bytes, path: Path) -> Iterator[dict[str, Any]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise TerminologyError(f"XML invalide dans {path} : {exc}", "structure", str(path)) from exc
    qname = etree.QName(root)
    if qname.namespace == FHIR_NS:
        yield from _flatten(_fhir_xml(root, path))
    elif qname.localname in ("valueSets", "valueSet"):
        yield from _artdecor(root)
    elif qname.localname == "ValueSet" and root.get("oid"):
        yield _display_tool(root)
    else:
        raise TerminologyError(
            f"Format XML non reconnu dans {path} : élément racine {root.tag}", "not-supported", str(path)
        )


def _fhir_xml(root: etree._Element, path: Path) -> dict[str, Any]:
    """FHIR XML to JSON through the fhir.resources R4B models (R4-compatible for these types)."""
    from fhir.resources.R4B import get_fhir_model_class

    rtype = etree.QName(root).localname
    try:
        model = get_fhir_model_class(rtype)
        resource = model.model_validate_xml(etree.tostring(root))
    except Exception as exc:  # pydantic/XML errors: report them as a bad input file
        raise TerminologyError(
            f"Ressource FHIR XML invalide dans {path} : {exc}", "structure", str(path)
        ) from exc
    return orjson.loads(resource.model_dump_json(exclude_none=True))


def _artdecor(root: etree._Element) -> Iterator[dict[str, Any]]:
    sets = [root] if etree.QName(root).localname == "valueSet" else list(root.iter("valueSet"))
    for vs in sets:
        oid = vs.get("id") or vs.get("ref") or ""
        by_system: dict[str, list[dict[str, Any]]] = {}
        for concept in vs.iter("concept", "exception"):
            code, system = concept.get("code"), concept.get("codeSystem")
            if not code or not system:
                continue
            item: dict[str, Any] = {"code": code}
            if concept.get("displayName"):
                item["display"] = concept.get("displayName")
            designations = []
            for d in concept.iter("designation"):
                text = d.get("displayName") or (d.text or "").strip()
                lang = d.get("language") or d.get("lang")
                if text and lang:
                    designations.append({"language": lang, "value": text})
            if designations:
                item["designation"] = designations
            by_system.setdefault(_system_uri(system), []).append(item)
        yield _valueset(
            oid, vs.get("name") or vs.get("displayName") or oid, vs.get("versionLabel"), by_system
        )


def _display_tool(root: etree._Element) -> dict[str, Any]:
    by_system: dict[str, list[dict[str, Any]]] = {}
    for concept in root.iter("concept"):
        code, system = concept.get("code"), concept.get("codeSystem")
        if not code or not system:
            continue
        designations = [
            {"language": d.get("lang") or d.get("language"), "value": (d.text or "").strip()}
            for d in concept.iter("designation")
            if (d.text or "").strip() and (d.get("lang") or d.get("language"))
        ]
        item: dict[str, Any] = {"code": code}
        english = next((d["value"] for d in designations if d["language"].lower().startswith("en")), None)
        if english:
            item["display"] = english
        if designations:
            item["designation"] = designations
        by_system.setdefault(_system_uri(system), []).append(item)
    oid = root.get("oid") or ""
    return _valueset(oid, root.get("name") or oid, None, by_system)


def _system_uri(system: str) -> str:
    from terminology.systems import SystemRegistry

    return SystemRegistry().canonical(system)


def _valueset(
    oid: str, name: str, version: str | None, by_system: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ValueSet",
        "id": oid.replace(".", "-")[:64] or None,
        "url": f"urn:oid:{oid}",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{oid}"}],
        "name": name,
        "status": "active",
        "compose": {"include": [{"system": s, "concept": c} for s, c in by_system.items()]},
    }
    if version:
        resource["version"] = version
    return {k: v for k, v in resource.items() if v is not None}
