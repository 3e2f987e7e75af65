"""``to_fhir``: an eHDSI Patient Summary CDA (L3 or L1) to a French FHIR document Bundle.

Order of work: parse safely, refuse what is not a Patient Summary (clean ``TransformError``),
validate against the XSDs (warnings only), then build the header resources, the sections and
their entries, the source documents and the provenance, and finally the Composition, which
goes first in the Bundle. Everything the document breaks (schema, missing sections, codes
without designation) is reported in the OperationOutcome returned alongside the Bundle,
never by dropping content.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cda_transform import coded_elements, header, xsd
from cda_transform import datatypes as dt
from cda_transform.context import Context
from cda_transform.errors import TransformError
from cda_transform.header import SOURCE_CONCEPT
from cda_transform.narrative import XHTML, element, narrative_ids, serialize, sub
from cda_transform.original import LOINC_PS, now, pdf_bytes, provenances, source_documents
from cda_transform.parse import (
    LOINC_OID,
    MAX_ENTRIES,
    descendants,
    detect_kind,
    kid,
    kids,
    parse_xml,
    path,
    require_patient_summary,
    template_ids,
    text_of,
    xpath_of,
)
from cda_transform.sections import build_sections, missing_required
from cda_transform.translate import Terminology, Translator, default_describer, default_terminology

EHDSI_PS_TEMPLATES = {"1.3.6.1.4.1.12559.11.10.1.3.1.1.3", "1.3.6.1.4.1.12559.11.10.1.3.1.1.7"}
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
CONFIDENTIALITY = {"U", "L", "M", "N", "R", "V"}
RELATES = {"XFRM": "transforms", "RPLC": "replaces", "APND": "appends"}


@dataclass
class ToFhirResult:
    """The FHIR document Bundle, and the OperationOutcome (never empty) of what the CDA got wrong."""

    bundle: dict[str, Any]
    outcome: dict[str, Any] = field(default_factory=dict)


def to_fhir(xml: bytes, *, lang: str = "fr-FR", terminology: Terminology | None = None) -> ToFhirResult:
    """Convert one eHDSI Patient Summary; raise ``TransformError`` when the input is unusable."""
    if not isinstance(lang, str) or not _LANG.match(lang):
        raise TransformError(
            f"Langue cible invalide : {lang!r} (attendu un code BCP 47, ex. fr-FR).", code="invalid"
        )
    root = parse_xml(xml)
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    kind = detect_kind(root)
    require_patient_summary(kind)
    n_entries = sum(1 for _ in descendants(root, "entry"))
    if n_entries > MAX_ENTRIES:  # bound the work before schema validation and mapping
        raise TransformError(
            f"Document trop complexe ({n_entries} entrées, limite {MAX_ENTRIES}).", code="too-costly"
        )
    assert kind.level is not None
    lookup: Callable[[str, str, str], str | None] | None = (
        terminology.display if terminology is not None else default_terminology()
    )
    listed = coded_elements.select(root, kind.level)
    describe = getattr(terminology, "designation", None) if terminology is not None else default_describer()
    translator = Translator(lookup, lang, narrative_ids(root), listed, describe)
    ctx = Context(hashlib.sha256(xml).hexdigest(), translator, kind.language)
    issues: list[dict[str, Any]] = xsd.validate(root)

    ctx.patient_ref = ctx.add(header.patient(ctx, root))
    authors = header.authors(ctx, root)
    custodian = header.custodian(ctx, root)
    attesters = header.attesters(ctx, root)
    events = header.service_events(ctx, root)

    pdf = None
    if kind.level == 3:
        body = path(root, "component/structuredBody")
        sections = build_sections(ctx, body)
        missing = missing_required([s for c in kids(body, "component") for s in kids(c, "section")])
        if missing:
            ctx.warn(
                f"Sections obligatoires eHDSI absentes : {', '.join(missing)} "
                "(ERROR_PS_MISSING_BASIC_SECTIONS).",
                body,
            )
    else:
        pdf = pdf_bytes(ctx, root)
        sections = []
    source = source_documents(ctx, root, xml, pdf)
    if kind.level == 1:
        ps_code = translator.synthetic(LOINC_PS["system"], LOINC_PS["code"], LOINC_PS["display"])
        sections = [_pdf_section(source, pdf is not None, kind.language, ps_code)]

    composition = _composition(ctx, root, lang, authors, custodian, attesters, events, sections)
    comp_ref = ctx.add(composition)
    provenances(ctx, comp_ref, source, lang)
    _header_code_checks(ctx, root)

    comp_entry = next(e for e in ctx.entries if e["resource"] is composition)  # the Composition goes first
    entries = [comp_entry, *(e for e in ctx.entries if e is not comp_entry)]
    bundle = {
        "resourceType": "Bundle",
        "id": ctx.new_id(),
        "language": lang,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{composition['id']}"},
        "type": "document",
        "timestamp": now(),
        "entry": entries,
    }
    issues += ctx.issues + _translation_issues(translator)
    if not issues:
        issues = [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": "Conversion sans avertissement.",
            }
        ]
    return ToFhirResult(bundle=prune(bundle), outcome={"resourceType": "OperationOutcome", "issue": issues})


def _composition(
    ctx: Context,
    root: Any,
    lang: str,
    authors: list[dict[str, str]],
    custodian: dict[str, str] | None,
    attesters: list[dict[str, Any]],
    events: list[dict[str, Any]],
    sections: list[dict[str, Any]],
) -> dict[str, Any]:
    tr = ctx.translator
    doc_type = tr.concept(kid(root, "code")) or {}
    codings = [c for c in doc_type.get("coding", []) if c.get("system") == "http://loinc.org"]
    if not codings:
        ps = tr.synthetic(LOINC_PS["system"], LOINC_PS["code"], LOINC_PS["display"])
        doc_type = {"coding": [*ps["coding"], *doc_type.get("coding", [])], "text": doc_type.get("text")}
    if not authors:
        authors = [
            ctx.add(
                {
                    "resourceType": "Device",
                    "deviceName": [{"name": "Passerelle cda_transform", "type": "manufacturer-name"}],
                },
                key="Device|passerelle",
            )
        ]
        ctx.warn("Document sans auteur : la passerelle est indiquée comme auteur de la transformation.")
    original_title = text_of(kid(root, "title"))
    comp: dict[str, Any] = {
        "resourceType": "Composition",
        "language": lang,
        "status": "final",
        "type": doc_type,
        "subject": dict(ctx.patient_ref),
        "date": dt.ts_of(kid(root, "effectiveTime")) or now(),
        "author": authors,
        "title": "Synthèse médicale du patient (Patient Summary eHDSI)",
    }
    ident = dt.identifier(kid(root, "id"))
    if ident:
        comp["identifier"] = ident
    conf = kid(root, "confidentialityCode")
    if conf is not None:
        coded = tr.concept(conf)
        if conf.get("code") in CONFIDENTIALITY:
            comp["confidentiality"] = conf.get("code")
        if coded:
            comp["_confidentiality"] = {"extension": [{"url": SOURCE_CONCEPT, "valueCodeableConcept": coded}]}
    if attesters:
        comp["attester"] = attesters
    if custodian:
        comp["custodian"] = custodian
    relates = []
    for rd in kids(root, "relatedDocument"):
        target = dt.identifier(path(rd, "parentDocument/id"))
        if target and rd.get("typeCode") in RELATES:
            relates.append({"code": RELATES[rd.get("typeCode")], "targetIdentifier": target})
    if relates:
        comp["relatesTo"] = relates
    if events:
        comp["event"] = events
    comp["section"] = sections
    div = element("div")
    sub(div, "p", comp["title"] + (f" — titre d'origine : « {original_title} »" if original_title else ""))
    if ctx.source_lang:
        sub(
            div,
            "p",
            f"Langue du document source : {ctx.source_lang}. Les désignations sans traduction française "
            "sont signalées « non traduit ».",
        )
    comp["text"] = {"status": "generated", "div": serialize(div)}
    return comp


def _pdf_section(
    source: dict[str, str], has_pdf: bool, lang: str | None, code: dict[str, Any]
) -> dict[str, Any]:
    div = element("div")
    sub(
        div,
        "p",
        "Synthèse médicale reçue au niveau 1 : le contenu clinique est dans le document PDF d'origine "
        f"({lang or 'langue inconnue'}), joint à la référence documentaire."
        if has_pdf
        else "Synthèse médicale de niveau 1 sans PDF lisible : voir le document CDA d'origine joint.",
    )
    return {
        "title": "Synthèse médicale (document PDF d'origine)",
        "code": code,
        "text": {"status": "generated", "div": serialize(div)},
        "entry": [source],
    }


def _header_code_checks(ctx: Context, root: Any) -> None:
    if not template_ids(root) & EHDSI_PS_TEMPLATES:
        ctx.warn(
            "Aucun templateId eHDSI Patient Summary (1.3.6.1.4.1.12559.11.10.1.3.1.1.3 / .7) : document "
            "probablement national (non pivot) ; converti d'après son code et son corps.",
            kid(root, "code"),
        )
    code = kid(root, "code")
    if code is not None and code.get("codeSystem") != LOINC_OID:
        ctx.warn(
            f"Code du document {code.get('code')!r} avec un système de codage inattendu "
            f"({code.get('codeSystem')!r}) au lieu de LOINC.",
            code,
        )
    for el, item in ctx.translator.listed.items():
        if (
            item.usage in ("R", "RNFA")
            and not el.get("code")
            and not el.get("nullFlavor")
            and kid(el, "originalText") is None
        ):
            ctx.warn(f"Élément codé obligatoire sans code ni nullFlavor ({item.xpath}).", el)


def _translation_issues(tr: Translator) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    if not tr.has_lookup:
        issues.append(
            {
                "severity": "information",
                "code": "not-found",
                "diagnostics": "Aucun service de terminologie disponible : aucune désignation française, "
                "tous les codages sont marqués « not-translated ».",
            }
        )
    for err in tr.lookup_errors:
        issues.append(
            {
                "severity": "warning",
                "code": "transient",
                "diagnostics": f"Service de terminologie en erreur : {err}",
            }
        )
    issues.append(
        {
            "severity": "information",
            "code": "informational",
            "diagnostics": f"Traduction vers {tr.lang} : {tr.translated} codage(s) traduit(s), "
            f"{tr.untranslated} non traduit(s).",
        }
    )
    if tr.untranslated_listed:
        where = [xpath_of(e) for e in tr.untranslated_listed[:10]]
        issues.append(
            {
                "severity": "warning",
                "code": "code-invalid",
                "diagnostics": f"{len(tr.untranslated_listed)} élément(s) de la liste eHDSI des éléments "
                "codés sans désignation française (affichés « non traduit »).",
                "expression": where,
            }
        )
    return issues


def prune(value: Any) -> Any:
    """Drop None, empty strings, lists and objects: FHIR JSON forbids empty values."""
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    if isinstance(value, str) and not value.strip():
        return ""
    return value


__all__ = ["XHTML", "ToFhirResult", "to_fhir"]
