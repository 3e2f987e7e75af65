"""The sign-up form's checks and the account helpers, without a server (expected values from the
French conventions: mobile numbers 06/07, 5-digit postal codes, majority at 18)."""

from __future__ import annotations

from datetime import date

import pytest

from apps.portal.patient.signup import check
from fhir_server.auth.accounts import is_minor, mobile_e164, parse_birth_date

TODAY = date(2026, 12, 6)
GOOD = {
    "adherent": "ADH 123 456",
    "prenom": "Jean-Pierre",
    "nom": "L'Hôte",
    "sexe": "male",
    "naissance": "2008-12-06",
    "code_postal": "20000",
    "ville": "Ajaccio",
    "telephone": "07.12.34.56.78",
    "email": "Jean.Pierre@Exemple.fr",
    "mot_de_passe": "0123456789",
    "confirmation": "0123456789",
    "cgu": "oui",
    "donnees_sante": "oui",
}


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0033 7 12 34 56 78", "+33712345678"),
        ("+33 (0)6", None),
        ("01 23 45 67 89", None),  # a landline receives no SMS
        ("+33 1 23 45 67 89", None),
        ("+32 470 12 34 56", "+32470123456"),
        ("", None),
    ],
)
def test_mobile_numbers(text: str, e164: str | None) -> None:
    assert mobile_e164(text) == e164


def test_birth_dates_and_majority() -> None:
    assert parse_birth_date("2026-12-07", TODAY) is None  # tomorrow
    assert parse_birth_date("1890-01-01", TODAY) is None
    assert parse_birth_date("2026-02-30", TODAY) is None
    assert parse_birth_date("2026-1-5", TODAY) is None
    assert parse_birth_date("1990-04-21", TODAY) == date(1990, 4, 21)
    assert is_minor("2008-12-07", TODAY) and not is_minor("2008-12-06", TODAY)
    assert not is_minor("2008", TODAY)  # a partial date is not taken for a minor's


def test_signup_form_accepts_the_usual_spellings() -> None:
    form, body = check(GOOD, TODAY)
    assert not form, form.errors
    assert body["member"] == "ADH123456" and body["phone"] == "+33712345678"
    assert body["email"] == "jean.pierre@exemple.fr" and body["link"] == "portal"
    assert "mot_de_passe" not in form.values and "confirmation" not in form.values


def test_signup_form_refusals_each_on_its_field() -> None:
    bad = GOOD | {
        "adherent": "12",
        "prenom": "J3an",
        "sexe": "x",
        "naissance": "2008-12-07",
        "code_postal": "00100",
        "telephone": "01 23 45 67 89",
        "email": "jean@",
        "confirmation": "autre chose",
        "cgu": "",
        "donnees_sante": "",
    }
    form, _ = check(bad, TODAY)
    assert set(form.errors) == {
        "adherent", "prenom", "sexe", "naissance", "code_postal", "telephone", "email", "confirmation", "cgu",
        "donnees_sante",
    }  # fmt: skip
    assert form.errors["naissance"].startswith("Il faut être majeur")
    assert form.values["prenom"] == "J3an"  # what was typed comes back
