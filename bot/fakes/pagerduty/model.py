"""The fake PagerDuty account's records (schedules with their final schedule, policies)
and the wire's small shapes (timestamps, a request as seen)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

JSON = dict[str, Any]
Listener = Callable[[str, JSON], Awaitable[None] | None]

HTML_BASE = "https://fake.pagerduty.com"
# A Monday 09:00 UTC: rotations hand over at a human hour, whatever the clock says.
ROTATION_EPOCH = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass
class Call:
    """One request the fake received, as seen on the wire."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0


@dataclass
class Failure:
    path_prefix: str
    status: int
    times: int
    retry_after: int | None
    method: str | None


@dataclass
class Override:
    id: str
    user_id: str
    start: datetime
    end: datetime


@dataclass
class Schedule:
    id: str
    name: str
    users: list[str]  # the rotation layer, in hand-over order
    rotation: timedelta = WEEK
    start: datetime = ROTATION_EPOCH
    overrides: list[Override] = field(default_factory=list)

    def rotation_user(self, t: datetime) -> str | None:
        if not self.users:  # an empty layer: a gap nobody covers (PagerDuty allows it)
            return None
        turns = int((t - self.start) // self.rotation)
        return self.users[turns % len(self.users)]

    def user_at(self, t: datetime) -> str | None:
        # The newest override wins, as in PagerDuty's final schedule.
        for o in reversed(self.overrides):
            if o.start <= t < o.end:
                return o.user_id
        return self.rotation_user(t)

    def segments(self, since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
        """The final schedule's (user, start, end) spans that overlap [since, until].

        Span bounds are the real hand-overs, not clipped to the window, like PagerDuty's
        /oncalls; a point query (since == until) returns the one span covering it."""
        lo, hi = since - self.rotation - WEEK, until + self.rotation + WEEK
        points = {lo, hi}
        turn = self.start + self.rotation * int((lo - self.start) // self.rotation)
        while turn < hi:
            if turn > lo:
                points.add(turn)
            turn += self.rotation
        for o in self.overrides:
            points.update(p for p in (o.start, o.end) if lo < p < hi)
        bounds = sorted(points)
        spans: list[tuple[str, datetime, datetime]] = []
        for a, b in pairwise(bounds):
            who = self.user_at(a)
            if who is None:
                continue
            if spans and spans[-1][0] == who and spans[-1][2] == a:
                spans[-1] = (who, spans[-1][1], b)
            else:
                spans.append((who, a, b))
        # The outermost spans are cut by the padding; only spans meeting the window are kept.
        if since == until:
            return [s for s in spans if s[1] <= since < s[2]]
        return [s for s in spans if s[1] < until and s[2] > since]


@dataclass
class Policy:
    id: str
    name: str
    levels: list[list[tuple[str, str]]]  # per level: ("schedule" | "user", id)
