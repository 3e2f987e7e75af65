"""$lookup, $expand, $validate-code, $subsumes, $translate over HTTP (type and instance, GET and POST).

Expected values come from the official R4 package in ``shared/fhir-r4`` (code systems,
value sets, concept maps) and from the French designation files the server vendors (their
source), never from the server's own answers.
"""

from __future__ import annotations

import gzip
import uuid
from functools import cache
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import REPO, SHARED, shared_reason

R4 = SHARED / "fhir-r4"
ROLECODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
GENDER = "http://hl7.org/fhir/administrative-gender"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
V3_GENDER = "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender"
JSON = {"Content-Type": "application/fhir+json"}


@cache
def r4(name: str) -> dict[str, dict[str, Any]]:
    """Resources of an R4 package file by canonical URL (first one wins)."""
    if not (R4 / f"{name}.json.gz").exists():
        pytest.skip(shared_reason("fhir-r4", f"{name}.json.gz"))
    bundle = orjson.loads(gzip.decompress((R4 / f"{name}.json.gz").read_bytes()))
    out: dict[str, dict[str, Any]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        out.setdefault(resource.get("url", ""), resource)
    return out


def french(system: str) -> dict[str, str]:
    """code -> French designation in the vendored supplements (later files win, like the service)."""
    out: dict[str, str] = {}
    for name in ("fr-ehdsi-samples", "fr-ans-language-pack", "fr-passerelle"):
        for supplement in orjson.loads(
            gzip.decompress((REPO / f"terminology/data/fr/{name}.json.gz").read_bytes())
        ):
            if supplement.get("supplements") != system:
                continue
            for concept in supplement["concept"]:
                for d in concept.get("designation", []):
                    if (d.get("language") or supplement.get("language") or "").startswith("fr"):
                        out[concept["code"]] = d["value"]
    return out


def rolecode_parents() -> dict[str, set[str]]:
    """code -> parent codes of v3 RoleCode, from nested concepts and subsumedBy properties."""
    cs = r4("v3-codesystems")[ROLECODE]
    parents: dict[str, set[str]] = {}
    stack = [(c, None) for c in cs["concept"]]
    while stack:
        concept, parent = stack.pop()
        links = parents.setdefault(concept["code"], set())
        if parent:
            links.add(parent)
        for prop in concept.get("property", []):
            if prop["code"] in ("subsumedBy", "parent"):
                links.add(prop["valueCode"])
        stack.extend((child, concept["code"]) for child in concept.get("concept", []))
    return parents


def descendants(root: str) -> set[str]:
    parents = rolecode_parents()
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for code, links in parents.items():
            if code not in found and (root in links or links & found):
                found.add(code)
                changed = True
    return found


def values(parameters: dict[str, Any], name: str) -> list[Any]:
    assert parameters["resourceType"] == "Parameters", parameters
    out = []
    for p in parameters["parameter"]:
        if p["name"] == name:
            out.append(next((v for k, v in p.items() if k.startswith("value")), p.get("part")))
    return out


def one(parameters: dict[str, Any], name: str) -> Any:
    found = values(parameters, name)
    assert len(found) == 1, (name, parameters)
    return found[0]


def post(http: httpx.Client, path: str, *params: dict[str, Any]) -> httpx.Response:
    return http.post(path, json={"resourceType": "Parameters", "parameter": list(params)}, headers=JSON)


def assert_outcome(response: httpx.Response, status: int, code: str, expression: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error" and issue["code"] == code, outcome
    assert issue.get("expression") == [expression], outcome
    assert issue.get("diagnostics")
    return issue


def one_param(expansion: dict[str, Any], name: str) -> Any:
    """A parameter the server echoes in ``ValueSet.expansion.parameter``."""
    found = [p for p in expansion.get("parameter", []) if p["name"] == name]
    assert len(found) == 1, expansion.get("parameter")
    return next(v for k, v in found[0].items() if k.startswith("value"))


def create(http: httpx.Client, resource: dict[str, Any]) -> str:
    response = http.post(f"/{resource['resourceType']}", json=resource, headers=JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def triage_codesystem(url: str) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "url": url,
        "status": "active",
        "content": "complete",
        "concept": [
            {
                "code": "urgent",
                "display": "Urgent",
                "designation": [{"language": "fr-FR", "value": "Urgence"}],
                "concept": [{"code": "very-urgent", "display": "Very urgent"}],
            },
            {"code": "routine", "display": "Routine"},
        ],
    }


# -- $lookup -----------------------------------------------------------------------------------


def test_lookup_get_in_french_with_designations(http: httpx.Client) -> None:
    english = r4("v3-codesystems")[ROLECODE]
    mother = next(c for c in _walk(english["concept"]) if c["code"] == "MTH")
    r = http.get("/CodeSystem/$lookup", params={"system": ROLECODE, "code": "MTH"})
    assert r.status_code == 200, r.text
    assert one(r.json(), "display") == mother["display"]
    assert one(r.json(), "name")  # 1..1 in R4
    r = http.get("/CodeSystem/$lookup", params={"system": ROLECODE, "code": "MTH", "displayLanguage": "fr"})
    expected = french(ROLECODE)["MTH"]
    assert one(r.json(), "display") == expected
    designations = [
        {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in d}
        for d in values(r.json(), "designation")
    ]
    assert any(d["language"].startswith("fr") and d["value"] == expected for d in designations)
    parent_codes = set()
    for part in values(r.json(), "property"):
        fields = {pp["name"]: next(v for k, v in pp.items() if k.startswith("value")) for pp in part}
        if fields["code"] == "parent":
            parent_codes.add(fields["value"])
    assert parent_codes == rolecode_parents()["MTH"]


def _walk(concepts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in concepts:
        out.append(c)
        out.extend(_walk(c.get("concept", [])))
    return out


def test_lookup_language_from_accept_language_and_parameter_wins(http: httpx.Client) -> None:
    params = {"system": ROLECODE, "code": "MTH"}
    r = http.get("/CodeSystem/$lookup", params=params, headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert one(r.json(), "display") == french(ROLECODE)["MTH"]
    r = http.get(
        "/CodeSystem/$lookup", params={**params, "displayLanguage": "en"}, headers={"Accept-Language": "fr"}
    )
    assert one(r.json(), "display") == "mother"


def test_lookup_post_with_coding(http: httpx.Client) -> None:
    r = post(
        http,
        "/CodeSystem/$lookup",
        {"name": "coding", "valueCoding": {"system": GENDER, "code": "female"}},
        {"name": "displayLanguage", "valueCode": "fr"},
    )
    assert r.status_code == 200, r.text
    assert one(r.json(), "display") == french(GENDER)["female"]


def test_lookup_instance_level_uses_the_stored_code_system(http: httpx.Client) -> None:
    url = f"https://example.org/cs/{uuid.uuid4().hex}"
    id_ = create(http, triage_codesystem(url))
    r = http.get(f"/CodeSystem/{id_}/$lookup", params={"code": "very-urgent"})
    assert r.status_code == 200, r.text
    assert one(r.json(), "display") == "Very urgent"
    r = post(
        http,
        f"/CodeSystem/{id_}/$lookup",
        {"name": "code", "valueCode": "urgent"},
        {"name": "displayLanguage", "valueCode": "fr"},
    )
    assert one(r.json(), "display") == "Urgence"
    assert_outcome(
        http.get(f"/CodeSystem/{id_}/$lookup", params={"code": "urgent", "system": GENDER}),
        400,
        "invalid",
        "system",
    )
    assert http.get(f"/CodeSystem/{uuid.uuid4()}/$lookup", params={"code": "x"}).status_code == 404


def test_lookup_bad_input(http: httpx.Client) -> None:
    assert_outcome(
        http.get("/CodeSystem/$lookup", params={"system": "http://example.org/none", "code": "x"}),
        404,
        "not-found",
        "system",
    )
    assert_outcome(
        http.get("/CodeSystem/$lookup", params={"system": GENDER, "code": "banana"}), 404, "not-found", "code"
    )
    assert_outcome(http.get("/CodeSystem/$lookup", params={"system": GENDER}), 400, "required", "code")
    assert_outcome(http.get("/CodeSystem/$lookup", params={"code": "male"}), 400, "required", "system")
    assert_outcome(
        http.get("/CodeSystem/$lookup", params=[("system", GENDER), ("code", "male"), ("code", "female")]),
        400,
        "invalid",
        "code",
    )
    assert_outcome(http.get("/CodeSystem/$lookup", params={"coding": "male"}), 400, "invalid", "coding")
    assert http.get("/Patient/$lookup", params={"system": GENDER, "code": "male"}).status_code == 400


# -- $expand -----------------------------------------------------------------------------------


def gender_codes() -> list[str]:
    return [c["code"] for c in r4("valuesets")[GENDER]["concept"]]


def test_expand_get_in_french(http: httpx.Client) -> None:
    r = http.get("/ValueSet/$expand", params={"url": GENDER_VS, "displayLanguage": "fr"})
    assert r.status_code == 200, r.text
    expansion = r.json()["expansion"]
    assert r.json()["resourceType"] == "ValueSet" and r.json()["url"] == GENDER_VS
    assert expansion["total"] == len(gender_codes()) == 4
    assert {c["code"]: c["display"] for c in expansion["contains"]} == french(GENDER)
    assert {c["system"] for c in expansion["contains"]} == {GENDER}


def test_expand_filter_count_offset(http: httpx.Client) -> None:
    full = http.get("/ValueSet/$expand", params={"url": GENDER_VS}).json()["expansion"]["contains"]
    page = http.get("/ValueSet/$expand", params={"url": GENDER_VS, "count": "2", "offset": "1"}).json()[
        "expansion"
    ]
    assert page["total"] == 4 and page["offset"] == 1
    assert [c["code"] for c in page["contains"]] == [c["code"] for c in full[1:3]]
    none = http.get("/ValueSet/$expand", params={"url": GENDER_VS, "count": "0"}).json()["expansion"]
    assert none["total"] == 4 and none.get("contains", []) == []
    # filter matches the code or any designation, accents ignored: « féminin » finds female.
    hit = http.get(
        "/ValueSet/$expand", params={"url": GENDER_VS, "filter": "feminin", "displayLanguage": "fr"}
    )
    assert [c["code"] for c in hit.json()["expansion"]["contains"]] == ["female"]


def test_expand_is_a_filter_and_nested_value_sets(http: httpx.Client) -> None:
    url = "http://terminology.hl7.org/ValueSet/v3-FamilyMember"
    compose = r4("v3-codesystems")[url]["compose"]
    assert compose["include"][0]["filter"] == [{"property": "concept", "op": "is-a", "value": "FAMMEMB"}]
    r = http.get("/ValueSet/$expand", params={"url": url})
    assert r.status_code == 200, r.text
    codes = {c["code"] for c in r.json()["expansion"]["contains"]}
    assert codes == {"FAMMEMB"} | descendants("FAMMEMB")
    assert r.json()["expansion"]["total"] == len(codes)

    # yesnodontknow = include valueSet v2-0136 + one data-absent-reason code
    yes_no = r4("valuesets")["http://hl7.org/fhir/ValueSet/yesnodontknow"]["compose"]["include"]
    v2 = r4("v2-tables")[yes_no[0]["valueSet"][0]]["compose"]["include"][0]
    v2_codes = {(v2["system"], c["code"]) for c in r4("v2-tables")[v2["system"]]["concept"]}
    expected = v2_codes | {(yes_no[1]["system"], c["code"]) for c in yes_no[1]["concept"]}
    r = http.get("/ValueSet/$expand", params={"url": "http://hl7.org/fhir/ValueSet/yesnodontknow"})
    assert {(c["system"], c["code"]) for c in r.json()["expansion"]["contains"]} == expected


def test_expand_include_designations(http: httpx.Client) -> None:
    r = http.get("/ValueSet/$expand", params={"url": GENDER_VS, "includeDesignations": "true"})
    male = next(c for c in r.json()["expansion"]["contains"] if c["code"] == "male")
    assert any(
        d["language"].startswith("fr") and d["value"] == french(GENDER)["male"] for d in male["designation"]
    )
    assert one_param(r.json()["expansion"], "includeDesignations") is True
    plain = http.get("/ValueSet/$expand", params={"url": GENDER_VS}).json()["expansion"]["contains"]
    assert all("designation" not in c for c in plain)


def test_expand_post_inline_value_set_and_instance(http: httpx.Client) -> None:
    vs = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": GENDER, "concept": [{"code": "male"}, {"code": "unknown"}]}]},
    }
    r = post(
        http,
        "/ValueSet/$expand",
        {"name": "valueSet", "resource": vs},
        {"name": "displayLanguage", "valueCode": "fr"},
    )
    assert r.status_code == 200, r.text
    assert [(c["code"], c["display"]) for c in r.json()["expansion"]["contains"]] == [
        ("male", french(GENDER)["male"]),
        ("unknown", french(GENDER)["unknown"]),
    ]
    id_ = create(http, {**vs, "url": f"https://example.org/vs/{uuid.uuid4().hex}"})
    for response in (http.get(f"/ValueSet/{id_}/$expand"), post(http, f"/ValueSet/{id_}/$expand")):
        assert response.status_code == 200, response.text
        assert response.json()["id"] == id_
        assert [c["code"] for c in response.json()["expansion"]["contains"]] == ["male", "unknown"]


def test_expand_bad_input(http: httpx.Client) -> None:
    assert_outcome(
        http.get("/ValueSet/$expand", params={"url": "http://example.org/none"}), 404, "not-found", "url"
    )
    assert_outcome(http.get("/ValueSet/$expand"), 400, "required", "url")
    assert_outcome(
        http.get("/ValueSet/$expand", params={"url": GENDER_VS, "count": "-1"}), 400, "invalid", "count"
    )
    assert_outcome(
        http.get("/ValueSet/$expand", params={"url": GENDER_VS, "offset": "x"}), 400, "invalid", "offset"
    )
    assert_outcome(
        http.get("/ValueSet/$expand", params={"url": GENDER_VS, "includeDesignations": "yes"}),
        400,
        "invalid",
        "includeDesignations",
    )
    assert_outcome(http.get("/ValueSet/$expand", params={"valueSet": "x"}), 400, "invalid", "valueSet")
    malformed = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"concept": [{"code": "x"}]}]},
    }
    assert_outcome(
        post(http, "/ValueSet/$expand", {"name": "valueSet", "resource": malformed}),
        400,
        "invalid",
        "ValueSet.compose.include[0]",
    )
    unknown_system = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": "http://example.org/no-system"}]},
    }
    assert_outcome(
        post(http, "/ValueSet/$expand", {"name": "valueSet", "resource": unknown_system}),
        404,
        "not-found",
        "ValueSet.compose.include.system",
    )
    assert http.get(f"/ValueSet/{uuid.uuid4()}/$expand").status_code == 404
    # A resource parameter is validated like a write: a wrongly typed element is 400 at its path.
    wrong_type = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{"system": 5}]}}
    r = post(http, "/ValueSet/$expand", {"name": "valueSet", "resource": wrong_type})
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["ValueSet.compose.include[0].system"]


