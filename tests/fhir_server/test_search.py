"""Search over HTTP: the R4 rules a client relies on, checked one by one on a real server.

Each test writes its own resources with a unique marker (a family name or a tag) so
that tests sharing the session server do not see each other's data.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

FHIR_JSON = "application/fhir+json"


def _marker() -> str:
    return "m" + uuid.uuid4().hex[:10]


def _create(http: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    r = http.post(f"/{resource['resourceType']}", json=resource, headers={"Content-Type": FHIR_JSON})
    assert r.status_code == 201, r.text
    return r.json()


def _patient(
    http: httpx.Client, family: str, given: str, birth: str, tag: str, **extra: Any
) -> dict[str, Any]:
    return _create(
        http,
        {
            "resourceType": "Patient",
            "meta": {"tag": [{"system": "urn:test", "code": tag}]},
            "name": [{"family": family, "given": [given]}],
            "birthDate": birth,
            **extra,
        },
    )


def _ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


def _outcome(r: httpx.Response, status: int, parameter: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert any(parameter in i.get("expression", []) for i in body["issue"]), body
    return body


def test_string_is_accent_and_case_insensitive_prefix(http: httpx.Client) -> None:
    tag = _marker()
    helene = _patient(http, f"Dupont{tag}", "Hélène", "1984-03-12", tag)
    _patient(http, f"Martin{tag}", "Marie", "1990-01-01", tag)
    for query in ("helene", "HÉLÈNE", "hel"):
        bundle = http.get("/Patient", params={"given": query, "_tag": f"urn:test|{tag}"}).json()
        assert _ids(bundle) == [helene["id"]], query
    assert _ids(http.get("/Patient", params={"given:exact": "Hélène", "_tag": tag}).json()) == [helene["id"]]
    assert _ids(http.get("/Patient", params={"given:exact": "helene", "_tag": tag}).json()) == []
    assert _ids(http.get("/Patient", params={"name:contains": "LEN", "_tag": tag}).json()) == [helene["id"]]
    # a value in the middle of a word is not a prefix
    assert _ids(http.get("/Patient", params={"given": "lene", "_tag": tag}).json()) == []


def test_number_prefixes_hold_within_one_value(http: httpx.Client) -> None:
    """R4 number search on RiskAssessment ``probability`` (prediction.probabilityDecimal): ``eq``
    uses the implicit range of the value's precision, ``ap`` is within 10 %, and a two-sided
    range must hold for one prediction, not be met by two different ones."""
    tag = _marker()
    patient = _patient(http, "Risque", "R", "1970", tag)

    def risk(*probabilities: float) -> str:
        body = {
            "resourceType": "RiskAssessment",
            "status": "final",
            "meta": {"tag": [{"code": tag}]},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "prediction": [{"probabilityDecimal": p} for p in probabilities],
        }
        return str(_create(http, body)["id"])

    quarter, half, spread = risk(0.25), risk(0.5), risk(0.1, 0.9)

    def ids(*values: str) -> set[str]:
        params = [("_tag", tag), *(("probability", v) for v in values)]
        return set(_ids(http.get("/RiskAssessment", params=params).json()))

    assert ids("0.5") == {half}  # [0.45, 0.55): 0.1 and 0.9 are each outside it
    assert ids("0.25") == {quarter}
    assert ids("0.3") == {quarter}  # [0.25, 0.35)
    assert ids("0.30") == set()  # [0.295, 0.305)
    assert ids("gt0.5") == {spread}
    assert ids("ge0.5") == {half, spread}
    assert ids("lt0.25") == {spread}
    assert ids("le0.25") == {quarter, spread}
    assert ids("ap0.5") == {half}  # [0.45, 0.55]
    assert ids("ne0.5") == {quarter, spread}
    assert ids("gt0.2", "lt0.3") == {quarter, spread}  # two parameters: each may hold on its own value
    # the same with the range leading (no other indexed clause): still one value each
    alone = set(
        _ids(http.get("/RiskAssessment", params=[("probability", "gt0.2"), ("probability", "lt0.3")]).json())
    )
    assert {quarter, spread} <= alone and half not in alone
    sort = _ids(http.get("/RiskAssessment", params={"_tag": tag, "_sort": "-probability"}).json())
    assert sort == [spread, half, quarter]  # descending: by the largest value


def test_string_prefixes_longer_than_the_stored_ones(http: httpx.Client) -> None:
    """Starts-with holds at any length: the stored prefixes stop at 12 characters, the rest is checked."""
    tag = _marker()
    long = _patient(http, "Saint-Exupéry-Montclair", "Antoine", "1900-06-29", tag)
    other = _patient(http, "Saint-Exupéry-Montagne", "Paul", "1900-06-29", tag)

    def found(**params: str) -> set[str]:
        return set(_ids(http.get("/Patient", params={**params, "_tag": tag}).json()))

    assert found(family="saint-exupery-mont") == {long["id"], other["id"]}  # 18 characters
    assert found(family="SAINT-EXUPÉRY-MONTC") == {long["id"]}
    assert found(family="saint-exupery-montclairs") == set()  # longer than the value
    assert found(family="saint-exu") == {long["id"], other["id"]}
    assert found(**{"family:exact": "Saint-Exupéry-Montclair"}) == {long["id"]}
    assert found(**{"family:exact": "Saint-Exupéry-Montclai"}) == set()  # exact is whole
    assert found(**{"family:exact": "saint-exupéry-montclair"}) == set()  # and case-sensitive


def test_reference_identifier_and_uri_below(http: httpx.Client) -> None:
    """``:identifier`` matches Reference.identifier as a token (system|value, value, system|,
    |value); ``:below`` on a uri matches the uris that begin with the value."""
    tag = _marker()
    rpps = "urn:oid:1.2.250.1.71.4.2.1"
    with_system = _patient(
        http,
        "Idref",
        "A",
        "1980",
        tag,
        generalPractitioner=[{"identifier": {"system": rpps, "value": f"{tag}1"}}],
    )
    without = _patient(
        http, "Idref", "B", "1980", tag, generalPractitioner=[{"identifier": {"value": f"{tag}2"}}]
    )
    _patient(http, "Idref", "C", "1980", tag, generalPractitioner=[{"display": "Dr Sans Identifiant"}])

    def found(**params: str) -> set[str]:
        return set(_ids(http.get("/Patient", params={**params, "_tag": tag}).json()))

    gp = "general-practitioner:identifier"
    assert found(**{gp: f"{rpps}|{tag}1"}) == {with_system["id"]}
    assert found(**{gp: f"{tag}1"}) == {with_system["id"]}
    assert found(**{gp: f"{rpps}|"}) == {with_system["id"]}
    assert found(**{gp: f"|{tag}2"}) == {without["id"]}
    assert found(**{gp: f"|{tag}1"}) == set()  # |value: no system
    assert found(**{gp: f"{rpps}|{tag}2"}) == set()
    # the element is there for all three, searchable or not
    assert len(found(**{"general-practitioner:missing": "false"})) == 3

    profile = f"http://example.org/fhir/{tag}/StructureDefinition/patient-fr"
    mine = _patient(http, "Uri", "A", "1980", tag, meta={"profile": [profile], "tag": [{"code": tag}]})
    found_below = {
        value: found(**{"_profile:below": value})
        for value in (
            f"http://example.org/fhir/{tag}",
            f"http://example.org/fhir/{tag}/Struct",
            profile,
            "http://example.org/fh",
        )
    }
    assert all(mine["id"] in ids for ids in found_below.values()), found_below
    assert (
        found(**{"_profile:below": f"http://example.org/fhir/{tag}/StructureDefinition/patient-frx"}) == set()
    )
    assert found(**{"_profile:below": "http://example.org/other"}) == set()


def test_token_forms_and_modifiers(http: httpx.Client) -> None:
    tag = _marker()
    ins = f"urn:oid:1.2.250.1.213.1.4.8|{tag}1"
    a = _patient(
        http,
        "A",
        "A",
        "1980",
        tag,
        identifier=[
            {
                "system": ins.split("|")[0],
                "value": f"{tag}1",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NH"}],
                    "text": "Numéro INS",
                },
            }
        ],
        gender="female",
    )
    b = _patient(http, "B", "B", "1981", tag, identifier=[{"value": f"{tag}2"}], gender="male")
    c = _patient(http, "C", "C", "1982", tag)

    def ids(**params: str) -> set[str]:
        return set(_ids(http.get("/Patient", params={**params, "_tag": tag, "_count": "50"}).json()))

    assert ids(identifier=ins) == {a["id"]}
    assert ids(identifier=f"{tag}1") == {a["id"]}  # code alone: any system
    assert ids(identifier=f"|{tag}2") == {b["id"]}  # |code: no system
    assert ids(identifier=f"|{tag}1") == set()
    assert ids(identifier="urn:oid:1.2.250.1.213.1.4.8|") == {a["id"]}  # system|: any code
    assert ids(**{"identifier:of-type": f"http://terminology.hl7.org/CodeSystem/v2-0203|NH|{tag}1"}) == {
        a["id"]
    }
    assert ids(**{"identifier:text": "numero"}) == {a["id"]}
    assert ids(gender="female,male") == {a["id"], b["id"]}  # comma: OR
    assert ids(**{"gender:not": "female"}) == {b["id"], c["id"]}  # :not includes resources without a value
    assert ids(**{"gender:missing": "true"}) == {c["id"]}
    assert ids(**{"gender:missing": "false"}) == {a["id"], b["id"]}
    assert ids(_id=f"{a['id']},{c['id']}") == {a["id"], c["id"]}


def test_date_prefixes_on_ranges(http: httpx.Client) -> None:
    """R4: a date is a range; eq means the target is inside the search range, gt/lt overlap above/below."""
    tag = _marker()
    day = _patient(http, "D", "D", "2000-06-15", tag)
    month = _patient(http, "M", "M", "2000-06", tag)
    year = _patient(http, "Y", "Y", "2000", tag)

    def ids(value: str) -> set[str]:
        return set(_ids(http.get("/Patient", params={"birthdate": value, "_tag": tag}).json()))

    assert ids("2000") == {day["id"], month["id"], year["id"]}
    assert ids("2000-06") == {day["id"], month["id"]}  # the year 2000 is not inside June 2000
    assert ids("eq2000-06-15") == {day["id"]}
    assert ids("ne2000-06-15") == {month["id"], year["id"]}
    assert ids("gt2000-06-15") == {month["id"], year["id"]}  # June and 2000 extend after the 15th
    assert ids("sa2000-06-15") == set()
    assert ids("lt2000-06-01") == {year["id"]}
    assert ids("eb2000-07") == {day["id"], month["id"]}
    assert ids("ge2000-06-15") == {day["id"], month["id"], year["id"]}
    assert ids("ap2000-06-15") == {day["id"], month["id"], year["id"]}
    # Periods are ranges too; an open end extends forever
    enc = _create(
        http,
        {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"code": "VR"},
            "meta": {"tag": [{"code": tag}]},
            "period": {"start": "2024-01-10T09:00:00Z"},
        },
    )
    found = _ids(http.get("/Encounter", params={"date": "gt2030", "_tag": tag}).json())
    assert found == [enc["id"]]
    assert _ids(http.get("/Encounter", params={"date": "lt2024-01-10", "_tag": tag}).json()) == []


def test_quantity_number_and_composite(http: httpx.Client) -> None:
    tag = _marker()
    patient = _patient(http, "Q", "Q", "1970", tag)
    loinc = "http://loinc.org"

    def obs(code: str, value: float, unit: str) -> dict[str, Any]:
        return _create(
            http,
            {
                "resourceType": "Observation",
                "status": "final",
                "meta": {"tag": [{"code": tag}]},
                "code": {"coding": [{"system": loinc, "code": code}]},
                "subject": {"reference": f"Patient/{patient['id']}"},
                "valueQuantity": {
                    "value": value,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                    "unit": unit,
                },
            },
        )

    weight = obs("29463-7", 72.4, "kg")
    height = obs("8302-2", 178, "cm")

    def ids(**params: str) -> set[str]:
        return set(_ids(http.get("/Observation", params={**params, "_tag": tag}).json()))

    assert ids(**{"value-quantity": "72.4"}) == {weight["id"]}
    assert ids(**{"value-quantity": "72"}) == {weight["id"]}  # 72 means [71.5, 72.5)
    assert ids(**{"value-quantity": "72.0"}) == set()  # 72.0 means [71.95, 72.05)
    assert ids(**{"value-quantity": "gt100"}) == {height["id"]}
    assert ids(**{"value-quantity": "le72.4|http://unitsofmeasure.org|kg"}) == {weight["id"]}
    assert ids(**{"value-quantity": "178||cm"}) == {height["id"]}
    assert ids(**{"value-quantity": "178||kg"}) == set()
    assert ids(**{"value-quantity": "ap170"}) == {height["id"]}  # within 10 %
    assert ids(**{"code-value-quantity": f"{loinc}|8302-2$gt170"}) == {height["id"]}
    assert ids(**{"code-value-quantity": f"{loinc}|29463-7$gt170"}) == set()  # both parts on one value


def test_references_chains_and_has(http: httpx.Client) -> None:
    tag = _marker()
    doctor = _create(
        http,
        {
            "resourceType": "Practitioner",
            "name": [{"family": f"Médecin{tag}"}],
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": f"{tag}rpps"}],
        },
    )
    alice = _patient(
        http,
        "Alice",
        "Alice",
        "1950",
        tag,
        generalPractitioner=[{"reference": f"Practitioner/{doctor['id']}"}],
    )
    bob = _patient(http, "Bob", "Bob", "1960", tag)
    cond = _create(
        http,
        {
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{alice['id']}"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
        },
    )

    def patient_ids(**params: str) -> set[str]:
        return set(_ids(http.get("/Patient", params={**params, "_tag": tag}).json()))

    assert patient_ids(**{"general-practitioner": f"Practitioner/{doctor['id']}"}) == {alice["id"]}
    assert patient_ids(**{"general-practitioner": doctor["id"]}) == {alice["id"]}
    assert patient_ids(**{"general-practitioner:Practitioner": doctor["id"]}) == {alice["id"]}
    assert patient_ids(**{"general-practitioner:Organization": doctor["id"]}) == set()
    assert patient_ids(**{"general-practitioner.identifier": f"urn:oid:1.2.250.1.71.4.2.1|{tag}rpps"}) == {
        alice["id"]
    }
    assert patient_ids(**{"general-practitioner:Practitioner.name": "medecin"}) == {alice["id"]}
    assert patient_ids(**{"_has:Condition:subject:code": "38341003"}) == {alice["id"]}
    assert patient_ids(**{"_has:Condition:subject:code": "00000"}) == set()
    conds = _ids(
        http.get("/Condition", params={"subject:Patient.name": "alice", "subject:Patient._tag": tag}).json()
    )
    assert conds == [cond["id"]]
    assert bob["id"] not in patient_ids(**{"general-practitioner:missing": "false"})


def test_include_revinclude_and_iterate(http: httpx.Client) -> None:
    tag = _marker()
    org = _create(http, {"resourceType": "Organization", "name": f"Clinique {tag}"})
    doctor = _create(http, {"resourceType": "Practitioner", "name": [{"family": "Doc"}]})
    role = _create(
        http,
        {
            "resourceType": "PractitionerRole",
            "practitioner": {"reference": f"Practitioner/{doctor['id']}"},
            "organization": {"reference": f"Organization/{org['id']}"},
        },
    )
    patient = _patient(
        http, "Inc", "Inc", "1990", tag, generalPractitioner=[{"reference": f"PractitionerRole/{role['id']}"}]
    )
    enc = _create(
        http,
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": f"Patient/{patient['id']}"},
        },
    )

    bundle = http.get("/Patient", params=[("_tag", tag), ("_include", "Patient:general-practitioner")]).json()
    assert _ids(bundle) == [patient["id"]] and _ids(bundle, "include") == [role["id"]]
    bundle = http.get(
        "/Patient",
        params=[
            ("_tag", tag),
            ("_include", "Patient:general-practitioner"),
            ("_include:iterate", "PractitionerRole:*"),
        ],
    ).json()
    assert set(_ids(bundle, "include")) == {role["id"], doctor["id"], org["id"]}
    bundle = http.get("/Patient", params=[("_tag", tag), ("_revinclude", "Encounter:subject")]).json()
    assert _ids(bundle, "include") == [enc["id"]]
    bundle = http.get("/Encounter", params=[("_id", enc["id"]), ("_include", "*")]).json()
    assert _ids(bundle, "include") == [patient["id"]]


def test_sort_paging_links_stay_correct_while_data_changes(http: httpx.Client) -> None:
    tag = _marker()
    made = [_patient(http, f"Fam{i % 3}", f"G{i}", f"19{50 + i}-01-01", tag) for i in range(7)]
    expected = sorted(made, key=lambda p: (p["name"][0]["family"], -int(p["birthDate"][:4]), p["id"]))
    params = {"_tag": tag, "_sort": "family,-birthdate", "_count": "3", "_total": "accurate"}
    first = http.get("/Patient", params=params).json()
    assert first["total"] == 7
    assert _ids(first) == [p["id"] for p in expected[:3]]
    assert _link(first, "previous") is None
    # a resource sorting before the current position appears neither on the next page nor shifts it
    _patient(http, "Aaa", "New", "1999-01-01", tag)
    second = httpx.get(_link(first, "next") or "").json()
    assert _ids(second) == [p["id"] for p in expected[3:6]]
    third = httpx.get(_link(second, "next") or "").json()
    assert _ids(third) == [expected[6]["id"]] and _link(third, "next") is None
    back = httpx.get(_link(third, "previous") or "").json()
    assert _ids(back) == [p["id"] for p in expected[3:6]]
    # the self link of a page is that page
    again = httpx.get(_link(second, "self") or "").json()
    assert _ids(again) == _ids(second)
    cursor = parse_qs(urlparse(_link(second, "self") or "").query)["_cursor"][0]
    assert cursor


def test_summary_elements_total_and_count(http: httpx.Client) -> None:
    tag = _marker()
    _patient(
        http,
        "Sum",
        "Sum",
        "1990",
        tag,
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
    )
    count = http.get("/Patient", params={"_tag": tag, "_summary": "count"}).json()
    assert count["total"] == 1 and "entry" not in count
    summary = http.get("/Patient", params={"_tag": tag, "_summary": "true"}).json()["entry"][0]["resource"]
    assert "name" in summary and "text" not in summary
    assert any(t["code"] == "SUBSETTED" for t in summary["meta"]["tag"])
    data = http.get("/Patient", params={"_tag": tag, "_summary": "data"}).json()["entry"][0]["resource"]
    assert "text" not in data and "birthDate" in data
    text = http.get("/Patient", params={"_tag": tag, "_summary": "text"}).json()["entry"][0]["resource"]
    assert "text" in text and "name" not in text
    elements = http.get("/Patient", params={"_tag": tag, "_elements": "birthDate"}).json()["entry"][0][
        "resource"
    ]
    assert set(elements) == {"resourceType", "id", "meta", "birthDate"}
    none = http.get("/Patient", params={"_tag": tag}).json()
    assert "total" not in none  # _total defaults to none
    zero = http.get("/Patient", params={"_tag": tag, "_count": "0", "_total": "accurate"}).json()
    assert zero["total"] == 1 and "entry" not in zero


def test_post_search_system_search_and_compartment(http: httpx.Client) -> None:
    tag = _marker()
    patient = _patient(http, "Comp", "Comp", "1990", tag)
    other = _patient(http, "Other", "Other", "1990", tag)
    obs = _create(
        http,
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "poids"},
            "meta": {"tag": [{"code": tag}]},
            "subject": {"reference": f"Patient/{patient['id']}"},
        },
    )
    _create(
        http,
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "poids"},
            "meta": {"tag": [{"code": tag}]},
            "subject": {"reference": f"Patient/{other['id']}"},
        },
    )
    r = http.post("/Patient/_search", data={"family": "comp", "_tag": tag})
    assert r.status_code == 200 and _ids(r.json()) == [patient["id"]]
    both = http.get("/", params={"_type": "Patient,Observation", "_tag": tag, "_count": "10"}).json()
    assert len(_ids(both)) == 4
    assert {e["resource"]["resourceType"] for e in both["entry"]} == {"Patient", "Observation"}
    inside = http.get(f"/Patient/{patient['id']}/Observation").json()
    assert _ids(inside) == [obs["id"]]
    r = http.post(
        "/_search", data={"_type": "Observation", "_tag": tag, "subject": f"Patient/{patient['id']}"}
    )
    assert _ids(r.json()) == [obs["id"]]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"foo": "bar"}, "foo"),
        ({"birthdate": "2020-13-45"}, "birthdate"),
        ({"birthdate": "xx2020"}, "birthdate"),
        ({"gender:fuzzy": "female"}, "gender:fuzzy"),
        ({"_sort": "nonsense"}, "_sort"),
        ({"_count": "-1"}, "_count"),
        ({"_summary": "maybe"}, "_summary"),
        ({"_cursor": "not-a-cursor"}, "_cursor"),
        ({"_include": "Patient:nope"}, "_include"),
        ({"general-practitioner.nope": "x"}, "general-practitioner.nope"),
        ({"_has:Observation:nope:code": "x"}, "_has:Observation:nope:code"),
        ({"language:in": "http://example.org/fhir/ValueSet/unknown"}, "language:in"),
        ({"_filter": "name xx 1"}, "_filter"),
        ({"near": "1|2"}, "near"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    http: httpx.Client, query: dict[str, str], parameter: str
) -> None:
    _outcome(http.get("/Patient", params=query), 400, parameter)


def test_lenient_handling_ignores_unknown_parameters_with_a_warning(http: httpx.Client) -> None:
    tag = _marker()
    patient = _patient(http, "Len", "Len", "1990", tag)
    r = http.get("/Patient", params={"_tag": tag, "foo": "bar"}, headers={"Prefer": "handling=lenient"})
    assert r.status_code == 200
    bundle = r.json()
    assert _ids(bundle) == [patient["id"]]
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and outcome[0]["resource"]["issue"][0]["expression"] == ["foo"]
    assert outcome[0]["resource"]["issue"][0]["severity"] == "warning"


def test_deleted_and_updated_resources_follow_the_current_version(http: httpx.Client) -> None:
    tag = _marker()
    patient = _patient(http, "Before", "X", "1990", tag)
    assert _ids(http.get("/Patient", params={"family": "before", "_tag": tag}).json()) == [patient["id"]]
    updated = {**patient, "name": [{"family": "After", "given": ["X"]}]}
    assert (
        http.put(f"/Patient/{patient['id']}", json=updated, headers={"Content-Type": FHIR_JSON}).status_code
        == 200
    )
    assert _ids(http.get("/Patient", params={"family": "before", "_tag": tag}).json()) == []
    assert _ids(http.get("/Patient", params={"family": "after", "_tag": tag}).json()) == [patient["id"]]
    assert http.delete(f"/Patient/{patient['id']}").status_code in (200, 204)
    assert _ids(http.get("/Patient", params={"_tag": tag}).json()) == []
    assert _ids(http.get("/Patient", params={"_tag": tag, "gender:missing": "true"}).json()) == []
