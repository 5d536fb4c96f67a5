"""The alert path's Slack messages: how an alert group is shown, and keeping one message
in line with it through the mirror (bot/core/mirror.py: posted once, edited at most every
`alerts.update_every`, posted again when it is gone), within Slack call budgets shared by
every replica. Its refs live in its owner's fields (`<slot>_channel`, `_ts`, `_digest`,
`_at`, `_state`).

Budgets are apart by purpose, so one kind of work never waits for another's calls:
declarations (and their announcement), edits of groups' messages in incident channels,
and the announce channel's boards (the unmatched digest and the storm notice). Of the
declaration budgets, a part is kept for severities that page (priority by severity).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from bot.core.mirror import Budget, Later, Mirror, Part, Shown
from bot.core.models import AlertGroupView, AlertInstance
from bot.core.store import AlertGroupState

__all__ = ["Budget", "Later", "SlackBudgets", "group_view", "keep"]


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


Save = Callable[[dict[str, str]], Awaitable[None]]


async def keep(
    mirror: Mirror, fields: Mapping[str, str], slot: str, part: Part, now: float, save: Save
) -> float | None:
    """Post or edit the slot's message (see Mirror.show); when to come back because an
    edit must wait, or None. Counts wait for the next edit; a change of the part's `state`
    (firing <-> all resolved) is shown at once."""
    shown = Shown(
        where=fields.get(f"{slot}_channel", ""),
        ts=fields.get(f"{slot}_ts", ""),
        digest=fields.get(f"{slot}_digest", ""),
        at=float(fields.get(f"{slot}_at") or 0),
        state=fields.get(f"{slot}_state", ""),
    )
    new, at = await mirror.show(part, shown, now)
    if new is not None:
        await save(
            {
                f"{slot}_channel": new.where,
                f"{slot}_ts": new.ts,
                f"{slot}_digest": new.digest,
                f"{slot}_at": repr(new.at),
                f"{slot}_state": new.state,
            }
        )
    return at
