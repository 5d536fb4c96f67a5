"""After the incident, through the real app: pins and 📌 reactions on the timeline, notes,
follow-ups and their owner's reminder, post-mortem commands and buttons, `/incident
stats`, and `/metrics`. Real app on a real port, real Redis, fake Slack (and PagerDuty)
over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.core.config import IncidentConfig
from bot.core.models import Incident, TimelineEntry
from bot.fakes.slack import Message, shown
from tests.integration.harness import Harness, eventually, promtool_check, start

CONFIG = IncidentConfig.model_validate(
    {
        "severities": [
            {"name": "SEV1", "label": "Critical", "update_every": "1h", "page": True},
            {"name": "SEV2", "label": "High", "update_every": "1h", "page": True},
            {"name": "SEV3", "label": "Medium", "update_every": "2h"},
        ],
        "escalation": {"ack_timeout": "1h"},
        "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
        "scheduler": {"tick": 0.1, "retry": 0.1},
    }
)


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, CONFIG)
    yield harness
    await harness.stop()


async def declare(h: Harness, text: str = "SEV3 Search is slow") -> Incident:
    incident = await h.declare(text)
    channel = incident.channel_id
    assert channel
    await eventually(lambda: any(m.pinned for m in h.fake.messages[channel]))
    return await h.incident(incident.id)


async def captured(h: Harness, incident: Incident) -> list[TimelineEntry]:
    # in time order, as the post-mortem reads them: pins arrive in any order with their own time
    pinned = [e for e in await h.store.timeline(incident.id) if e.kind == "pinned"]
    return sorted(pinned, key=lambda e: e.at)


async def test_pins_and_pushpins_go_on_the_timeline_once(h: Harness) -> None:
    incident = await declare(h)
    channel = incident.channel_id
    assert channel
    graph = await h.fake.post_message("U0CAROL", channel, "p99 is 4 s, see <https://g.io|graph>")
    cause = await h.fake.post_message("U0DAVE", channel, "Index rebuild started at 14:02")
    await h.fake.post_message("U0BOB", channel, "on it")  # bob joins the channel

    for _ in range(3):
        await h.fake.pin_as_user("U0ALICE", channel, graph.ts)
    await h.fake.add_reaction("U0BOB", channel, graph.ts, "pushpin")  # pinned already
    await h.fake.add_reaction("U0BOB", channel, cause.ts, "pushpin")
    await h.fake.add_reaction("U0ALICE", channel, cause.ts, "pushpin")
    await h.fake.add_reaction("U0ALICE", channel, cause.ts, "eyes")  # not a pushpin
    await eventually(lambda: _count(h, incident, 2))
    await h.settled()
    entries = await captured(h, incident)
    assert [(e.at, e.actor, e.text) for e in entries] == [
        (
            float(graph.ts),
            "U0CAROL",
            "Pinned: “p99 is 4 s, see graph (https://g.io)” (pinned by <@U0ALICE>)",
        ),
        (
            float(cause.ts),
            "U0DAVE",
            "Pinned: “Index rebuild started at 14:02” (pinned by <@U0BOB>)",
        ),
    ]
    # whoever captured it is told, once per message
    told = [m for m in h.fake.messages[channel] if m.text.startswith(":pushpin: Added")]
    assert sorted(m.ephemeral_to or "" for m in told) == ["U0ALICE", "U0BOB"]

    # removing the pin or the reaction is ignored; pinning again adds nothing
    item = {"type": "message", "channel": channel, "ts": graph.ts}
    await h.fake.send_event(
        {"type": "pin_removed", "user": "U0ALICE", "channel_id": channel, "item": item}
    )
    await h.fake.send_event(
        {"type": "reaction_removed", "user": "U0BOB", "reaction": "pushpin", "item": item}
    )
    await h.fake.pin_as_user("U0BOB", channel, graph.ts)
    # the bot's own pin (the summary card) is never captured
    card = next(m for m in h.fake.messages[channel] if m.pinned and m.user == "U0BOT")
    await h.fake.send_event(
        {
            "type": "pin_added",
            "user": "U0BOT",
            "channel_id": channel,
            "item": {
                "type": "message",
                "channel": channel,
                "message": h.fake.serialize_message(card),
            },
        }
    )
    await h.settled()
    assert len(await captured(h, incident)) == 2

    # outside incident channels nothing is captured
    general = h.channel("general")
    chatter = await h.fake.post_message("U0ALICE", general, "lunch?")
    await h.fake.pin_as_user("U0ALICE", general, chatter.ts)
    await h.settled()
    assert [e.kind for e in await h.store.timeline(incident.id)].count("pinned") == 2


def pushpin(user: str, channel: str, ts: str, at: str) -> dict[str, Any]:
    """A reaction_added event as Slack sends it, with its own Slack time `at`."""
    item = {"type": "message", "channel": channel, "ts": ts}
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": "pushpin",
        "item": item,
        "item_user": "U0DAVE",
        "event_ts": at,
    }


async def test_the_first_to_pin_by_slacks_clock_is_credited_whatever_order_events_come_in(
    h: Harness, redis_url: str
) -> None:
    """Events can be handled out of order (a retry, a slow replica): the credit goes to
    whoever pinned or 📌-reacted first by the event's own time, on any replica."""
    incident = await declare(h)
    channel = incident.channel_id
    assert channel
    cause = await h.fake.post_message("U0DAVE", channel, "Index rebuild started at 14:02")
    for user in ("U0ALICE", "U0BOB", "U0CAROL"):
        await h.fake.post_message(user, channel, "here")
    t = int(float(cause.ts)) + 60
    other = await start(redis_url, CONFIG, fake=h.fake)  # a second replica, same workspace
    try:
        # Alice's 📌 came a microsecond after Bob's, but reaches the other replica first
        await h.fake.send_event(pushpin("U0ALICE", channel, cause.ts, f"{t}.000002"))
        await h.settled()
        [entry] = await captured(h, incident)
        assert entry.text.endswith("(pinned by <@U0ALICE>)")
        h.fake.app_url = f"{h.url}/slack/events"
        await h.fake.send_event(pushpin("U0BOB", channel, cause.ts, f"{t}.000001"))
        await h.settled()
        [entry] = await captured(h, incident)  # the same entry, credited over
        assert (entry.at, entry.actor, entry.text) == (
            float(cause.ts),
            "U0DAVE",
            "Pinned: “Index rebuild started at 14:02” (pinned by <@U0BOB>)",
        )
        # a later pin, and Alice's 📌 again (Slack's retry), change nothing
        message = h.fake.serialize_message(cause)
        pin = {"type": "message", "channel": channel, "message": message}
        await h.fake.send_event(
            {
                "type": "pin_added",
                "user": "U0CAROL",
                "channel_id": channel,
                "item": pin,
                "event_ts": f"{t}.000003",
            }
        )
        await h.fake.send_event(pushpin("U0ALICE", channel, cause.ts, f"{t}.000002"))
        await h.settled()
        [entry] = await captured(h, incident)
        assert entry.text.endswith("(pinned by <@U0BOB>)")
        told = [m for m in h.fake.messages[channel] if m.text.startswith(":pushpin: Added")]
        assert [m.ephemeral_to for m in told] == ["U0ALICE", "U0BOB"]
    finally:
        await other.stop_bot()


