"""FHIR inputs for the to_cda tests (no tests here): a rich French patient summary and variants.

Codes are real: SNOMED CT, LOINC, ATC, ICD-10, EDQM values taken from the eHDSI MVC 8.1.0
value sets and the eHDSI sample documents; French national codes (CIP 13) as translations.
"""

from __future__ import annotations

import copy
from typing import Any

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
EDQM = "http://standardterms.edqm.eu"
UCUM = "http://unitsofmeasure.org"
CIP13 = "urn:oid:1.2.250.1.213.2.3.2"  # CIP 13 (French medicinal product package code)
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"


def cc(*codings: tuple[str, str, str], text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": s, "code": c, "display": d} for s, c, d in codings]}
    if text:
        concept["text"] = text
    return concept


def ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{rid}"}


def _entry(resource: dict[str, Any], rid: str) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{rid}", "resource": resource}


PATIENT_ID = "0f2b5b7c-0000-4000-8000-000000000001"
PRACT_ID = "0f2b5b7c-0000-4000-8000-000000000002"
ORG_ID = "0f2b5b7c-0000-4000-8000-000000000003"
ROLE_ID = "0f2b5b7c-0000-4000-8000-000000000004"


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": INS_NIR, "value": "282056925806233"}],
        "name": [{"family": "Martin", "given": ["Camille", "Louise"]}],
        "gender": "female",
        "birthDate": "1982-05-08",
        "telecom": [
            {"system": "phone", "value": "+33 6 12 34 56 78", "use": "mobile"},
            {"system": "email", "value": "camille.martin@example.fr"},
        ],
        "address": [{"line": ["12 rue des Lilas"], "city": "Lyon", "postalCode": "69003", "country": "FR"}],
        "contact": [
            {
                "relationship": [
                    cc(("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "GUARD", "guardian"))
                ],
                "name": {"family": "Martin", "given": ["Paul"]},
                "telecom": [{"system": "phone", "value": "+33 4 78 00 00 00"}],
            },
            {
                "relationship": [cc(("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "SIS", "sister"))],
                "name": {"family": "Durand", "given": ["Julie"]},
            },
        ],
        "communication": [{"language": cc(("urn:ietf:bcp:47", "fr-FR", "French (France)"))}],
    }


def practitioner() -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": "pr1",
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810002345678"}],
        "name": [{"family": "Bernard", "given": ["Hélène"], "prefix": ["Dr"]}],
        "telecom": [{"system": "phone", "value": "+33 4 72 00 00 01", "use": "work"}],
    }


def organization() -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": "o1",
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1690000001"}],
        "name": "Centre de santé Lyon Part-Dieu",
        "address": [
            {"line": ["1 place Charles Béraudier"], "city": "Lyon", "postalCode": "69003", "country": "FR"}
        ],
    }


def practitioner_role() -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": "r1",
        "practitioner": ref("Practitioner", PRACT_ID),
        "organization": ref("Organization", ORG_ID),
        "code": [cc(("urn:oid:2.16.840.1.113883.2.9.6.2.7", "221", "Medical doctors"))],
    }


def clinical_resources() -> list[tuple[str, dict[str, Any]]]:
    """(uuid, resource) for every clinical statement of the rich summary."""
    subject = ref("Patient", PATIENT_ID)
    res: list[tuple[str, dict[str, Any]]] = []

    def add(rid: str, resource: dict[str, Any]) -> None:
        resource.setdefault(
            "subject"
            if resource["resourceType"] not in ("AllergyIntolerance", "Immunization")
            else "patient",
            subject,
        )
        res.append((f"0f2b5b7c-0000-4000-8000-{rid:0>12}", resource))

    add(
        "101",
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "clinicalStatus": cc(
                ("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")
            ),
            "verificationStatus": cc(
                (
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "confirmed",
                    "Confirmed",
                )
            ),
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high",
            "code": cc((ATC, "J01CA04", "amoxicillin"), text="Amoxicilline"),
            "onsetDateTime": "2015-03-02",
            "reaction": [
                {"manifestation": [cc((SCT, "247472004", "Wheal"), text="Urticaire")], "severity": "moderate"}
            ],
        },
    )
    add(
        "102",
        {
            "resourceType": "AllergyIntolerance",
            "id": "a2",
            "type": "intolerance",
            "category": ["food"],
            "code": cc((SCT, "227493005", "Cashew nut")),
            "criticality": "low",
        },
    )
    add(
        "201",
        {
            "resourceType": "Condition",
            "id": "c1",
            "verificationStatus": cc(
                ("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed")
            ),
            "clinicalStatus": cc(
                ("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")
            ),
            "category": [
                cc(
                    (
                        "http://terminology.hl7.org/CodeSystem/condition-category",
                        "problem-list-item",
                        "Problem List Item",
                    )
                )
            ],
            "code": cc(
                (ICD10, "E11", "Type 2 diabetes mellitus"),
                (SCT, "44054006", "Diabetes mellitus type 2"),
                text="Diabète de type 2",
            ),
            "onsetDateTime": "2013-01-09",
            "bodySite": [cc((SCT, "113331007", "Endocrine system"))],
        },
    )
    add(
        "202",
        {
            "resourceType": "Condition",
            "id": "c2",
            "clinicalStatus": cc(
                ("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "Resolved")
            ),
            "code": cc((ICD10, "O24.4", "Diabetes mellitus arising in pregnancy")),
            "onsetDateTime": "2011-10-12",
            "abatementDateTime": "2012-04-30",
        },
    )
    res.append(
        (
            "0f2b5b7c-0000-4000-8000-000000000300",
            {
                "resourceType": "Medication",
                "id": "m1",
                "code": cc(
                    (CIP13, "3400930000001", "GLUCOPHAGE 1000 mg cp pellic"), (ATC, "A10BA02", "metformin")
                ),
                "form": cc((EDQM, "10221000", "Film-coated tablet")),
                "ingredient": [
                    {
                        "itemCodeableConcept": cc((ATC, "A10BA02", "metformin")),
                        "isActive": True,
                        "strength": {
                            "numerator": {"value": 1000, "unit": "mg", "system": UCUM, "code": "mg"},
                            "denominator": {"value": 1, "unit": "1", "system": UCUM, "code": "1"},
                        },
                    }
                ],
            },
        )
    )
    add(
        "301",
        {
            "resourceType": "MedicationStatement",
            "id": "ms1",
            "status": "active",
            "medicationReference": {"reference": "urn:uuid:0f2b5b7c-0000-4000-8000-000000000300"},
            "effectivePeriod": {"start": "2013-02-01"},
            "reasonCode": [cc((ICD10, "E11", "Type 2 diabetes mellitus"))],
            "dosage": [
                {
                    "text": "1 comprimé matin et soir",
                    "additionalInstruction": [
                        cc((SCT, "311504000", "With or after food"), text="Pendant ou après le repas")
                    ],
                    "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                    "route": cc((EDQM, "20053000", "Oral use")),
                    "doseAndRate": [
                        {"doseQuantity": {"value": 1, "unit": "tablet", "system": UCUM, "code": "{tablet}"}}
                    ],
                }
            ],
        },
    )
    add(
        "302",
        {
            "resourceType": "MedicationStatement",
            "id": "ms2",
            "status": "completed",
            "medicationCodeableConcept": cc((ATC, "N02BE01", "paracetamol"), text="Doliprane 1000 mg"),
            "effectivePeriod": {"start": "2024-01-02", "end": "2024-01-09"},
            "dosage": [{"timing": {"repeat": {"when": ["ACM"]}}}],
        },
    )
    add(
        "401",
        {
            "resourceType": "Procedure",
            "id": "pr1",
            "status": "completed",
            "code": cc((SCT, "11466000", "Cesarean section")),
            "performedDateTime": "2012-04-14",
            "bodySite": [cc((SCT, "818983003", "Abdomen"))],
        },
    )
    res.append(
        (
            "0f2b5b7c-0000-4000-8000-000000000500",
            {
                "resourceType": "Device",
                "id": "d1",
                "udiCarrier": [
                    {"deviceIdentifier": "00643169007222", "issuer": "urn:oid:2.16.840.1.113883.3.3719"}
                ],
                "type": cc((SCT, "72506001", "Implantable defibrillator")),
            },
        )
    )
    add(
        "501",
        {
            "resourceType": "DeviceUseStatement",
            "id": "du1",
            "status": "active",
            "device": {"reference": "urn:uuid:0f2b5b7c-0000-4000-8000-000000000500"},
            "timingPeriod": {"start": "2014-10-20"},
        },
    )
    add(
        "601",
        {
            "resourceType": "Immunization",
            "id": "i1",
            "status": "completed",
            "vaccineCode": cc(
                (ATC, "J07BC01", "Hepatitis B, purified antigen"),
                (SCT, "836374004", "Hepatitis B virus antigen-containing vaccine"),
            ),
            "occurrenceDateTime": "1983-01-02",
            "lotNumber": "AB123",
            "manufacturer": {"display": "GSK"},
            "protocolApplied": [
                {"doseNumberPositiveInt": 2, "targetDisease": [cc((ICD10, "B16", "Acute hepatitis B"))]}
            ],
        },
    )
    add(
        "701",
        {
            "resourceType": "Observation",
            "id": "bp1",
            "status": "final",
            "category": [
                cc(
                    (
                        "http://terminology.hl7.org/CodeSystem/observation-category",
                        "vital-signs",
                        "Vital Signs",
                    )
                )
            ],
            "code": cc((LOINC, "85354-9", "Blood pressure panel with all children optional")),
            "effectiveDateTime": "2024-05-06T10:30:00+02:00",
            "component": [
                {
                    "code": cc((LOINC, "8480-6", "Systolic blood pressure")),
                    "valueQuantity": {"value": 132, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
                },
                {
                    "code": cc((LOINC, "8462-4", "Diastolic blood pressure")),
                    "valueQuantity": {"value": 84, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
                },
            ],
        },
    )
    add(
        "702",
        {
            "resourceType": "Observation",
            "id": "bg1",
            "status": "final",
            "code": cc((LOINC, "882-1", "ABO and Rh group [Type] in Blood")),
            "effectiveDateTime": "2019-11-22",
            "valueCodeableConcept": cc((SCT, "278147001", "Blood group O Rh(D) positive")),
        },
    )
    add(
        "703",
        {
            "resourceType": "Observation",
            "id": "edd1",
            "status": "final",
            "code": cc((LOINC, "11778-8", "Delivery date Estimated")),
            "valueDateTime": "2025-02-15",
        },
    )
    add(
        "704",
        {
            "resourceType": "Observation",
            "id": "preg1",
            "status": "final",
            "code": cc((LOINC, "82810-3", "Pregnancy status")),
            "effectiveDateTime": "2024-06-15",
            "valueCodeableConcept": cc((SCT, "77386006", "Pregnant")),
            "hasMember": [{"reference": "urn:uuid:0f2b5b7c-0000-4000-8000-000000000703"}],
        },
    )
    add(
        "705",
        {
            "resourceType": "Observation",
            "id": "out1",
            "status": "final",
            "code": cc((SCT, "281050002", "Livebirth")),
            "valueInteger": 1,
        },
    )
    add(
        "706",
        {
            "resourceType": "Observation",
            "id": "tob1",
            "status": "final",
            "category": [
                cc(
                    (
                        "http://terminology.hl7.org/CodeSystem/observation-category",
                        "social-history",
                        "Social History",
                    )
                )
            ],
            "code": cc((SCT, "229819007", "Tobacco use and exposure")),
            "effectivePeriod": {"start": "2017-04-15"},
            "valueQuantity": {"value": 0.5, "unit": "pack/day", "system": UCUM, "code": "{pack}/d"},
        },
    )
    add(
        "707",
        {
            "resourceType": "Observation",
            "id": "hba1c",
            "status": "final",
            "category": [
                cc(("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory"))
            ],
            "code": cc((LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")),
            "effectiveDateTime": "2024-04-02",
            "valueQuantity": {"value": 7.1, "unit": "%", "system": UCUM, "code": "%"},
            "interpretation": [
                cc(("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H", "High"))
            ],
        },
    )
    return res


SECTION_OF = {
    "AllergyIntolerance": ("48765-2", "Allergies et intolérances"),
    "MedicationStatement": ("10160-0", "Traitements"),
    "MedicationRequest": ("10160-0", "Traitements"),
    "Condition": ("11450-4", "Problèmes"),
    "Procedure": ("47519-4", "Actes"),
    "DeviceUseStatement": ("46264-8", "Dispositifs"),
    "Immunization": ("11369-6", "Vaccinations"),
}


def support_entries() -> list[dict[str, Any]]:
    return [
        _entry(patient(), PATIENT_ID),
        _entry(practitioner(), PRACT_ID),
        _entry(organization(), ORG_ID),
        _entry(practitioner_role(), ROLE_ID),
    ]


def collection_bundle() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": support_entries() + [_entry(r, rid) for rid, r in clinical_resources()],
    }


def document_bundle(*, empty_mandatory: bool = False) -> dict[str, Any]:
    """A document Bundle whose Composition lists the clinical resources by section."""
    clinical = [] if empty_mandatory else clinical_resources()
    sections: dict[str, dict[str, Any]] = {}
    for rid, resource in clinical:
        kind = resource["resourceType"]
        if kind in ("Medication", "Device") or (kind == "Observation" and resource["id"] == "edd1"):
            continue
        code, title = SECTION_OF.get(kind, ("30954-2", "Résultats"))
        if kind == "Condition" and resource["id"] == "c2":
            code, title = "11348-0", "Antécédents"
        section = sections.setdefault(code, {"title": title, "code": cc((LOINC, code, title)), "entry": []})
        section["entry"].append({"reference": f"urn:uuid:{rid}"})
    if empty_mandatory:
        sections["48765-2"] = {
            "title": "Allergies",
            "code": cc((LOINC, "48765-2", "Allergies")),
            "emptyReason": cc(
                ("http://terminology.hl7.org/CodeSystem/list-empty-reason", "nilknown", "Nil Known")
            ),
        }
    composition = {
        "resourceType": "Composition",
        "id": "comp1",
        "status": "final",
        "identifier": {"system": "urn:oid:1.2.250.1.999.1.1", "value": "PS-2024-0001"},
        "type": cc((LOINC, "60591-5", "Patient summary Document")),
        "subject": ref("Patient", PATIENT_ID),
        "date": "2024-06-20T09:00:00+02:00",
        "author": [ref("PractitionerRole", ROLE_ID)],
        "title": "Synthèse médicale",
        "custodian": ref("Organization", ORG_ID),
        "confidentiality": "N",
        "attester": [
            {"mode": "legal", "time": "2024-06-20T09:05:00+02:00", "party": ref("Practitioner", PRACT_ID)}
        ],
        "section": list(sections.values()),
    }
    entries = [_entry(composition, "0f2b5b7c-0000-4000-8000-0000000000c0"), *support_entries()]
    entries += [_entry(r, rid) for rid, r in clinical]
    return {
        "resourceType": "Bundle",
        "type": "document",
        "timestamp": "2024-06-20T09:00:00+02:00",
        "identifier": {"system": "urn:oid:1.2.250.1.999.1.2", "value": "B-0001"},
        "entry": entries,
    }


def minimal_bundle() -> dict[str, Any]:
    """Only a Patient: every mandatory section must come out with the absent/unknown codes."""
    return {"resourceType": "Bundle", "type": "collection", "entry": [_entry(patient(), PATIENT_ID)]}


def with_medication_request() -> dict[str, Any]:
    bundle = collection_bundle()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "MedicationStatement":
            resource["resourceType"] = "MedicationRequest"
            resource["intent"] = "order"
            resource["status"] = "active" if resource["status"] == "active" else "completed"
            resource["authoredOn"] = (resource.pop("effectivePeriod") or {}).get("start")
            resource["dosageInstruction"] = resource.pop("dosage", [])
    return bundle


def with_split_dosing_and_prn(*, request: bool = False) -> dict[str, Any]:
    """Metformin with three more regimens (2 tablets at bedtime as needed for pain, SNOMED CT 22253000,
    from March; one more tablet as needed; a text-only one) and paracetamol ``asNeededBoolean: true``:
    several dosages, uncoded ones among them, and both asNeeded forms.
    ``request`` gives the MedicationRequest variant (``dosageInstruction``)."""
    bundle = with_medication_request() if request else collection_bundle()
    key = "dosageInstruction" if request else "dosage"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource.get("id") == "ms1":
            resource[key].append(
                {
                    "text": "2 comprimés au coucher si douleur",
                    "timing": {"repeat": {"when": ["HS"], "boundsPeriod": {"start": "2013-03-01"}}},
                    "asNeededCodeableConcept": cc((SCT, "22253000", "Pain")),
                    "doseAndRate": [
                        {"doseQuantity": {"value": 2, "unit": "tablet", "system": UCUM, "code": "{tablet}"}}
                    ],
                }
            )
            resource[key].append({"text": "1 comprimé de plus si besoin", "asNeededBoolean": True})
            resource[key].append({"text": "arrêt pendant les jeûnes"})  # nothing coded: text only
        elif resource.get("id") == "ms2":
            resource[key][0]["asNeededBoolean"] = True
    return bundle


def clone(bundle: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(bundle)


def odd_bundle() -> dict[str, Any]:
    """Sparse and unusual but legal data: no name/gender/birth date/telecom, a text-only
    condition, a non-UCUM unit, a medication without dosage, a device without type,
    an unsorted searchset with a dangling-free mix of resources."""
    person = patient()
    for key in ("name", "gender", "birthDate", "telecom", "address", "contact", "communication"):
        person.pop(key)
    subject = ref("Patient", PATIENT_ID)
    device_id = "0f2b5b7c-0000-4000-8000-000000000901"
    entries = [
        _entry(
            {
                "resourceType": "Condition",
                "id": "c9",
                "subject": subject,
                "code": {"text": "Fatigue chronique"},
            },
            "0f2b5b7c-0000-4000-8000-000000000900",
        ),
        _entry(person, PATIENT_ID),
        _entry(
            {
                "resourceType": "Device",
                "id": "d9",
                "deviceName": [{"name": "Pompe à insuline", "type": "user-friendly-name"}],
            },
            device_id,
        ),
        _entry(
            {
                "resourceType": "DeviceUseStatement",
                "id": "du9",
                "status": "active",
                "subject": subject,
                "device": {"reference": f"urn:uuid:{device_id}"},
            },
            "0f2b5b7c-0000-4000-8000-000000000902",
        ),
        _entry(
            {
                "resourceType": "MedicationStatement",
                "id": "ms9",
                "status": "active",
                "subject": subject,
                "medicationCodeableConcept": {"text": "Tisane maison"},
            },
            "0f2b5b7c-0000-4000-8000-000000000903",
        ),
        _entry(
            {
                "resourceType": "Observation",
                "id": "o9",
                "status": "final",
                "subject": subject,
                "code": cc((LOINC, "29463-7", "Body weight")),
                "valueQuantity": {"value": 61.5, "unit": "kilo grammes"},
            },
            "0f2b5b7c-0000-4000-8000-000000000904",
        ),
        _entry(
            {
                "resourceType": "Procedure",
                "id": "pr9",
                "status": "in-progress",
                "subject": subject,
                "code": cc((SCT, "386053000", "Evaluation procedure")),
                "performedPeriod": {"start": "2024-06-01T08:00:00Z", "end": "2024-06-01T09:30:00Z"},
            },
            "0f2b5b7c-0000-4000-8000-000000000905",
        ),
    ]
    for entry in entries:
        entry["search"] = {"mode": "match"}
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}
