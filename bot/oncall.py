"""Who is on call: the configured PagerDuty schedules and escalation policy, from a cache.

Owns the on-call cache (a snapshot in Redis; keys in bot/core/store/keys.py) and the answer
`/oncall` gives. PagerDuty is reached only through bot/core/pagerduty/.

- One refresh is ONE paginated `/oncalls` walk for every configured schedule and the policy
  together, over [now, now + horizon] (`PagerDuty.oncalls`, the walk under
  `oncall_now_and_next`). The snapshot keeps the spans rather than a now/next split, so an
  answer is worked out at the moment it is asked: a handover inside the cache's lifetime
  still comes out right. Overrides are already in the spans (PagerDuty's final schedule).
- PagerDuty users are matched to Slack users by email (users.lookupByEmail); each match is
  cached in Redis for a day, a miss for an hour, so a refresh rarely calls Slack at all.
- A snapshot younger than `ttl` is the answer. An older one (or none) is refreshed first;
  a refresh slower than `budget` or failing gives the last snapshot marked unreachable, and
  a failure is remembered for `backoff` seconds so every `/oncall` during an outage answers
  at once instead of asking PagerDuty again. One refresh runs at a time in a process (a
  shared task) and across replicas (a lease); the others wait for its snapshot.
- A periodic job (`schedule()`, every ttl/2) keeps the cache warm, so people rarely wait.
  It is in-memory APScheduler on purpose: a cache refresh is not durable state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.activity import Activity
from bot.core.config import PagerDutyConfig
from bot.core.models import (
    OnCallAnswer,
    OnCallPerson,
    OnCallSection,
    OnCallSlot,
    OnCallSnapshot,
    OnCallSpan,
)
from bot.core.pagerduty import OnCallEntry, PagerDuty, PagingError
from bot.core.slack import Slack, SlackError
from bot.core.store import Lease, Store

log = logging.getLogger(__name__)

SLACK_MATCH_TTL = 86400  # a person's Slack account rarely changes
SLACK_MISS_TTL = 3600  # but someone may join Slack today

NOT_CONFIGURED = (
    "PagerDuty is not configured, so I cannot tell who is on call. Set PAGERDUTY_API_KEY in "
    "the bot's environment, and in INCIDENT_CONFIG name your schedules under "
    "pagerduty.schedules (name: schedule ID) and/or set pagerduty.escalation_policy_id."
)
NO_SCHEDULES = (
    "No on-call schedules are configured. In INCIDENT_CONFIG, add pagerduty.schedules "
    "(name: schedule ID) and/or pagerduty.escalation_policy_id."
)


class OnCallError(Exception):
    """A question we cannot answer; the message is shown to the asker as is."""


class OnCallUnavailable(OnCallError):
    """PagerDuty is not configured, or unreachable with nothing cached."""


def describe(exc: BaseException) -> str:
    """A few words on why PagerDuty did not answer (for people and logs, no trace)."""
    if isinstance(exc, PagingError) and exc.status:
        hint = {
            401: ": check PAGERDUTY_API_KEY",
            403: ": check PAGERDUTY_API_KEY",
            404: ": check the IDs under pagerduty in INCIDENT_CONFIG",
        }
        return f"HTTP {exc.status}{hint.get(exc.status, '')}"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return "no answer"


class OnCall:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        pagerduty: PagerDuty | None,
        config: PagerDutyConfig,
        *,
        ttl: float = 300.0,
        budget: float = 2.0,
        backoff: float | None = None,
        horizon: timedelta = timedelta(days=7),
        clock: Callable[[], float] = time.time,
        activity: Activity | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.activity = activity or Activity("oncall")
        self.pagerduty = pagerduty
        self.config = config
        self.ttl = ttl
        self.budget = budget  # how long an asker waits on PagerDuty before a stale answer
        self.backoff = backoff if backoff is not None else min(30.0, ttl)
        self.horizon = horizon
        self.clock = clock
        self._inflight: asyncio.Task[OnCallSnapshot] | None = None

    # -- answers ---------------------------------------------------------------------------
    def problem(self) -> str | None:
        """Why `/oncall` cannot work at all (said without asking anyone), or None."""
        if self.pagerduty is None:
            return NOT_CONFIGURED
        if not self.config.schedules and not self.config.escalation_policy_id:
            return NO_SCHEDULES
        return None

    async def answer(self, name: str | None = None) -> OnCallAnswer:
        """Who is on call now and next, for everything configured or the one named."""
        problem = self.problem()
        if problem:
            raise OnCallUnavailable(problem)
        snapshot, unreachable = await self._current()
        sections = build_sections(snapshot, self.config, self.clock())
        if name:
            sections = [pick(sections, name)]
        return OnCallAnswer(sections=sections, as_of=snapshot.fetched_at, unreachable=unreachable)

    async def _current(self) -> tuple[OnCallSnapshot, bool]:
        """The snapshot to answer from, and whether PagerDuty failed to give a fresher one."""
        snapshot = await self.store.oncall_snapshot()
        if snapshot is not None and self.clock() - snapshot.fetched_at < self.ttl:
            return snapshot, False
        failure = await self.store.oncall_failure()
        if failure is None:
            try:
                return await asyncio.wait_for(self.refresh(), self.budget), False
            except (PagingError, TimeoutError) as exc:
                failure = describe(exc)
        if snapshot is None:
            raise OnCallUnavailable(
                f"PagerDuty is unreachable ({failure}) and I have no earlier answer to show. "
                "Try again in a minute."
            )
        return snapshot, True

    # -- refreshing ------------------------------------------------------------------------
    async def refresh(self) -> OnCallSnapshot:
        """A fresh snapshot, joining the refresh already under way in this process."""
        if self._inflight is None or self._inflight.done():
            task = self.activity.spawn(self._refresh())
            # An asker may stop waiting (budget): the refresh still finishes and is cached.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._inflight = task
        return await asyncio.shield(self._inflight)

    async def refresh_if_stale(self) -> None:
        """The periodic job: refresh when the snapshot is half its ttl old. Never raises."""
        try:
            snapshot = await self.store.oncall_snapshot()
            if snapshot is not None and self.clock() - snapshot.fetched_at < self.ttl / 2:
                return
            if await self.store.oncall_failure() is not None:
                return  # PagerDuty failed a moment ago; the backoff has not run out
            await self.refresh()
        except Exception as exc:
            log.warning("on-call refresh failed", extra={"error": describe(exc)})

    def schedule(self, jobs: AsyncIOScheduler) -> None:
        """Add the refresh job (none when unconfigured, or with ttl 0: no cache at all)."""
        if self.problem() is None and self.ttl > 0:
            jobs.add_job(
                self.refresh_if_stale,
                "interval",
                seconds=self.ttl / 2,
                id="oncall-refresh",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )

    async def _refresh(self) -> OnCallSnapshot:
        before = await self.store.oncall_snapshot()
        lease_seconds = max(30.0, self.budget * 4)
        async with self.store.held(Lease.ONCALL_REFRESH, ttl=lease_seconds) as mine:
            if mine:
                try:
                    return await self._fetch()
                except PagingError as exc:
                    log.warning("PagerDuty on-call walk failed", extra={"error": describe(exc)})
                    await self.store.record_oncall_failure(describe(exc), ttl=self.backoff)
                    raise
        # Another replica is walking PagerDuty: once it lets go, its snapshot (or its
        # failure) is ours too.
        async with self.store.held(Lease.ONCALL_REFRESH, ttl=lease_seconds, wait=lease_seconds):
            snapshot = await self.store.oncall_snapshot()
            if snapshot is not None and (before is None or snapshot.fetched_at > before.fetched_at):
                return snapshot
            failure = await self.store.oncall_failure()
            if failure is not None:
                raise PagingError(failure, retryable=True)
        raise PagingError("another replica's refresh did not finish", retryable=True)

    async def _fetch(self) -> OnCallSnapshot:
        assert self.pagerduty is not None
        now = self.clock()
        since = datetime.fromtimestamp(now, UTC)
        policy = self.config.escalation_policy_id
        entries = await self.pagerduty.oncalls(
            schedule_ids=list(dict.fromkeys(self.config.schedules.values())),
            escalation_policy_ids=[policy] if policy else [],
            since=since,
            until=since + self.horizon,
        )
        emails = {e.user.id: e.user.email for e in entries if e.user.email}
        snapshot = OnCallSnapshot(
            fetched_at=now,
            spans=[_span(e) for e in entries],
            slack_ids=await self._slack_ids(emails),
        )
        ttl = max(1, int(self.horizon.total_seconds()))
        await self.store.save_oncall_snapshot(snapshot, ttl=ttl)
        return snapshot

    async def _slack_ids(self, emails: dict[str, str]) -> dict[str, str]:
        """PagerDuty user -> Slack user, by email; cached both ways in Redis."""
        known = await self.store.slack_users_by_email(e.lower() for e in emails.values())
        missing = sorted({e.lower() for e in emails.values()} - set(known))
        found = await asyncio.gather(*(self._lookup(e) for e in missing))
        known.update({e: sid for e, sid in zip(missing, found, strict=True) if sid is not None})
        return {uid: known[e.lower()] for uid, e in emails.items() if known.get(e.lower())}

    async def _lookup(self, email: str) -> str | None:
        """The Slack user ID ("" when Slack has nobody with it); None when Slack failed."""
        try:
            slack_id = await self.slack.user_by_email(email)
        except SlackError as exc:
            # not cached: the next refresh asks again
            log.warning("Slack user lookup failed: %s", exc.code, extra={"error": exc.code})
            return None
        ttl = SLACK_MATCH_TTL if slack_id else SLACK_MISS_TTL
        await self.store.remember_slack_user(email, slack_id, ttl=ttl)
        return slack_id or ""


def _span(e: OnCallEntry) -> OnCallSpan:
    return OnCallSpan(
        policy_id=e.policy_id,
        policy_name=e.policy_name,
        level=e.level,
        schedule_id=e.schedule_id,
        schedule_name=e.schedule_name,
        user_id=e.user.id,
        user_name=e.user.name,
        start=e.start,
        end=e.end,
    )


# -- pure: a snapshot and a moment -> the answer's sections ------------------------------------


def build_sections(
    snapshot: OnCallSnapshot, config: PagerDutyConfig, now: float
) -> list[OnCallSection]:
    """The escalation policy first (who gets paged), then each configured schedule."""

    def person(span: OnCallSpan) -> OnCallPerson:
        return OnCallPerson(name=span.user_name, slack_id=snapshot.slack_ids.get(span.user_id))

    sections: list[OnCallSection] = []
    policy_id = config.escalation_policy_id
    if policy_id:
        spans = [s for s in snapshot.spans if s.policy_id == policy_id]
        name = next((s.policy_name for s in spans if s.policy_name), None) or "Escalation policy"
        groups: dict[tuple[int, str], list[OnCallSpan]] = {}
        for s in spans:
            groups.setdefault((s.level, s.schedule_id or ""), []).append(s)
        slots = []
        for (level, schedule_id), group in sorted(groups.items()):
            if not schedule_id:  # users targeted directly: always on call, no handover
                people = list({s.user_id: person(s) for s in group}.values())
                slots.append(OnCallSlot(level=level, schedule_name=None, now=people))
            else:
                slots.append(_slot(group, now, person, level=level))
        sections.append(OnCallSection(name=name, kind="policy", slots=slots))
    for name, schedule_id in config.schedules.items():
        spans = [s for s in snapshot.spans if s.schedule_id == schedule_id]
        detail = next((s.schedule_name for s in spans if s.schedule_name), None)
        sections.append(
            OnCallSection(
                name=name,
                kind="schedule",
                detail=detail,
                slots=[_slot(spans, now, person, level=None)],
            )
        )
    return sections


def _slot(
    spans: Iterable[OnCallSpan],
    now: float,
    person: Callable[[OnCallSpan], OnCallPerson],
    *,
    level: int | None,
) -> OnCallSlot:
    """One schedule's place: the span covering `now`, and the first one after it.

    A schedule used by several policies (or levels) appears once per use in the walk, and a
    person's turn may come in pieces; both are folded into one timeline of turns first."""
    turns: list[OnCallSpan] = []
    for s in sorted(
        {(s.user_id, s.start, s.end): s for s in spans}.values(),
        key=lambda s: (s.start or 0, s.end or 0),
    ):
        last = turns[-1] if turns else None
        if last and last.user_id == s.user_id and last.end is not None and last.end == s.start:
            turns[-1] = last.model_copy(update={"end": s.end})
        else:
            turns.append(s)
    current = [
        s for s in turns if (s.start is None or s.start <= now) and (s.end is None or now < s.end)
    ]
    upcoming = [s for s in turns if s.start is not None and s.start > now]
    ends = [s.end for s in current if s.end is not None]
    nxt = min(upcoming, key=lambda s: s.start or 0) if upcoming else None
    name = next((s.schedule_name for s in turns if s.schedule_name), None)
    return OnCallSlot(
        level=level,
        schedule_name=name,
        now=list({s.user_id: person(s) for s in current}.values()),
        until=min(ends) if ends else None,
        next=person(nxt) if nxt else None,
        next_from=nxt.start if nxt else None,
    )


def pick(sections: list[OnCallSection], query: str) -> OnCallSection:
    """The section `query` names: case-insensitive, by its name or PagerDuty's, an exact
    name first, else a unique prefix. Raises OnCallError naming the choices."""
    q = " ".join(query.split()).lower()

    def names(s: OnCallSection) -> list[str]:
        return [n.lower() for n in (s.name, s.detail) if n]

    exact = [s for s in sections if q in names(s)]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [s for s in sections if any(n.startswith(q) for n in names(s))]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(s.name for s in sections)
        raise OnCallError(f"No schedule or team called “{query}”. Known: {known}.")
    listed = ", ".join(s.name for s in matches[:-1]) + f" and {matches[-1].name}"
    raise OnCallError(f"“{query}” matches {listed}; type more of the name.")
