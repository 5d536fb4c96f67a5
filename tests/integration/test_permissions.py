"""Who may do what (bot/core/policy.py), played as the attacks of issue 14 against the real app
on a real port, a real Redis and the fake Slack and PagerDuty: each attack is refused (an
ephemeral naming who may, a `refused` timeline entry) and the legitimate path still works.

Alice declares, so she commands. Dave is a bystander who joined the public channel."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from blocks.followups import ACTION_DONE as FOLLOWUP_DONE
from blocks.oncall import ACTION_INVITE
from blocks.policy import ACTION_ASK, ACTION_TAKE_COMMAND
from blocks.reminders import ACTION_POST_UPDATE, ACTION_SNOOZE
from bot.core.config import IncidentConfig
from bot.core.models import Incident, TimelineEntry
from bot.fakes.slack import FakeSlack, Message
from tests.integration.harness import Harness, eventually, start

TOKEN = "am-token"


def config(**permissions: Any) -> IncidentConfig:
    return IncidentConfig.model_validate(
        {
            "severities": [
                {"name": "SEV1", "label": "Critical", "update_every": "1s", "page": True},
                {"name": "SEV2", "label": "High", "update_every": "1h", "page": True},
                {"name": "SEV3", "label": "Medium", "update_every": "2h"},
                {"name": "SEV4", "label": "Low", "update_every": "1d"},
            ],
            "reminders": {"snooze": "1h", "grace": 10},
            "escalation": {"ack_timeout": "1h"},
            "pagerduty": {"service_id": "PSVC_MAIN", "escalation_policy_id": "PEP_MAIN"},
            "scheduler": {"tick": 0.1, "retry": 0.1},
            "permissions": permissions,
        }
    )


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config(), pagerduty=True)
    yield harness
    await harness.stop()


async def declare(h: Harness, text: str, *, user: str = "U0ALICE") -> Incident:
    known = set(h.fake.channels)
    await h.command(f"declare {text}", user=user)
    channel = await eventually(
        lambda: next(
            (c for c, ch in h.fake.channels.items() if c not in known and not ch.is_im), None
        )
    )
    incident = await eventually(lambda: h.store.by_channel(channel))
    await eventually(lambda: _set_up(h, incident.id))
    return await h.incident(incident.id)


async def _set_up(h: Harness, incident_id: str) -> bool:
    return not (await h.incident(incident_id)).setup_missing


async def join(h: Harness, incident: Incident, user: str) -> None:
    """`user` joins the incident's (public) channel, as anyone in the workspace can."""
    assert incident.channel_id
    await h.fake.join(user, incident.channel_id)


async def told(h: Harness, user: str, text: str) -> Message:
    """The ephemeral `user` was shown that contains `text` (the bot has answered)."""
    return await eventually(
        lambda: next((m for m in reversed(h.ephemerals(user)) if text in m.text), None)
    )


async def refusals(h: Harness, incident: Incident) -> list[TimelineEntry]:
    return [e for e in await h.store.timeline(incident.id) if e.kind == "refused"]


def buttons(message: Message) -> dict[str, str]:
    """action_id -> value of the message's buttons (in actions blocks and accessories)."""
    elements = [el for b in message.blocks for el in b.get("elements", [])]
    elements += [b["accessory"] for b in message.blocks if "accessory" in b]
    return {el["action_id"]: el.get("value", "") for el in elements if el["type"] == "button"}


# -- who may: role holders ----------------------------------------------------------------


