"""The declare forms' "I'll command it" box (issue 17), played over the wire: every form
that declares (the one `/incident declare` opens, the global shortcut's, a message
shortcut's, an unmatched alert's prefilled one) has it, ticked. Submitted ticked, the
declarer commands the incident as before; unticked (Slack's `view_submission` then holds
the box's `checkboxes` state with an empty `selected_options`), the incident has no
commander, its card offers *Take command*, and the declarer is in its channel all the same.

Alice, Bob and Dave are responders; Carol posts what they declare from."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import blocks.shortcuts as shortcuts_ui
from blocks.alerts import ACTION_DECLARE
from blocks.alerts import DECLARE_CALLBACK as ALERT_FORM
from blocks.incident import COMMAND_FIELD, DECLARE_CALLBACK
from blocks.policy import ACTION_TAKE_COMMAND
from bot.core.models import Incident
from tests.integration.harness import Harness, eventually, start
from tests.integration.test_alerts import TOKEN, config, fire
from tests.integration.test_card_controls import card, controls, opened_form
from tests.integration.test_shortcuts import declare_element, digest, only_incident, unmatched

UNTICKED = {COMMAND_FIELD: {COMMAND_FIELD: []}}  # the box, unticked by the declarer
TITLE = {"title": {"title": "Search is slow"}, "severity": {"severity": "SEV3"}}


@pytest.fixture
async def h(redis_url: str) -> AsyncIterator[Harness]:
    harness = await start(redis_url, config(), alertmanager_token=TOKEN)
    yield harness
    await harness.stop()


async def by_command(h: Harness, user: str) -> str:
    await h.command("declare", user=user)
    return await opened_form(h, user, DECLARE_CALLBACK)


async def by_global_shortcut(h: Harness, user: str) -> str:
    await h.fake.global_shortcut(user, shortcuts_ui.DECLARE)
    return await opened_form(h, user, DECLARE_CALLBACK)


async def by_message_shortcut(h: Harness, user: str) -> str:
    general = h.channel("general")
    report = await h.fake.post_message("U0CAROL", general, "Search is slow for everyone")
    await h.fake.message_shortcut(user, general, report.ts, shortcuts_ui.DECLARE_FROM_MESSAGE)
    return await opened_form(h, user, shortcuts_ui.DECLARE_FROM_MESSAGE_FORM)


async def by_alert(h: Harness, user: str) -> str:
    await fire(h, unmatched("DiskSpaceLow", "db", severity="high"))
    posted = await eventually(lambda: digest(h))
    button = declare_element(posted)
    assert button is not None
    await h.fake.click(
        user, h.channel("incidents"), posted.ts, ACTION_DECLARE, value=button["value"]
    )
    return await opened_form(h, user, ALERT_FORM)


Opener = Callable[[Harness, str], Awaitable[str]]
FORMS: dict[str, Opener] = {
    "command": by_command,
    "global shortcut": by_global_shortcut,
    "message shortcut": by_message_shortcut,
    "alert": by_alert,
}


def box(h: Harness, view_id: str) -> dict[str, Any]:
    """The form's "I'll command it" checkboxes element."""
    [element] = [
        b["element"] for b in h.fake.views[view_id]["blocks"] if b.get("block_id") == COMMAND_FIELD
    ]
    return element


def fields(form: str, extra: dict[str, Any]) -> dict[str, Any]:
    """What the declarer fills in: a title where the form opens empty, and `extra`."""
    return {**(TITLE if form in ("command", "global shortcut") else {}), **extra}


def members(h: Harness, incident: Incident) -> set[str]:
    assert incident.channel_id
    return set(h.fake.channels[incident.channel_id].members)


@pytest.mark.parametrize("form", FORMS)
async def test_ticked_as_it_opens_the_declarer_commands(h: Harness, form: str) -> None:
    view_id = await FORMS[form](h, "U0BOB")
    element = box(h, view_id)
    assert element["type"] == "checkboxes"
    assert [o["text"]["text"] for o in element["options"]] == ["I'll command it"]
    assert element["initial_options"] == element["options"]  # ticked

    sent = await h.fake.submit_view("U0BOB", view_id, fields(form, {}))
    assert sent.status == 200 and not sent.errors
    incident = await only_incident(h)
    assert (incident.declared_by, incident.commander) == ("U0BOB", "U0BOB")
    assert "U0BOB" in members(h, incident)
    assert "Take command" not in controls(h, incident)


@pytest.mark.parametrize("form", FORMS)
async def test_unticked_nobody_commands_and_the_card_offers_take_command(
    h: Harness, form: str
) -> None:
    view_id = await FORMS[form](h, "U0BOB")
    sent = await h.fake.submit_view("U0BOB", view_id, fields(form, UNTICKED))
    assert sent.status == 200 and not sent.errors

    incident = await only_incident(h)
    assert incident.declared_by == "U0BOB"
    assert incident.commander is None and incident.roles == {}
    # the declarer is invited all the same, and the card offers Take command
    assert "U0BOB" in members(h, incident)
    assert controls(h, incident)[0] == "Take command"
    declared = [e.text for e in await h.store.timeline(incident.id) if e.kind == "declared"]
    assert len(declared) == 1

    # one click on the card and he commands it; the card drops Take command
    assert incident.channel_id
    await h.fake.click("U0BOB", incident.channel_id, card(h, incident).ts, ACTION_TAKE_COMMAND)

    async def commanded() -> Incident | None:
        now = await h.incident(incident.id)
        return now if now.commander == "U0BOB" else None

    claimed = await eventually(commanded)
    await eventually(lambda: "Take command" not in controls(h, claimed))


async def test_a_form_from_before_the_box_declares_its_declarer_commander(h: Harness) -> None:
    """A form opened before the box existed (its state has no such input) declares as
    forms always did: the declarer commands."""
    view_id = await by_command(h, "U0DAVE")
    view = h.fake.views[view_id]
    view["blocks"] = [b for b in view["blocks"] if b.get("block_id") != COMMAND_FIELD]
    assert COMMAND_FIELD not in json.dumps(view["blocks"])
    assert (await h.fake.submit_view("U0DAVE", view_id, TITLE)).status == 200
    incident = await only_incident(h)
    assert incident.commander == "U0DAVE"