def test_expand_cyclic_includes_is_422(http: httpx.Client) -> None:
    a, b = (f"https://example.org/vs/{uuid.uuid4().hex}" for _ in range(2))
    create(
        http,
        {
            "resourceType": "ValueSet",
            "url": a,
            "status": "active",
            "compose": {"include": [{"valueSet": [b]}]},
        },
    )
    create(
        http,
        {
            "resourceType": "ValueSet",
            "url": b,
            "status": "active",
            "compose": {"include": [{"valueSet": [a]}]},
        },
    )
    issue = assert_outcome(
        http.get("/ValueSet/$expand", params={"url": a}),
        422,
        "processing",
        "ValueSet.compose.include.valueSet",
    )
    assert a in issue["diagnostics"] and b in issue["diagnostics"]


def test_expand_too_large_without_count_is_too_costly(http: httpx.Client) -> None:
    url = "http://terminology.ehdsi.eu/ValueSet/eHDSIIllnessandDisorder"  # ICD-10, 14,158 codes in MVC 8.1.0
    assert_outcome(http.get("/ValueSet/$expand", params={"url": url}), 422, "too-costly", "ValueSet")
    page = http.get("/ValueSet/$expand", params={"url": url, "count": "5"})
    assert page.status_code == 200 and page.json()["expansion"]["total"] > 10_000
    assert len(page.json()["expansion"]["contains"]) == 5


