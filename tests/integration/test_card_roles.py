"""The pinned card's second row (issue 17), played over the wire: *Roles* (a form of user
selects, each change as `/incident commander` / `/incident role` makes it), *Runbook* (a
picker of the runbooks that fit the incident best, posting as `/incident runbook <id>`)
and *Escalate* (Slack's confirmation, then the page escalates as `/incident escalate`
does). Clicks are Slack's `block_actions`, forms its `view_submission`; the fake Slack
checks every card and form against Block Kit's limits.

Alice declares by command, so she commands. Dave is a bystander who joined the channel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from blocks.home import ACTION_DECLARE as HOME_DECLARE
from blocks.incident import DECLARE_CALLBACK
from blocks.incident_controls import (
    ACTION_ESCALATE,
    ACTION_RESOLVE,
    ACTION_ROLES,
    ACTION_RUNBOOK,
    ACTION_SEVERITY,
    CONTROLS_BLOCK,
    MORE_CONTROLS_BLOCK,
    RESOLVE_CALLBACK,
    RESOLVE_SUMMARY,
    ROLES_CALLBACK,
    RUNBOOK_CALLBACK,
    RUNBOOK_FIELD,
    role_field,
    severity_value,
)
from blocks.reminders import ACTION_POST_UPDATE, UPDATE_CALLBACK
from bot.core.config import IncidentConfig
from bot.core.config_sections import RoleSpec
from bot.core.models import Incident
from bot.fakes.slack import Message
from tests.integration.harness import Harness, eventually, start
from tests.integration.test_app_home import opened
from tests.integration.test_card_controls import (
    card,
    commanded_by,
    opened_form,
    refused_as_typed,
)
from tests.integration.test_permissions import _paged, config, declare, join, told

ROLES = ["commander", "tech_lead", "comms_lead", "scribe"]


def team(**permissions: Any) -> IncidentConfig:
    """test_permissions' configuration, with a team role besides the three."""
    return config(**permissions).model_copy(
        update={"role_specs": [RoleSpec(name=role) for role in ROLES]}
    )


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    # ack_timeout 1h: only what a test does escalates
    harness = await start(redis_url, team(escalate=["roles"]), pagerduty=True)
    yield harness
    await harness.stop()


def rows(h: Harness, incident: Incident) -> list[dict[str, Any]]:
    """The card's actions rows, as Slack shows them now."""
    ids = (CONTROLS_BLOCK, MORE_CONTROLS_BLOCK)
    return [b for b in card(h, incident).blocks if b.get("block_id") in ids]


def shown(h: Harness, incident: Incident) -> list[list[str]]:
    """The card's rows, each control by its text (a select by what it shows picked)."""
    return [
        [
            e["text"]["text"]
            if e["type"] == "button"
            else f"[{e['initial_option']['text']['text']}]"
            for e in row["elements"]
        ]
        for row in rows(h, incident)
    ]


async def role_entries(h: Harness, incident: Incident) -> list[str]:
    return [e.text for e in await h.store.timeline(incident.id) if e.kind == "role"]


async def roles_form(h: Harness, incident: Incident, user: str = "U0ALICE") -> str:
    await h.fake.click(user, incident.channel_id or "", card(h, incident).ts, ACTION_ROLES)
    return await opened_form(h, user, ROLES_CALLBACK)


def picks(**people: str | None) -> dict[str, dict[str, Any]]:
    """The roles form's inputs: role -> the user picked (None: cleared)."""
    return {role_field(r): {role_field(r): who} for r, who in people.items()}


# -- Roles ---------------------------------------------------------------------------------


