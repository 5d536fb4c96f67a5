"""Private (security) incidents end to end: the real app, real Redis, the fake Slack and
PagerDuty over HTTP. Whatever leaves the private channel is checked by scanning every
write the fakes recorded, not a list of the places we know about."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.core.config import IncidentConfig
from bot.core.models import Incident
from bot.fakes.slack import FakeSlack
from bot.sandbox.feed import SandboxFeed
from tests.integration.harness import Harness, eventually, start

TITLE = "Leaked AWS keys found in the public site repo"
DESCRIPTION = "Key AKIAEXAMPLE7 pushed to github.com/acme/site by a CI job at 09:12"
UPDATE = "Key revoked at 09:40 and CloudTrail audit under way"
RESOLUTION = "Rotated every key of the account; no use of the leaked one seen"
SECRETS = (TITLE, DESCRIPTION, UPDATE, RESOLUTION, "AKIAEXAMPLE7")


def config(security_group: str) -> IncidentConfig:
    return IncidentConfig.model_validate(
        {
            "severities": [
                {"name": "SEV1", "label": "Critical", "update_every": "1h", "page": True},
                {"name": "SEV2", "label": "High", "update_every": "1h"},
            ],
            "roles": ["commander", "tech_lead", "comms_lead", "security_lead"],
            "escalation": {
                "ack_timeout": "1h",
                "matrix": {
                    "SEV1": [{"after": "1s", "notify": ["U0DAVE", "#general"], "note": "Lead"}]
                },
            },
            "stakeholders": {
                "SEV1": [
                    {
                        "audience": "management",
                        "channel": "general",
                        "every": "1h",
                        "first": "1s",
                        "template": "executive",
                    }
                ]
            },
            "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
            "private": {"security_group": security_group},
            "scheduler": {"tick": 0.1, "retry": 0.1},
        }
    )


@dataclass
class World:
    h: Harness
    group: str


@pytest.fixture
async def w(redis_url: str) -> AsyncIterator[World]:
    fake = FakeSlack()
    await fake.start()
    group = fake.add_usergroup("security", ["U0CAROL"])["id"]
    h = await start(redis_url, config(group), pagerduty=True, fake=fake)
    yield World(h, group)
    await h.stop()


def leaks(value: Any) -> list[str]:
    """Which private texts `value` (a call's arguments or body) carries, in any encoding
    the wire might use (JSON strings inside form fields, Slack's escaping)."""
    raw = json.dumps(value, default=str)
    seen = {raw, raw.encode().decode("unicode_escape", errors="ignore")}
    return [s for s in SECRETS if any(s in text for text in seen)]


def slack_leaks(fake: FakeSlack, private: str) -> list[tuple[str, dict[str, Any], list[str]]]:
    """Every Web API and response_url write the fake recorded that does not target the
    private channel, and carries a private text; plus files shared elsewhere. A write only
    one person sees (a modal, an ephemeral message) targets the channel when that person
    is in it: a member clicking a button there."""
    members = fake.channels[private].members
    out = []
    for call in fake.calls:
        target = call.args.get("channel") or call.args.get("channel_id")
        if target == private:
            continue
        if call.method.startswith("views."):
            reader = fake.trigger_user(str(call.args.get("trigger_id", "")))
        else:
            reader = call.args.get("user") if call.method == "chat.postEphemeral" else None
        if reader in members:
            continue
        found = leaks(call.args)
        if found:
            out.append((call.method, call.args, found))
    for f in fake.files.values():
        if set(f["channels"]) - {private} and leaks((f["content"] or b"").decode()):
            out.append(("file", {"name": f["name"]}, leaks(f["content"].decode())))
    return out


async def declare_private(w: World) -> Incident:
    h = w.h
    await h.command("declare")  # no text: the form, with its Private box ticked
    view_id = await eventually(lambda: next(iter(h.fake.views), None))
    values = {
        "title": {"title": TITLE},
        "severity": {"severity": "SEV1"},
        "description": {"description": DESCRIPTION},
        "private": {"private": ["private"]},
    }
    assert (await h.fake.submit_view("U0ALICE", view_id, values)).status == 200
    incidents = await eventually(h.store.recent_incidents)
    return await eventually(lambda: _set_up(h, incidents[0].id))


async def _set_up(h: Harness, incident_id: str) -> Incident | None:
    incident = await h.store.get(incident_id)
    return incident if incident and not incident.setup_missing else None


async def test_a_private_incident_leaks_nothing_outside_its_channel(w: World) -> None:
    h = w.h
    assert h.pd is not None
    incident = await declare_private(w)
    private = incident.channel_id
    assert private and private.startswith("G") and incident.private
    channel = h.fake.channels[private]
    # the bot's own channel, under a name nobody could have guessed to take first
    assert channel.is_private and channel.creator == "U0BOT"
    assert re.fullmatch(rf"inc-{incident.id}-private-[0-9a-f]{{10}}", channel.name)
    # only the declarer and the security group (Carol) are invited
    assert channel.members == {"U0BOT", "U0ALICE", "U0CAROL"}
    card = await eventually(lambda: next((m for m in h.fake.messages[private] if m.pinned), None))
    assert TITLE in str(card.blocks)  # inside, everything shows

    announce = h.fake.messages[h.channel("incidents")][-1]
    assert announce.text == f"A private SEV1 incident was declared ({incident.id})"
    assert f"<!subteam^{w.group}>" in str(announce.blocks)

    # the incident runs: paged, escalated (a DM and a channel post), a stakeholder reminder,
    # a status update, the security lead named, then resolved with a summary
    await eventually(lambda: h.pd and h.pd.calls_to("POST", "/incidents"))
    await h.command(f"update {UPDATE}", channel=private)
    await h.command("role security-lead <@U0DAVE|dave>", channel=private)
    dave_dm = await eventually(lambda: [m for m in _dms(h.fake, "U0DAVE") if incident.id in m.text])
    assert "Private incident" in dave_dm[0].text
    general = h.channel("general")
    await eventually(lambda: [m for m in h.fake.messages[general] if incident.id in m.text])
    reminder = await eventually(
        lambda: [m for m in h.fake.messages[private] if "is due an update" in m.text]
    )
    await h.fake.click("U0ALICE", private, reminder[0].ts, "stakeholder_draft")
    view_id = await eventually(lambda: next(iter(h.fake.views), None))
    # the comms lead's draft leaves nothing out by default; what they add is scrubbed
    draft = next(b for b in h.fake.views[view_id]["blocks"] if b.get("block_id") == "text")
    assert not leaks(draft["element"].get("initial_value"))
    typed = {"text": {"text": f"Update on {TITLE}: contained."}}
    assert (await h.fake.submit_view("U0ALICE", view_id, typed)).status == 200
    sent = await eventually(lambda: [m for m in h.fake.messages[general] if "contained" in m.text])
    assert TITLE not in sent[0].text

    await h.command(f"resolve {RESOLUTION}", channel=private)
    await eventually(lambda: h.pd and h.pd.calls_to("PUT", "/incidents/"))
    await eventually(lambda: h.fake.calls_to("files.completeUploadExternal"))

    # non-members' /incident list (of open incidents: a second one, declared by text)
    second = await _declare_text(h, "--private SEV2 Phishing mail sent from hr@ mailbox")
    await h.command("list", user="U0BOB")
    listed = await eventually(
        lambda: [m for m in h.ephemerals("U0BOB") if second.id in str(m.blocks)]
    )
    assert "Private incident" in str(listed[-1].blocks) and "Phishing" not in str(listed[-1].blocks)

    # every Slack write outside the channel, every PagerDuty request, /metrics
    await h.settled()
    assert slack_leaks(h.fake, private) == []
    pd_calls = [(c.method, c.path, c.query, c.body) for c in h.pd.calls]
    assert [c for c in pd_calls if leaks(c)] == []
    assert any("Private incident" in json.dumps(c) for c in pd_calls)
    async with aiohttp.ClientSession() as session, session.get(f"{h.url}/metrics") as r:
        assert not leaks(await r.text())
    for cid, messages in h.fake.messages.items():
        if cid != private:
            assert not [m.text for m in messages if leaks([m.text, m.blocks, m.files])], cid

    # members see it whole, in the list too (Carol is in the security group)
    await h.command("list", user="U0CAROL", channel=h.channel("incidents"))
    mine = await eventually(
        lambda: [
            m
            for m in h.ephemerals("U0CAROL")
            if "Phishing" in m.text or "Phishing" in str(m.blocks)
        ]
    )
    assert mine

    # the sandbox page shows the private channel to members only, and names it to nobody else
    feed = SandboxFeed(h.fake)
    assert private in {c["id"] for c in feed.visible_channels("U0ALICE")}
    assert private not in {c["id"] for c in feed.visible_channels("U0BOB")}
    assert feed.context("U0BOB").channels[private] == "private-channel"


async def _declare_text(h: Harness, text: str) -> Incident:
    before = {i.id for i in await h.store.recent_incidents()}
    await h.command(f"declare {text}")

    async def new() -> Incident | None:
        for incident in await h.store.recent_incidents():
            if incident.id not in before and not incident.setup_missing:
                return incident
        return None

    return await eventually(new)


def _dms(fake: FakeSlack, user: str) -> list[Any]:
    return [
        m
        for cid, ch in fake.channels.items()
        if ch.is_im and user in ch.members
        for m in fake.messages[cid]
    ]


async def test_making_an_incident_private_moves_it_and_redacts_in_place(
    redis_url: str,
) -> None:
    h = await start(redis_url, IncidentConfig())
    try:
        incident = await _declare_text(h, "SEV2 Suspicious admin logins from one address")
        await eventually(lambda: [m for m in h.ephemerals() if "Declared" in m.text])
        public = incident.channel_id
        assert public and not h.fake.channels[public].is_private
        await h.fake.post_message("U0BOB", public, "I am looking at the auth logs")
        h.fake.channels[public].members.add("U0GONE")  # a member Slack no longer knows
        announce_ts = incident.announce_ts
        assert announce_ts and "Suspicious" in h.fake.messages[h.channel("incidents")][-1].text
        # the archive fails once: the conversion stops there, and a retry finishes it
        h.fake.fail("conversations.archive", error="fatal_error")
        mark = len(h.fake.calls)
        await h.command("private", channel=public)
        stopped = await eventually(
            lambda: [m for m in h.ephemerals() if "stopped at step archive" in m.text]
        )
        assert stopped
        moved = await h.store.get(incident.id)
        assert moved is not None and moved.private and moved.channel_id != public
        private = moved.channel_id
        assert private is not None
        await h.command("private", channel=private)  # the retry, from the new channel
        done = await eventually(lambda: [m for m in h.ephemerals() if "private now" in m.text])
        assert done
        await h.settled()
        assert h.fake.channels[public].is_archived

        # the announcement: the same message, redacted in place
        announcement = h.fake.message(h.channel("incidents"), announce_ts)
        assert announcement is not None and announcement.edited
        assert "Suspicious" not in announcement.text + str(announcement.blocks)
        assert announcement.text.startswith("A private SEV2 incident")
        # people moved: the private channel has everyone who was in the public one
        channel = h.fake.channels[private]
        assert channel.is_private and channel.members == {"U0BOT", "U0ALICE", "U0BOB"}
        card = next(m for m in h.fake.messages[private] if m.pinned)
        assert "Suspicious admin logins" in str(card.blocks)
        [pointer] = [m for m in h.fake.messages[public] if "continues in" in m.text]
        assert f"<#{private}>" in str(pointer.blocks) and "Suspicious" not in str(pointer.blocks)
        # the mapping moved: the private channel is the incident, the public one is not
        assert (await h.store.by_channel(private)).id == incident.id  # type: ignore[union-attr]
        assert await h.store.by_channel(public) is None
        kinds = [e.kind for e in await h.store.timeline(incident.id)]
        assert kinds.count("private") == 2
        # each step ran once, the retry only finished what was missing
        assert len(h.fake.calls_to("conversations.create")) == 2
        assert len([c for c in h.fake.calls_to("pins.add") if c.ok]) == 2
        assert len(h.fake.calls_to("conversations.archive")) == 2
        # the rest of the incident happens in the private channel, redacted outside
        await h.command("resolve Locked the account", channel=private)
        await eventually(
            lambda: (
                "resolved"
                in (h.fake.message(h.channel("incidents"), announce_ts) or announcement).text
            )
        )
        # from the conversion on, no write outside the private channel has the title
        await h.settled()
        # (files.completeUploadExternal names its channel channel_id)
        after = [
            c
            for c in h.fake.calls[mark:]
            if (c.args.get("channel") or c.args.get("channel_id")) != private
        ]
        assert after and not [c for c in after if "Suspicious" in json.dumps(c.args)]
    finally:
        await h.stop()


def _security_alert(name: str) -> dict[str, Any]:
    labels = {"alertname": name, "service": "site", "security": "true"}
    return {
        "version": "4",
        "groupKey": f"{{}}:{{alertname={name!r}}}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {"alertname": name, "service": "site"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": TITLE, "description": DESCRIPTION},
                "startsAt": "2026-11-22T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"{name}-site",
            }
        ],
    }