# -- $validate-code ----------------------------------------------------------------------------


def test_validate_code_against_a_value_set(http: httpx.Client) -> None:
    base = {"url": GENDER_VS, "system": GENDER}
    r = http.get("/ValueSet/$validate-code", params={**base, "code": "male", "displayLanguage": "fr"})
    assert r.status_code == 200, r.text
    assert one(r.json(), "result") is True and one(r.json(), "display") == french(GENDER)["male"]
    r = http.get("/ValueSet/$validate-code", params={**base, "code": "banana"})
    assert one(r.json(), "result") is False and "banana" in one(r.json(), "message")
    r = http.get("/ValueSet/$validate-code", params={**base, "code": "male", "display": "Female"})
    assert one(r.json(), "result") is False
    # A CodeableConcept is valid when one of its codings is.
    concept = {"coding": [{"system": GENDER, "code": "banana"}, {"system": GENDER, "code": "other"}]}
    r = post(
        http,
        "/ValueSet/$validate-code",
        {"name": "url", "valueUri": GENDER_VS},
        {"name": "codeableConcept", "valueCodeableConcept": concept},
    )
    assert one(r.json(), "result") is True
    r = post(
        http,
        "/ValueSet/$validate-code",
        {"name": "url", "valueUri": GENDER_VS},
        {"name": "coding", "valueCoding": {"system": V3_GENDER, "code": "M"}},
    )
    assert one(r.json(), "result") is False  # right code, wrong system


