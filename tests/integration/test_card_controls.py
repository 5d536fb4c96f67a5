"""The pinned card's controls (issue 17), played over the wire: an alert declares an
incident nobody commands, a responder takes command, posts an update and resolves it
from the card alone, and the card always shows the controls of the state it shows.
Clicks are Slack's `block_actions`, forms its `view_submission`; the fake Slack checks
every card the bot posts or updates against Block Kit's limits.

Alice declares by command, so she commands. Dave is a bystander who joined the channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from blocks.incident import (
    ACTION_RESOLVE,
    ACTION_SEVERITY,
    CONTROLS_BLOCK,
    RESOLVE_CALLBACK,
    RESOLVE_SUMMARY,
    severity_value,
)
from blocks.policy import ACTION_TAKE_COMMAND
from blocks.reminders import ACTION_POST_UPDATE
from bot.core.models import Incident
from bot.fakes.slack import Message
from tests.integration.harness import Harness, eventually, start
from tests.integration.test_permissions import (
    TOKEN,
    _fire,
    _only_incident,
    _paged,
    _pd_status,
    config,
    declare,
    join,
    told,
)


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config(), pagerduty=True, alertmanager_token=TOKEN)
    yield harness
    await harness.stop()


def card(h: Harness, incident: Incident) -> Message:
    assert incident.channel_id and incident.card_ts
    found = h.fake.message(incident.channel_id, incident.card_ts)
    assert found is not None
    return found


def controls(h: Harness, incident: Incident) -> list[str]:
    """The card's controls, by their text, as a reader sees them now."""
    blocks = [b for b in card(h, incident).blocks if b.get("block_id") == CONTROLS_BLOCK]
    return [_shown(e) for b in blocks for e in b["elements"]]


def _shown(element: dict[str, Any]) -> str:
    """A button by its text, a select by what it shows picked: `[SEV3 · Medium]`."""
    if element["type"] == "button":
        return str(element["text"]["text"])
    return f"[{element['initial_option']['text']['text']}]"


async def alert_incident(h: Harness) -> Incident:
    await _fire(h)
    return await eventually(lambda: _only_incident(h))


async def commanded_by(h: Harness, incident: Incident, user: str) -> Incident | None:
    current = await h.incident(incident.id)
    return current if current.commander == user else None


async def opened_form(h: Harness, user: str, callback_id: str) -> str:
    """The id of the form `user` has open with this callback (the click opened it)."""

    def find() -> str | None:
        return next(
            (
                vid
                for vid, view in h.fake.views.items()
                if view.get("callback_id") == callback_id and h.fake.view_owner(vid) == user
            ),
            None,
        )

    return await eventually(find)


async def refused_as_typed(
    h: Harness, user: str, says: str, click: Awaitable[object], command: str, channel: str
) -> Message:
    """`click` refused `user` with the ephemeral that contains `says`, word for word the
    refusal `/incident <command>` gets from the same person in the same channel."""
    await click
    clicked = await told(h, user, says)
    await h.command(command, user=user, channel=channel)
    typed = await eventually(lambda: [m for m in h.ephemerals(user) if says in m.text][1:])
    assert clicked.text == typed[0].text
    return clicked


# -- Take command ---------------------------------------------------------------------------


async def test_an_alert_incident_is_claimed_in_one_click_and_the_button_goes(h: Harness) -> None:
    incident = await alert_incident(h)
    assert incident.commander is None
    assert controls(h, incident) == ["Take command", "Post update", "[SEV1 · Critical]", "Resolve"]

    await join(h, incident, "U0DAVE")
    channel = incident.channel_id or ""
    await h.fake.click("U0DAVE", channel, card(h, incident).ts, ACTION_TAKE_COMMAND)
    claimed = await eventually(lambda: commanded_by(h, incident, "U0DAVE"))
    # the card shows him, and no Take command any more
    await eventually(
        lambda: controls(h, claimed) == ["Post update", "[SEV1 · Critical]", "Resolve"]
    )
    assert "<@U0DAVE>" in card(h, claimed).text or any(
        "<@U0DAVE>" in f["text"] for b in card(h, claimed).blocks for f in b.get("fields", [])
    )
    # as `/incident commander` does: on the timeline, said in the channel
    roles = [e.text for e in await h.store.timeline(incident.id) if e.kind == "role"]
    assert roles == ["Commander: <@U0DAVE>"]
    assert any("made <@U0DAVE> the *commander*" in m.text for m in h.fake.messages[channel])


