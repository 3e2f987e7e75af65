"""The French narrative generated from the structured data, one table per section.

Labels are ours (French UI text). Clinical designations come from the codings: the French
display when the terminology translated it, otherwise the original display followed by
« (non traduit) », so the clinician always sees what is and is not translated.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from cda_transform.narrative import element, sub
from cda_transform.translate import DATA_ABSENT, TRANSLATION_STATUS

STATUS_FR = {
    "active": "actif",
    "inactive": "inactif",
    "resolved": "résolu",
    "remission": "rémission",
    "recurrence": "récidive",
    "relapse": "rechute",
    "completed": "terminé",
    "in-progress": "en cours",
    "stopped": "arrêté",
    "not-done": "non réalisé",
    "unknown": "inconnu",
    "on-hold": "suspendu",
    "intended": "prévu",
    "not-taken": "non pris",
    "final": "définitif",
    "preliminary": "préliminaire",
    "entered-in-error": "erreur",
    "preparation": "en préparation",
    "cancelled": "annulé",
    "registered": "enregistré",
}
CRITICALITY_FR = {"low": "faible", "high": "élevée", "unable-to-assess": "non évaluable"}
PERIOD_FR = {"s": "s", "min": "min", "h": "h", "d": "jour(s)", "wk": "semaine(s)", "mo": "mois", "a": "an(s)"}
SEVERITY_FR = {"mild": "légère", "moderate": "modérée", "severe": "sévère"}


def concept_label(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    for coding in concept.get("coding", []):
        status = next(
            (e.get("valueCode") for e in coding.get("extension", []) if e.get("url") == TRANSLATION_STATUS),
            None,
        )
        label = coding.get("display")
        if label:
            return label if status != "not-translated" else f"{label} (non traduit)"
    if concept.get("text"):
        return f"{concept['text']} (non traduit)" if concept.get("coding") else concept["text"]
    first: dict[str, Any] = next(iter(concept.get("coding", [])), {})
    if first.get("code"):
        return f"{first['code']} (non traduit)"
    if any(e.get("url") == DATA_ABSENT for e in concept.get("extension", [])):
        return "information non disponible"
    return ""


def _first_code(concept: dict[str, Any] | None) -> str | None:
    codings: list[dict[str, Any]] = (concept or {}).get("coding", [])
    return codings[0].get("code") if codings else None


def _period(p: dict[str, str] | None) -> str:
    if not p:
        return ""
    if p.get("start") and p.get("end"):
        return f"du {p['start']} au {p['end']}"
    if p.get("start"):
        return f"depuis le {p['start']}"
    return f"jusqu'au {p['end']}" if p.get("end") else ""


def _quantity(q: dict[str, Any] | None) -> str:
    if not q:
        return ""
    unit = q.get("unit") or ""
    return f"{q.get('value', '')} {unit if unit != '1' else ''}".strip()


def describe(res: dict[str, Any], index: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(what, details) for one section entry."""
    rtype = res.get("resourceType")
    details: list[str] = []
    if rtype == "AllergyIntolerance":
        what = concept_label(res.get("code")) or "Agent non précisé"
        kind = concept_label(
            next((e["valueCodeableConcept"] for e in res.get("_type", {}).get("extension", [])), None)
        )
        if kind:
            details.append(f"type : {kind}")
        for r in res.get("reaction", []):
            m = ", ".join(concept_label(c) for c in r.get("manifestation", []))
            sev = SEVERITY_FR.get(r.get("severity", ""), "")
            details.append(f"réaction : {m}" + (f" ({sev})" if sev else ""))
        if res.get("criticality"):
            details.append(f"criticité : {CRITICALITY_FR.get(res['criticality'], res['criticality'])}")
        status = _first_code(res.get("clinicalStatus"))
        if status:
            details.append(f"statut : {STATUS_FR.get(status, status)}")
        if res.get("onsetDateTime"):
            details.append(f"début : {res['onsetDateTime']}")
    elif rtype == "Condition":
        what = concept_label(res.get("code")) or "Problème non précisé"
        status = _first_code(res.get("clinicalStatus"))
        if status:
            details.append(f"statut : {STATUS_FR.get(status, status)}")
        if res.get("onsetDateTime"):
            details.append(f"début : {res['onsetDateTime']}")
        if res.get("abatementDateTime"):
            details.append(f"fin : {res['abatementDateTime']}")
        if res.get("severity"):
            details.append(f"sévérité : {concept_label(res['severity'])}")
    elif rtype == "MedicationStatement":
        med = index.get(res.get("medicationReference", {}).get("reference", ""), {})
        what = concept_label(med.get("code") or res.get("medicationCodeableConcept")) or "Médicament"
        for ing in med.get("ingredient", []):
            strength = ing.get("strength", {})
            num, den = _quantity(strength.get("numerator")), _quantity(strength.get("denominator"))
            amount = f" {num}" + (f"/{den}" if den and den != "1" else "") if num else ""
            details.append(f"substance : {concept_label(ing.get('itemCodeableConcept'))}{amount}")
        if med.get("form"):
            details.append(f"forme : {concept_label(med['form'])}")
        for d in res.get("dosage", []):
            for dr in d.get("doseAndRate", []):
                if "doseQuantity" in dr:
                    details.append(f"dose : {_quantity(dr['doseQuantity'])}")
                elif "doseRange" in dr:
                    rng = dr["doseRange"]
                    details.append(f"dose : {_quantity(rng.get('low'))} à {_quantity(rng.get('high'))}")
            rep = d.get("timing", {}).get("repeat", {})
            if rep.get("period"):
                unit = PERIOD_FR.get(rep.get("periodUnit", ""), rep.get("periodUnit", ""))
                details.append(f"toutes les {rep['period']} {unit}".strip())
            for instr in d.get("additionalInstruction", []):
                details.append(f"moment : {concept_label(instr)}")
            if d.get("route"):
                details.append(f"voie : {concept_label(d['route'])}")
        if res.get("effectivePeriod"):
            details.append(_period(res["effectivePeriod"]))
        details.append(f"statut : {STATUS_FR.get(res.get('status', ''), res.get('status', ''))}")
    elif rtype == "Procedure":
        what = concept_label(res.get("code")) or "Acte"
        when = res.get("performedDateTime") or _period(res.get("performedPeriod"))
        if when:
            details.append(f"date : {when}")
        for site in res.get("bodySite", []):
            details.append(f"site : {concept_label(site)}")
        details.append(f"statut : {STATUS_FR.get(res.get('status', ''), res.get('status', ''))}")
    elif rtype == "DeviceUseStatement":
        dev = index.get(res.get("device", {}).get("reference", ""), {})
        what = concept_label(dev.get("type")) or "Dispositif"
        for ident in dev.get("identifier", []):
            details.append(f"identifiant : {ident.get('value', '')}")
        if res.get("timingPeriod"):
            details.append(_period(res["timingPeriod"]))
    elif rtype == "Immunization":
        what = concept_label(res.get("vaccineCode")) or "Vaccin"
        details.append(f"date : {res.get('occurrenceDateTime') or res.get('occurrenceString', '')}")
        if res.get("lotNumber"):
            details.append(f"lot : {res['lotNumber']}")
        for p in res.get("protocolApplied", []):
            if "doseNumberPositiveInt" in p:
                details.append(f"dose n° {p['doseNumberPositiveInt']}")
            for d in p.get("targetDisease", []):
                details.append(f"maladie ciblée : {concept_label(d)}")
    elif rtype == "Observation":
        what = concept_label(res.get("code")) or "Observation"
        details.append(_obs_value(res))
        for comp in res.get("component", []):
            details.append(f"{concept_label(comp.get('code'))} : {_obs_value(comp)}")
        for member in res.get("contained", []):
            details.append(f"{concept_label(member.get('code'))} : {_obs_value(member)}")
        when = res.get("effectiveDateTime") or _period(res.get("effectivePeriod"))
        if when:
            details.append(f"date : {when}")
    elif rtype == "DocumentReference":
        what = "Document PDF d'origine"
        details.append("voir la pièce jointe")
    else:
        what = rtype or ""
    return what, " ; ".join(d for d in details if d)