async def _count(h: Harness, incident: Incident, n: int) -> bool:
    return len(await captured(h, incident)) >= n


async def test_a_note_goes_on_the_timeline(h: Harness) -> None:
    incident = await declare(h)
    assert incident.channel_id
    await h.command(
        "note Customer support sees 30 tickets/h &amp; rising", channel=incident.channel_id
    )
    notes = await eventually(
        lambda: _kinds(h, incident, "note"),
    )
    # the timeline keeps mrkdwn; Slack shows it as typed
    assert [(n.actor, shown(n.text)) for n in notes] == [
        ("U0ALICE", "Note: Customer support sees 30 tickets/h & rising")
    ]
    await h.command("note", channel=incident.channel_id)
    await eventually(lambda: [m for m in h.ephemerals() if "Usage" in m.text and "note" in m.text])


async def _kinds(h: Harness, incident: Incident, kind: str) -> list[TimelineEntry]:
    return [e for e in await h.store.timeline(incident.id) if e.kind == kind]


def dm(h: Harness, user: str) -> list[Message]:
    return [
        m
        for c, ch in h.fake.channels.items()
        if ch.is_im and user in ch.members
        for m in h.fake.messages.get(c, [])
    ]


def button(m: Message, label: str) -> dict[str, Any]:
    return next(
        e
        for b in m.blocks
        if b["type"] in ("actions", "section")
        for e in (b.get("elements") or [b.get("accessory") or {}])
        if e.get("type") == "button" and e["text"]["text"] == label
    )


