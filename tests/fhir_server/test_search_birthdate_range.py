"""A birth-date range bounded from both sides (``birthdate=ge1970&birthdate=lt1980``, the
decade search of the benchmark): the patients R4's date comparison gives, at the edges too,
whatever the precision of the birth dates (a date is the range of its precision)."""

from __future__ import annotations

import uuid

import httpx
import pytest

# birth date -> born in [1970, 1980) by R4 (a date is the range of its precision: "1969" is the
# whole year 1969, so it ends before 1970 and is not "ge1970"; "1979" ends on 1980-01-01, inside)
BIRTHS = {
    "1969": False,
    "1969-12-31": False,
    "1970": True,
    "1970-01-01": True,
    "1975-06": True,
    "1979": True,
    "1979-12-31": True,
    "1980": False,
    "1980-01-01": False,
    "1985-04-02": False,
}


@pytest.fixture(scope="module")
def family(base: str) -> str:
    name = f"Decennie{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=base, timeout=60) as http:
        for birth in BIRTHS:
            body = {
                "resourceType": "Patient",
                "name": [{"family": name, "given": [birth]}],
                "birthDate": birth,
            }
            assert http.post("/Patient", json=body).status_code == 201
    return name


def _births(http: httpx.Client, family: str, *criteria: str) -> set[str]:
    params = [("family", family), *(("birthdate", c) for c in criteria), ("_count", "50")]
    bundle = http.get("/Patient", params=params).json()
    return {e["resource"]["birthDate"] for e in bundle.get("entry", [])}


def test_a_decade(http: httpx.Client, family: str) -> None:
    assert _births(http, family, "ge1970", "lt1980") == {b for b, inside in BIRTHS.items() if inside}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (("gt1969", "le1979"), {"1970", "1970-01-01", "1975-06", "1979", "1979-12-31"}),
        # "1980" (the whole year) ends after 1979-12-31 and starts before 1980-01-02
        (("ge1979-12-31", "lt1980-01-02"), {"1979-12-31", "1980", "1980-01-01"}),
        (("sa1969", "eb1980"), {"1970", "1970-01-01", "1975-06", "1979", "1979-12-31"}),
        (("ge1970", "lt1970"), set()),
        (("ge1970", "le1979"), {"1970", "1970-01-01", "1975-06", "1979", "1979-12-31"}),
        # eq: the birth date within the search value (only "1975-06" lies inside 1975)
        (("eq1975", "ge1970"), {"1975-06"}),
        (("ge1970", "lt1980", "ne1975-06"), {"1970", "1970-01-01", "1979", "1979-12-31"}),
        # two lower bounds, two upper bounds
        (("ge1975", "ge1970"), {"1975-06", "1979", "1979-12-31", "1980", "1980-01-01", "1985-04-02"}),
        (("lt1980", "le1975"), {"1969", "1969-12-31", "1970", "1970-01-01", "1975-06"}),
        # values of one parameter are ORed: ge1985 adds no one born before 1980
        (("ge1970,ge1985", "lt1980"), {"1970", "1970-01-01", "1975-06", "1979", "1979-12-31"}),
    ],
)
def test_other_two_sided_ranges(
    http: httpx.Client, family: str, criteria: tuple[str, ...], expected: set[str]
) -> None:
    assert _births(http, family, *criteria) == expected


def test_a_decade_is_one_indexed_range() -> None:
    """The decade's two conditions are one flat filter led by one range on the stored start that
    holds the decade (born 1940-1949) and at most a year (and two days) before it: not ``$and`` (where
    SecantusDB uses no index) nor a one-sided range (everyone born since 1940)."""
    from datetime import UTC, datetime

    from fhir_server.search.one_date import merge_one_value_dates
    from fhir_server.search.query import date_condition, flatten

    conditions = [
        *date_condition("birthdate", "s.birthdate", "ge1940"),
        *date_condition("birthdate", "s.birthdate", "lt1950"),
    ]
    flat = flatten("Patient", merge_one_value_dates("Patient", conditions))
    assert "$and" not in flat
    key, lead = next(iter(flat.items()))
    assert key == "s.birthdate.l"
    assert datetime(1938, 12, 29, tzinfo=UTC) <= lead["$gte"] <= datetime(1940, 1, 1, tzinfo=UTC)
    assert lead == {"$gte": lead["$gte"], "$lt": datetime(1950, 1, 1, tzinfo=UTC)}
    # a date stored more than once per resource is not merged (Observation.date: several paths)
    obs = [*date_condition("date", "s.date", "ge1940"), *date_condition("date", "s.date", "lt1950")]
    assert merge_one_value_dates("Observation", obs) == obs