async def test_a_bystander_cannot_resolve_and_the_page_stays_open(h: Harness) -> None:
    incident = await declare(h, "SEV1 Checkout down")
    await eventually(lambda: _paged(h, incident.id))
    await join(h, incident, "U0DAVE")
    await h.command("resolve all good", user="U0DAVE", channel=incident.channel_id)

    refusal = await told(h, "U0DAVE", "may resolve it")
    assert "Only the incident's role holders (<@U0ALICE> commander) may resolve it" in refusal.text
    current = await h.incident(incident.id)
    assert current.is_open
    assert current.page and _pd_status(h, current.page.pd_incident_id) == "triggered"
    [entry] = await refusals(h, incident)
    assert entry.actor == "U0DAVE" and "may not resolve it" in entry.text

    # the refusal asks the commander in one click, in the channel
    await h.fake.click("U0DAVE", incident.channel_id or "", refusal.ts, ACTION_ASK)
    await told(h, "U0DAVE", "Asked in")
    asked = [m for m in h.fake.messages[incident.channel_id or ""] if "asks" in m.text]
    assert [m.text for m in asked] == [":raising_hand: <@U0DAVE> asks <@U0ALICE> to resolve it."]

    # the commander resolves: the incident and the page
    await h.command("resolve Rolled back", channel=incident.channel_id)
    await eventually(lambda: _resolved(h, incident.id))
    page = (await h.incident(incident.id)).page
    assert page is not None
    await eventually(lambda: _pd_status(h, page.pd_incident_id) == "resolved")


async def test_a_bystander_cannot_drop_sev1_to_sev4_but_may_raise(h: Harness) -> None:
    incident = await declare(h, "SEV2 Search slow")
    await join(h, incident, "U0DAVE")
    await h.command("severity SEV4", user="U0DAVE", channel=incident.channel_id)
    refusal = await told(h, "U0DAVE", "may lower its severity")
    assert "<@U0ALICE> commander" in refusal.text
    assert (await h.incident(incident.id)).severity == "SEV2"
    assert [e.text for e in await refusals(h, incident)] == [
        "Refused: <@U0DAVE> may not lower its severity (only the incident's role holders "
        "(<@U0ALICE> commander))"
    ]

    # raising is the safe direction: anyone in the channel may
    await h.command("severity SEV1", user="U0DAVE", channel=incident.channel_id)
    await eventually(lambda: _severity(h, incident.id, "SEV1"))
    # the commander may lower it again
    await h.command("severity SEV4", channel=incident.channel_id)
    await eventually(lambda: _severity(h, incident.id, "SEV4"))


async def test_a_bystander_cannot_take_command_from_the_commander(h: Harness) -> None:
    incident = await declare(h, "SEV3 Billing exports stuck")
    await join(h, incident, "U0DAVE")
    await h.command("commander <@U0DAVE>", user="U0DAVE", channel=incident.channel_id)
    refusal = await told(h, "U0DAVE", "may hand over command")
    assert "<@U0ALICE> commander" in refusal.text
    # nor make themselves tech lead, which would make them a role holder
    await h.command("role tech-lead <@U0DAVE>", user="U0DAVE", channel=incident.channel_id)
    await told(h, "U0DAVE", "may assign its roles")
    current = await h.incident(incident.id)
    assert current.roles == {"commander": "U0ALICE"}
    assert {e.text.split(" (")[0] for e in await refusals(h, incident)} == {
        "Refused: <@U0DAVE> may not hand over command",
        "Refused: <@U0DAVE> may not assign its roles",
    }

    # the commander hands over; then the new commander may resolve
    await h.command("commander <@U0DAVE>", channel=incident.channel_id)
    await eventually(lambda: _commander(h, incident.id, "U0DAVE"))
    await h.command("resolve", user="U0DAVE", channel=incident.channel_id)
    await eventually(lambda: _resolved(h, incident.id))


async def test_a_bystander_cannot_snooze_the_reminder(h: Harness) -> None:
    incident = await declare(h, "SEV1 Payments failing")
    channel = incident.channel_id or ""
    reminder = await eventually(lambda: _reminder(h, channel), timeout=10)
    await join(h, incident, "U0DAVE")
    await h.fake.click("U0DAVE", channel, reminder.ts, ACTION_SNOOZE, value=incident.id)
    refusal = await told(h, "U0DAVE", "may snooze its update reminder")
    assert "<@U0ALICE> commander" in refusal.text
    snoozes = [e for e in await h.store.timeline(incident.id) if "snoozed" in e.text]
    assert snoozes == [] and len(await refusals(h, incident)) == 1

    await h.fake.click("U0ALICE", channel, reminder.ts, ACTION_SNOOZE, value=incident.id)
    await eventually(
        lambda: "snoozed by <@U0ALICE>" in (h.fake.message(channel, reminder.ts) or reminder).text
    )