async def test_an_alert_labelled_security_declares_a_private_incident(redis_url: str) -> None:
    cfg = IncidentConfig.model_validate(
        {
            "alerts": {"rules": [{"alertname": "CredentialLeak", "severity": "SEV2"}]},
            "private": {"labels": {"security": True}},
            "scheduler": {"tick": 0.1, "retry": 0.1},
        }
    )
    h = await start(redis_url, cfg, alertmanager_token="am-token")
    try:
        headers = {"Authorization": "Bearer am-token"}
        async with aiohttp.ClientSession() as http:
            for name in ("CredentialLeak", "SecretInLogs"):  # a rule's, and no rule's
                body = json.dumps(_security_alert(name)).encode()
                async with http.post(f"{h.url}/alerts/alertmanager", data=body, headers=headers):
                    pass
        [incident] = await eventually(lambda: _all_set_up(h))
        assert incident.private and incident.title.startswith("CredentialLeak")
        assert incident.channel_id and h.fake.channels[incident.channel_id].is_private
        announce = h.channel("incidents")
        # the unmatched alert waits in the announce channel with its counts only
        unmatched = await eventually(
            lambda: [m for m in h.fake.messages[announce] if "Unmatched" in m.text]
        )
        assert "SecretInLogs" not in unmatched[0].text + json.dumps(unmatched[0].blocks)
        await h.settled()
        assert slack_leaks(h.fake, incident.channel_id) == []
    finally:
        await h.stop()


async def _all_set_up(h: Harness) -> list[Incident] | None:
    found = await h.store.recent_incidents()
    return found if found and all(not i.setup_missing for i in found) else None