def test_validate_code_instance_and_code_system(http: httpx.Client) -> None:
    url = f"https://example.org/cs/{uuid.uuid4().hex}"
    cs_id = create(http, triage_codesystem(url))
    vs_id = create(
        http,
        {
            "resourceType": "ValueSet",
            "url": url + "-vs",
            "status": "active",
            "compose": {
                "include": [
                    {"system": url, "filter": [{"property": "concept", "op": "is-a", "value": "urgent"}]}
                ]
            },
        },
    )
    r = http.get(f"/ValueSet/{vs_id}/$validate-code", params={"system": url, "code": "very-urgent"})
    assert one(r.json(), "result") is True
    r = http.get(f"/ValueSet/{vs_id}/$validate-code", params={"system": url, "code": "routine"})
    assert one(r.json(), "result") is False
    r = http.get(f"/CodeSystem/{cs_id}/$validate-code", params={"code": "routine"})
    assert one(r.json(), "result") is True
    r = http.get("/CodeSystem/$validate-code", params={"url": url, "code": "nope"})
    assert one(r.json(), "result") is False and "nope" in one(r.json(), "message")
    inline = triage_codesystem("https://example.org/cs/inline-only")
    r = post(
        http,
        "/CodeSystem/$validate-code",
        {"name": "codeSystem", "resource": inline},
        {"name": "code", "valueCode": "very-urgent"},
    )
    assert r.status_code == 200, r.text
    assert one(r.json(), "result") is True and one(r.json(), "display") == "Very urgent"


