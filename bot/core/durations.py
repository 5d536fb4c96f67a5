"""Durations: the one grammar people write them in, and the one form people read them in.

Written (the configuration, runbooks, drill scenarios, `/incident followup … in 3d`): a
whole number and a unit, `30s`, `15m`, `2h`, `1d`, `1w`, or the unit spelled out (`3 days`,
`15 min`); several parts add up, largest first (`1h 30m`, `1 h 30 min`). A bare YAML number
is seconds.

Read (every message, card, report and check that shows a duration): `format_duration`,
`45 s`, `17 min`, `1 h 23 min 5 s`, `2 d 3 h`: exact to the second, zero units left out.
What it prints parses back to the same duration.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
}
_PART = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")
_SHOWN = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def _seconds(text: str) -> int | None:
    """`1h 30m` -> 5400; None unless the whole text is parts, each unit smaller than the last."""
    total, pos, last = 0, 0, None
    text = text.lower()
    while pos < len(text):
        match = _PART.match(text, pos)
        size = _UNITS.get(match.group(2)) if match else None
        if match is None or size is None or (last is not None and size >= last):
            return None
        total, pos, last = total + int(match.group(1)) * size, match.end(), size
    return total if last is not None else None


def parse_duration(value: Any, *, zero: bool = False) -> timedelta:
    """`30s`, `15m`, `2h`, `1d`, `1w`, `1h 30m`, `3 days` (or a number of seconds) ->
    timedelta. Longer than zero, unless `zero` (then `0`, alone, is allowed too)."""
    if isinstance(value, timedelta):
        return value  # made in code, not written by a person
    seconds: float
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif zero and re.fullmatch(r"\s*0+\s*", str(value)):
        seconds = 0
    else:
        found = _seconds(str(value))
        if found is None:
            raise ValueError(f"{value!r} is not a duration like 30s, 15m, 2h or 1d")
        seconds = found
    if seconds < 0 or (seconds == 0 and not zero):
        raise ValueError(f"{value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def parse_delay(value: Any) -> timedelta:
    """Like parse_duration, but `0` (or `0m`) is allowed: "at once"."""
    return parse_duration(value, zero=True)


def format_duration(value: float | timedelta) -> str:
    """`45 s`, `17 min`, `1 h 23 min 5 s`, `2 d 3 h`: how every duration is shown."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    total = max(0, round(seconds))
    parts = []
    for unit, size in _SHOWN:
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts) or "0 s"


# A positive duration in a model; an escalation step's or a stakeholder update's delay
# (0 means at once).
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Delay = Annotated[timedelta, BeforeValidator(parse_delay)]