async def test_followups_remind_their_owner_when_due_and_are_done_by_button(h: Harness) -> None:
    incident = await declare(h)
    channel = incident.channel_id
    assert channel
    await h.command("followup Check the pool size <@U0BOB|bob> in 1s", channel=channel)
    await h.command("followup Write the search runbook due 2099-12-01", channel=channel)
    recorded = await eventually(
        lambda: [m for m in h.fake.messages[channel] if m.text.startswith(":clipboard:")]
    )
    assert recorded[0].text == (
        ":clipboard: Follow-up #1 recorded by <@U0ALICE>: Check the pool size"
    )
    [first, second] = await eventually(lambda: _followups(h, incident, 2))
    assert (first.owner, first.due_at is not None) == ("U0BOB", True)
    assert (second.owner, second.due) == ("U0ALICE", "2099-12-01")

    # due in 1 s: bob gets a direct message with a Done button
    [reminder] = await eventually(lambda: dm(h, "U0BOB"))
    assert reminder.text.startswith(f":alarm_clock: A follow-up of incident *{incident.id}*")
    assert "Check the pool size" in reminder.text
    await h.fake.click(
        "U0BOB", reminder.channel, reminder.ts, "followup_reminder_done", value=first.id
    )
    await eventually(
        lambda: (h.fake.message(reminder.channel, reminder.ts) or reminder).text.startswith(
            ":white_check_mark:"
        )
    )
    assert (await h.store.followup(first.id)).status == "done"

    # the list shows what is open, and Done there refreshes it
    await h.command("followups", channel=channel)
    listing = await eventually(lambda: [m for m in h.ephemerals() if "open follow-ups" in m.text])
    assert listing[-1].text == f"1 open follow-ups · {incident.id}"
    done = button(listing[-1], "Done")
    await h.fake.click("U0ALICE", channel, listing[-1].ts, done["action_id"], value=done["value"])
    await eventually(
        lambda: (
            "No open follow-ups" in (h.fake.message(channel, listing[-1].ts) or listing[-1]).text
        )
    )
    await h.settled()
    assert await h.store.open_followups() == []
    assert (
        h.bot.services.metrics.registry.get_sample_value(
            "incident_bot_reminders_sent_total", {"kind": "followup"}
        )
        == 1
    )

    await h.command("followup <@U0BOB|bob> tomorrow", channel=channel)
    await eventually(lambda: [m for m in h.ephemerals() if "Say what needs doing" in m.text])


async def _followups(h: Harness, incident: Incident, n: int) -> Any:
    found = await h.store.followups(incident.id)
    return found if len(found) >= n else None


async def test_postmortem_commands_and_buttons(h: Harness) -> None:
    incident = await declare(h)
    channel = incident.channel_id
    assert channel
    await h.command("postmortem", channel=channel)
    files = await eventually(lambda: [f for f in h.fake.files.values() if f["content"]])
    markdown = files[0]["content"].decode()
    assert markdown.startswith(f"# Post-mortem: {incident.id} · Search is slow")
    assert "| Status | Investigating |" in markdown and "@alice" in markdown
    await h.command("postmortem done", channel=channel)
    await eventually(lambda: [m for m in h.ephemerals() if "still open" in m.text])
    await h.command("postmortem later", channel=channel)
    await eventually(
        lambda: [m for m in h.ephemerals() if "Usage" in m.text and "postmortem [done]" in m.text]
    )

    await h.command("resolve Reindexed", channel=channel)
    # resolving uploads a fresh draft on its own, with the Mark done button under it
    await eventually(lambda: len([f for f in h.fake.files.values() if f["content"]]) == 2)
    posted = await eventually(
        lambda: [
            m
            for m in h.fake.messages[channel]
            if any(
                e.get("action_id") == "postmortem_done"
                for b in m.blocks
                if b["type"] == "actions"
                for e in b["elements"]
            )
        ]
    )
    await h.fake.click("U0BOB", channel, posted[-1].ts, "postmortem_done", value=incident.id)
    await eventually(
        lambda: [
            m
            for m in h.fake.messages[channel]
            if m.text == ":white_check_mark: <@U0BOB> marked the post-mortem done."
        ]
    )
    await h.fake.click("U0ALICE", channel, posted[-1].ts, "postmortem_done", value=incident.id)
    await eventually(lambda: [m for m in h.ephemerals() if "already marked done" in m.text])
    await h.settled()
    state = await h.store.postmortem(incident.id)
    assert (state.done_by, state.drafts) == ("U0BOB", 2)