def test_validate_code_bad_input(http: httpx.Client) -> None:
    assert_outcome(
        http.get(
            "/ValueSet/$validate-code",
            params={"url": "http://example.org/none", "system": GENDER, "code": "x"},
        ),
        404,
        "not-found",
        "url",
    )
    assert_outcome(
        http.get("/ValueSet/$validate-code", params={"url": GENDER_VS, "system": GENDER}),
        400,
        "required",
        "code",
    )
    assert_outcome(
        http.get("/ValueSet/$validate-code", params={"system": GENDER, "code": "male"}),
        400,
        "required",
        "url",
    )
    # An unknown code system is an answer (the code cannot be valid), as for an unknown code.
    unknown = http.get("/CodeSystem/$validate-code", params={"url": "http://example.org/none", "code": "x"})
    assert unknown.status_code == 200 and one(unknown.json(), "result") is False
    assert "Système de codes inconnu" in one(unknown.json(), "message")
    assert_outcome(
        http.get(
            "/ValueSet/$validate-code", params={"url": GENDER_VS, "code": "male", "coding": f"{GENDER}|male"}
        ),
        400,
        "invalid",
        "coding",
    )


# -- $subsumes ---------------------------------------------------------------------------------


def test_subsumes_outcomes(http: httpx.Client) -> None:
    assert "FAMMEMB" in descendants("FAMMEMB") | {"FAMMEMB"} and "MTH" in descendants("FAMMEMB")
    assert "FTH" not in descendants("MTH") and "MTH" not in descendants("FTH")
    cases = [
        ("FAMMEMB", "MTH", "subsumes"),
        ("MTH", "FAMMEMB", "subsumed-by"),
        ("MTH", "MTH", "equivalent"),
        ("MTH", "FTH", "not-subsumed"),
    ]
    for a, b, expected in cases:
        r = http.get("/CodeSystem/$subsumes", params={"system": ROLECODE, "codeA": a, "codeB": b})
        assert r.status_code == 200, r.text
        assert one(r.json(), "outcome") == expected, (a, b)
    r = post(
        http,
        "/CodeSystem/$subsumes",
        {"name": "codingA", "valueCoding": {"system": ROLECODE, "code": "PRN"}},
        {"name": "codingB", "valueCoding": {"system": ROLECODE, "code": "MTH"}},
    )
    assert one(r.json(), "outcome") == ("subsumes" if "PRN" in rolecode_parents()["MTH"] else "not-subsumed")


