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
    ],
)
def test_other_two_sided_ranges(
    http: httpx.Client, family: str, criteria: tuple[str, str], expected: set[str]
) -> None:
    assert _births(http, family, *criteria) == expected