def _obs_value(res: dict[str, Any]) -> str:
    if "valueQuantity" in res:
        return _quantity(res["valueQuantity"])
    if "valueCodeableConcept" in res:
        return concept_label(res["valueCodeableConcept"])
    for key in ("valueString", "valueDateTime", "valueInteger", "valueBoolean"):
        if key in res:
            value = res[key]
            return ("oui" if value else "non") if isinstance(value, bool) else str(value)
    if "valuePeriod" in res:
        return _period(res["valuePeriod"])
    if "valueRange" in res:
        r = res["valueRange"]
        return f"{_quantity(r.get('low'))} – {_quantity(r.get('high'))}"
    if "dataAbsentReason" in res:
        return "valeur non disponible"
    return ""


def french_table(
    title: str, resources: list[dict[str, Any]], index: dict[str, dict[str, Any]]
) -> etree._Element:
    div = element("div", class_="passerelle-fr", lang="fr-FR")
    sub(div, "h3", title)
    if not resources:
        sub(div, "p", "Aucune entrée structurée dans cette section.")
        return div
    table = sub(div, "table", class_="grid")
    head = sub(sub(table, "thead"), "tr")
    sub(head, "th", "Élément")
    sub(head, "th", "Détails")
    body = sub(table, "tbody")
    for res in resources:
        what, details = describe(res, index)
        row = sub(body, "tr")
        sub(row, "td", what)
        sub(row, "td", details)
    return div
