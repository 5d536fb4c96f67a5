"""Update reminders, played like an incident: declare a SEV1 whose updates are due every
2 s, and watch the reminder come, reset, snooze, escalate and stop. Real app, real Redis,
fake Slack over HTTP; times are Slack's message timestamps (wall clock)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bot.core.config import IncidentConfig
from bot.core.models import DueItem, Incident, TimelineEntry
from bot.fakes.slack import Message
from tests.integration.harness import Harness, eventually, start

CONFIG = IncidentConfig.model_validate(
    {
        "severities": [
            {"name": "SEV1", "label": "Critical", "update_every": "2s"},
            {"name": "SEV2", "label": "High", "update_every": "6s"},
            {"name": "SEV3", "label": "Medium", "update_every": "2h"},
        ],
        "reminders": {"snooze": "2s", "grace": 0.5},
        "scheduler": {"tick": 0.1, "retry": 0.1},
    }
)
EPSILON = 0.01  # the fake's timestamps and the bot's clock are the same clock


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, CONFIG)
    yield harness
    await harness.stop()


async def declare(h: Harness, text: str = "SEV1 Checkout API returning 500s") -> Incident:
    incident = await h.declare(text)
    # set up: what a test does next (a severity change, an update) comes after it, as it
    # would for people reading the new channel (a change made during the set-up races the
    # set-up's own restart of the cadence, anchored at the declaration)
    await h.settled()
    return incident


def reminders(h: Harness, incident: Incident) -> list[Message]:
    assert incident.channel_id
    return [m for m in h.fake.messages[incident.channel_id] if "An update on this" in m.text]


def pings(h: Harness, incident: Incident) -> list[Message]:
    assert incident.channel_id
    return [m for m in h.fake.messages[incident.channel_id] if m.text.startswith("<!channel>")]


def at(m: Message) -> float:
    return float(m.ts)


async def test_the_commander_is_reminded_when_an_update_is_due(h: Harness) -> None:
    incident = await declare(h)
    [reminder] = await eventually(lambda: reminders(h, incident))
    assert at(reminder) >= incident.declared_at + 2 - EPSILON
    assert reminder.text.startswith("<@U0ALICE> An update on this SEV1 incident is due")
    buttons = [
        e["text"]["text"] for b in reminder.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == ["Post update", "Snooze 2 s"]


async def test_an_update_resets_the_reminder(h: Harness) -> None:
    incident = await declare(h)
    [first] = await eventually(lambda: reminders(h, incident))
    await h.command("update Rolled back; error rate falling", channel=incident.channel_id)
    updated = await eventually(lambda: _updated(h, incident))
    assert updated.last_update is not None
    second = (await eventually(lambda: reminders(h, incident)[1:]))[0]
    # due 2 s after the update, not 2 s after the first reminder's due time
    assert at(second) >= updated.last_update.at + 2 - EPSILON
    # and the first reminder's grace-period ping (due 1 s after it) never came
    assert [p for p in pings(h, incident) if at(p) < at(second)] == []
    assert at(first) < updated.last_update.at


async def test_snooze_defers_the_reminder(h: Harness) -> None:
    incident = await declare(h)
    [reminder] = await eventually(lambda: reminders(h, incident))
    assert incident.channel_id
    # the commander snoozes (only role holders may: tests/integration/test_permissions.py)
    result = await h.fake.click("U0ALICE", incident.channel_id, reminder.ts, "reminder_snooze")
    assert result.status == 200
    snoozed = await eventually(
        lambda: _message(h, incident, reminder.ts, lambda m: "snoozed by <@U0ALICE>" in m.text)
    )
    assert not any(b["type"] == "actions" for b in snoozed.blocks)  # the buttons are gone
    clicked = at(reminder)  # the click came after the reminder; the snooze counts from it
    # (the snoozed reminder now reads as snoozed, so every reminder seen is a new one)
    [again, *_] = await eventually(lambda: reminders(h, incident))
    assert at(again) >= clicked + 2 - EPSILON
    # the reminder's grace-period ping (due 1 s after it) was deferred with it
    assert [p for p in pings(h, incident) if at(p) < at(again)] == []
    kinds = [e.text for e in await h.store.timeline(incident.id) if e.kind == "reminder"]
    assert kinds[0] == "Update reminder snoozed for 2 s"


async def test_resolving_stops_the_reminders(h: Harness) -> None:
    resolved = await declare(h, "SEV1 Payments failing")
    await h.command("resolve fixed by restart", channel=resolved.channel_id)
    await eventually(lambda: _resolved(h, resolved))
    later = await declare(h, "SEV1 Search is down")
    # by the time the later incident's reminder and its ping came, the resolved one's
    # (due earlier) would have come too
    await eventually(lambda: pings(h, later))
    await h.settled()
    assert reminders(h, resolved) == [] and pings(h, resolved) == []
    assert await h.bot.services.scheduler.pending(resolved.id) == []


async def test_no_update_after_the_grace_period_pings_the_channel_and_comms_lead(
    h: Harness,
) -> None:
    incident = await declare(h)
    # a role change is not an update: the cadence keeps running
    await h.command("role comms-lead <@U0CAROL|carol>", channel=incident.channel_id)
    [reminder] = await eventually(lambda: reminders(h, incident))
    [ping] = await eventually(lambda: pings(h, incident))
    assert at(ping) >= incident.declared_at + 2 + 1 - EPSILON  # due + grace (0.5 × 2 s)
    assert "<@U0CAROL> (comms lead), please post one" in ping.text
    noted = await eventually(lambda: _timeline(h, incident, "reminder"))
    assert "pinged the channel and <@U0CAROL>" in noted[0].text
    # and the cadence goes on: the next reminder is due 2 s after the last due time
    third = (await eventually(lambda: reminders(h, incident)[1:]))[0]
    assert at(third) >= at(reminder) + 2 - 0.2


async def test_post_update_button_opens_the_modal_and_its_update_resets(h: Harness) -> None:
    incident = await declare(h)
    [reminder] = await eventually(lambda: reminders(h, incident))
    assert incident.channel_id
    await h.fake.click("U0ALICE", incident.channel_id, reminder.ts, "reminder_post_update")
    view_id = await eventually(lambda: next(iter(h.fake.views), None))
    values = {
        "status": {"status": "identified"},
        "impact": {"impact": "EU checkout fails for 30% of users"},
        "actions": {"actions": "Rolling back the 14:02 deploy"},
        "next": {"next": "Confirm error rate, then post-mortem"},
        "eta": {"eta": "15 min"},
    }
    # a double-click on Post: one update
    first = await h.fake.submit_view("U0ALICE", view_id, values)
    assert first.status == 200
    update = await eventually(
        lambda: [
            m for m in h.fake.messages[incident.channel_id] if m.text.startswith("Status update")
        ]
    )
    assert "*Impact:* EU checkout fails for 30% of users" in update[0].text
    assert "*ETA:* 15 min" in update[0].text
    current = await eventually(lambda: _updated(h, incident))
    assert current.status == "identified"
    assert current.last_update is not None
    second = (await eventually(lambda: reminders(h, incident)[1:]))[0]
    assert at(second) >= current.last_update.at + 2 - EPSILON


async def test_a_severity_change_rederives_the_interval_from_now(h: Harness) -> None:
    incident = await declare(h, "SEV2 Slow search")  # due after 6 s
    await h.command("severity SEV1", channel=incident.channel_id)
    raised = await eventually(lambda: _severity(h, incident, "SEV1"))
    changed_at = next(e.at for e in await h.store.timeline(incident.id) if e.kind == "severity")
    [reminder] = await eventually(lambda: reminders(h, incident))
    assert changed_at + 2 - EPSILON <= at(reminder) < incident.declared_at + 6
    assert "SEV1 incidents get an update every 2 s" in reminder.text
    assert raised.severity == "SEV1"


async def _updated(h: Harness, incident: Incident) -> Incident | None:
    current = await h.store.get(incident.id)
    return current if current and current.last_update else None


async def _resolved(h: Harness, incident: Incident) -> bool:
    current = await h.store.get(incident.id)
    return bool(current and not current.is_open)


async def _severity(h: Harness, incident: Incident, severity: str) -> Incident | None:
    current = await h.store.get(incident.id)
    return current if current and current.severity == severity else None


def _message(h: Harness, incident: Incident, ts: str, check: object) -> Message | None:
    assert incident.channel_id and callable(check)
    m = h.fake.message(incident.channel_id, ts)
    return m if m is not None and check(m) else None


async def _timeline(h: Harness, incident: Incident, kind: str) -> list[TimelineEntry]:
    return [e for e in await h.store.timeline(incident.id) if e.kind == kind]


async def test_a_reminder_sent_by_a_replica_that_died_before_finishing_is_not_sent_again(
    h: Harness,
) -> None:
    incident = await declare(h, "SEV2 Slow search")  # due 6 s after the declaration
    store, reminders_ = h.store, h.bot.services.reminders
    assert reminders_ is not None
    [item] = await eventually(lambda: _pending(h, incident, "update_due"))
    # another replica claims it (a lease of 1 s), posts the reminder, and is killed
    # before it could finish the item
    [claimed], _, _ = await store.due_claim(item.due_at, time.time() + 1, 10)
    await reminders_._due(claimed)
    assert len(reminders(h, incident)) == 1
    # after the lease this app claims it again, finds the message already posted, and
    # finishes the item without a second reminder
    await eventually(lambda: store.due_sent(claimed))
    await h.settled()
    assert len(reminders(h, incident)) == 1
    assert h.fake.calls_to("conversations.history")  # it looked before posting
    assert await _pending(h, incident, "update_due") == []
    assert len(await _pending(h, incident, "update_overdue")) == 1


async def _pending(h: Harness, incident: Incident, kind: str) -> list[DueItem]:
    return [i for i in await h.bot.services.scheduler.pending(incident.id) if i.kind == kind]
