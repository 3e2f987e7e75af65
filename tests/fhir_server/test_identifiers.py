"""French identifier keys on real-format examples (published samples and keys computed here)."""

from __future__ import annotations

import pytest

from fhir_server.identifiers import (
    is_finess,
    is_nir,
    is_rpps,
    luhn_check_digit,
    nir_key,
    rpps_from_idnat,
)


@pytest.mark.parametrize(
    "nir",
    [
        "255081416802538",  # python-stdnum example
        "295109912611193",  # born abroad (dept 99)
        "253072B07300470",  # Haute-Corse
        "253072A07300443",  # Corse-du-Sud
        "2 55 08 14 168 025 38",  # as printed on a carte Vitale
        "1 84 12 76 451 089 46",
    ],
)
def test_valid_nir(nir: str) -> None:
    assert is_nir(nir)


@pytest.mark.parametrize(
    "nir",
    [
        "295109912611199",  # wrong key
        "2 88 09 17 202 203 71",  # the ANS PoC demo NIR: its key should be 68
        "255081416802539",  # one digit off
        "25508141680253",  # too short
        "953072A07300443",  # 9 is no sex/NIA digit
        "253072C07300443",  # 2C is no department
    ],
)
def test_invalid_nir(nir: str) -> None:
    assert not is_nir(nir)


def test_nir_key_corsica_uses_19_and_18() -> None:
    # 2A counts as 19 and 2B as 18 in the key: same body with 19/18 gives the same key.
    assert nir_key("253072A073004") == nir_key("2530719073004") == 43
    assert nir_key("253072B073004") == nir_key("2530718073004") == 70
    assert nir_key("2880917202203") == 68


def test_key_computed_from_body() -> None:
    body = "1841276451089"
    assert nir_key(body) == 97 - int(body) % 97 == 46


@pytest.mark.parametrize("rpps", ["10000005479", "10100534436", "99700366240"])
def test_valid_rpps(rpps: str) -> None:
    assert is_rpps(rpps)


@pytest.mark.parametrize("rpps", ["10001234567", "1000000547", "1000000547A", "10000005478"])
def test_invalid_rpps(rpps: str) -> None:
    assert not is_rpps(rpps)


def test_luhn_check_digit_builds_valid_rpps() -> None:
    body = "1000012345"
    assert is_rpps(body + luhn_check_digit(body))


@pytest.mark.parametrize("finess", ["750712184", "750100125", "130780521", "690781810", "940100027"])
def test_valid_finess(finess: str) -> None:
    assert is_finess(finess)


@pytest.mark.parametrize("finess", ["750712185", "75071218", "7507121840", "ABCDEFGHI"])
def test_invalid_finess(finess: str) -> None:
    assert not is_finess(finess)


def test_corsican_finess_format_only() -> None:
    assert is_finess("2A0000123")
    assert not is_finess("2C0000123")


def test_rpps_from_psc_subject_name_id() -> None:
    assert rpps_from_idnat("899700366240") == "99700366240"
    assert rpps_from_idnat("ANS20231122132732") is None  # a BAS "EDIT" identity
    assert rpps_from_idnat("0012807590") is None  # ADELI-based idNat
