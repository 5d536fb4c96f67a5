"""The alert path's Slack messages: keeping one message in line with what it should show
(posted once, edited at most every `alerts.update_every`, found again when it is gone),
within Slack call budgets shared by every replica.

Budgets are apart by purpose, so one kind of work never waits for another's calls:
declarations (and their announcement), edits of groups' messages in incident channels,
and the announce channel's boards (the unmatched digest and the storm notice). Of the
declaration budgets, a part is kept for severities that page (priority by severity).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from blocks.common import Message
from bot.core.config import AlertsConfig
from bot.core.models import AlertGroupView, AlertInstance
from bot.core.slack import Slack, SlackError
from bot.core.store import AlertGroupState, Store

GONE = ("message_not_found", "cant_update_message", "channel_not_found", "is_archived")


@dataclass(frozen=True)
class Budget:
    interval: float  # seconds between calls, sustained
    burst: int  # calls allowed at once

    def without(self, reserved: int) -> Budget:
        """The same budget with `reserved` of its burst kept for others: a caller booking
        this never takes those, so whoever books the whole budget goes first."""
        return Budget(self.interval, max(1, self.burst - reserved))


@dataclass(frozen=True)
class SlackBudgets:
    """Slack calls the alert path makes, paced across replicas (Slack's published tiers):
    declaring creates a channel and sets its topic (Tier 2, about 20 a minute) and posts
    into the announce channel; chat.update is Tier 3 (about 50 a minute); chat.postMessage
    allows about one message a second in a channel, with short bursts."""

    declare: Budget = Budget(3.0, 10)
    # of the declare and announce budgets, kept for declarations of paging severities:
    # the others never book these, so a SEV1 never waits behind a SEV3
    reserved: int = 2
    update: Budget = Budget(1.2, 10)
    post: Budget = Budget(1.0, 4)  # per channel
    board: Budget = Budget(2.0, 2)  # the digest and the notice, posts and edits
    max_wait: float = 0.5  # longer waits are not slept on: the work comes back later


class Later(Exception):
    """A Slack budget is spent: come back at `at`."""

    def __init__(self, at: float) -> None:
        super().__init__(at)
        self.at = at


def group_view(g: AlertGroupState) -> AlertGroupView:
    """An alert group as its messages show it."""
    group = json.loads(g.text("group") or "{}")
    sample = []
    for _, body, firing in g.sample:
        try:
            alert = AlertInstance.model_validate_json(body)
        except ValidationError:
            continue
        alert.status = "firing" if firing else "resolved"
        sample.append(alert)
    sample.sort(key=lambda a: (a.status != "firing", a.starts_at or 0.0, a.fingerprint))
    return AlertGroupView(
        group_id=g.gid,
        alertname=g.text("alertname"),
        title=group.get("title") or g.text("alertname"),
        labels=group.get("labels") or {},
        source=g.text("source") or "alertmanager",
        firing=max(0, int(g.number("firing"))),
        resolved=max(0, int(g.number("resolved"))),
        sample=sample,
        updated_at=g.number("changed_at") or g.number("created"),
        link=g.text("link") or None,
        untracked=g.untracked,
        incident=g.text("incident") or None,
    )


def digest_of(message: Message) -> str:
    text, blocks = message
    return hashlib.sha1(json.dumps([text, blocks], sort_keys=True).encode()).hexdigest()


Save = Callable[[dict[str, str]], Awaitable[None]]


class Shown:
    """Keeps messages current: one per slot, its channel, ts, digest, when it was last
    posted or edited and the state it showed (`<slot>_channel`, ... in the owner's fields)."""

    def __init__(
        self,
        store: Store,
        slack: Slack,
        settings: AlertsConfig,
        budgets: SlackBudgets,
    ) -> None:
        self.store = store
        self.slack = slack
        self.settings = settings
        self.budgets = budgets

    async def pace(self, now: float, *budgets: tuple[str, Budget]) -> None:
        """Wait for the call's turn on its budgets, or come back later (Later)."""
        wait = await self.store.alerts_pace(
            [(name, b.interval, b.burst) for name, b in budgets],
            now=now,
            max_wait=self.budgets.max_wait,
        )
        if wait < 0:
            raise Later(now - wait)
        if wait > 0:
            await asyncio.sleep(wait)

    async def keep(
        self,
        fields: Mapping[str, str],
        slot: str,
        channel: str,
        message: Message,
        now: float,
        *,
        state: str,
        save: Save,
        post: tuple[str, Budget],
        update: tuple[str, Budget],
    ) -> tuple[float | None, bool]:
        """Post or edit the slot's message. (When to come back because an edit must wait,
        or None; whether a new message was posted.) Counts wait for the next edit; a change
        of `state` (firing <-> all resolved) is shown at once."""
        digest = digest_of(message)
        if digest == fields.get(f"{slot}_digest"):
            return None, False
        text, blocks = message
        ts, where = fields.get(f"{slot}_ts", ""), fields.get(f"{slot}_channel", "")
        if ts and where:
            last = float(fields.get(f"{slot}_at") or 0)
            every = self.settings.update_every.total_seconds()
            if now - last < every and fields.get(f"{slot}_state") == state:
                return last + every, False
            await self.pace(now, update)
            try:
                await self.slack.update(where, ts, text, blocks)
            except SlackError as exc:
                if exc.code not in GONE:  # is_archived: the incident moved to a private one
                    raise
                ts = ""  # gone: post it again below
        posted = not ts or not where
        if posted:
            await self.pace(now, post)
            where, ts = await self.slack.post(channel, text, blocks)
        await save(
            {
                f"{slot}_channel": where,
                f"{slot}_ts": ts,
                f"{slot}_digest": digest,
                f"{slot}_at": repr(now),
                f"{slot}_state": state,
            }
        )
        return None, posted