def test_subsumes_instance_and_bad_input(http: httpx.Client) -> None:
    url = f"https://example.org/cs/{uuid.uuid4().hex}"
    id_ = create(http, triage_codesystem(url))
    r = http.get(f"/CodeSystem/{id_}/$subsumes", params={"codeA": "very-urgent", "codeB": "urgent"})
    assert one(r.json(), "outcome") == "subsumed-by"
    assert_outcome(
        http.get("/CodeSystem/$subsumes", params={"system": ROLECODE, "codeA": "NOPE", "codeB": "MTH"}),
        404,
        "not-found",
        "codeA",
    )
    assert_outcome(
        http.get("/CodeSystem/$subsumes", params={"system": ROLECODE, "codeA": "MTH"}),
        400,
        "required",
        "codeB",
    )
    assert_outcome(
        http.get("/CodeSystem/$subsumes", params={"codeA": "MTH", "codeB": "FTH"}), 400, "required", "system"
    )
    r = post(
        http,
        "/CodeSystem/$subsumes",
        {"name": "codingA", "valueCoding": {"system": ROLECODE, "code": "MTH"}},
        {"name": "codingB", "valueCoding": {"system": GENDER, "code": "male"}},
    )
    assert_outcome(r, 400, "invalid", "codingB")


# -- $translate --------------------------------------------------------------------------------


