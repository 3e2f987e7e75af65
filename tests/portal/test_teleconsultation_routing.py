"""Who answers a question: the specialists' hours (Paris time), the fallbacks, the configuration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fhir_server.operations.teleconsultation import hours, open_now, route

# 2026-12-07 is a Monday; Paris is UTC+1 in December.
MONDAY_10H_PARIS = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MONDAY_23H_PARIS = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
SUNDAY_10H_PARIS = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_default_hours() -> None:
    assert open_now("dermatologie", MONDAY_10H_PARIS)
    assert not open_now("dermatologie", MONDAY_23H_PARIS)
    assert not open_now("dermatologie", SUNDAY_10H_PARIS)
    assert open_now("psychiatrie", SUNDAY_10H_PARIS)
    assert open_now("generaliste", MONDAY_23H_PARIS)  # GPs answer around the clock


def test_out_of_hours_goes_to_a_connected_specialist_else_a_gp() -> None:
    assert route("dermatologie", False, MONDAY_10H_PARIS, 0) == ("dermatologie", "")
    assert route("dermatologie", False, MONDAY_23H_PARIS, 1)[0] == "dermatologie"
    routed, note = route("dermatologie", False, MONDAY_23H_PARIS, 0)
    assert routed == "generaliste" and "généraliste" in note
    assert route("ophtalmologie", True, MONDAY_10H_PARIS, 3)[0] == "generaliste"  # COVID-19: GPs


def test_hours_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PASSERELLE_TC_HOURS", '{"dermatologie": [{"days": [6], "start": "08:00", "end": "12:00"}]}'
    )
    assert open_now("dermatologie", SUNDAY_10H_PARIS)
    assert not open_now("dermatologie", MONDAY_10H_PARIS)
    monkeypatch.setenv("PASSERELLE_TC_HOURS", "not json")
    assert hours()["dermatologie"][0]["days"] == [0, 1, 2, 3, 4]