async def test_the_roles_form_assigns_each_role_changed_once_on_the_timeline(h: Harness) -> None:
    incident = await declare(h, "SEV2 Search slow")
    assert shown(h, incident)[1] == ["Roles", "Runbook", "Escalate"]
    view_id = await roles_form(h, incident)
    form = h.fake.views[view_id]
    selects = {b["block_id"]: b["element"] for b in form["blocks"] if b["type"] == "input"}
    assert list(selects) == [role_field(r) for r in ROLES]
    assert selects[role_field("commander")]["initial_user"] == "U0ALICE"

    # Bob and Carol picked; the commander left as it is. Sent twice (a double click): once.
    values = picks(tech_lead="U0BOB", comms_lead="U0CAROL")
    sent = await asyncio.gather(
        h.fake.submit_view("U0ALICE", view_id, values),
        h.fake.submit_view("U0ALICE", view_id, values),
    )
    assert [r.status for r in sent] == [200, 200]
    await eventually(lambda: _roles(h, incident, tech_lead="U0BOB", comms_lead="U0CAROL"))
    await h.settled()
    assert await role_entries(h, incident) == ["Tech Lead: <@U0BOB>", "Comms Lead: <@U0CAROL>"]
    current = await h.incident(incident.id)
    assert current.roles == {"commander": "U0ALICE", "tech_lead": "U0BOB", "comms_lead": "U0CAROL"}
    # as after `/incident role`: said in the channel, invited, on the card
    channel = incident.channel_id or ""
    notes = [m.text for m in h.fake.messages[channel] if "the *" in m.text]
    assert notes == [
        "<@U0ALICE> made <@U0BOB> the *tech lead*.",
        "<@U0ALICE> made <@U0CAROL> the *comms lead*.",
    ]
    assert {"U0BOB", "U0CAROL"} <= h.fake.channels[channel].members
    await eventually(lambda: "*Comms Lead*\\n<@U0CAROL>" in str(card(h, current).blocks))


async def _roles(h: Harness, incident: Incident, **want: str) -> bool:
    roles = (await h.incident(incident.id)).roles
    return all(roles.get(r) == u for r, u in want.items())