async def test_stats_answer_from_the_stored_incidents(h: Harness) -> None:
    incident = await declare(h)
    assert incident.channel_id
    await h.command("update Reindexing", channel=incident.channel_id)
    await h.command("resolve", channel=incident.channel_id)
    await eventually(lambda: _resolved(h, incident))
    await h.command("stats 7d")
    [answer] = await eventually(
        lambda: [m for m in h.ephemerals() if m.text.startswith("Incidents, last 7 days")]
    )
    assert answer.text.startswith("Incidents, last 7 days: 1 declared; time to acknowledge median")
    assert incident.id in str(answer.blocks)
    await h.command("stats 2d")
    await eventually(lambda: [m for m in h.ephemerals() if "Give one window" in m.text])
    await h.command("stats share")
    shared = await eventually(
        lambda: [
            m
            for m in h.fake.messages[h.channel("general")]
            if m.text.startswith("Incidents, last 30 days") and m.ephemeral_to is None
        ]
    )
    await h.settled()
    assert len(shared) == 1


async def _resolved(h: Harness, incident: Incident) -> bool:
    return not (await h.incident(incident.id)).is_open


@pytest.fixture
async def paged(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, CONFIG, pagerduty=True)
    yield harness
    await harness.stop()


async def test_metrics_export_response_times_reminders_escalations_and_api_errors(
    paged: Harness,
) -> None:
    h = paged
    assert h.pd is not None
    h.pd.fail("/incidents", status=500, times=1, method="POST")  # the first page fails
    incident = await declare(h, "SEV1 Checkout down")
    assert incident.channel_id
    page = await eventually(lambda: _paged(h, incident))
    await h.command("escalate", channel=incident.channel_id)
    await eventually(lambda: _level(h, incident, 2))
    h.fake.fail("chat.postMessage", error="fatal_error")
    await h.command("update Rolling back", channel=incident.channel_id)
    await h.pd.acknowledge(page, "PU_BOB")
    await eventually(lambda: _acked(h, incident))
    await h.command("resolve", channel=incident.channel_id)
    registry = h.bot.services.metrics.registry
    # observed by the resolve's listener, after the resolve is stored
    await eventually(
        lambda: registry.get_sample_value(
            "incident_bot_time_to_resolve_seconds_count", {"severity": "SEV1"}
        )
    )
    await h.settled()  # counted to the end

    async with aiohttp.ClientSession() as session, session.get(f"{h.url}/metrics") as response:
        assert response.status == 200
        body = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(body)}

    def value(family: str, sample: str, **labels: str) -> float:
        return sum(
            s.value
            for s in families[family].samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        )

    assert (
        value(
            "incident_bot_incidents_declared",
            "incident_bot_incidents_declared_total",
            severity="SEV1",
        )
        == 1
    )
    assert (
        value(
            "incident_bot_time_to_acknowledge_seconds",
            "incident_bot_time_to_acknowledge_seconds_count",
            severity="SEV1",
        )
        == 1
    )
    assert (
        value(
            "incident_bot_time_to_resolve_seconds",
            "incident_bot_time_to_resolve_seconds_count",
            severity="SEV1",
        )
        == 1
    )
    assert value("incident_bot_escalations", "incident_bot_escalations_total", source="manual") == 1
    assert (
        value(
            "incident_bot_pagerduty_api_errors",
            "incident_bot_pagerduty_api_errors_total",
            status="500",
        )
        == 1
    )
    assert (
        value(
            "incident_bot_slack_api_errors",
            "incident_bot_slack_api_errors_total",
            method="chat.postMessage",
            error="fatal_error",
        )
        == 1
    )
    assert (
        "incident_bot_reminders_sent" in families and "incident_bot_postmortem_drafts" in families
    )
    assert await promtool_check(body) == (0, "")  # Prometheus' naming conventions


async def _paged(h: Harness, incident: Incident) -> str | None:
    page = (await h.incident(incident.id)).page
    return page.pd_incident_id if page else None


async def _level(h: Harness, incident: Incident, level: int) -> bool:
    page = (await h.incident(incident.id)).page
    return page is not None and page.level >= level


async def _acked(h: Harness, incident: Incident) -> bool:
    page = (await h.incident(incident.id)).page
    return page is not None and page.status == "acknowledged"
