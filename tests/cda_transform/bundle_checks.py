"""Structural checks of a converted Bundle, shared by the tests (not a test module itself)."""

from __future__ import annotations

from typing import Any

from lxml import etree

V3 = "{urn:hl7-org:v3}"


def references(value: Any) -> list[str]:
    """Every ``reference`` and attachment ``url`` in a resource tree."""
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and (k == "reference" or (k == "url" and v.startswith("urn:uuid:"))):
                out.append(v)
            else:
                out += references(v)
    elif isinstance(value, list):
        for v in value:
            out += references(v)
    return out


def dangling(bundle: dict[str, Any]) -> list[str]:
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    missing = []
    for e in bundle["entry"]:
        res = e["resource"]
        contained = {f"#{c['id']}" for c in res.get("contained", [])}
        for ref in references(res):
            if ref not in full_urls and ref not in contained:
                missing.append(f"{res['resourceType']} -> {ref}")
    return missing


def cda_sections(root: etree._Element) -> list[etree._Element]:
    body = root.find(f"{V3}component/{V3}structuredBody")
    return [] if body is None else body.findall(f"{V3}component/{V3}section")


def entry_counts_match(cda_secs: list[etree._Element], fhir_secs: list[dict[str, Any]]) -> list[str]:
    """Section by section (recursively): the number of CDA entries equals the number of FHIR entries."""
    problems = []
    if len(cda_secs) != len(fhir_secs):
        return [f"{len(cda_secs)} CDA sections vs {len(fhir_secs)} FHIR sections"]
    for cs, fs in zip(cda_secs, fhir_secs, strict=True):
        code_el = cs.find(f"{V3}code")
        code = code_el.get("code") if code_el is not None else None
        n_cda = len(cs.findall(f"{V3}entry"))
        n_fhir = len(fs.get("entry", []))
        if n_cda != n_fhir:
            problems.append(f"section {code}: {n_cda} CDA entries vs {n_fhir} FHIR entries")
        fhir_code = next(iter(fs.get("code", {}).get("coding", [])), {}).get("code")
        if code and fhir_code != code:
            problems.append(f"section code {code} became {fhir_code}")
        if n_fhir == 0 and "emptyReason" not in fs and not fs.get("section"):
            problems.append(f"section {code}: empty without emptyReason")
        problems += entry_counts_match(cs.findall(f"{V3}component/{V3}section"), fs.get("section", []))
    return problems


def narratives_kept(cda_secs: list[etree._Element], fhir_secs: list[dict[str, Any]]) -> list[str]:
    """Every CDA section with narrative words has them in its FHIR section, next to a French table."""
    problems = []
    for cs, fs in zip(cda_secs, fhir_secs, strict=False):
        div = fs.get("text", {}).get("div", "")
        if 'class="passerelle-fr"' not in div or 'lang="fr-FR"' not in div:
            problems.append(f"section {fs.get('title')}: no French narrative")
        text = cs.find(f"{V3}text")
        words = " ".join("".join(text.itertext()).split()) if text is not None else ""
        if words and "cda-original-narrative" not in div:
            problems.append(f"section {fs.get('title')}: original narrative lost")
        if words:
            rendered = " ".join("".join(etree.fromstring(div).itertext()).split())
            sample = words[:40]
            if sample not in rendered:
                problems.append(f"section {fs.get('title')}: {sample!r} missing from the narrative")
        problems += narratives_kept(cs.findall(f"{V3}component/{V3}section"), fs.get("section", []))
    return problems
