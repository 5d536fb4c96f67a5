"""Follow-ups: the action items an incident leaves behind, their owners and due dates.

Owns `FollowUp`s (stored per incident through bot/core/store/after.py) and one due-item kind of
bot/core/schedule.py, `followup_due`: when a follow-up with a due date falls due, its owner gets
a direct message with a **Done** button. Each follow-up is its own lane (generation 0), so
incident changes never make its reminder stale; marking it done cancels it.

Due dates (`parse_followup`): `2026-12-01`, `today`, `tomorrow`, a weekday (`fri`,
`friday`: the next one after today), or `in 3d` / `in 2 weeks` / `in 4h` (exactly that
long from now). A date means `followups.remind_at` (09:00 by default) UTC on that day; a
date whose reminder time has already passed (today, after 09:00) is recorded with no
reminder. The owner is the trailing `@mention`, else whoever recorded it.

Private incidents (bot/core/redaction.py): the owner's DM and the all-incidents list leave the
channel, so there a private incident's follow-up shows as `[private]`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import blocks.followups as ui
from blocks.mrkdwn import mention_id, readable
from bot.core import redaction
from bot.core.durations import parse_duration
from bot.core.feature import Scheduled
from bot.core.metrics import Metrics
from bot.core.models import DueItem, FollowUp, Incident
from bot.core.schedule import Retry, post_for_item
from bot.core.slack import SlackError, is_transient
from bot.incidents import IncidentError

log = logging.getLogger(__name__)

DUE = "followup_due"
TEXT_MAX = 500

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEKDAYS = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
# `in 3d` (at most four digits) or `in 3 days`: one amount of the one duration grammar
_AMOUNT = re.compile(r"\d{1,4}[a-z]+|\d+ [a-z]+")


class DueDateError(ValueError):
    """A follow-up the grammar refuses; the message is shown with the usage."""


@dataclass(frozen=True)
class Due:
    date: str  # YYYY-MM-DD, UTC
    at: float | None  # when the owner is reminded; None: that time has already passed


@dataclass(frozen=True)
class ParsedFollowUp:
    text: str
    owner: str | None
    due: Due | None


def _day_due(day: date, now: float, remind_at: str) -> Due:
    hour, minute = (int(x) for x in remind_at.split(":"))
    at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp()
    return Due(date=day.isoformat(), at=at if at > now else None)


def _amount(words: list[str]) -> tuple[float, int] | None:
    """`in 3d` or `in 3 days` at the end of `words`: (seconds, words used)."""
    lowered = [w.lower() for w in words]
    for used in (1, 2):
        amount = " ".join(lowered[-used:])
        if len(words) > used and lowered[-used - 1] == "in" and _AMOUNT.fullmatch(amount):
            try:
                return parse_duration(amount, zero=True).total_seconds(), used + 1
            except ValueError:
                continue
    return None


def _due_at_end(words: list[str], now: float, remind_at: str) -> tuple[Due, int] | None:
    """A due date at the end of `words`: (it, how many words it took), or None."""
    today = datetime.fromtimestamp(now, UTC).date()
    last = words[-1].lower().rstrip(".,;")
    if m := _ISO.match(last):
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            raise DueDateError(f"“{words[-1]}” is not a date.") from None
        if day < today:
            raise DueDateError(f"{day.isoformat()} is in the past; give a due date from today on.")
        return _day_due(day, now, remind_at), 1
    if last == "today":
        return _day_due(today, now, remind_at), 1
    if last == "tomorrow":
        return _day_due(today + timedelta(days=1), now, remind_at), 1
    if last in _WEEKDAYS:
        ahead = (_WEEKDAYS[last] - today.weekday() - 1) % 7 + 1  # 1..7: the next one
        return _day_due(today + timedelta(days=ahead), now, remind_at), 1
    amount = _amount(words)
    if amount is not None:
        seconds, used = amount
        if seconds <= 0:
            raise DueDateError("Give a due time after now, like `in 3d`.")
        at = now + seconds
        return Due(date=datetime.fromtimestamp(at, UTC).date().isoformat(), at=at), used
    return None


def parse_followup(text: str, *, now: float, remind_at: str = "09:00") -> ParsedFollowUp:
    """`<what> [@owner] [due date]` (owner and due date in either order, at the end; an
    optional `due` or `by` before the date). `text` is as Slack sent it: the owner is a
    real mention token; what needs doing is kept as its reader saw it."""
    words = text.split()
    owner: str | None = None
    due: Due | None = None
    while words:
        if owner is None and (uid := mention_id(words[-1])):
            owner = uid
            words.pop()
            continue
        if due is None and (found := _due_at_end(words, now, remind_at)) is not None:
            due, used = found
            del words[-used:]
            if words and words[-1].lower() in ("due", "by", "due:"):
                words.pop()
            continue
        break
    what = readable(" ".join(words)).strip(" ,;:-–—")
    if not what:
        raise DueDateError("Say what needs doing.")
    if len(what) > TEXT_MAX:
        raise DueDateError(f"Keep a follow-up under {TEXT_MAX} characters.")
    return ParsedFollowUp(text=what, owner=owner, due=due)


@dataclass(eq=False)
class FollowUps(Scheduled):
    metrics: Metrics

    def install(self) -> None:
        self.scheduler.on(DUE, self._due)

    async def add(self, incident: Incident, *, by: str, text: str) -> FollowUp:
        """Record a follow-up (DueDateError for bad input), schedule its owner's reminder
        and say so in the incident channel."""
        now = self.clock()
        parsed = parse_followup(text, now=now, remind_at=self.config.followups.remind_at)
        followup = await self.store.add_followup(
            FollowUp(
                id="",
                incident_id=incident.id,
                number=0,
                text=parsed.text,
                owner=parsed.owner or by,
                due=parsed.due.date if parsed.due else None,
                due_at=parsed.due.at if parsed.due else None,
                created_by=by,
                created_at=now,
            )
        )
        if followup.due_at is not None:
            await self.scheduler.schedule(
                DUE,
                incident.id,
                followup.due_at,
                key=str(followup.number),
                generation=0,
                lane=f"followup:{followup.number}",
            )
        if incident.channel_id:
            message_text, blocks = ui.recorded(followup)
            try:
                await self.slack.post(incident.channel_id, message_text, blocks)
            except SlackError as exc:
                log.warning("follow-up notice failed", extra={"incident": incident.id})
                raise IncidentError(
                    f"Follow-up #{followup.number} is recorded, but Slack would not show it "
                    f"here ({exc.code})."
                ) from exc
        return followup

    async def get(self, followup_id: str) -> FollowUp | None:
        return await self.store.followup(followup_id)

    async def done(self, followup_id: str, *, by: str) -> tuple[FollowUp, bool]:
        """Mark it done: (it, whether this call did); its reminder is cancelled."""
        result = await self.store.finish_followup(followup_id, by=by, at=self.clock())
        if result is None:
            raise IncidentError("That follow-up no longer exists.")
        followup, changed = result
        if changed:
            await self.scheduler.cancel(followup.incident_id, DUE, key=str(followup.number))
        return followup, changed

    async def open_for(self, incident: Incident | None) -> list[FollowUp]:
        """The incident's open follow-ups; with no incident, every incident's."""
        if incident is not None:
            return [f for f in await self.store.followups(incident.id) if f.status == "open"]
        found = await self.store.open_followups()
        # listed outside their channels: a private incident's follow-ups say only that
        private = {i.id for i in await self.store.many([f.incident_id for f in found]) if i.private}
        return [
            f.model_copy(update={"text": redaction.REDACTED}) if f.incident_id in private else f
            for f in found
        ]

    async def _due(self, item: DueItem) -> None:
        followup = await self.store.followup(f"{item.incident_id}.{item.key}")
        if followup is None or followup.status != "open" or not followup.owner:
            return
        incident = await self.store.get(item.incident_id)
        if incident is not None:  # a DM leaves the incident's channel
            incident = redaction.for_destination(incident, self.config, None)
        try:
            dm = await self.slack.open_dm(followup.owner)
        except SlackError as exc:
            if is_transient(exc):
                raise Retry(f"Slack: {exc.code}") from exc
            log.warning("follow-up owner unreachable", extra={"incident": item.incident_id})
            return
        message = ui.reminder(followup, incident)
        if await post_for_item(self.slack, dm, item, message, what="follow-up reminder"):
            self.metrics.reminders_sent.labels("followup").inc()
