"""Write-time validation: what the REST layer rejects, and with which FHIRPath expression.

The examples are small real-shaped R4 resources; each error case checks the issue code and
the expression a client would see in the OperationOutcome.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.validation import (
    RESOURCE_TYPES,
    Issue,
    operation_outcome,
    skipped_bindings,
    validate_resource,
)
from fhir_server.validation.expressions import choice_base, loc_to_expression
from fhir_server.validation.valuesets import expand

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "pat-1",
    "meta": {"lastUpdated": "2024-03-01T10:00:00+01:00"},
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Marie Dupont</div>'},
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
            "valueAddress": {"city": "Lyon", "country": "FR"},
        }
    ],
    "identifier": [{"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8", "value": "2800575123456"}],
    "active": True,
    "name": [{"use": "official", "family": "Dupont", "given": ["Marie", "Claire"], "prefix": ["Mme"]}],
    "telecom": [
        {"system": "phone", "value": "+33 6 12 34 56 78", "use": "mobile", "rank": 1},
        {"system": "email", "value": "marie.dupont@example.fr"},
    ],
    "gender": "female",
    "birthDate": "1980-05-07",
    "_birthDate": {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1980-05-07T14:35:00+02:00",
            }
        ]
    },
    "address": [
        {
            "use": "home",
            "type": "physical",
            "line": ["12 rue de la Paix"],
            "city": "Paris",
            "postalCode": "75002",
            "country": "FR",
        }
    ],
    "maritalStatus": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]
    },
    "contact": [
        {
            "relationship": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}
            ],
            "name": {"family": "Dupont", "given": ["Jean"]},
            "gender": "male",
        }
    ],
    "communication": [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-FR"}]}, "preferred": True}
    ],
    "contained": [{"resourceType": "Organization", "id": "cab", "name": "Cabinet Dr Martin"}],
    "managingOrganization": {"reference": "#cab"},
    "generalPractitioner": [{"reference": "Practitioner/prat-1/_history/2"}],
}

UCUM = "http://unitsofmeasure.org"
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "bp-1",
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Tension artérielle"}]},
    "subject": {"reference": "Patient/pat-1"},
    "encounter": {"reference": "https://fhir.example.fr/fhir/Encounter/enc-1"},
    "effectiveDateTime": "2024-03-01T10:15:00+01:00",
    "performer": [{"reference": "Practitioner/prat-1", "display": "Dr Martin"}],
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 128, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
            "valueQuantity": {"value": 82, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        },
    ],
}

WEIGHT: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
    "subject": {"reference": "Patient/pat-1"},
    "valueQuantity": {
        "value": 70.5,
        "comparator": "<",
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    },
}

ENCOUNTER: dict[str, Any] = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "status": "in-progress",
    "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "VR",
        "display": "virtual",
    },
    "subject": {"reference": "Patient/pat-1"},
    "participant": [{"individual": {"reference": "Practitioner/prat-1"}}],
    "period": {"start": "2024-03-01T10:00:00+01:00"},
    "reasonCode": [{"text": "Fièvre depuis 3 jours"}],
    "serviceProvider": {"reference": "Organization/org-1"},
}

CONDITION: dict[str, Any] = {
    "resourceType": "Condition",
    "clinicalStatus": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
    },
    "verificationStatus": {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
        ]
    },
    "code": {"text": "Hypertension"},
    "subject": {"reference": "Patient/pat-1"},
}

PATIENT_UUID = "urn:uuid:6f1c2b1e-3d4a-4c55-9a0e-2b7f3f0e9a11"
BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "fullUrl": PATIENT_UUID,
            "resource": {"resourceType": "Patient", "name": [{"family": "Martin"}], "gender": "male"},
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "fullUrl": "urn:uuid:0b9f6a55-1c4e-4e0f-8d6e-5b3c2a1f0e99",
            "resource": {**WEIGHT, "subject": {"reference": PATIENT_UUID}},
            "request": {"method": "POST", "url": "Observation"},
        },
        {
            "resource": {**ENCOUNTER, "subject": {"reference": "Patient?identifier=urn:oid:1.2.3|42"}},
            "request": {"method": "PUT", "url": "Encounter/enc-1"},
        },
    ],
}


def expressions(issues: list[Issue]) -> list[str]:
    return [expr for issue in issues for expr in issue.expression]


def only_issue(resource: dict[str, Any], **kwargs: Any) -> Issue:
    issues = validate_resource(resource, **kwargs)
    assert len(issues) == 1, issues
    return issues[0]


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    resource = copy.deepcopy(base)
    resource.update(changes)
    return resource


# --- the public surface --------------------------------------------------------------------


def test_resource_types_follow_the_library_and_r4() -> None:
    assert {"Patient", "Observation", "Bundle", "Encounter", "Questionnaire", "Binary"} <= RESOURCE_TYPES
    assert not {"Resource", "DomainResource", "HumanName", "Quantity"} & RESOURCE_TYPES
    assert "Citation" not in RESOURCE_TYPES  # R4B-only: not an R4 type
    assert "SubscriptionStatus" not in RESOURCE_TYPES  # R4B definition shipped beside the R4 ones
    assert "MedicinalProduct" not in RESOURCE_TYPES  # R4 type without an R4B model
    assert len(RESOURCE_TYPES) > 120


def test_issue_json_is_an_operation_outcome_issue() -> None:
    issue = only_issue(with_changes(PATIENT, gender="banana"))
    assert issue.to_json() == {
        "severity": "error",
        "code": "code-invalid",
        "diagnostics": issue.diagnostics,
        "expression": ["Patient.gender"],
    }
    outcome = operation_outcome([issue])
    assert outcome["resourceType"] == "OperationOutcome"
    assert "valeurs admises" in issue.diagnostics  # French-readable
    assert "female" in issue.diagnostics


@pytest.mark.parametrize(
    "resource",
    [PATIENT, OBSERVATION, WEIGHT, ENCOUNTER, CONDITION, BUNDLE],
    ids=["Patient", "Observation", "Observation-weight", "Encounter", "Condition", "Bundle"],
)
def test_valid_examples_pass(resource: dict[str, Any]) -> None:
    assert validate_resource(copy.deepcopy(resource)) == []


def test_validation_does_not_modify_the_input() -> None:
    resource = copy.deepcopy(BUNDLE)
    validate_resource(resource)
    assert resource == BUNDLE


# --- required bindings ---------------------------------------------------------------------


def test_patient_gender_banana() -> None:
    issue = only_issue(with_changes(PATIENT, gender="banana"))
    assert (issue.code, issue.expression) == ("code-invalid", ("Patient.gender",))


def test_observation_status_done() -> None:
    issue = only_issue(with_changes(OBSERVATION, status="done"))
    assert (issue.code, issue.expression) == ("code-invalid", ("Observation.status",))


def test_quantity_comparator_in_a_choice_element() -> None:
    resource = copy.deepcopy(WEIGHT)
    resource["valueQuantity"]["comparator"] = "~"
    issue = only_issue(resource)
    assert (issue.code, issue.expression) == ("code-invalid", ("Observation.valueQuantity.comparator",))


def test_datatype_binding_inside_a_backbone_element() -> None:
    resource = copy.deepcopy(OBSERVATION)
    resource["component"][1]["valueQuantity"]["comparator"] = "approx"
    assert expressions(validate_resource(resource)) == ["Observation.component[1].valueQuantity.comparator"]


def test_contact_point_system() -> None:
    resource = copy.deepcopy(PATIENT)
    resource["telecom"][1]["system"] = "pigeon"
    issue = only_issue(resource)
    assert issue.expression == ("Patient.telecom[1].system",)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("name", 0, "use"), "nickname2", "Patient.name[0].use"),
        (("identifier", 0, "use"), "primary", "Patient.identifier[0].use"),
        (("address", 0, "use"), "holiday", "Patient.address[0].use"),
        (("text", "status"), "done", "Patient.text.status"),
        (("contact", 0, "gender"), "M", "Patient.contact[0].gender"),
    ],
)
def test_datatype_bindings(path: tuple[Any, ...], value: str, expected: str) -> None:
    resource = copy.deepcopy(PATIENT)
    target: Any = resource
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert expressions(validate_resource(resource)) == [expected]


def test_codeable_concept_required_binding() -> None:
    bad_code = copy.deepcopy(CONDITION)
    bad_code["clinicalStatus"]["coding"][0]["code"] = "bogus"
    assert expressions(validate_resource(bad_code)) == ["Condition.clinicalStatus"]
    # R4: a required binding is not met by text alone, nor by codings from other systems.
    text_only = with_changes(CONDITION, clinicalStatus={"text": "active"})
    assert expressions(validate_resource(text_only)) == ["Condition.clinicalStatus"]
    # ...but one coding from the value set is enough, beside a local one.
    translated = copy.deepcopy(CONDITION)
    translated["clinicalStatus"]["coding"].append({"system": "http://example.fr/statut", "code": "actif"})
    assert validate_resource(translated) == []


def test_nested_backbone_through_content_reference() -> None:
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "free-text"}]}],
    }
    assert expressions(validate_resource(questionnaire)) == ["Questionnaire.item[0].item[0].type"]


def test_value_set_expansion_handles_hierarchies_filters_and_imports() -> None:
    family = expand("http://terminology.hl7.org/ValueSet/v3-FamilyMember")  # filter is-a FAMMEMB
    assert family is not None
    role_code = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
    assert {(role_code, "FAMMEMB"), (role_code, "MTH"), (role_code, "GRFTH")} <= family.pairs
    assert (role_code, "DOCTOR") not in family.pairs
    inactive = expand("http://hl7.org/fhir/ValueSet/inactive")  # descendent-of excludes the root
    assert inactive is not None and "_ActMoodPredicate" not in inactive.codes and "GOL" in inactive.codes
    yes_no = expand("http://hl7.org/fhir/ValueSet/yesnodontknow")  # compose.include.valueSet
    assert yes_no is not None and {"Y", "N", "asked-unknown"} <= yes_no.codes


def test_skipped_bindings_are_few_and_external() -> None:
    skipped = skipped_bindings()
    print("required bindings not enforced:", orjson.dumps(skipped, option=orjson.OPT_INDENT_2).decode())
    assert set(skipped) == {
        "http://hl7.org/fhir/ValueSet/characteristic-combination",  # not in the R4 package
        "http://hl7.org/fhir/ValueSet/currencies",  # ISO 4217
        "http://hl7.org/fhir/ValueSet/mimetypes",  # urn:ietf:bcp:13
        "http://hl7.org/fhir/ValueSet/subscription-notification-type",  # not in the R4 package
        "http://hl7.org/fhir/ValueSet/ucum-units",  # UCUM grammar
        "http://loinc.org/vs/LL379-9",  # LOINC answer list
    }
    # Attachment.contentType is MIME types: not enforced, so any media type passes.
    doc = {"resourceType": "Binary", "contentType": "application/x-made-up", "data": "aGVsbG8="}
    assert validate_resource(doc) == []


# --- ids, types, URL consistency -----------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["a b", "é", "pat_1", "a" * 65, ""])
def test_bad_ids(bad_id: str) -> None:
    issue = only_issue(with_changes(PATIENT, id=bad_id))
    assert (issue.code, issue.expression) == ("value", ("Patient.id",))


def test_id_of_64_characters_is_fine() -> None:
    assert validate_resource(with_changes(PATIENT, id="A-z.0" + "x" * 59)) == []


def test_expected_type_and_id() -> None:
    issue = only_issue(PATIENT, expected_type="Observation")
    assert (issue.code, issue.expression) == ("invalid", ("resourceType",))
    issue = only_issue(PATIENT, expected_type="Patient", expected_id="pat-2")
    assert (issue.code, issue.expression) == ("invalid", ("Patient.id",))
    no_id = copy.deepcopy(PATIENT)
    del no_id["id"]
    issue = only_issue(no_id, expected_id="pat-1")
    assert (issue.code, issue.expression) == ("required", ("Patient.id",))
    assert validate_resource(PATIENT, expected_type="Patient", expected_id="pat-1") == []


@pytest.mark.parametrize("resource_type", ["Foo", "Citation", "patient", 3, None, ["Patient"]])
def test_unknown_or_invalid_resource_type(resource_type: Any) -> None:
    issue = only_issue(with_changes(PATIENT, resourceType=resource_type))
    assert issue.code == ("required" if resource_type is None else "not-supported")
    assert issue.expression == ("resourceType",)


def test_missing_resource_type() -> None:
    resource = copy.deepcopy(PATIENT)
    del resource["resourceType"]
    assert only_issue(resource).code == "required"


# --- references ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/",
        "Foo/1",
        "Patient/a b",
        "patient",
        "Patient/1/_history/",
        "urn:uuid:nope",
        "urn:isbn:123",
        "Patient?identifier=x",
        "Medication/1",
    ],
)
def test_bad_references(reference: str) -> None:
    resource = copy.deepcopy(OBSERVATION)
    resource["subject"] = {"reference": reference}
    issue = only_issue(resource)
    assert issue.expression == ("Observation.subject.reference",)


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/pat-1",
        "Group/g.1/_history/3",
        "http://autre.example.org/fhir/Patient/99",
        "urn:uuid:6f1c2b1e-3d4a-4c55-9a0e-2b7f3f0e9a11",
        "urn:oid:1.2.250.1.71.4.2.1",
    ],
)
def test_good_references(reference: str) -> None:
    resource = copy.deepcopy(OBSERVATION)
    resource["subject"] = {"reference": reference}
    assert validate_resource(resource) == []


def test_conditional_references_only_in_transactions() -> None:
    collection = with_changes(BUNDLE, type="collection")
    assert expressions(validate_resource(collection)) == ["Bundle.entry[2].resource.subject.reference"]
    entry = BUNDLE["entry"][2]["resource"]
    assert validate_resource(entry, allow_conditional_references=True) == []


def test_local_reference_must_name_a_contained_resource() -> None:
    resource = with_changes(PATIENT, managingOrganization={"reference": "#autre"})
    issues = validate_resource(resource)
    assert [(i.code, *i.expression) for i in issues] == [
        ("invalid", "Patient.managingOrganization.reference"),
        ("invalid", "Patient.contained[0]"),  # and "cab" is now referenced by nobody (dom-3)
    ]


def test_contained_resource_rules() -> None:
    organization = {"resourceType": "Organization", "id": "o1", "name": "Cabinet"}
    alone = {"resourceType": "Patient", "contained": [organization]}
    assert expressions(validate_resource(alone)) == ["Patient.contained[0]"]  # dom-3
    # referenced through another contained resource, or referring to its container: fine
    chain = {
        "resourceType": "Patient",
        "contained": [
            organization,
            {"resourceType": "Organization", "id": "o2", "partOf": {"reference": "#o1"}},
        ],
        "managingOrganization": {"reference": "#o2"},
    }
    assert validate_resource(chain) == []
    back = {"resourceType": "Patient", "contained": [{**organization, "partOf": {"reference": "#"}}]}
    assert validate_resource(back) == []
    # a canonical "#id" counts as a reference (Questionnaire.item.answerValueSet)
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "contained": [{"resourceType": "ValueSet", "id": "vs", "status": "draft"}],
        "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs"}],
    }
    assert validate_resource(questionnaire) == []
    nested = copy.deepcopy(chain)
    nested["contained"][0]["contained"] = [{"resourceType": "Basic", "code": {"text": "x"}}]
    nested["contained"][0]["meta"] = {"versionId": "3", "lastUpdated": "2024-01-01T00:00:00Z"}
    assert sorted(expressions(validate_resource(nested))) == [
        "Patient.contained[0].contained",  # dom-2
        "Patient.contained[0].meta.lastUpdated",  # dom-4
        "Patient.contained[0].meta.versionId",
    ]


def test_extension_on_an_extension_primitive_value() -> None:
    resource = copy.deepcopy(PATIENT)
    sub_extension = {"url": "http://example.fr/sub", "valueReference": {"reference": "/"}}
    resource["extension"].append(
        {"url": "http://example.fr/ext", "valueString": "a", "_valueString": {"extension": [sub_extension]}}
    )
    # legal R4 the R4B model rejects: accepted, and its content still checked
    assert expressions(validate_resource(resource)) == [
        "Patient.extension[1].valueString.extension[0].valueReference.reference"
    ]


def test_reference_in_extension_value() -> None:
    resource = copy.deepcopy(PATIENT)
    resource["extension"].append({"url": "http://example.fr/ext", "valueReference": {"reference": "Foo/1"}})
    assert expressions(validate_resource(resource)) == ["Patient.extension[1].valueReference.reference"]


# --- structure -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected", "code"),
    [
        ({"birthDate": "not-a-date"}, "Patient.birthDate", "value"),
        ({"name": "x"}, "Patient.name", "structure"),
        ({"name": [{"given": ["Marie", 3]}]}, "Patient.name[0].given[1]", "structure"),
        ({"active": "yes"}, "Patient.active", "structure"),
        ({"telecom": [{"system": "phone", "rank": "1"}]}, "Patient.telecom[0].rank", "structure"),
        ({"colour": "blue"}, "Patient.colour", "structure"),
        ({"_birthDate": {"extension": [{"url": 1}]}}, "Patient.birthDate.extension[0].url", "structure"),
        ({"deceasedBoolean": True, "deceasedDateTime": "2020-01-01"}, "Patient.deceased", "structure"),
        ({"gender": None}, "Patient.gender", "structure"),
        ({"identifier": []}, "Patient.identifier", "structure"),
        ({"maritalStatus": {}}, "Patient.maritalStatus", "structure"),
        ({"photo": [{"contentType": "image/png", "data": "not base64!"}]}, "Patient.photo[0].data", "value"),
        ({"photo": [{"contentType": "image/png", "data": ""}]}, "Patient.photo[0].data", "structure"),
    ],
)
def test_structural_errors(changes: dict[str, Any], expected: str, code: str) -> None:
    issue = only_issue(with_changes(PATIENT, **changes))
    assert (issue.code, issue.expression) == (code, (expected,))
    assert "Reçu" in issue.diagnostics or code == "structure"


def test_required_element_and_keyword_named_element() -> None:
    missing = copy.deepcopy(ENCOUNTER)
    del missing["status"]
    issues = validate_resource(missing)
    assert [(i.code, i.expression) for i in issues] == [("required", ("Encounter.status",))]
    wrong_class = with_changes(ENCOUNTER, **{"class": "VR"})  # "class" is class_fhir in the model
    assert expressions(validate_resource(wrong_class)) == ["Encounter.class"]


def test_every_missing_required_element_is_reported_at_once() -> None:
    # the R4B models stop after the complex ones; the walker knows all R4 min >= 1 elements
    issues = validate_resource({"resourceType": "Immunization", "extension": [{"valueString": "x"}]})
    assert sorted((i.code, *i.expression) for i in issues) == [
        ("required", "Immunization.extension[0].url"),
        ("required", "Immunization.occurrence"),
        ("required", "Immunization.patient"),
        ("required", "Immunization.status"),
        ("required", "Immunization.vaccineCode"),
    ]
    both = with_changes(WEIGHT, valueString="70 kg", status="done")
    assert sorted(expressions(validate_resource(both))) == ["Observation.status", "Observation.value"]
    # a primitive carried only by its extension (data-absent-reason) is present
    absent = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
    observation = copy.deepcopy(WEIGHT)
    del observation["status"]
    observation["_status"] = {"extension": [absent]}
    assert validate_resource(observation) == []


def test_contained_resource_errors() -> None:
    resource = copy.deepcopy(PATIENT)
    resource["contained"] += [
        {"resourceType": "Patient", "id": "p2", "gender": "banana", "birthDate": "hier"},
        {"resourceType": "Foo", "id": "x"},
        {"resourceType": "Organization", "id": "bad id"},
    ]
    resource["link"] = [{"other": {"reference": "#p2"}, "type": "seealso"}]
    resource["generalPractitioner"].append({"reference": "#bad id"})
    issues = validate_resource(resource)
    assert sorted(expressions(issues)) == [
        "Patient.contained[1].birthDate",
        "Patient.contained[1].gender",
        "Patient.contained[2]",
        "Patient.contained[3].id",
    ]
    assert {i.code for i in issues if i.expression == ("Patient.contained[2]",)} == {"not-supported"}


def test_bundle_entry_errors() -> None:
    bundle = copy.deepcopy(BUNDLE)
    bundle["entry"][0]["resource"]["gender"] = "x"
    bundle["entry"][1]["request"]["method"] = "FETCH"
    assert sorted(expressions(validate_resource(bundle))) == [
        "Bundle.entry[0].resource.gender",
        "Bundle.entry[1].request.method",
    ]


def test_all_problems_are_reported_at_once() -> None:
    resource = with_changes(
        PATIENT, id="a b", gender="x", birthDate="x", managingOrganization={"reference": "/"}
    )
    assert sorted(expressions(validate_resource(resource))) == [
        "Patient.birthDate",
        "Patient.contained[0]",
        "Patient.gender",
        "Patient.id",
        "Patient.managingOrganization.reference",
    ]


def test_loc_to_expression() -> None:
    assert loc_to_expression("Patient", ("name", 0, "_given", 1, "id")) == "Patient.name[0].given[1].id"
    assert loc_to_expression("Encounter", ("class_fhir", "root")) == "Encounter.class"
    extension_loc = ("birthDate__ext", "extension", 0)
    assert loc_to_expression("Patient", extension_loc) == "Patient.birthDate.extension[0]"
    assert loc_to_expression("Patient", ("class_fhir",), keep_last=True) == "Patient.class_fhir"
    assert choice_base(["valueBoolean", "valueBase64Binary", "valueQuantity"]) == "value"


# --- garbage never raises ------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        3,
        "Patient",
        [],
        [PATIENT],
        {},
        {"resourceType": "Patient", 1: 2, "name": [{None: "x"}]},
        {"resourceType": "Patient", "contained": [3, {"resourceType": 3}, {"resourceType": "Nope"}, {}]},
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": ["x"]}}]},
        {"resourceType": "Patient", "name": [{"family": "x"}] * 20_000},
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": {"value": math.nan},
        },
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": {"value": 10**400},
        },
    ],
)
def test_garbage_yields_issues_not_exceptions(garbage: Any) -> None:
    for issue in validate_resource(garbage):
        assert issue.code != "exception", issue


def test_deeply_nested_body_is_refused_cleanly() -> None:
    extension: dict[str, Any] = {"url": "http://x"}
    deepest = extension
    for _ in range(5_000):
        deepest["extension"] = [{"url": "http://x"}]
        deepest = deepest["extension"][0]
    issue = only_issue({"resourceType": "Patient", "extension": [extension]})
    assert issue.code == "too-costly"


_FHIR_KEYS = [
    "resourceType",
    "id",
    "meta",
    "text",
    "div",
    "status",
    "contained",
    "extension",
    "url",
    "valueString",
    "valueQuantity",
    "valueReference",
    "valueCodeableConcept",
    "reference",
    "name",
    "given",
    "_given",
    "family",
    "gender",
    "_gender",
    "birthDate",
    "telecom",
    "system",
    "value",
    "use",
    "code",
    "coding",
    "subject",
    "component",
    "entry",
    "resource",
    "type",
    "comparator",
    "class",
    "class_fhir",
    "deceasedBoolean",
    "deceasedDateTime",
    "item",
    "linkId",
    "clinicalStatus",
    "request",
    "method",
]
_RESOURCE_TYPES = ["Patient", "Observation", "Bundle", "Encounter", "Condition", "Questionnaire", "Foo"]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "Patient/1", "#x", "final", "male", "banana", "2020-01-01", "urn:uuid:x", "Foo/1"])
)
_keys = st.sampled_from(_FHIR_KEYS) | st.text(max_size=8) | st.integers(-2, 2)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=6),
    max_leaves=40,
)
_resources = st.builds(
    lambda resource_type, body: {**body, "resourceType": resource_type},
    st.sampled_from(_RESOURCE_TYPES) | _json,
    st.dictionaries(_keys, _json, max_size=8),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_resources, _json))
def test_random_json_never_raises(document: Any) -> None:
    issues = validate_resource(document)
    for issue in issues:
        assert isinstance(issue, Issue)
        assert issue.severity in ("error", "warning")
        assert issue.code and issue.code != "exception", issue
        assert isinstance(issue.diagnostics, str) and issue.diagnostics
        assert all(isinstance(expr, str) and expr for expr in issue.expression)
    orjson.dumps(operation_outcome(issues), option=orjson.OPT_NON_STR_KEYS)