async def test_refusals_of_a_click_flood_are_noted_once(h: Harness) -> None:
    incident = await declare(h, "SEV1 Login broken")
    await join(h, incident, "U0DAVE")
    for _ in range(5):
        await h.command("resolve", user="U0DAVE", channel=incident.channel_id)
    await eventually(
        lambda: len([m for m in h.ephemerals("U0DAVE") if "may resolve" in m.text]) == 5
    )
    assert len(await refusals(h, incident)) == 1


async def test_the_update_form_posts_the_update_but_not_a_refused_status(
    redis_url: str,
) -> None:
    h = await start(redis_url, config(status=["roles"]), pagerduty=True)
    try:
        incident = await declare(h, "SEV1 Checkout down")
        channel = incident.channel_id or ""
        reminder = await eventually(lambda: _reminder(h, channel), timeout=10)
        await join(h, incident, "U0BOB")
        await h.fake.click("U0BOB", channel, reminder.ts, ACTION_POST_UPDATE, value=incident.id)
        view_id = await eventually(
            lambda: next((v for v in h.fake.views if h.fake.view_owner(v) == "U0BOB"), None)
        )
        values = {
            "status": {"status": "identified"},
            "impact": {"impact": "EU checkout fails"},
            "actions": {"actions": "Rolling back"},
            "next": {"next": "Watch the error rate"},
            "eta": {"eta": "15 min"},
        }
        assert (await h.fake.submit_view("U0BOB", view_id, values)).status == 200
        refusal = await told(h, "U0BOB", "may change its status")
        assert "<@U0ALICE> commander" in refusal.text
        updated = await eventually(lambda: _last_update(h, incident.id))
        assert "EU checkout fails" in updated.text
        assert (await h.incident(incident.id)).status == "investigating"
        assert len(await refusals(h, incident)) == 1
    finally:
        await h.stop()


async def _last_update(h: Harness, incident_id: str) -> Any:
    return (await h.incident(incident_id)).last_update


# -- who may: configured ------------------------------------------------------------------


async def test_a_user_group_named_in_the_config_may_resolve(redis_url: str) -> None:
    fake = FakeSlack()
    await fake.start()
    group = fake.add_usergroup("incident-managers", ["U0DAVE"])
    h = await start(redis_url, config(resolve=["roles", group["id"]]), pagerduty=True, fake=fake)
    try:
        incident = await declare(h, "SEV3 Docs site down")
        await join(h, incident, "U0CAROL")
        await h.command("resolve", user="U0CAROL", channel=incident.channel_id)
        refusal = await told(h, "U0CAROL", "may resolve it")
        assert f"or members of <!subteam^{group['id']}>" in refusal.text
        assert buttons(refusal)[ACTION_ASK] == f"{incident.id}|resolve"

        await join(h, incident, "U0DAVE")
        await h.command("resolve", user="U0DAVE", channel=incident.channel_id)
        await eventually(lambda: _resolved(h, incident.id))
        assert any(
            c.args.get("usergroup") == group["id"] for c in h.fake.calls_to("usergroups.users.list")
        )
    finally:
        await h.stop()