async def test_a_bystander_is_refused_the_roles_form_as_the_command_refuses(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    channel = incident.channel_id or ""
    await join(h, incident, "U0DAVE")
    click = h.fake.click("U0DAVE", channel, card(h, incident).ts, ACTION_ROLES)
    command = "role tech-lead <@U0DAVE>"
    await refused_as_typed(h, "U0DAVE", "may assign its roles", click, command, channel)
    assert [v for v in h.fake.views.values() if v.get("callback_id") == ROLES_CALLBACK] == []
    assert await role_entries(h, incident) == []


async def test_each_change_is_asked_of_the_policy_when_the_form_is_sent(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    view_id = await roles_form(h, incident)
    # while the form is open, Alice hands command to Bob and holds no role any more
    await h.command("commander <@U0BOB>", channel=incident.channel_id)
    await eventually(lambda: commanded_by(h, incident, "U0BOB"))
    await h.fake.submit_view("U0ALICE", view_id, picks(scribe="U0CAROL"))
    await told(h, "U0ALICE", "may assign its roles")
    assert "scribe" not in (await h.incident(incident.id)).roles


async def test_a_role_changed_while_the_form_was_open_is_not_changed_back(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    channel = incident.channel_id or ""
    alice_form = await roles_form(h, incident)
    # meanwhile Alice, from another window, makes Dave the comms lead
    await h.command("role comms-lead <@U0DAVE>", channel=channel)
    await eventually(lambda: _roles(h, incident, comms_lead="U0DAVE"))
    # the open form still shows nobody there: left untouched, Dave stays; changed, refused
    await h.fake.submit_view("U0ALICE", alice_form, picks(tech_lead="U0BOB"))
    await eventually(lambda: _roles(h, incident, tech_lead="U0BOB"))
    assert (await h.incident(incident.id)).roles["comms_lead"] == "U0DAVE"
    second = await roles_form(h, incident)
    await h.command("role comms-lead <@U0CAROL>", channel=channel)
    await eventually(lambda: _roles(h, incident, comms_lead="U0CAROL"))
    await h.fake.submit_view("U0ALICE", second, picks(comms_lead="U0BOB"))
    refused = await told(h, "U0ALICE", "changed while the form was open")
    assert "(now <@U0CAROL>)" in refused.text
    assert (await h.incident(incident.id)).roles["comms_lead"] == "U0CAROL"


async def test_a_cleared_role_is_left_unassigned_and_take_command_comes_back(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    assert shown(h, incident)[0][0] == "Post update"
    view_id = await roles_form(h, incident)
    await h.fake.submit_view("U0ALICE", view_id, picks(commander=None))
    await eventually(lambda: _no_commander(h, incident))
    assert await role_entries(h, incident) == ["Commander: nobody"]
    await eventually(lambda: shown(h, incident)[0][0] == "Take command")
    channel = incident.channel_id or ""
    assert any(
        m.text == "<@U0ALICE> left the *commander* unassigned (was <@U0ALICE>)."
        for m in h.fake.messages[channel]
    )


async def _no_commander(h: Harness, incident: Incident) -> bool:
    return (await h.incident(incident.id)).commander is None


async def test_unknown_deactivated_and_app_users_are_refused_clearly(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    h.fake.add_user("U0GONE", "gone").deleted = True
    app = h.fake.add_bot("deploy-bot")
    cases = [
        ("U0NOBODY", "Slack knows no user `U0NOBODY`: pick someone in this workspace."),
        ("U0GONE", "<@U0GONE> is deactivated: pick someone who can respond."),
        (app.user_id, f"<@{app.user_id}> is an app: pick a person to respond."),
    ]
    for user, answer in cases:
        view_id = await roles_form(h, incident)
        await h.fake.submit_view("U0ALICE", view_id, picks(scribe=user))
        refused = await told(h, "U0ALICE", answer)
        assert refused.text == f":warning: {answer}"
    # the command refuses the same person the same way
    await h.command("role scribe <@U0GONE>", channel=incident.channel_id)
    await eventually(lambda: [m for m in h.ephemerals() if "U0GONE> is deactivated" in m.text][1:])
    assert "scribe" not in (await h.incident(incident.id)).roles
    assert await role_entries(h, incident) == []


# -- Runbook -------------------------------------------------------------------------------


async def runbook_form(h: Harness, incident: Incident) -> dict[str, Any]:
    known = set(h.fake.views)
    await h.fake.click("U0ALICE", incident.channel_id or "", card(h, incident).ts, ACTION_RUNBOOK)

    def opened() -> dict[str, Any] | None:
        return next(
            (
                v
                for vid, v in h.fake.views.items()
                if vid not in known and v.get("callback_id") == RUNBOOK_CALLBACK
            ),
            None,
        )

    return await eventually(opened)


def menu(view: dict[str, Any]) -> dict[str, Any]:
    [field] = [b for b in view["blocks"] if b.get("block_id") == RUNBOOK_FIELD]
    return dict(field["element"])


def checklists(h: Harness, incident: Incident) -> list[Message]:
    """The checklists posted in the incident's channel (their first messages)."""
    return [
        m
        for m in h.fake.messages[incident.channel_id or ""]
        if m.text.startswith("Runbook: ") and "(continued" not in m.text
    ]


async def test_the_runbook_picker_suggests_the_best_fit_first_and_posts_it(h: Harness) -> None:
    incident = await declare(h, "SEV2 Database refusing connections")
    view = await runbook_form(h, incident)
    picker = menu(view)
    suggested, others = picker["option_groups"]
    assert suggested["label"]["text"] == "Suggested"
    assert suggested["options"][0]["value"] == "database-down"
    assert others["label"]["text"] == "Other runbooks"
    assert picker["initial_option"]["value"] == "database-down"

    # the best fit is picked already: Post posts it, as `/incident runbook database-down`
    await h.fake.submit_view("U0ALICE", view["id"], {})
    [posted] = await eventually(lambda: checklists(h, incident))
    assert posted.text.startswith("Runbook: Database down or refusing connections")
    entries = [e.text for e in await h.store.timeline(incident.id) if e.kind == "runbook"]
    assert entries == ["Runbook posted: Database down or refusing connections (database-down)"]

    # opened again, it says what is posted, and picks the next best
    again = menu(await runbook_form(h, incident))
    first, second = again["option_groups"][0]["options"][:2]
    assert first["text"]["text"].startswith("✓ ") and "Posted" in first["description"]["text"]
    assert again["initial_option"] == second
    # posting it once more points at the one posted, as the command does
    view = await runbook_form(h, incident)
    await h.fake.submit_view(
        "U0ALICE", view["id"], {RUNBOOK_FIELD: {RUNBOOK_FIELD: "database-down"}}
    )
    await told(h, "U0ALICE", "is already posted")
    assert len(checklists(h, incident)) == 1


# -- Escalate ------------------------------------------------------------------------------


def escalations(h: Harness) -> list[Any]:
    """The escalation requests PagerDuty received."""
    assert h.pd is not None
    return [c for c in h.pd.calls if c.method == "PUT" and "escalation_level" in json.dumps(c.body)]


async def test_escalate_pages_the_next_level_once_for_a_double_click(h: Harness) -> None:
    incident = await declare(h, "SEV2 Checkout down")
    await eventually(lambda: _paged(h, incident.id))
    channel, ts = incident.channel_id or "", card(h, incident).ts
    [escalate] = [e for e in rows(h, incident)[1]["elements"] if e["action_id"] == ACTION_ESCALATE]
    assert escalate["confirm"]["confirm"]["text"] == "Escalate"  # Slack asks first

    # a bystander may not (escalate: [roles] here), as `/incident escalate` refuses him
    await join(h, incident, "U0DAVE")
    click = h.fake.click("U0DAVE", channel, ts, ACTION_ESCALATE)
    await refused_as_typed(h, "U0DAVE", "may escalate it", click, "escalate", channel)
    assert escalations(h) == []

    # the commander double-clicks: PagerDuty escalates once, to level 2
    await asyncio.gather(
        h.fake.click("U0ALICE", channel, ts, ACTION_ESCALATE),
        h.fake.click("U0ALICE", channel, ts, ACTION_ESCALATE),
    )
    await eventually(
        lambda: [m for m in h.fake.messages[channel] if "escalated the page" in m.text]
    )
    await h.settled()
    assert len(escalations(h)) == 1
    assert h.pd is not None and [i["escalation_level"] for i in h.pd.incidents.values()] == [2]
    notes = [m.text for m in h.fake.messages[channel] if "escalated the page" in m.text]
    assert len(notes) == 1 and notes[0].startswith(
        ":arrow_double_up: <@U0ALICE> escalated the page to level 2"
    )


async def test_escalate_is_refused_clearly_when_pagerduty_is_off(redis_url: str) -> None:
    h = await start(redis_url, team())  # no PAGERDUTY_API_KEY
    try:
        incident = await declare(h, "SEV2 Checkout down")
        assert shown(h, incident)[1][-1] == "Escalate"  # SEV2 pages: there is a page to escalate
        await h.fake.click(
            "U0ALICE", incident.channel_id or "", card(h, incident).ts, ACTION_ESCALATE
        )
        refused = await told(h, "U0ALICE", "Paging is off")
        assert refused.text.startswith(":warning: Paging is off: ")
    finally:
        await h.stop()


# -- the controls follow the state -------------------------------------------------------------


async def test_the_controls_follow_the_state(h: Harness) -> None:
    incident = await declare(h, "SEV3 Exports slow")
    assert shown(h, incident) == [
        ["Post update", "[SEV3 · Medium]", "Resolve"],
        ["Roles", "Runbook"],  # SEV3 pages nobody: nothing to escalate
    ]
    channel = incident.channel_id or ""
    pick = severity_value(incident.id, "SEV2")
    await h.fake.click("U0ALICE", channel, card(h, incident).ts, ACTION_SEVERITY, value=pick)
    await eventually(lambda: shown(h, incident)[1] == ["Roles", "Runbook", "Escalate"])
    await h.command("resolve Fixed", channel=channel)
    await eventually(lambda: shown(h, incident) == [])


# -- the figure: clicks from declare to resolve ---------------------------------------------------


class Clicks:
    """Counts what a responder clicks: a button or a form's submit is one click, picking
    from a select two (open it, pick)."""

    def __init__(self, h: Harness) -> None:
        self.h, self.count = h, 0

    async def click(self, user: str, channel: str, ts: str, action_id: str) -> None:
        self.count += 1
        assert (await self.h.fake.click(user, channel, ts, action_id)).status == 200

    async def submit(
        self, user: str, view_id: str, values: dict[str, Any], *, picked: int = 0
    ) -> None:
        self.count += 1 + 2 * picked
        assert (await self.h.fake.submit_view(user, view_id, values)).status == 200


async def test_an_incident_runs_from_declare_to_resolve_in_thirteen_clicks(h: Harness) -> None:
    """The figure for the closing note: 13 clicks and no command, for an incident declared
    from App Home's *Declare incident* (its severity picked), a runbook posted, one update
    that moves the status, and the resolve. The least is 5: the Home tab, *Declare
    incident* and the form sent, *Resolve* and its form sent. An alert's incident starts
    in its channel: *Take command*, then the same from the update on."""
    alice = "U0ALICE"
    clicks = Clicks(h)
    h.bot.services.home.coalesce = 0.2  # as test_app_home: a burst's window, short
    clicks.count += 1  # the bot's Home tab, in Slack's sidebar
    await opened(h, alice)
    home = h.fake.homes[alice]
    clicks.count += 1
    assert (await h.fake.click_view(alice, home["id"], HOME_DECLARE)).status == 200
    declare_form = await opened_form(h, alice, DECLARE_CALLBACK)
    values = {"title": {"title": "Checkout errors after deploy"}, "severity": {"severity": "SEV2"}}
    await clicks.submit(alice, declare_form, values, picked=1)  # the title typed
    incident = await eventually(lambda: _declared(h))
    channel, ts = incident.channel_id or "", card(h, incident).ts

    await clicks.click(alice, channel, ts, ACTION_RUNBOOK)  # the best fit is picked already
    picker = await opened_form(h, alice, RUNBOOK_CALLBACK)
    await clicks.submit(alice, picker, {})
    await eventually(lambda: checklists(h, incident))

    await clicks.click(alice, channel, ts, ACTION_POST_UPDATE)
    update = await opened_form(h, alice, UPDATE_CALLBACK)
    typed = {"impact": {"impact": "EU checkouts fail"}, "actions": {"actions": "Rolled back"}}
    await clicks.submit(alice, update, {"status": {"status": "monitoring"}, **typed}, picked=1)
    # the form's work is done when its update is posted: the status is set just before it
    await eventually(lambda: _posted_update(h, incident))
    assert await _status(h, incident, "monitoring")

    await clicks.click(alice, channel, ts, ACTION_RESOLVE)
    resolve = await opened_form(h, alice, RESOLVE_CALLBACK)
    await clicks.submit(alice, resolve, {RESOLVE_SUMMARY: {RESOLVE_SUMMARY: "Rolled back"}})
    await eventually(lambda: _status(h, incident, "resolved"))

    kinds = [e.kind for e in await h.store.timeline(incident.id)]
    assert {"declared", "runbook", "status", "update", "resolved"} <= set(kinds)
    assert [m.text for m in h.ephemerals(alice) if ":warning:" in m.text] == []  # nothing refused
    assert clicks.count == 13


async def _declared(h: Harness) -> Incident | None:
    found = await h.store.recent_incidents()
    return found[0] if len(found) == 1 and not found[0].setup_missing else None


async def _posted_update(h: Harness, incident: Incident) -> bool:
    return (await h.incident(incident.id)).last_update is not None


async def _status(h: Harness, incident: Incident, status: str) -> bool:
    return (await h.incident(incident.id)).status == status