def test_translate_match_and_no_match(http: httpx.Client) -> None:
    cm = r4("conceptmaps")["http://hl7.org/fhir/ConceptMap/cm-administrative-gender-v3"]
    element = next(e for e in cm["group"][0]["element"] if e["code"] == "male")
    target = element["target"][0]
    r = http.get(
        "/ConceptMap/$translate", params={"system": GENDER, "code": "male", "targetsystem": V3_GENDER}
    )
    assert r.status_code == 200, r.text
    assert one(r.json(), "result") is True
    parts = {p["name"]: p for p in one(r.json(), "match")}
    assert parts["equivalence"]["valueCode"] == target["equivalence"]
    assert (parts["concept"]["valueCoding"]["system"], parts["concept"]["valueCoding"]["code"]) == (
        V3_GENDER,
        target["code"],
    )
    assert parts["source"]["valueUri"] == cm["url"]
    r = post(
        http,
        "/ConceptMap/$translate",
        {"name": "coding", "valueCoding": {"system": GENDER, "code": "banana"}},
    )
    assert one(r.json(), "result") is False and values(r.json(), "match") == []


def test_translate_instance_inline_and_bad_input(http: httpx.Client) -> None:
    url = f"https://example.org/cs/{uuid.uuid4().hex}"
    cm = {
        "resourceType": "ConceptMap",
        "url": url + "-map",
        "status": "active",
        "group": [
            {
                "source": url,
                "target": "http://terminology.hl7.org/CodeSystem/v3-ActPriority",
                "element": [{"code": "urgent", "target": [{"code": "UR", "equivalence": "equivalent"}]}],
            }
        ],
    }
    id_ = create(http, cm)
    r = http.get(f"/ConceptMap/{id_}/$translate", params={"system": url, "code": "urgent"})
    match = {p["name"]: p for p in one(r.json(), "match")}
    assert one(r.json(), "result") is True and match["concept"]["valueCoding"]["code"] == "UR"
    r = http.get(f"/ConceptMap/{id_}/$translate", params={"system": url, "code": "routine"})
    assert one(r.json(), "result") is False
    reverse = http.get(
        f"/ConceptMap/{id_}/$translate",
        params={
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority",
            "code": "UR",
            "reverse": "true",
        },
    )
    assert {p["name"]: p for p in one(reverse.json(), "match")}["concept"]["valueCoding"]["code"] == "urgent"
    inline = {**cm, "url": "https://example.org/inline-map"}
    r = post(
        http,
        "/ConceptMap/$translate",
        {"name": "conceptMap", "resource": inline},
        {"name": "coding", "valueCoding": {"system": url, "code": "urgent"}},
    )
    assert one(r.json(), "result") is True
    assert_outcome(
        http.get(
            "/ConceptMap/$translate",
            params={"url": "http://example.org/none", "system": GENDER, "code": "male"},
        ),
        404,
        "not-found",
        "url",
    )
    assert_outcome(http.get("/ConceptMap/$translate", params={"code": "male"}), 400, "required", "system")
    assert_outcome(http.get("/ConceptMap/$translate", params={"system": GENDER}), 400, "required", "code")
    assert_outcome(
        http.get("/ConceptMap/$translate", params={"system": GENDER, "code": "male", "reverse": "2"}),
        400,
        "invalid",
        "reverse",
    )


def test_capability_statement_lists_the_operations(http: httpx.Client) -> None:
    rest = http.get("/metadata").json()["rest"][0]
    ops = {r["type"]: {o["name"]: o["definition"] for o in r.get("operation", [])} for r in rest["resource"]}
    assert ops["CodeSystem"]["lookup"] == "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup"
    assert ops["ValueSet"]["expand"] == "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"
    assert ops["ConceptMap"]["translate"] == "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate"
    assert ops["CodeSystem"]["subsumes"] == "http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes"
    # one operation name, the definition of each type (R4 has both)
    assert (
        ops["CodeSystem"]["validate-code"]
        == "http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code"
    )
    assert (
        ops["ValueSet"]["validate-code"] == "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code"
    )
    assert "expand" not in ops.get("Patient", {})


@pytest.mark.parametrize("path", ["/ValueSet/$lookup", "/CodeSystem/$expand", "/ConceptMap/$subsumes"])
def test_operation_on_the_wrong_type_is_400(http: httpx.Client, path: str) -> None:
    r = http.get(path, params={"system": GENDER, "code": "male"})
    assert r.status_code == 400 and r.json()["issue"][0]["code"] == "not-supported"