async def test_a_refusal_rings_only_whom_it_names(redis_url: str) -> None:
    """Hostile text (as Slack sends it) around a refused resolve: the refusal, the request
    in the channel and the timeline's record ring the people and group the policy names,
    and nothing the attacker typed becomes a broadcast, a group or a link."""
    fake = FakeSlack()
    await fake.start()
    group = fake.add_usergroup("incident-managers", ["U0BOB"])["id"]
    h = await start(redis_url, config(resolve=["roles", group]), pagerduty=True, fake=fake)
    attack = "<!everyone> <https://evil.example|Join the bridge> &lt;!subteam^S1&gt;"
    try:
        incident = await declare(h, f"SEV3 {attack}")
        channel = incident.channel_id or ""
        await join(h, incident, "U0DAVE")
        await h.command(f"resolve {attack}", user="U0DAVE", channel=channel)
        refusal = await told(h, "U0DAVE", "may resolve it")
        assert refusal.notice.users == {"U0ALICE"} and refusal.notice.groups == {group}
        assert not refusal.notice.broadcasts and not refusal.notice.links

        await h.fake.click("U0DAVE", channel, refusal.ts, ACTION_ASK)
        await told(h, "U0DAVE", "Asked in")
        [asked] = [m for m in h.fake.messages[channel] if "asks" in m.text]
        assert asked.notice.users == {"U0DAVE", "U0ALICE"} and asked.notice.groups == {group}
        assert not asked.notice.broadcasts and not asked.notice.links

        [entry] = await refusals(h, incident)
        assert entry.shown.startswith("Refused: <@U0DAVE> may not resolve it")
        assert (await h.incident(incident.id)).is_open
    finally:
        await h.stop()


async def test_anyone_opens_an_action_up(redis_url: str) -> None:
    h = await start(redis_url, config(lower_severity=["anyone"]), pagerduty=True)
    try:
        incident = await declare(h, "SEV2 Queue backlog")
        await join(h, incident, "U0DAVE")
        await h.command("severity SEV4", user="U0DAVE", channel=incident.channel_id)
        await eventually(lambda: _severity(h, incident.id, "SEV4"))
        assert await refusals(h, incident) == []
    finally:
        await h.stop()


# -- nobody in command yet (an alert declared it) -------------------------------------------


async def test_an_alert_incident_is_resolved_after_someone_takes_command(redis_url: str) -> None:
    h = await start(redis_url, config(), pagerduty=True, alertmanager_token=TOKEN)
    try:
        await _fire(h)
        incident = await eventually(lambda: _only_incident(h))
        assert incident.roles == {}
        await join(h, incident, "U0DAVE")
        channel = incident.channel_id or ""
        await h.command("resolve", user="U0DAVE", channel=channel)
        refusal = await told(h, "U0DAVE", "take command first")
        assert "nobody holds a role yet" in refusal.text
        assert buttons(refusal) == {ACTION_TAKE_COMMAND: incident.id}
        assert (await h.incident(incident.id)).is_open

        await h.fake.click("U0DAVE", channel, refusal.ts, ACTION_TAKE_COMMAND, value=incident.id)
        await eventually(lambda: _commander(h, incident.id, "U0DAVE"))
        await h.command("resolve", user="U0DAVE", channel=channel)
        await eventually(lambda: _resolved(h, incident.id))
    finally:
        await h.stop()


async def test_a_team_keeps_vacant_command_to_its_on_call_group(redis_url: str) -> None:
    fake = FakeSlack()
    await fake.start()
    oncall = fake.add_usergroup("oncall", ["U0DAVE"])["id"]
    cfg = config(take_command=[oncall])
    h = await start(redis_url, cfg, pagerduty=True, alertmanager_token=TOKEN, fake=fake)
    try:
        await _fire(h)
        incident = await eventually(lambda: _only_incident(h))
        channel = incident.channel_id or ""
        await join(h, incident, "U0CAROL")
        await h.command("resolve", user="U0CAROL", channel=channel)
        refusal = await told(h, "U0CAROL", "take command first")
        await h.fake.click("U0CAROL", channel, refusal.ts, ACTION_TAKE_COMMAND, value=incident.id)
        refused = f":no_entry: Only members of <!subteam^{oncall}> may take command."
        await told(h, "U0CAROL", refused)
        # the card's Take command asks the same policy, and is refused in the same words
        await h.fake.click("U0CAROL", channel, incident.card_ts or "", ACTION_TAKE_COMMAND)
        await eventually(lambda: [m for m in h.ephemerals("U0CAROL") if m.text == refused][1:])
        assert (await h.incident(incident.id)).roles == {}

        # the on-call engineer takes command from the same kind of refusal, and is invited
        await h.command("resolve", user="U0DAVE", channel=channel)
        theirs = await told(h, "U0DAVE", "take command first")
        await h.fake.click("U0DAVE", channel, theirs.ts, ACTION_TAKE_COMMAND, value=incident.id)
        await eventually(lambda: _commander(h, incident.id, "U0DAVE"))
        # the invite follows the recorded command
        await eventually(lambda: "U0DAVE" in h.fake.channels[channel].members)
    finally:
        await h.stop()