async def test_two_responders_clicking_at_once_make_one_commander(h: Harness) -> None:
    incident = await alert_incident(h)
    channel = incident.channel_id or ""
    await join(h, incident, "U0DAVE")
    await join(h, incident, "U0CAROL")
    ts = card(h, incident).ts
    # both clicks leave before either is answered, from the card that still offers it
    await asyncio.gather(
        h.fake.click("U0DAVE", channel, ts, ACTION_TAKE_COMMAND),
        h.fake.click("U0CAROL", channel, ts, ACTION_TAKE_COMMAND),
    )
    winner = await eventually(lambda: _commander(h, incident))
    loser = "U0CAROL" if winner == "U0DAVE" else "U0DAVE"
    await told(h, loser, f"<@{winner}> is already the commander.")
    await h.settled()
    assert (await h.incident(incident.id)).commander == winner
    roles = [e.text for e in await h.store.timeline(incident.id) if e.kind == "role"]
    assert roles == [f"Commander: <@{winner}>"]


async def _commander(h: Harness, incident: Incident) -> str | None:
    return (await h.incident(incident.id)).commander


# -- Post update ----------------------------------------------------------------------------


async def test_post_update_on_the_card_is_the_update_form_and_resets_the_reminder(
    h: Harness,
) -> None:
    incident = await declare(h, "SEV2 Search slow")  # Alice commands: no Take command
    assert controls(h, incident) == ["Post update", "[SEV2 · High]", "Resolve"]
    channel = incident.channel_id or ""
    [due] = await _due(h, incident)
    await h.fake.click("U0ALICE", channel, card(h, incident).ts, ACTION_POST_UPDATE)
    view_id = await opened_form(h, "U0ALICE", "reminder_update")  # the reminder's own form
    values = {
        "status": {"status": "identified"},
        "impact": {"impact": "Search takes 8 s for EU users"},
        "actions": {"actions": "Rebuilding the index"},
        "next": {"next": "Confirm latency, then post-mortem"},
    }
    assert (await h.fake.submit_view("U0ALICE", view_id, values)).status == 200

    def posted() -> list[Message]:
        return [m for m in h.fake.messages[channel] if m.text.startswith("Status update")]

    [update] = await eventually(posted)
    assert "*Impact:* Search takes 8 s for EU users" in update.text
    current = await h.incident(incident.id)
    assert current.status == "identified" and current.last_update is not None
    # the reminder now counts from the update, as after `/incident update`
    [reset] = await eventually(lambda: _due(h, incident, later_than=due.due_at))
    assert reset.due_at == pytest.approx(current.last_update.at + 3600, abs=1)
    # the card shows it
    await eventually(lambda: "Search takes 8 s" in str(card(h, current).blocks))


async def _due(h: Harness, incident: Incident, *, later_than: float = 0.0) -> list:  # type: ignore[type-arg]
    assert h.bot.services.scheduler is not None
    pending = await h.bot.services.scheduler.pending(incident.id)
    return [i for i in pending if i.kind == "update_due" and i.due_at > later_than]


# -- Resolve --------------------------------------------------------------------------------


async def test_resolve_on_the_card_does_what_the_command_does_and_the_controls_go(
    h: Harness,
) -> None:
    incident = await declare(h, "SEV2 Checkout errors")
    await eventually(lambda: _paged(h, incident.id))
    channel = incident.channel_id or ""
    await h.fake.click("U0ALICE", channel, card(h, incident).ts, ACTION_RESOLVE)
    view_id = await opened_form(h, "U0ALICE", RESOLVE_CALLBACK)
    values = {RESOLVE_SUMMARY: {RESOLVE_SUMMARY: "Rolled back the 14:02 deploy"}}
    # a double click on Resolve sends the form twice: one resolve
    sent = await asyncio.gather(
        h.fake.submit_view("U0ALICE", view_id, values),
        h.fake.submit_view("U0ALICE", view_id, values),
    )
    assert [r.status for r in sent] == [200, 200]

    resolved = await eventually(lambda: _resolved(h, incident))
    assert resolved.resolution == "Rolled back the 14:02 deploy"
    entries = [e.text for e in await h.store.timeline(incident.id) if e.kind == "resolved"]
    assert entries == ["Resolved: Rolled back the 14:02 deploy"]
    # as after `/incident resolve`: the page resolves, the post-mortem draft follows
    page = resolved.page
    assert page is not None
    await eventually(lambda: _pd_status(h, page.pd_incident_id) == "resolved")
    await eventually(lambda: [m for m in h.fake.messages[channel] if "Post-mortem draft" in m.text])
    # and the card offers nothing more to do
    await eventually(lambda: controls(h, resolved) == [])
    assert "Rolled back the 14:02 deploy" in str(card(h, resolved).blocks)


