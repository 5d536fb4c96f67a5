"""Text that cannot ring everyone, over the wire: hostile titles, descriptions, updates,
notes, follow-ups, summaries and alerts reach the real app through the fake Slack and the
Alertmanager webhook, and nothing the bot then posts (messages, their `text` fallbacks,
topics, ephemeral answers) rings a broadcast, a user group or anyone the bot did not mean
to, or shows a link dressed up as something else, while the text still reads as written
and the bot's own mentions (the commander it was told to assign, a follow-up's owner)
still ring.

Slack sends a slash command's text with what was typed escaped (`&lt;`) and with real
mentions, `@everyone` and composed links as tokens (`<@U…|name>`, `<!everyone>`,
`<https://…|label>`); both kinds arrive here. `Message.notice` reads the bot's output the
way Slack does (bot/fakes/slack/mrkdwn.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.fakes.slack import Notice, notice
from tests.integration.harness import Harness, eventually, start

TOKEN = "am-escaping-token"
# as Slack sends it: a real @everyone, a composed link, a typed user group mention
ATTACK = "<!everyone> <https://evil.example|Join the bridge> &lt;!subteam^S1&gt;"
READS = "@everyone Join the bridge (https://evil.example) <!subteam^S1>"  # what people see
CONFIG = IncidentConfig.model_validate(
    {
        "alerts": {"update_every": 0.2},
        "scheduler": {"tick": 0.1, "retry": 0.1},
    }
)


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, CONFIG, alertmanager_token=TOKEN)
    yield harness
    await harness.stop()


def outputs(h: Harness) -> list[tuple[str, Notice]]:
    """Everything the bot made Slack render: its messages and the channels' topics."""
    seen = [
        (f"{m.channel} {m.text[:60]!r}", m.notice)
        for msgs in h.fake.messages.values()
        for m in msgs
        if m.user == h.fake.bot_user_id
    ]
    seen += [(f"topic of {c.name}", notice(c.topic)) for c in h.fake.channels.values()]
    seen += [(f"purpose of {c.name}", notice(c.purpose)) for c in h.fake.channels.values()]
    return seen


def assert_rings_only(h: Harness, people: set[str]) -> None:
    people = people | {h.fake.bot_user_id}  # "declared by" the bot, for an alert
    for where, seen in outputs(h):
        assert not seen.broadcasts, where
        assert not seen.groups, where
        assert seen.users <= people, where
        assert all("evil.example" not in url for url, _ in seen.disguised_links), where
        assert all(label != "Join the bridge" for _, label in seen.links), where
    posts = [m for msgs in h.fake.messages.values() for m in msgs if m.user == h.fake.bot_user_id]
    assert not [m.text for m in posts if m.unfurls]  # no preview can dress a link up either


def rung(h: Harness) -> set[str]:
    return {u for _, seen in outputs(h) for u in seen.users}


def shown_in(h: Harness, channel: str) -> str:
    return "\n".join(m.shown for m in h.fake.messages.get(channel, []))


async def declared(h: Harness, text: str, *, user: str = "U0ALICE") -> Incident:
    known = set(h.fake.channels)
    ack = await h.command(f"declare {text}", user=user)
    assert ack.status == 200
    channel = await eventually(
        lambda: next((c for c in h.fake.channels if c not in known), None), timeout=10
    )
    incident = await eventually(lambda: h.store.by_channel(channel))
    await eventually(lambda: h.fake.channels[channel].topic, timeout=10)
    return await eventually(lambda: _announced(h, incident.id), timeout=10)


async def _announced(h: Harness, incident_id: str) -> Incident | None:
    inc = await h.incident(incident_id)
    return inc if inc.announce_ts and inc.card_ts and not inc.setup_missing else None


async def test_hostile_command_text_rings_nobody_and_reads_as_written(h: Harness) -> None:
    inc = await declared(h, f"SEV2 {ATTACK}")
    assert inc.title == READS  # stored as people saw it, never as markup
    assert inc.channel_id
    channel = inc.channel_id
    # a real mention (as Slack sends it) still makes bob the commander, and rings him
    await h.command("commander <@U0BOB|bob>", channel=channel)
    await eventually(lambda: "<@U0BOB>" in h.fake.channels[channel].topic)
    # a typed one is text: nobody is assigned
    ack = await h.command("role tech-lead &lt;@U0CAROL&gt;", channel=channel)
    assert "is not a Slack mention" in json.dumps(ack.body)
    await h.command(f"update {ATTACK} &lt;@U0CAROL|carol&gt;", channel=channel)
    await h.command(f"note {ATTACK} &lt;@U0CAROL&gt;", channel=channel)
    await h.command(f"followup {ATTACK} check the pool <@U0BOB|bob> tomorrow", channel=channel)
    # bob commands now, so he resolves (bot/core/policy.py: resolving is the role holders')
    await h.command(f"resolve {ATTACK}", user="U0BOB", channel=channel)
    await eventually(lambda: h.store.followups(inc.id))
    await h.command("timeline", channel=channel)
    await eventually(lambda: [m for m in h.ephemerals() if m.text.startswith("Timeline of")])
    incident = await eventually(lambda: _resolved(h, inc.id))
    assert incident.resolution == READS and incident.last_update
    assert incident.last_update.text == f"{READS} <@U0CAROL|carol>"

    assert_rings_only(h, {"U0ALICE", "U0BOB"})
    assert "U0BOB" in rung(h)  # the commander assignment and the follow-up's owner
    made = [m for m in h.fake.messages[channel] if "made" in m.text and "commander" in m.text]
    assert made and made[0].notice.users == {"U0ALICE", "U0BOB"}
    # and every copy still reads as it was written
    card = next(m for m in h.fake.messages[channel] if m.pinned)
    assert READS in card.shown and f"{READS} <@U0CAROL|carol>" in card.shown
    assert card.text.startswith(f"SEV2 {READS.replace('<', '&lt;').replace('>', '&gt;')}")
    announce = h.channel("incidents")
    assert READS in shown_in(h, announce)
    channel_text = shown_in(h, channel)
    assert f"Status update for {inc.id}: {READS}" in channel_text  # the update's fallback
    assert "check the pool" in channel_text and f">{READS}" in channel_text.replace("\n", "")
    timeline = next(m for m in h.ephemerals() if m.text.startswith("Timeline of"))
    assert f"Note: {READS} <@U0CAROL>" in timeline.shown