# -- bound to their channel -----------------------------------------------------------------


async def test_a_crafted_click_from_another_channel_cannot_snooze_a_private_incident(
    h: Harness,
) -> None:
    secret = await declare(h, "--private SEV1 Credentials leaked")
    # Dave runs his own incident; its reminder's Snooze button is his to click
    own = await declare(h, "SEV1 Dave's own outage", user="U0DAVE")
    own_channel = own.channel_id or ""
    reminder = await eventually(lambda: _reminder(h, own_channel), timeout=10)
    # ...and he sends that click carrying the private incident's id
    await h.fake.click("U0DAVE", own_channel, reminder.ts, ACTION_SNOOZE, forged_value=secret.id)
    refusal = await told(h, "U0DAVE", "nothing was done")
    assert refusal.text == (
        ":no_entry: That belongs to an incident you are not in, so nothing was done."
    )
    assert secret.id not in json.dumps(refusal.blocks) and "Credentials" not in refusal.text
    snoozed = [e for e in await h.store.timeline(secret.id) if "snoozed" in e.text]
    assert snoozed == []
    [entry] = await refusals(h, secret)
    assert (
        entry.text
        == f"Refused: <@U0DAVE> tried to snooze its update reminder from <#{own_channel}>"
    )

    # the same button snoozes his own incident
    await h.fake.click("U0DAVE", own_channel, reminder.ts, ACTION_SNOOZE, value=own.id)
    await eventually(
        lambda: (
            "snoozed by <@U0DAVE>" in (h.fake.message(own_channel, reminder.ts) or reminder).text
        )
    )


async def test_a_crafted_invite_cannot_bring_anyone_into_a_private_incident(h: Harness) -> None:
    secret = await declare(h, "--private SEV2 Suspicious logins")
    own = await declare(h, "SEV3 Dave's own outage", user="U0DAVE")
    own_channel = own.channel_id or ""
    # /oncall in his own incident's channel offers Invite buttons for that incident
    await h.fake.slash_command("U0DAVE", own_channel, "/oncall", "")
    answer = await eventually(
        lambda: next((m for m in reversed(h.ephemerals("U0DAVE")) if _invites(m)), None)
    )
    [invite, *_] = _invites(answer)
    assert json.loads(invite["value"])["incident"] == own.id

    def invites_into_secret() -> int:
        calls = h.fake.calls_to("conversations.invite")
        return len([c for c in calls if c.args.get("channel") == secret.channel_id])

    before = invites_into_secret()
    # he sends that click carrying the private incident's id, inviting himself
    forged = json.dumps({"incident": secret.id, "user": "U0DAVE"})
    await h.fake.click("U0DAVE", own_channel, answer.ts, invite["action_id"], forged_value=forged)
    await told(h, "U0DAVE", "nothing was done")
    assert "U0DAVE" not in h.fake.channels[secret.channel_id or ""].members
    assert invites_into_secret() == before
    assert len(await refusals(h, secret)) == 1

    # the button as the bot made it invites into his own incident
    await h.fake.click("U0DAVE", own_channel, answer.ts, invite["action_id"])
    await told(h, "U0DAVE", "Invited")


def _invites(m: Message) -> list[dict[str, Any]]:
    return [
        b["accessory"]
        for b in m.blocks
        if b.get("accessory", {}).get("action_id", "").startswith(ACTION_INVITE)
    ]


