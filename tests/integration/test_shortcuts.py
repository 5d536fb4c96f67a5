"""Slack's shortcuts (issue 17), played over the wire: a message's *Declare incident* and
*Add to incident timeline*, the global *Declare incident*, each sent as Slack sends it
(`message_action` with the message, channel and response_url; `shortcut` with only the
user), and alert incidents made claimable: the alert message's thread is told where its
incident is, and the unmatched alert's *Declare incident* opens the form filled in from
the alert, once.

Alice and Bob are responders, Carol posts what they declare from, Dave is a bystander."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import blocks.shortcuts as ui
from blocks.alerts import ACTION_DECLARE
from blocks.alerts import DECLARE_CALLBACK as ALERT_FORM
from blocks.incident import DECLARE_CALLBACK
from blocks.policy import ACTION_TAKE_COMMAND
from bot.core.models import Incident, TimelineEntry
from bot.fakes.slack import Message
from tests.integration.harness import Harness, eventually, start
from tests.integration.test_alerts import TOKEN, alert, config, fire
from tests.integration.test_card_controls import card, opened_form
from tests.integration.test_permissions import declare, told

REPORT = "Checkout returns 500s for EU users\nSeen since 14:02, <@U0BOB> is looking"


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config(), alertmanager_token=TOKEN)
    yield harness
    await harness.stop()


def view_of(h: Harness, view_id: str) -> dict[str, Any]:
    return h.fake.views[view_id]


def element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b["element"] for b in view["blocks"] if b.get("block_id") == block_id)


async def incidents(h: Harness) -> list[Incident]:
    return list(reversed(await h.store.recent_incidents()))


async def set_up(h: Harness, incident_id: str) -> Incident | None:
    incident = await h.incident(incident_id)
    return None if incident.setup_missing else incident


async def only_incident(h: Harness) -> Incident:
    async def one() -> Incident | None:
        found = await incidents(h)
        return await set_up(h, found[0].id) if len(found) == 1 else None

    return await eventually(one)


async def entries(h: Harness, incident: Incident, kind: str) -> list[TimelineEntry]:
    return [e for e in await h.store.timeline(incident.id) if e.kind == kind]


# -- Declare incident, on a message ---------------------------------------------------------


async def test_declaring_from_a_message_fills_the_form_and_links_back_to_it(h: Harness) -> None:
    general = h.channel("general")
    report = await h.fake.post_message("U0CAROL", general, REPORT)
    ack = await h.fake.message_shortcut("U0ALICE", general, report.ts, ui.DECLARE_FROM_MESSAGE)
    assert ack.status == 200
    view_id = await opened_form(h, "U0ALICE", ui.DECLARE_FROM_MESSAGE_FORM)
    form = view_of(h, view_id)
    assert element(form, "title")["initial_value"] == "Checkout returns 500s for EU users"
    assert element(form, "description")["initial_value"] == (
        "Checkout returns 500s for EU users\nSeen since 14:02, @U0BOB is looking"
    )
    assert f"<#{general}>" in json.dumps(form["blocks"]) and "<@U0CAROL>" in json.dumps(form)

    # as the form stands, with the severity picked
    sent = await h.fake.submit_view("U0ALICE", view_id, {"severity": {"severity": "SEV2"}})
    assert sent.status == 200 and not sent.errors
    incident = await only_incident(h)
    link = h.fake._permalink(general, report.ts)
    assert (incident.title, incident.severity, incident.source) == (
        "Checkout returns 500s for EU users",
        "SEV2",
        "message",
    )
    assert incident.origin is not None
    assert (incident.origin.permalink, incident.origin.user) == (link, "U0CAROL")
    assert incident.commander == "U0ALICE"
    # the timeline and the card link back to the message
    [declared] = await entries(h, incident, "declared")
    assert f"<{link}|this message>" in declared.text
    assert f"<{link}|this message>" in json.dumps(card(h, incident).blocks)
    # and she is told where it is, at the shortcut's response_url, in #general
    answer = await told(h, "U0ALICE", f"Declared {incident.id}")
    assert answer.channel == general


async def test_a_long_first_line_is_cut_to_the_title_field(h: Harness) -> None:
    general = h.channel("general")
    message = await h.fake.post_message("U0CAROL", general, "\n\n" + "word " * 60 + "\nmore")
    await h.fake.message_shortcut("U0ALICE", general, message.ts, ui.DECLARE_FROM_MESSAGE)
    form = view_of(h, await opened_form(h, "U0ALICE", ui.DECLARE_FROM_MESSAGE_FORM))
    title = element(form, "title")["initial_value"]
    assert len(title) == 150 and title.startswith("word word") and title.endswith("…")


# -- Add to incident timeline ---------------------------------------------------------------


async def add_form(h: Harness, user: str, channel: str, ts: str) -> str:
    """`user` picks Add to incident timeline on the message; the form, once filled in."""
    known = set(h.fake.views)
    ack = await h.fake.message_shortcut(user, channel, ts, ui.ADD_TO_TIMELINE)
    assert ack.status == 200

    def opened() -> str | None:
        return next((v for v in h.fake.views if v not in known and owner(v) == user), None)

    owner = h.fake.view_owner
    view_id = await eventually(opened)
    # opened at once, then filled in with the user's incidents
    await eventually(lambda: "Looking up" not in json.dumps(view_of(h, view_id)["blocks"]))
    return view_id


def offered(h: Harness, view_id: str) -> list[str]:
    view = view_of(h, view_id)
    pickers = [b for b in view["blocks"] if b.get("block_id") == ui.ADD_INCIDENT]
    return [o["value"] for b in pickers for o in b["element"]["options"]]


async def test_a_message_goes_on_the_chosen_incidents_timeline_once(h: Harness) -> None:
    mine = await declare(h, "SEV2 Checkout errors")  # Alice is in its channel
    theirs = await declare(h, "SEV3 Search slow", user="U0BOB")  # she is not in this one
    over = await declare(h, "SEV4 Old thing")
    await h.command("resolve", channel=over.channel_id)
    await eventually(lambda: _resolved(h, over))
    general = h.channel("general")
    report = await h.fake.post_message("U0CAROL", general, "EU card payments fail since 14:02")

    view_id = await add_form(h, "U0ALICE", general, report.ts)
    assert offered(h, view_id) == [mine.id]  # not Bob's, not the resolved one
    assert theirs.id not in offered(h, view_id)
    values = {ui.ADD_INCIDENT: {ui.ADD_INCIDENT: mine.id}}
    # a double click on Add sends the form twice; a second form for the same message too
    again = await add_form(h, "U0ALICE", general, report.ts)
    sent = await asyncio.gather(
        h.fake.submit_view("U0ALICE", view_id, values),
        h.fake.submit_view("U0ALICE", view_id, values),
    )
    assert [s.status for s in sent] == [200, 200]
    await told(h, "U0ALICE", f"Added to the timeline of *{mine.id}*")
    await h.fake.submit_view("U0ALICE", again, values)
    await told(h, "U0ALICE", "on the timeline of")
    await h.settled()

    [added] = await entries(h, mine, "message")
    link = h.fake._permalink(general, report.ts)
    assert "EU card payments fail since 14:02" in added.text and f"<{link}|in Slack>" in added.text
    assert (added.actor, added.at) == ("U0CAROL", float(report.ts))  # its author and time
    assert "(added by <@U0ALICE>)" in added.text
    assert await entries(h, theirs, "message") == []
    # the incident's channel is told, once
    assert mine.channel_id
    notices = [m for m in h.fake.messages[mine.channel_id] if "was added to the timeline" in m.text]
    assert len(notices) == 1


async def _resolved(h: Harness, incident: Incident) -> bool:
    return not (await h.incident(incident.id)).is_open


async def test_someone_in_no_incident_is_told_so_in_the_form(h: Harness) -> None:
    await declare(h, "SEV2 Checkout errors")
    general = h.channel("general")
    report = await h.fake.post_message("U0CAROL", general, "Is checkout down?")
    view_id = await add_form(h, "U0DAVE", general, report.ts)
    view = view_of(h, view_id)
    assert offered(h, view_id) == [] and not view.get("submit")
    assert "You are in no open incident" in json.dumps(view["blocks"])


async def test_nobody_outside_a_private_incident_adds_to_its_timeline(h: Harness) -> None:
    secret = await declare(h, "--private SEV1 Leaked deploy key")
    assert secret.private and secret.channel_id
    general = h.channel("general")
    report = await h.fake.post_message("U0CAROL", general, "Found this key in a gist")
    # Dave is not in its channel: it is not offered to him
    assert offered(h, await add_form(h, "U0DAVE", general, report.ts)) == []
    # Alice is; she leaves the channel with the form open, then submits
    view_id = await add_form(h, "U0ALICE", general, report.ts)
    assert offered(h, view_id) == [secret.id]
    await h.fake.leave("U0ALICE", secret.channel_id)
    values = {ui.ADD_INCIDENT: {ui.ADD_INCIDENT: secret.id}}
    assert (await h.fake.submit_view("U0ALICE", view_id, values)).status == 200
    refusal = await told(h, "U0ALICE", "belongs to an incident you are not in")
    await h.settled()
    assert await entries(h, secret, "message") == []
    assert "Leaked deploy key" not in refusal.text + json.dumps(refusal.blocks)


async def test_what_is_said_in_a_private_incident_stays_off_other_timelines(h: Harness) -> None:
    secret = await declare(h, "--private SEV1 Leaked deploy key")
    other = await declare(h, "SEV3 Search slow")  # Alice is in both
    assert secret.channel_id
    inside = await h.fake.post_message("U0ALICE", secret.channel_id, "The key is AKIA-EXAMPLE")
    view_id = await add_form(h, "U0ALICE", secret.channel_id, inside.ts)
    assert set(offered(h, view_id)) == {secret.id, other.id}
    values = {ui.ADD_INCIDENT: {ui.ADD_INCIDENT: other.id}}
    await h.fake.submit_view("U0ALICE", view_id, values)
    await told(h, "U0ALICE", "in a private incident's channel: it stays there")
    # on its own timeline it goes
    view_id = await add_form(h, "U0ALICE", secret.channel_id, inside.ts)
    await h.fake.submit_view("U0ALICE", view_id, {ui.ADD_INCIDENT: {ui.ADD_INCIDENT: secret.id}})
    await told(h, "U0ALICE", f"Added to the timeline of *{secret.id}*")
    await h.settled()
    assert await entries(h, other, "message") == []
    assert len(await entries(h, secret, "message")) == 1


# -- the global shortcut, and what is not a shortcut ------------------------------------------


async def test_the_global_shortcut_opens_the_declare_form(h: Harness) -> None:
    ack = await h.fake.global_shortcut("U0BOB", ui.DECLARE)
    assert ack.status == 200
    view_id = await opened_form(h, "U0BOB", DECLARE_CALLBACK)
    values = {"title": {"title": "Search is slow"}, "severity": {"severity": "SEV3"}}
    assert (await h.fake.submit_view("U0BOB", view_id, values)).status == 200
    incident = await only_incident(h)
    assert (incident.title, incident.declared_by, incident.source) == (
        "Search is slow",
        "U0BOB",
        "modal",
    )


async def test_a_malformed_shortcut_gets_one_clear_sentence(h: Harness) -> None:
    general = h.channel("general")
    report = await h.fake.post_message("U0CAROL", general, "Checkout is down")
    for callback in (ui.DECLARE_FROM_MESSAGE, ui.ADD_TO_TIMELINE):
        ack = await h.fake.message_shortcut(
            "U0ALICE", general, report.ts, callback, without=("message",)
        )
        assert ack.status == 200
    await h.settled()  # both answered
    answers = [m for m in h.ephemerals("U0ALICE") if "came without the message" in m.text]
    assert len(answers) == 2 and all(m.channel == general for m in answers)
    # a global shortcut with no trigger to open its form: said in her DM with the bot
    await h.fake.global_shortcut("U0ALICE", ui.DECLARE, without=("trigger_id",))
    await eventually(lambda: _dm(h, "U0ALICE", "came without a trigger"))
    await h.settled()
    assert h.fake.views == {} and await incidents(h) == []


def _dm(h: Harness, user: str, text: str) -> Message | None:
    ims = [c.id for c in h.fake.channels.values() if c.is_im and user in c.members]
    return next((m for c in ims for m in h.fake.messages.get(c, []) if text in m.text), None)


# -- alert incidents are claimable -----------------------------------------------------------


async def test_an_alert_message_that_declares_is_told_in_its_thread_once(h: Harness) -> None:
    alerts = h.channel("alerts")
    monitor = h.fake.add_bot("Alertmanager")
    posted = await h.fake.post_as_bot(monitor, alerts, "[FIRING:1] ServiceDown checkout")
    incident = await only_incident(h)
    assert incident.commander is None and incident.channel_id

    def replies() -> list[Message]:
        return [m for m in h.fake.messages[alerts] if m.thread_ts == posted.ts]

    [reply] = await eventually(replies)
    assert f"<#{incident.channel_id}>" in json.dumps(reply.blocks) and incident.id in reply.text
    assert "Take command" in json.dumps(reply.blocks)
    # the same alert again, and again: the thread is told once
    await h.fake.post_as_bot(monitor, alerts, "[FIRING:2] ServiceDown checkout")
    await h.fake.post_as_bot(monitor, alerts, "[FIRING:2] ServiceDown checkout")
    await h.settled()
    assert len(replies()) == 1 and len(await incidents(h)) == 1
    # the first message in the incident's channel is its card, with Take command on it
    first = h.fake.messages[incident.channel_id][0]
    assert first.ts == card(h, incident).ts
    assert ACTION_TAKE_COMMAND in json.dumps(first.blocks)


def unmatched(name: str, service: str, **labels: str) -> dict[str, Any]:
    """A firing alert no rule matches (test_alerts.py's, with more labels)."""
    found = alert(name, service=service, summary="disk 95% full")
    found["labels"].update(labels)
    return found


def digest(h: Harness) -> Message | None:
    announce = h.channel("incidents")
    return next((m for m in h.fake.messages[announce] if m.text.startswith("Unmatched")), None)


def declare_element(message: Message) -> dict[str, Any] | None:
    found = [e for b in message.blocks for e in b.get("elements", [])]
    return next((e for e in found if e.get("action_id") == ACTION_DECLARE), None)


async def test_the_unmatched_declare_opens_the_form_filled_in_and_goes_once_used(
    h: Harness,
) -> None:
    await fire(h, unmatched("DiskSpaceLow", "db", severity="high"))
    posted = await eventually(lambda: digest(h))
    button = declare_element(posted)
    assert button is not None
    announce = h.channel("incidents")
    await h.fake.click("U0BOB", announce, posted.ts, ACTION_DECLARE, value=button["value"])
    view_id = await opened_form(h, "U0BOB", ALERT_FORM)
    form = view_of(h, view_id)
    assert element(form, "title")["initial_value"] == "DiskSpaceLow: disk 95% full"
    assert element(form, "description")["initial_value"] == "i-1 has not answered for 1m"
    # the alert's `severity: high` is the severity labelled High; its runbook lists it
    assert element(form, "severity")["initial_option"]["value"] == "SEV2"
    assert element(form, "runbook")["initial_option"]["value"] == "disk-space"

    assert (await h.fake.submit_view("U0BOB", view_id, {})).status == 200
    incident = await only_incident(h)
    assert (incident.severity, incident.runbook, incident.commander, incident.alertname) == (
        "SEV2",
        "disk-space",
        "U0BOB",
        "DiskSpaceLow",
    )
    # the post says who declared it, where, and offers Declare no more
    shown = await eventually(
        lambda: (
            f"<#{incident.channel_id}>" in json.dumps(digest(h).blocks)  # type: ignore[union-attr]
            and digest(h)
        )
    )
    assert declare_element(shown) is None and "<@U0BOB>" in json.dumps(shown.blocks)


async def test_two_forms_for_one_unmatched_alert_make_one_incident(h: Harness) -> None:
    await fire(h, unmatched("DiskSpaceLow", "db"))
    await fire(h, unmatched("QueueBacklog", "jobs"))
    announce = h.channel("incidents")

    def listed() -> Message | None:
        found = digest(h)
        return found if found and "2 groups" in found.text + json.dumps(found.blocks) else None

    posted = await eventually(listed)
    select = declare_element(posted)
    assert select is not None and select["type"] == "static_select"
    disk = next(o["value"] for o in select["options"] if "DiskSpaceLow" in o["text"]["text"])
    # Bob and Carol both pick it, and both forms open
    for user in ("U0BOB", "U0CAROL"):
        await h.fake.click(user, announce, posted.ts, ACTION_DECLARE, value=disk)
    bobs = await opened_form(h, "U0BOB", ALERT_FORM)
    carols = await opened_form(h, "U0CAROL", ALERT_FORM)
    await h.fake.submit_view("U0BOB", bobs, {})
    incident = await only_incident(h)
    await h.fake.submit_view("U0CAROL", carols, {})
    await told(h, "U0CAROL", "was declared already")
    # a click from a digest that still offers it (a stale client) is told too, no form
    await eventually(lambda: disk not in json.dumps(declare_element(digest(h)) or {}))  # type: ignore[arg-type]
    now = digest(h)
    assert now is not None
    other = declare_element(now)
    assert other is not None
    await h.fake.click(
        "U0DAVE",
        announce,
        now.ts,
        ACTION_DECLARE,
        value=other["options"][0]["value"],
        forged_value=disk,
    )
    await told(h, "U0DAVE", f"was declared already: {incident.id} by <@U0BOB>")
    await h.settled()
    assert len(await incidents(h)) == 1
    assert not [v for v, f in h.fake.views.items() if h.fake.view_owner(v) == "U0DAVE"]