async def _resolved(h: Harness, incident_id: str) -> Incident | None:
    inc = await h.incident(incident_id)
    return inc if not inc.is_open else None


async def test_typed_control_sequences_stay_as_typed(h: Harness) -> None:
    # what the Slack client sends when someone types them: escaped, never tokens
    typed = h.fake.typed("SEV3 <!everyone> <@U0BOB|x> <!subteam^S1> <!date^0^{time}|now> & co")
    assert "<!" not in typed and "<@" not in typed
    inc = await declared(h, typed)
    assert inc.title == "<!everyone> <@U0BOB|x> <!subteam^S1> <!date^0^{time}|now> & co"
    assert_rings_only(h, {"U0ALICE"})
    assert inc.channel_id
    assert inc.title in shown_in(h, inc.channel_id) and inc.title in shown_in(
        h, h.channel("incidents")
    )


async def test_a_declare_forms_text_rings_nobody(h: Harness) -> None:
    await h.command("declare SEV2")
    view_id = await eventually(lambda: next(iter(h.fake.views), None))
    values = {
        "title": {"title": "<!channel> DB down <https://evil.example|status page>"},
        "severity": {"severity": "SEV2"},
        "description": {"description": "<!everyone> ping <@U0BOB> &amp; <!subteam^S1>"},
    }
    assert (await h.fake.submit_view("U0ALICE", view_id, values)).status == 200
    incident = (await eventually(h.store.recent_incidents))[0]
    await eventually(lambda: _announced(h, incident.id))
    await h.settled()
    incident = await h.incident(incident.id)  # as set up (the first read may predate it)
    assert_rings_only(h, {"U0ALICE"})
    assert incident.channel_id
    card = shown_in(h, incident.channel_id)
    assert "<!everyone> ping <@U0BOB> &amp; <!subteam^S1>" in card  # plain text, as typed
    assert "<!channel> DB down <https://evil.example|status page>" in card


def _alert(name: str, **labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, **labels},
        "annotations": {
            "summary": "<!channel> <https://evil.example|Join the bridge> is down",
            "description": "<!subteam^S1> &lt;@U0BOB&gt; <@U0BOB> look at <!here>",
        },
        "startsAt": "2026-11-22T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": f"{name}-{labels.get('instance', '')}",
    }


async def _fire(h: Harness, *alerts: dict[str, Any]) -> None:
    first = alerts[0]["labels"]
    body = {
        "version": "4",
        "groupKey": f"{{}}:{{alertname={first['alertname']!r}}}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {"alertname": first["alertname"], "service": first["service"]},
        "commonLabels": {"alertname": first["alertname"], "service": first["service"]},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{h.url}/alerts/alertmanager", json=body, headers=headers) as r,
    ):
        assert r.status == 200, await r.text()


async def test_alert_labels_and_annotations_ring_nobody(h: Harness) -> None:
    hostile = {"service": "<!here>", "instance": "<@U0BOB> &lt;!everyone&gt;"}
    await _fire(h, _alert("ServiceDown", **hostile))  # a rule's alert: declares
    await _fire(h, _alert("DiskAlmostFull", **hostile))  # no rule: posted to be declared

    async def both() -> bool:
        found = await h.store.recent_incidents()
        if len(found) != 1 or not found[0].channel_id:
            return False
        group = [m for m in h.fake.messages[found[0].channel_id] if m.text.startswith("Alert ")]
        unmatched = [
            m for m in h.fake.messages[h.channel("incidents")] if "Unmatched alert" in m.text
        ]
        return bool(group and unmatched and found[0].announce_ts)

    await eventually(both, timeout=15)
    [incident] = await h.store.recent_incidents()
    summary = "<!channel> <https://evil.example|Join the bridge> is down"
    assert incident.title == f"ServiceDown: {summary}"  # an alert's text is plain text
    assert_rings_only(h, set())  # an alert declares with no commander: nobody to ring
    assert incident.channel_id
    shown = shown_in(h, incident.channel_id) + shown_in(h, h.channel("incidents"))
    assert "<!subteam^S1> &lt;@U0BOB&gt; <@U0BOB> look at <!here>" in shown
    assert "service=<!here>" in shown and "instance=<@U0BOB> &lt;!everyone&gt;" in shown
    # the bot's own link to the alert's source is still there, under its own label
    links = [link for msgs in h.fake.messages.values() for m in msgs for link in m.notice.links]
    assert ("http://prometheus:9090/graph?g0.expr=up", "Source") in links