async def test_private_follow_ups_listed_anywhere_close_only_for_members(h: Harness) -> None:
    secret = await declare(h, "--private SEV3 Laptop stolen")
    await h.command("followup Rotate the VPN keys", channel=secret.channel_id)
    await eventually(lambda: h.store.followups(secret.id))
    # Dave lists every follow-up from #general: the private one shows redacted, with Done
    general = h.channel("general")
    await h.command("followups", user="U0DAVE", channel=general)
    listing = await told(h, "U0DAVE", "follow-ups")
    [done_id] = [a for a in buttons(listing) if a.startswith(FOLLOWUP_DONE)]
    assert "VPN" not in json.dumps(listing.blocks)
    await h.fake.click("U0DAVE", general, listing.ts, done_id)
    refusal = await told(h, "U0DAVE", "nothing was done")
    assert "Laptop" not in refusal.text and secret.id not in refusal.text
    [followup] = await h.store.followups(secret.id)
    assert followup.status == "open"
    assert len(await refusals(h, secret)) == 1

    # Alice, in the private channel, closes it from the same list in #general
    await h.command("followups", channel=general)
    mine = await told(h, "U0ALICE", "follow-ups")
    await h.fake.click("U0ALICE", general, mine.ts, done_id)
    await eventually(lambda: _followup_done(h, secret.id))


# -- declare flood ---------------------------------------------------------------------------


async def test_a_declare_flood_is_cut_off_per_user(redis_url: str) -> None:
    h = await start(redis_url, config(declare_per_user="3/1m"))
    try:
        for n in range(3):
            await declare(h, f"SEV4 Flood {n}", user="U0DAVE")
        before = set(h.fake.channels)
        await h.command("declare SEV4 Flood 3", user="U0DAVE")
        refusal = await told(h, "U0DAVE", "Nothing was declared")
        assert re.search(r"you may declare 3 per 1 min\. Try again in \d+ s\.", refusal.text)
        assert len(await h.store.recent_incidents()) == 3 and set(h.fake.channels) == before

        # the form says so too, and stays open with what was typed
        await h.command("declare", user="U0DAVE")
        view_id = await eventually(
            lambda: next((v for v in h.fake.views if h.fake.view_owner(v) == "U0DAVE"), None)
        )
        result = await h.fake.submit_view("U0DAVE", view_id, {"title": {"title": "Flood 4"}})
        assert "Try again in" in result.errors["title"]
        assert h.fake.view_owner(view_id) == "U0DAVE"
        assert len(await h.store.recent_incidents()) == 3

        # the limit is Dave's alone
        await declare(h, "SEV4 A real one", user="U0ALICE")
        assert len(await h.store.recent_incidents()) == 4
    finally:
        await h.stop()


# -- helpers -----------------------------------------------------------------------------------


def _reminder(h: Harness, channel: str) -> Message | None:
    return next((m for m in h.fake.messages[channel] if "An update on this" in m.text), None)


async def _paged(h: Harness, incident_id: str) -> bool:
    page = (await h.incident(incident_id)).page
    return bool(page and page.pd_incident_id)


def _pd_status(h: Harness, pd_incident_id: str | None) -> str:
    assert h.pd is not None and pd_incident_id
    return str(h.pd.incidents[pd_incident_id]["status"])


async def _resolved(h: Harness, incident_id: str) -> bool:
    return not (await h.incident(incident_id)).is_open


async def _severity(h: Harness, incident_id: str, severity: str) -> bool:
    return (await h.incident(incident_id)).severity == severity


async def _commander(h: Harness, incident_id: str, user: str) -> bool:
    return (await h.incident(incident_id)).commander == user


async def _followup_done(h: Harness, incident_id: str) -> bool:
    return [f.status for f in await h.store.followups(incident_id)] == ["done"]


async def _only_incident(h: Harness) -> Incident | None:
    found = await h.store.recent_incidents()
    if len(found) != 1 or found[0].setup_missing:
        return None
    return found[0]


async def _fire(h: Harness) -> None:
    labels = {"alertname": "ServiceDown", "service": "checkout", "instance": "i-1"}
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="ServiceDown", service="checkout"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {"alertname": "ServiceDown", "service": "checkout"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "checkout is down"},
                "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "servicedown-checkout-i-1",
            }
        ],
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{h.url}/alerts/alertmanager", json=body, headers=headers) as r,
    ):
        assert r.status == 200
