"""The one duration grammar and the one form every duration is shown in (bot/core/durations.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.durations import format_duration, parse_delay, parse_duration


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("15 min", 900),
        ("2h", 7200),
        ("1h 30m", 5400),
        ("1 h 30 min", 5400),
        ("1d", 86400),
        ("3 days", 3 * 86400),
        ("1w", 604800),
        ("2 d 3 h", 2 * 86400 + 3 * 3600),
        ("1H", 3600),
    ],
)
def test_the_grammar(written: str, seconds: int) -> None:
    assert parse_duration(written) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["30m 1h", "1h 1h", "1h and 5m", "5 parsecs", "h", "1.5h", ""])
def test_not_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(bad)


def test_zero_is_a_delay_not_a_duration() -> None:
    with pytest.raises(ValueError, match="must be longer than zero"):
        parse_duration("0m")
    assert parse_delay("0") == parse_delay("0m") == parse_delay(0) == timedelta(0)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s"),
        (-3, "0 s"),
        (44.6, "45 s"),
        (17 * 60, "17 min"),
        (3600 + 23 * 60 + 5, "1 h 23 min 5 s"),
        (2 * 86400 + 3 * 3600, "2 d 3 h"),
        (timedelta(weeks=1), "7 d"),
    ],
)
def test_the_one_form(seconds: float | timedelta, shown: str) -> None:
    assert format_duration(seconds) == shown


@given(st.integers(min_value=1, max_value=400 * 86400))
def test_what_is_shown_parses_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == timedelta(seconds=seconds)
