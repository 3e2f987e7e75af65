"""Search features beyond the parameter types: terminology modifiers, word search, ``near``,
``_filter`` and ``_total=estimate``, over HTTP on a real server.

Expected results come from the R4 rules and the data each test writes:
- ``:below``/``:above`` follow the code system's is-a hierarchy (R4 condition-clinical:
  ``active`` subsumes ``recurrence`` and ``relapse``; ``inactive`` subsumes ``remission``
  and ``resolved``), ``:in``/``:not-in`` a value set's expansion (search.html 3.1.1.5.5);
- ``near`` distances are computed here with the haversine formula on the same sphere;
- ``_filter`` results are computed here from the resources' own values (search_filter.html).
Each test tags its resources with a unique marker so tests sharing the server stay apart.
"""

from __future__ import annotations

import math
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_server
from tests.fhir_server.test_search import FHIR_JSON, _create, _marker

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _tag(marker: str) -> dict[str, Any]:
    return {"tag": [{"system": "urn:test", "code": marker}]}


def _ids(http: httpx.Client, path: str, params: list[tuple[str, str]]) -> set[str]:
    r = http.get(path, params=[*params, ("_count", "200")])
    assert r.status_code == 200, r.text
    return {e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == "match"}


def _outcome(r: httpx.Response, status: int, expression: str, code: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert expression in issue.get("expression", []), body
    if code is not None:
        assert issue["code"] == code, body
    return str(issue["diagnostics"])


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


# -- :in, :not-in, :above, :below --------------------------------------------------------------------


@pytest.fixture(scope="module")
def conditions(base: str) -> tuple[str, dict[str, str]]:
    """One Condition per clinical status, tagged: (marker, status -> id)."""
    marker = _marker()
    with httpx.Client(base_url=base, headers={"Accept": FHIR_JSON}, timeout=60) as http:
        patient = _create(http, {"resourceType": "Patient", "meta": _tag(marker)})
        ids = {}
        for status in ("active", "relapse", "recurrence", "resolved", "remission"):
            condition = _create(
                http,
                {
                    "resourceType": "Condition",
                    "meta": _tag(marker),
                    "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
                    "subject": {"reference": f"Patient/{patient['id']}"},
                },
            )
            ids[status] = condition["id"]
    return marker, ids


def test_below_and_above_follow_the_code_system_hierarchy(
    http: httpx.Client, conditions: tuple[str, dict[str, str]]
) -> None:
    marker, ids = conditions
    tag = ("_tag", f"urn:test|{marker}")

    def search(name: str, value: str) -> set[str]:
        return _ids(http, "/Condition", [(name, value), tag])

    by = {v: k for k, v in ids.items()}
    assert {by[i] for i in search("clinical-status:below", f"{CLINICAL}|active")} == {
        "active", "relapse", "recurrence"
    }  # fmt: skip
    assert {by[i] for i in search("clinical-status:below", f"{CLINICAL}|inactive")} == {
        "resolved",
        "remission",
    }
    assert {by[i] for i in search("clinical-status:below", f"{CLINICAL}|relapse")} == {"relapse"}
    # above: the code and what subsumes it; only "active" exists among relapse's ancestors here
    assert {by[i] for i in search("clinical-status:above", f"{CLINICAL}|relapse")} == {"relapse", "active"}
    assert {by[i] for i in search("clinical-status:above", f"{CLINICAL}|active")} == {"active"}
    # ORed values
    assert {by[i] for i in search("clinical-status:below", f"{CLINICAL}|relapse,{CLINICAL}|resolved")} == {
        "relapse", "resolved"
    }  # fmt: skip
    # the same through _filter: ss = the resource's code subsumes the value, sb = subsumed by it
    assert {by[i] for i in search("_filter", f"clinical-status sb {CLINICAL}|inactive")} == {
        "resolved",
        "remission",
    }
    assert {by[i] for i in search("_filter", f"clinical-status ss {CLINICAL}|recurrence")} == {
        "recurrence",
        "active",
    }


def test_in_and_not_in_expand_the_value_set(
    http: httpx.Client, conditions: tuple[str, dict[str, str]]
) -> None:
    marker, ids = conditions
    tag = ("_tag", f"urn:test|{marker}")
    by = {v: k for k, v in ids.items()}
    # the R4 value set holds every condition-clinical code
    every = "http://hl7.org/fhir/ValueSet/condition-clinical"
    assert {by[i] for i in _ids(http, "/Condition", [("clinical-status:in", every), tag])} == set(ids)
    assert _ids(http, "/Condition", [("clinical-status:not-in", every), tag]) == set()
    # a value set stored through the API, by canonical URL and by reference
    url = f"http://example.org/fhir/ValueSet/{marker}"
    valueset = _create(
        http,
        {
            "resourceType": "ValueSet",
            "url": url,
            "status": "active",
            "compose": {
                "include": [{"system": CLINICAL, "concept": [{"code": "relapse"}, {"code": "resolved"}]}]
            },
        },
    )
    for ref in (url, f"ValueSet/{valueset['id']}"):
        assert {by[i] for i in _ids(http, "/Condition", [("clinical-status:in", ref), tag])} == {
            "relapse",
            "resolved",
        }
        assert {by[i] for i in _ids(http, "/Condition", [("clinical-status:not-in", ref), tag])} == {
            "active", "recurrence", "remission"
        }  # fmt: skip
    got = _ids(
        http, "/Condition", [("_filter", f"clinical-status ni {url} and clinical-status ne active"), tag]
    )
    assert {by[i] for i in got} == {"recurrence", "remission"}
    # a value set defined by a filter: is-a active
    url2 = f"http://example.org/fhir/ValueSet/{marker}-isa"
    _create(
        http,
        {
            "resourceType": "ValueSet",
            "url": url2,
            "status": "active",
            "compose": {"include": [{"system": CLINICAL, "filter": [{"property": "concept", "op": "is-a",
                                                                     "value": "active"}]}]},
        },
    )  # fmt: skip
    assert {by[i] for i in _ids(http, "/Condition", [("clinical-status:in", url2), tag])} == {
        "active", "relapse", "recurrence"
    }  # fmt: skip


def test_terminology_modifiers_refuse_what_they_cannot_answer(http: httpx.Client) -> None:
    r = http.get("/Condition", params={"clinical-status:in": "http://example.org/fhir/ValueSet/nowhere"})
    assert "nowhere" in _outcome(r, 400, "clinical-status:in", "not-found")
    r = http.get("/Condition", params={"code:below": "http://example.org/unknown-system|x"})
    _outcome(r, 400, "code:below", "not-found")
    r = http.get("/Condition", params={"clinical-status:below": f"{CLINICAL}|no-such-code"})
    _outcome(r, 400, "clinical-status:below", "not-found")
    r = http.get("/Condition", params={"clinical-status:above": "active"})  # no system
    _outcome(r, 400, "clinical-status:above", "invalid")
    # SNOMED CT is known here without its hierarchy: subsumption cannot be answered
    r = http.get("/Condition", params={"code:below": "http://snomed.info/sct|44054006"})
    _outcome(r, 400, "code:below")
    # a value set of more than 1000 codes (the whole of v3 ActCode) is too costly to turn into a query
    marker = _marker()
    url = f"http://example.org/fhir/ValueSet/{marker}-big"
    _create(
        http,
        {
            "resourceType": "ValueSet",
            "url": url,
            "status": "active",
            "compose": {"include": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode"}]},
        },
    )
    r = http.get("/Encounter", params={"class:in": url})
    _outcome(r, 400, "class:in", "too-costly")


# -- _text, _content ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def words_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server of a deployment that turned word search on (``PASSERELLE_SEARCH_WORDS=1``)."""
    server = make_server(Path(tmp_path_factory.mktemp("words")), PASSERELLE_SEARCH_WORDS="1").start()
    try:
        with httpx.Client(base_url=server.base, headers={"Accept": FHIR_JSON}, timeout=60) as client:
            yield client
    finally:
        server.stop()


def test_word_search_is_off_unless_the_deployment_turns_it_on(http: httpx.Client) -> None:
    """Off by default (search/layout.py): a clear 400, ignored with a warning when lenient, not offered."""
    for name in ("_text", "_content", "subject._content"):
        r = http.get("/Observation", params={name: "diabete"})
        assert "PASSERELLE_SEARCH_WORDS" in _outcome(r, 400, name.split(".")[-1], "not-supported")
    r = http.get("/Observation", params={"_filter": '_content eq "diabete"'})
    _outcome(r, 400, "_filter", "not-supported")
    lenient = http.get(
        "/Patient", params={"_content": "x", "_count": "1"}, headers={"Prefer": "handling=lenient"}
    )
    assert lenient.status_code == 200
    outcomes = [e["resource"] for e in lenient.json()["entry"] if e["search"]["mode"] == "outcome"]
    assert outcomes and outcomes[0]["issue"][0]["expression"] == ["_content"]
    statement = http.get("/metadata").json()
    observation = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Observation")
    assert not {"_text", "_content"} & {p["name"] for p in observation["searchParam"]}


def test_text_searches_the_narrative_and_content_the_whole_resource(words_http: httpx.Client) -> None:
    http = words_http
    marker = _marker()
    family = "Zf" + uuid.uuid4().hex[:8]
    narratives = {
        "a": "Suivi post-opératoire de Hélène : diabète de type 2, <b>insuline</b> le soir.",
        "b": "Diabète de type 1 &amp; asthme.",
        "c": "Consultation sans particularité.",
    }
    ids = {}
    for key, div in narratives.items():
        ids[key] = _create(
            http,
            {
                "resourceType": "Patient",
                "meta": _tag(marker),
                "text": {
                    "status": "generated",
                    "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{div}</div>',
                },
                "name": [{"family": family if key == "c" else "Autre", "given": ["Zoé"]}],
            },
        )["id"]
    tag = ("_tag", f"urn:test|{marker}")
    by = {v: k for k, v in ids.items()}

    def text(name: str, value: str) -> set[str]:
        return {by[i] for i in _ids(http, "/Patient", [(name, value), tag])}

    assert text("_text", "diabete") == {"a", "b"}  # accents and case do not matter
    assert text("_text", "DIABÈTE type 2") == {"a"}  # every word, in any order
    assert text("_text", "type diab") == {"a", "b"}  # each word is a word prefix
    assert text("_text", "operatoire") == {"a"}  # "post-opératoire" is two words
    assert text("_text", "insuline soir") == {"a"}  # markup is not text
    assert text("_text", "asthme,particularite") == {"b", "c"}  # comma: OR
    assert text("_text", "amp") == set()  # entities are decoded, not words
    assert text("_text", "iabete") == set()  # words start where they start
    assert text("_text", family) == set()  # the name is not in the narrative...
    assert text("_content", family) == {"c"}  # ...but it is in the resource
    assert text("_content", "zoe diabete") == {"a", "b"}
    assert text("_content", "generated") == set()  # the narrative's status is not its text
    r = http.get("/Patient", params={"_text": " ,;"})
    _outcome(r, 400, "_text")
    r = http.get("/Patient", params={"_content:exact": "x"})
    _outcome(r, 400, "_content:exact", "not-supported")
    # chains may end on _content
    subject = {"reference": f"Patient/{ids['c']}"}
    obs = _create(
        http,
        {"resourceType": "Observation", "status": "final", "meta": _tag(marker), "code": {"text": "poids"},
         "subject": subject},
    )  # fmt: skip
    assert _ids(http, "/Observation", [("subject._content", family), tag]) == {obs["id"]}


# -- near ------------------------------------------------------------------------------------------------

PLACES = {
    "notre-dame": (48.8530, 2.3499),
    "versailles": (48.8049, 2.1204),
    "saint-denis": (48.9362, 2.3574),
    "lyon": (45.7640, 4.8357),
    "marseille": (43.2965, 5.3698),
}


def _haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def test_near_finds_locations_within_the_distance(http: httpx.Client) -> None:
    marker = _marker()
    ids = {}
    for name, (lat, lon) in PLACES.items():
        ids[name] = _create(
            http,
            {"resourceType": "Location", "meta": _tag(marker), "name": name,
             "position": {"latitude": lat, "longitude": lon}},
        )["id"]  # fmt: skip
    _create(http, {"resourceType": "Location", "meta": _tag(marker), "name": "sans position"})
    tag = ("_tag", f"urn:test|{marker}")
    by = {v: k for k, v in ids.items()}
    centre = PLACES["notre-dame"]
    per_km = {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344}
    cases = [(5, "km"), (15, "km"), (19, "km"), (20000, "m"), (12, "[mi_i]"), (400, "km"), (700, "km")]
    for distance, unit in cases:
        expected = {n for n, p in PLACES.items() if _haversine_km(centre, p) <= distance * per_km[unit]}
        got = {
            by[i]
            for i in _ids(http, "/Location", [("near", f"{centre[0]}|{centre[1]}|{distance}|{unit}"), tag])
        }
        assert got == expected, (distance, unit)
    # units default to km
    assert {by[i] for i in _ids(http, "/Location", [("near", f"{centre[0]}|{centre[1]}|19"), tag])} == {
        n for n, p in PLACES.items() if _haversine_km(centre, p) <= 19
    }
    # the bands cover a circle wider in longitude than in latitude (here at 45°N)
    lyon = PLACES["lyon"]
    east = (lyon[0], lyon[1] + 0.9)  # ~70 km east of Lyon
    far_id = _create(
        http,
        {
            "resourceType": "Location",
            "meta": _tag(marker),
            "position": {"latitude": east[0], "longitude": east[1]},
        },
    )["id"]
    assert far_id in _ids(http, "/Location", [("near", f"{lyon[0]}|{lyon[1]}|75|km"), tag])
    assert far_id not in _ids(http, "/Location", [("near", f"{lyon[0]}|{lyon[1]}|65|km"), tag])
    for bad in ("48.85", "abc|2.3", "91|2|10|km", "48|2|-1|km", "48|2|10|furlong"):
        _outcome(http.get("/Location", params={"near": bad}), 400, "near")


# -- _filter -----------------------------------------------------------------------------------------------


def test_filter_combines_parameters_with_and_or_not(http: httpx.Client) -> None:
    marker = _marker()
    people = [
        ("Dupont", "Hélène", "female", "1985-04-12"),
        ("Dupond", "Pierre", "male", "1979-01-30"),
        ("Martin", "Peter", "male", "2015-06-01"),
        ("Petit", "Zoé", "female", "2014-10-10"),
        ("Lefèvre", "Anne", "female", "1990-12-31"),
    ]
    ids = {}
    for family, given, gender, birth in people:
        ids[family] = _create(
            http,
            {"resourceType": "Patient", "meta": _tag(marker), "name": [{"family": family, "given": [given]}],
             "gender": gender, "birthDate": birth},
        )["id"]  # fmt: skip
    obs = {}
    for family in ("Dupont", "Martin"):
        obs[family] = _create(
            http,
            {"resourceType": "Observation", "meta": _tag(marker), "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
             "subject": {"reference": f"Patient/{ids[family]}"}},
        )["id"]  # fmt: skip
    tag = ("_tag", f"urn:test|{marker}")
    by = {v: k for k, v in ids.items()}

    def names(expression: str) -> set[str]:
        return {by[i] for i in _ids(http, "/Patient", [("_filter", expression), tag])}

    def where(test: Any) -> set[str]:
        return {f for f, g, s, b in people if test(f, g, s, b)}

    def words(f: str, g: str) -> list[str]:
        return [_fold(f), _fold(g)]

    assert names('name co "pet"') == where(lambda f, g, s, b: any("pet" in w for w in words(f, g)))
    assert names('given eq "HELENE"') == where(lambda f, g, s, b: _fold(g) == "helene")
    assert names('family sw "dupon"') == where(lambda f, g, s, b: _fold(f).startswith("dupon"))
    assert names('family ew "vre"') == where(lambda f, g, s, b: _fold(f).endswith("vre"))
    assert names('given eq "peter" and birthdate ge 2014-10-10') == where(
        lambda f, g, s, b: _fold(g) == "peter" and b >= "2014-10-10"
    )
    assert names("gender eq female and (birthdate lt 1986 or birthdate ge 2014-01-01)") == where(
        lambda f, g, s, b: s == "female" and (b < "1986" or b >= "2014-01-01")
    )
    assert names("not (gender eq male) and family ne Petit") == where(
        lambda f, g, s, b: s != "male" and f != "Petit"
    )
    assert names("gender eq male or birthdate po 1990") == where(
        lambda f, g, s, b: s == "male" or b[:4] == "1990"
    )
    assert names("birthdate gt 1985-04-12 and birthdate le 2014-10-10") == where(
        lambda f, g, s, b: "1985-04-12" < b <= "2014-10-10"
    )
    assert names("address pr false and gender pr true") == {f for f, *_ in people}
    assert names(f"_id eq {ids['Martin']} or _id eq {ids['Petit']}") == {"Martin", "Petit"}
    # a chained path: the rest of the path filters the referenced resources
    got = _ids(
        http, "/Observation", [("_filter", 'subject.name sw "dup" and code eq http://loinc.org|8302-2'), tag]
    )
    assert got == {obs["Dupont"]}
    # chains may end on _filter too (and on _content: test_text_searches_…)
    chained = [("subject:Patient._filter", 'family sw "mart"'), tag]
    assert _ids(http, "/Observation", chained) == {obs["Martin"]}
    # repeating _filter ANDs the filters, like any parameter
    both = [("_filter", "gender eq male"), ("_filter", 'name co "pet"'), tag]
    assert {by[i] for i in _ids(http, "/Patient", both)} == {"Martin"}


@pytest.mark.parametrize(
    ("expression", "needle", "code"),
    [
        ('name xx "a"', "xx", "invalid"),
        ("birthdate co 2000", "co", "not-supported"),
        ("gender sw m", "sw", "not-supported"),
        ('(name eq "a"', "parenthèse", "invalid"),
        ('name eq "a" and', "incomplète", "invalid"),
        ("related[type eq has-component].target pr true", "crochets", "not-supported"),
        ("nosuchparam eq 1", "nosuchparam", "invalid"),
        ("not gender eq male", "not", "invalid"),
        ("name pr maybe", "true ou false", "invalid"),
    ],
)
def test_filter_errors_name_the_problem(http: httpx.Client, expression: str, needle: str, code: str) -> None:
    r = http.get("/Patient", params={"_filter": expression})
    assert needle in _outcome(r, 400, "_filter", code)


# -- _total=estimate ---------------------------------------------------------------------------------------


def test_total_estimate(http: httpx.Client) -> None:
    marker = _marker()
    for i in range(3):
        _create(http, {"resourceType": "Slot", "meta": _tag(marker), "status": "free",
                       "schedule": {"reference": "Schedule/x"}, "start": f"2030-01-0{i + 1}T10:00:00Z",
                       "end": f"2030-01-0{i + 1}T10:15:00Z"})  # fmt: skip
    # with criteria: below the bound the estimate is the count
    r = http.get("/Slot", params={"_tag": f"urn:test|{marker}", "_total": "estimate"})
    assert r.status_code == 200 and r.json()["total"] == 3
    # without criteria: the collection's size from its metadata, at least what was written
    accurate = http.get("/Slot", params={"_total": "accurate", "_count": "0"}).json()["total"]
    estimate = http.get("/Slot", params={"_total": "estimate", "_count": "0"}).json()["total"]
    assert accurate >= 3 and estimate >= accurate


def test_in_matches_code_elements_by_their_implied_system(http: httpx.Client) -> None:
    """Patient.gender is a ``code`` (no system stored): its binding implies the system, so a value
    set of administrative-gender codes contains it."""
    marker = _marker()
    ids = {g: _create(http, {"resourceType": "Patient", "meta": _tag(marker), "gender": g})["id"]
           for g in ("female", "male", "unknown")}  # fmt: skip
    by = {v: k for k, v in ids.items()}
    url = f"http://example.org/fhir/ValueSet/{marker}-f"
    _create(
        http,
        {
            "resourceType": "ValueSet",
            "url": url,
            "status": "active",
            "compose": {
                "include": [
                    {"system": "http://hl7.org/fhir/administrative-gender", "concept": [{"code": "female"}]}
                ]
            },
        },
    )
    tag = ("_tag", f"urn:test|{marker}")
    every = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert {by[i] for i in _ids(http, "/Patient", [("gender:in", every), tag])} == set(ids)
    assert {by[i] for i in _ids(http, "/Patient", [("gender:in", url), tag])} == {"female"}
    assert {by[i] for i in _ids(http, "/Patient", [("gender:not-in", url), tag])} == {"male", "unknown"}


def test_capability_statement_lists_the_new_parameters(words_http: httpx.Client) -> None:
    statement = words_http.get("/metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}

    def params(type_: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in resources[type_]["searchParam"]}

    location, observation, binary = params("Location"), params("Observation"), params("Binary")
    assert location["near"]["type"] == "special" and "km" in location["near"]["documentation"]
    for name in ("_text", "_content", "_filter"):
        assert name in observation and observation[name].get("documentation"), name
    assert observation["_content"]["definition"] == "http://hl7.org/fhir/SearchParameter/Resource-content"
    assert "_text" not in binary and "_content" in binary  # Binary is not a DomainResource: no narrative
    assert all(m in observation["code"]["documentation"] for m in ("in", "not-in", "above", "below"))


def test_group_identifier_finds_the_lines_of_one_prescription(http: httpx.Client) -> None:
    """Passerelle's ``group-identifier`` (R5 has it, R4 not): a token on MedicationRequest.groupIdentifier."""
    marker = _marker()
    system = f"urn:test:ordonnance:{marker}"

    def line(number: str, drug: str) -> str:
        return _create(
            http,
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "groupIdentifier": {"system": system, "value": number},
                "medicationCodeableConcept": {"text": drug},
                "subject": {"display": "Patient de test"},
            },
        )["id"]

    first = {line("A-1", "Amoxicilline"), line("A-1", "Paracétamol")}
    other = line("B-2", "Ibuprofène")

    def ids(value: str) -> set[str]:
        r = http.get("/MedicationRequest", params={"group-identifier": value})
        assert r.status_code == 200, r.text
        return {e["resource"]["id"] for e in r.json().get("entry", [])}

    assert ids(f"{system}|A-1") == first
    assert ids(f"{system}|B-2") == {other}
    assert ids(f"{system}|") == first | {other}  # system| : any number in that system
    assert ids(f"{system}|A-") == set()  # a token is matched exactly, never by prefix
    assert ids("urn:test:autre|A-1") == set()
    statement = http.get("/metadata").json()
    (request,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "MedicationRequest"]
    param = {p["name"]: p for p in request["searchParam"]}["group-identifier"]
    assert param["type"] == "token"
    assert param["definition"] == "urn:passerelle:SearchParameter:MedicationRequest-group-identifier"
