"""Incident response numbers: time to acknowledge and time to resolve, per severity.

Pure computations over stored incidents and their timelines, and the `Stats` service that
reads them (`/incident stats`) and feeds the Prometheus histograms.

**Time to acknowledge** is declared → the first acknowledgement:

- for a paged incident, PagerDuty's acknowledgement as bot/paging/ records it on the
  timeline (an entry of kind `page_acknowledged`, or `PageState.acked_at`);
- with no page, or a page nobody acknowledged before the incident ended, the first human
  action on the timeline after the declaration: any entry by a person (not the bot, not
  the alert pipeline) other than the declaration itself and the bot's set-up notes; so a
  status update, a status, severity or role change, a note, a runbook step, a pinned
  message, an invite from `/oncall`, or the resolve.

**Time to resolve** is declared → resolved (the current resolution, after a reopen).
Per severity means the incident's severity now (at resolution, for resolved ones).
Median and p90 interpolate linearly between the nearest values (numpy's default).
Game-day drills (`Incident.drill`) are not counted; private incidents are listed with the
title bot/core/redaction.py lets out (the answer can be shared anywhere).

The histograms `incident_bot_time_to_acknowledge_seconds` and `..._to_resolve_seconds` are
observed once per incident, when it first resolves, by the replica that resolved it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core import redaction
from bot.core.feature import Feature
from bot.core.metrics import Metrics
from bot.core.models import (
    PAGE_ACKNOWLEDGED,
    AckSource,
    Incident,
    IncidentTimes,
    SeverityStats,
    Spread,
    StatsReport,
    TimelineEntry,
)
from bot.core.store import Once

log = logging.getLogger(__name__)

# timeline kinds written for a person that are not a response to the incident
NOT_A_RESPONSE = frozenset({"declared", "setup_failed", "setup_complete"})
# Before entries had their own kind, an acknowledgement was a "page" entry known only by
# its wording; incidents stored then still count (`PageState.acked_at` alone would miss one
# escalated after it: an escalation clears it).
LEGACY_ACK = ("page", "Acknowledged in PagerDuty")
WINDOWS = {"7d": 7 * 86400.0, "30d": 30 * 86400.0, "90d": 90 * 86400.0}
DEFAULT_WINDOW = "30d"
OBSERVED_TTL = 400 * 86400


def is_pagerduty_ack(entry: TimelineEntry) -> bool:
    legacy_kind, legacy_text = LEGACY_ACK
    return entry.kind == PAGE_ACKNOWLEDGED or (
        entry.kind == legacy_kind and entry.text.startswith(legacy_text)
    )


def pagerduty_acknowledged(incident: Incident, entries: Iterable[TimelineEntry]) -> float | None:
    times = [e.at for e in entries if is_pagerduty_ack(e)]
    if incident.page is not None and incident.page.acked_at is not None:
        times.append(incident.page.acked_at)
    return min(times) if times else None


def first_human_action(
    incident: Incident, entries: Iterable[TimelineEntry], bots: frozenset[str]
) -> float | None:
    times = [
        e.at
        for e in entries
        if e.actor
        and e.actor not in bots
        and e.kind not in NOT_A_RESPONSE
        and e.at >= incident.declared_at
    ]
    return min(times) if times else None


def acknowledgement(
    incident: Incident, entries: Sequence[TimelineEntry], bots: frozenset[str] = frozenset()
) -> tuple[float, AckSource] | None:
    """When (and how) the incident was first acknowledged; see the module docstring."""
    paged = pagerduty_acknowledged(incident, entries)
    if paged is not None:
        return paged, "pagerduty"
    human = first_human_action(incident, entries, bots)
    return (human, "human") if human is not None else None


def times(
    incident: Incident, entries: Sequence[TimelineEntry], bots: frozenset[str] = frozenset()
) -> IncidentTimes:
    ack = acknowledgement(incident, entries, bots)
    return IncidentTimes(
        incident_id=incident.id,
        title=incident.title,
        severity=incident.severity,
        declared_at=incident.declared_at,
        acknowledged_at=ack[0] if ack else None,
        ack_source=ack[1] if ack else None,
        resolved_at=incident.resolved_at if not incident.is_open else None,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def spread(values: Sequence[float]) -> Spread:
    return Spread(count=len(values), median=percentile(values, 0.5), p90=percentile(values, 0.9))


def _severity_stats(name: str, rows: Sequence[IncidentTimes]) -> SeverityStats:
    acks = [t.time_to_acknowledge for t in rows if t.time_to_acknowledge is not None]
    resolves = [t.time_to_resolve for t in rows if t.time_to_resolve is not None]
    return SeverityStats(
        severity=name,
        declared=len(rows),
        resolved=len(resolves),
        acknowledge=spread(acks),
        resolve=spread(resolves),
    )


def report(
    rows: Sequence[IncidentTimes], *, severities: Sequence[str], since: float, until: float
) -> StatsReport:
    """Counts, medians and p90s per severity (configured order, worst first; severities
    no longer configured after them) and over all."""
    order = list(severities) + sorted({t.severity for t in rows} - set(severities))
    per = [_severity_stats(s, [t for t in rows if t.severity == s]) for s in order]
    return StatsReport(
        since=since,
        until=until,
        rows=[r for r in per if r.declared],
        total=_severity_stats("All", rows),
        incidents=sorted(rows, key=lambda t: t.declared_at, reverse=True),
    )


@dataclass(eq=False)
class Stats(Feature):
    metrics: Metrics

    async def report(self, window: float) -> StatsReport:
        until = self.clock()
        since = until - window
        found = await self.store.incidents_declared_since(since, until)
        incidents = [i for i in found if i.drill is None]
        timelines = await self.store.timelines([i.id for i in incidents])
        bots = await self.slack.bots()
        rows = [
            times(i, timelines.get(i.id, []), bots).model_copy(
                update={"title": redaction.outside(i, self.config).title}
            )
            for i in incidents
        ]
        names = [s.name for s in self.config.severities]
        return report(rows, severities=names, since=since, until=until)

    async def incident_times(self, incident: Incident) -> IncidentTimes:
        return times(incident, await self.store.timeline(incident.id), await self.slack.bots())

    async def on_incident_event(self, event: str, incident: Incident) -> None:
        """Incidents listener: observe the histograms when an incident first resolves."""
        if event != "resolved" or incident.drill is not None:
            return
        if not await self.store.claim_once(Once.OBSERVED, incident.id, ttl=OBSERVED_TTL):
            return  # resolved before (then reopened): counted once
        t = await self.incident_times(incident)
        if t.time_to_acknowledge is not None:
            self.metrics.time_to_acknowledge.labels(t.severity).observe(t.time_to_acknowledge)
        if t.time_to_resolve is not None:
            self.metrics.time_to_resolve.labels(t.severity).observe(t.time_to_resolve)