async def test_a_bystander_clicking_resolve_is_refused_as_the_command_refuses(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    channel = incident.channel_id or ""
    await join(h, incident, "U0DAVE")
    click = h.fake.click("U0DAVE", channel, card(h, incident).ts, ACTION_RESOLVE)
    clicked = await refused_as_typed(h, "U0DAVE", "may resolve it", click, "resolve done", channel)
    assert clicked.text.startswith(":no_entry: Only the incident's role holders (<@U0ALICE>")
    assert [v for v in h.fake.views.values() if v.get("callback_id") == RESOLVE_CALLBACK] == []
    assert (await h.incident(incident.id)).is_open


async def test_a_resolve_click_is_bound_to_its_incidents_channel(h: Harness) -> None:
    theirs = await declare(h, "SEV3 Billing stuck")
    own = await declare(h, "SEV3 Dave's own outage", user="U0DAVE")
    own_channel = own.channel_id or ""
    # Dave commands his own incident; he sends its card's Resolve carrying the other's id
    await h.fake.click(
        "U0DAVE", own_channel, card(h, own).ts, ACTION_RESOLVE, forged_value=theirs.id
    )
    refused = await told(h, "U0DAVE", "nothing was done")
    assert f"whose channel you are not in: use it in <#{theirs.channel_id}>" in refused.text
    assert [v for v in h.fake.views.values() if v.get("callback_id") == RESOLVE_CALLBACK] == []
    assert (await h.incident(theirs.id)).is_open


async def test_the_resolve_form_asks_the_policy_again_when_submitted(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    channel = incident.channel_id or ""
    await h.fake.click("U0ALICE", channel, card(h, incident).ts, ACTION_RESOLVE)
    view_id = await opened_form(h, "U0ALICE", RESOLVE_CALLBACK)
    # while the form is open, Alice hands command to Bob and holds no role any more
    await h.command("commander <@U0BOB>", channel=channel)
    await eventually(lambda: commanded_by(h, incident, "U0BOB"))
    await h.fake.submit_view("U0ALICE", view_id, {})
    await told(h, "U0ALICE", "may resolve it")
    assert (await h.incident(incident.id)).is_open


async def _resolved(h: Harness, incident: Incident) -> Incident | None:
    current = await h.incident(incident.id)
    return None if current.is_open else current


# -- Severity -------------------------------------------------------------------------------


async def test_raising_severity_on_the_card_pages_and_lowering_asks_the_policy(
    h: Harness,
) -> None:
    incident = await declare(h, "SEV3 Exports slow")  # SEV3 pages nobody
    channel = incident.channel_id or ""
    assert "[SEV3 · Medium]" in controls(h, incident)
    await join(h, incident, "U0DAVE")

    # raising is the safe direction: anyone in the channel, and it pages as the command does
    pick = severity_value(incident.id, "SEV1")
    await h.fake.click("U0DAVE", channel, card(h, incident).ts, ACTION_SEVERITY, value=pick)
    await eventually(lambda: _paged(h, incident.id))
    raised = await h.incident(incident.id)
    assert raised.severity == "SEV1"
    changes = [e.text for e in await h.store.timeline(incident.id) if e.kind == "severity"]
    assert changes == ["Severity SEV3 → SEV1"]
    await eventually(lambda: "[SEV1 · Critical]" in controls(h, raised))

    # lowering is the role holders': Dave is refused as `/incident severity SEV4` refuses him
    lower = severity_value(incident.id, "SEV4")
    click = h.fake.click("U0DAVE", channel, card(h, raised).ts, ACTION_SEVERITY, value=lower)
    await refused_as_typed(h, "U0DAVE", "may lower its severity", click, "severity SEV4", channel)
    assert (await h.incident(incident.id)).severity == "SEV1"

    # the commander may
    await h.fake.click("U0ALICE", channel, card(h, raised).ts, ACTION_SEVERITY, value=lower)
    await eventually(lambda: _severity(h, incident, "SEV4"))


async def _severity(h: Harness, incident: Incident, severity: str) -> bool:
    return (await h.incident(incident.id)).severity == severity
