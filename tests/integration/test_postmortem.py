"""Post-mortems from a scripted incident: the real services (incidents, paging, runbook
checklists, timeline capture, follow-ups, post-mortems, scheduler) on a real Redis, the
fake Slack and PagerDuty over HTTP, and a fake clock, so every time in the draft is known.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.core.config import IncidentConfig
from bot.core.events import Events, lifecycle
from bot.core.metrics import Metrics
from bot.core.models import Incident
from bot.core.pagerduty import PagerDuty
from bot.core.schedule import Scheduler
from bot.core.slack import Slack, make_client
from bot.core.store import Store
from bot.fakes.pagerduty import FakePagerDuty
from bot.fakes.slack import FakeSlack
from bot.followups import FollowUps
from bot.incidents import IncidentError, Incidents
from bot.paging import Pager
from bot.postmortem import Postmortems
from bot.runbooks.checklists import Checklists
from bot.runbooks.library import default_runbooks_dir, load_runbooks
from bot.stats import Stats
from bot.timeline import TimelineCapture

T0 = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC).timestamp()
MIN = 60.0
HOUR = 3600.0

CONFIG = IncidentConfig.model_validate(
    {
        "severities": [
            {"name": "SEV1", "label": "Critical", "update_every": "15m", "page": True},
            {"name": "SEV2", "label": "High", "update_every": "30m", "page": True},
            {"name": "SEV3", "label": "Medium", "update_every": "2h"},
        ],
        "escalation": {"ack_timeout": "15m"},
        "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
        "postmortem": {"due_after": "24h", "remind_every": "1d"},
    }
)
SLACK_NAME = {"PU_ALICE": "@alice", "PU_BOB": "@bob", "PU_CAROL": "@carol", "PU_DAVE": "@dave"}
SLACK_NAME["PU_ERIN"] = "Erin Example"  # PagerDuty knows her, Slack does not


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, offset: float) -> None:
        self.now = T0 + offset


@dataclass
class World:
    clock: Clock
    fake: FakeSlack
    pd: FakePagerDuty
    store: Store
    incidents: Incidents
    scheduler: Scheduler
    pager: Pager
    checklists: Checklists
    capture: TimelineCapture
    followups: FollowUps
    postmortems: Postmortems
    metrics: Metrics
    events: Events

    async def run_due(self) -> None:
        """Run every event and everything due by the fake clock, and what that makes due,
        to the end."""
        while True:
            handled = await self.events.pump()
            await self.scheduler.idle()
            claimed = await self.scheduler.tick()
            await self.scheduler.idle()
            if not handled and not claimed:
                return
        await self.scheduler.idle()


@pytest.fixture
async def world(redis_url: str) -> AsyncIterator[World]:
    clock = Clock(T0)
    fake = FakeSlack()
    await fake.start()
    pd = FakePagerDuty(now=lambda: datetime.fromtimestamp(clock(), UTC))
    await pd.start()
    redis = Redis.from_url(redis_url, decode_responses=True)
    store = Store(redis)
    client = make_client(fake.bot_token, fake.api_url)
    slack = Slack(client)
    metrics = Metrics()
    incidents = Incidents(store, slack, CONFIG, metrics=metrics, clock=clock)
    scheduler = Scheduler(store, clock, registry=metrics.registry)
    pagerduty = PagerDuty(
        pd.api_key, api_url=pd.api_url, events_url=pd.events_url, from_email="alice@example.com"
    )
    pager = Pager(store, slack, CONFIG, scheduler, pagerduty, webhooks=True, clock=clock)
    pager.install()
    checklists = Checklists(store, slack, load_runbooks(default_runbooks_dir()), clock=clock)
    stats = Stats(store, slack, CONFIG, metrics, clock=clock)
    postmortems = Postmortems(store, slack, CONFIG, scheduler, stats, metrics, clock=clock)
    postmortems.install()
    events = Events(store)
    events.subscribe("pager", lifecycle(pager.on_incident_event))
    events.subscribe("postmortem", lifecycle(postmortems.on_incident_event))
    events.subscribe("stats", lifecycle(stats.on_incident_event))
    events.subscribe("setup", incidents.on_declared, types={"declared"})
    events.subscribe("paging-notice", lifecycle(pager.on_set_up, store), types={"declared"})
    followups = FollowUps(store, slack, CONFIG, scheduler, metrics, clock=clock)
    followups.install()
    yield World(
        clock=clock,
        fake=fake,
        pd=pd,
        store=store,
        incidents=incidents,
        scheduler=scheduler,
        pager=pager,
        checklists=checklists,
        capture=TimelineCapture(store, slack, clock=clock),
        followups=followups,
        postmortems=postmortems,
        metrics=metrics,
        events=events,
    )
    await scheduler.stop()
    if client.session is not None:
        await client.session.close()
    await redis.aclose()
    await fake.stop()
    await pd.stop()


def oncall(w: World, level: int) -> str:
    """Who the fake PagerDuty has on call at `level` now, as the draft names them."""
    users = w.pd._oncall_users("PEP_MAIN", level, w.pd.now())
    return ", ".join(SLACK_NAME[u] for u in users)


async def play_incident(w: World) -> Incident:
    """14:00 SEV1 declared by alice and paged; updates, a runbook step, an escalation after
    15 min without acknowledgement, PagerDuty's acknowledgement, a handover, a note, a
    pinned message, and the resolve at 15:23:05."""
    clock = w.clock
    incident = await w.incidents.declare(
        title="Checkout API returning 500s", severity="SEV1", by="U0ALICE"
    )
    await w.run_due()  # the page goes out at 14:00:00
    clock.at(2 * MIN)
    incident = await w.incidents.post_update(
        await current(w, incident), by="U0ALICE", text="Error rate 40%, suspect the 13:55 deploy"
    )
    clock.at(4 * MIN)
    run = await w.checklists.post(incident, "high-error-rate", by="U0BOB")
    clock.at(6 * MIN)
    await w.checklists.click(run.id, "p2-s2", "done", user="U0BOB")
    clock.at(15 * MIN)
    await w.run_due()  # no acknowledgement in 15 min: escalated to level 2
    clock.at(17 * MIN)
    await w.pager.acknowledged(incident.id, by_name="Carol Example")
    clock.at(20 * MIN)
    incident = await w.incidents.assign_role(
        await current(w, incident), by="U0ALICE", role="commander", user="U0BOB"
    )
    clock.at(25 * MIN)
    await w.capture.note(incident, by="U0BOB", wire="Rolled back deploy 4711")
    clock.at(40 * MIN)
    incident = await w.incidents.set_status(
        await current(w, incident), by="U0BOB", status="monitoring"
    )
    # carol's message from 14:10 is pinned later by alice: it lands at 14:10
    assert incident.channel_id
    message = {"ts": f"{T0 + 10 * MIN:.6f}", "user": "U0CAROL", "text": "p99 &lt; 300 ms again"}
    await w.capture.pinned(incident.channel_id, message, by="U0ALICE", bot_user="U0BOT")
    clock.at(1 * HOUR + 23 * MIN + 5)
    incident = await w.incidents.resolve(
        await current(w, incident), by="U0BOB", summary="Rolled back deploy 4711"
    )
    await w.run_due()  # resolves the PagerDuty incident; uploads the first draft
    return incident


async def current(w: World, incident: Incident) -> Incident:
    found = await w.store.get(incident.id)
    assert found is not None
    return found


def uploaded(w: World) -> list[str]:
    return [f["content"].decode() for f in w.fake.files.values() if f["content"] is not None]


def section(markdown: str, title: str) -> str:
    """One `## title` section of the draft, without its heading."""
    start = markdown.index(f"## {title}\n") + len(f"## {title}\n")
    end = markdown.find("\n## ", start)
    return markdown[start : end if end != -1 else None].strip("\n")


def fact(markdown: str, name: str) -> str:
    line = next(x for x in markdown.splitlines() if x.startswith(f"| {name} |"))
    return line.split(" | ", 1)[1].rstrip(" |")


async def test_the_draft_of_a_scripted_incident_has_the_exact_timeline_and_durations(
    world: World,
) -> None:
    incident = await play_incident(world)
    world.clock.at(1 * HOUR + 30 * MIN)
    await world.followups.add(
        incident,
        by="U0BOB",
        text="Add a canary stage to checkout deploys <@U0CAROL|carol> 2026-03-09",
    )
    world.clock.at(2 * HOUR)
    file_id = await world.postmortems.draft(await current(world, incident), by="U0BOB")

    # Slack's external upload: URL, bytes, complete; both drafts shared in the channel
    assert len(world.fake.calls_to("files.getUploadURLExternal")) == 2
    assert len(world.fake.calls_to("files.completeUploadExternal")) == 2
    shared = world.fake.files[file_id]
    assert shared["name"] == f"postmortem-{incident.id}.md"
    assert shared["title"] == f"Post-mortem draft · {incident.id} · Checkout API returning 500s"
    assert shared["channels"] == [incident.channel_id]
    markdown = shared["content"].decode()

    paged_to, escalated_to = oncall(world, 1), oncall(world, 2)
    assert section(markdown, "Timeline") == "\n".join(
        [
            'All times UTC; "Since declared" counts from the declaration.',
            "",
            "| Time (UTC) | Since declared | Who | Event |",
            "| --- | --- | --- | --- |",
            "| 2026-03-02 14:00:00 | +0:00:00 | @alice | Declared SEV1 (Critical): Checkout"
            " API returning 500s |",
            "| 2026-03-02 14:00:00 | +0:00:00 | bot | Paging PagerDuty |",
            f"| 2026-03-02 14:00:00 | +0:00:00 | bot | Paged PagerDuty #1 (Backend API):"
            f" {paged_to} |",
            "| 2026-03-02 14:02:00 | +0:02:00 | @alice | Status update: Error rate 40%, suspect"
            " the 13:55 deploy |",
            "| 2026-03-02 14:04:00 | +0:04:00 | @bob | Runbook posted: High error rate (5xx)"
            " (high-error-rate) |",
            "| 2026-03-02 14:06:00 | +0:06:00 | @bob | Step p2-s2 done: Did something ship in"
            " the last hour? If yes, prepare to roll back now (high-error-rate) |",
            "| 2026-03-02 14:10:00 | +0:10:00 | @carol | Pinned: “p99 < 300 ms again” (pinned"
            " by @alice) |",
            f"| 2026-03-02 14:15:00 | +0:15:00 | bot | Escalated to level 2: {escalated_to} |",
            "| 2026-03-02 14:17:00 | +0:17:00 | bot | Acknowledged in PagerDuty by Carol Example |",
            "| 2026-03-02 14:20:00 | +0:20:00 | @alice | Commander: @bob |",
            "| 2026-03-02 14:25:00 | +0:25:00 | @bob | Note: Rolled back deploy 4711 |",
            "| 2026-03-02 14:40:00 | +0:40:00 | @bob | Status investigating → monitoring |",
            "| 2026-03-02 15:23:05 | +1:23:05 | @bob | Resolved: Rolled back deploy 4711 |",
            "| 2026-03-02 15:23:05 | +1:23:05 | bot | Resolved the PagerDuty incident |",
        ]
    )
    assert fact(markdown, "Declared") == "2026-03-02 14:00:00 UTC by @alice"
    assert fact(markdown, "Resolved") == "2026-03-02 15:23:05 UTC"
    assert fact(markdown, "Duration") == "1 h 23 min 5 s"
    assert fact(markdown, "Time to acknowledge") == "17 min (PagerDuty acknowledgement)"
    assert fact(markdown, "Severity") == "SEV1 (Critical)"
    assert fact(markdown, "Commander") == "@bob"
    assert fact(markdown, "PagerDuty") == "#1 (Backend API), resolved, level 2"
    assert "generated 2026-03-02 16:00:00 UTC" in markdown
    assert section(markdown, "Follow-ups") == "\n".join(
        [
            "| # | Action | Owner | Due | Status |",
            "| --- | --- | --- | --- | --- |",
            "| 1 | Add a canary stage to checkout deploys | @carol | 2026-03-09 | open |",
        ]
    )
    summary = section(markdown, "Summary")
    assert "- **Duration:** 1 h 23 min 5 s (declared 2026-03-02 14:00:00 UTC, resolved" in summary
    assert "- **Resolution:** Rolled back deploy 4711" in summary
    for heading in ("Impact", "Root-cause analysis", "What went well", "What could be improved"):
        assert section(markdown, heading)
    assert '1. Why did "Checkout API returning 500s" happen?' in markdown
    assert section(markdown, "Lessons learned")

    # the first draft went up on its own when the incident resolved
    first = next(f for f in world.fake.files.values() if f["id"] != file_id)
    assert "Draft**, generated 2026-03-02 15:23:05 UTC" in first["content"].decode()
    buttons = [
        e["text"]["text"]
        for m in world.fake.messages[incident.channel_id or ""]
        for b in m.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("postmortem_")
    ]
    assert buttons == ["Mark post-mortem done", "Regenerate draft"] * 2


async def test_the_commander_is_reminded_daily_until_the_post_mortem_is_done(
    world: World,
) -> None:
    incident = await play_incident(world)
    assert incident.channel_id

    def reminders() -> list[str]:
        return [
            m.text
            for m in world.fake.messages[incident.channel_id or ""]
            if m.text.startswith(":alarm_clock:")
        ]

    world.clock.at(1 * HOUR + 23 * MIN + 5 + 24 * HOUR - 1)
    await world.run_due()
    assert reminders() == []
    world.clock.at(1 * HOUR + 23 * MIN + 5 + 24 * HOUR)
    await world.run_due()
    assert reminders() == [
        f":alarm_clock: <@U0BOB>, the post-mortem of *{incident.id}* is not marked done yet, "
        "1 d after the incident was resolved."
    ]
    world.clock.at(1 * HOUR + 23 * MIN + 5 + 48 * HOUR)
    await world.run_due()
    assert len(reminders()) == 2 and reminders()[1].endswith("2 d after the incident was resolved.")

    await world.postmortems.mark_done(incident.id, by="U0BOB")
    with pytest.raises(IncidentError, match="already marked done"):
        await world.postmortems.mark_done(incident.id, by="U0ALICE")
    assert [i.kind for i in await world.scheduler.pending(incident.id)] == []
    world.clock.at(1 * HOUR + 23 * MIN + 5 + 96 * HOUR)
    await world.run_due()
    assert len(reminders()) == 2
    entries = await world.store.timeline(incident.id)
    assert [(e.kind, e.actor, e.text) for e in entries[-1:]] == [
        ("postmortem", "U0BOB", "Post-mortem done")
    ]
    sent = world.metrics.registry.get_sample_value(
        "incident_bot_reminders_sent_total", {"kind": "postmortem"}
    )
    assert sent == 2


async def test_only_paging_severities_get_the_reminder_and_a_reopen_cancels_it(
    world: World,
) -> None:
    quiet = await world.incidents.declare(title="Slow search", severity="SEV3", by="U0ALICE")
    quiet = await world.incidents.resolve(quiet, by="U0ALICE", summary="")
    await world.events.pump()
    assert [i.kind for i in await world.scheduler.pending(quiet.id)] == ["postmortem_draft"]
    loud = await world.incidents.declare(title="Login down", severity="SEV2", by="U0BOB")
    with pytest.raises(IncidentError, match="still open"):
        await world.postmortems.mark_done(loud.id, by="U0BOB")
    loud = await world.incidents.resolve(await current(world, loud), by="U0BOB", summary="")
    await world.events.pump()
    kinds = sorted(i.kind for i in await world.scheduler.pending(loud.id))
    assert "postmortem_due" in kinds
    await world.incidents.reopen(await current(world, loud), by="U0BOB", reason="back again")
    await world.events.pump()
    kinds = [i.kind for i in await world.scheduler.pending(loud.id)]
    assert "postmortem_due" not in kinds and "postmortem_draft" not in kinds


async def test_a_team_template_can_extend_the_shipped_one(world: World, tmp_path: Path) -> None:
    own = tmp_path / "ours.md.j2"
    own.write_text(
        '{% extends "builtin/postmortem.md.j2" %}\n'
        "{% block lessons %}\nAsk the customer-support lead to review.\n{% endblock %}\n"
    )
    config = CONFIG.model_copy(
        update={"postmortem": CONFIG.postmortem.model_copy(update={"template": own})}
    )
    stats = Stats(world.store, world.postmortems.slack, config, world.metrics, clock=world.clock)
    ours = Postmortems(
        world.store,
        world.postmortems.slack,
        config,
        world.scheduler,
        stats,
        world.metrics,
        clock=world.clock,
    )
    incident = await world.incidents.declare(title="Queue backlog", severity="SEV3", by="U0BOB")
    draft = await ours.render(incident)
    assert section(draft.markdown, "Lessons learned") == "Ask the customer-support lead to review."
    assert fact(draft.markdown, "Duration") == "ongoing (0 s so far)"
    assert fact(draft.markdown, "Time to acknowledge") == "—"
