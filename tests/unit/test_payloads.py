"""Slack's payloads as the handlers read them (handlers/payloads.py): the documented
shapes read, and the ones without what a handler needs refused with the sentence the
person is told.

The samples follow Slack's reference pages (docs.slack.dev: *block_actions payload*, *View
interaction payloads*, *Message shortcuts*, *Global shortcuts*, *Implementing slash
commands*, and the event types app_home_opened, member_joined_channel, pin_added,
reaction_added), with the fields Slack documents and ones the bot does not read."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import parse_qsl

import pytest

from handlers.payloads import (
    AppHomeOpened,
    BlockActions,
    EventCallback,
    GlobalShortcut,
    Malformed,
    MemberChannel,
    MessageAction,
    PinAdded,
    ReactionAdded,
    SlashCommand,
    ViewSubmission,
    parse,
    reply_to,
)

TEAM = {"id": "T0TEAM", "domain": "example"}
USER = {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0TEAM"}


def button_click() -> dict[str, Any]:
    """A button clicked on a message in a channel (block_actions, message container)."""
    return {
        "type": "block_actions",
        "user": USER,
        "api_app_id": "A0APP",
        "token": "verification",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": "C0INC",
            "is_ephemeral": False,
        },
        "trigger_id": "1700000000.123.abcdef",
        "team": TEAM,
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "C0INC", "name": "inc-checkout"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "card", "blocks": []},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
        "actions": [
            {
                "action_id": "incident_resolve",
                "block_id": "controls",
                "text": {"type": "plain_text", "text": "Resolve", "emoji": True},
                "value": "INC-1",
                "type": "button",
                "action_ts": "1700000001.000200",
            }
        ],
    }


def submission() -> dict[str, Any]:
    """A modal submitted (view_submission) with a text input, a select and checkboxes."""
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": USER,
        "api_app_id": "A0APP",
        "token": "verification",
        "trigger_id": "1700000000.456.fedcba",
        "view": {
            "id": "V0FORM",
            "team_id": "T0TEAM",
            "type": "modal",
            "blocks": [],
            "private_metadata": json.dumps({"incident": "INC-1", "channel": "C0INC"}),
            "callback_id": "incident_declare",
            "state": {
                "values": {
                    "title": {"title": {"type": "plain_text_input", "value": "Checkout down"}},
                    "severity": {
                        "severity": {
                            "type": "static_select",
                            "selected_option": {
                                "text": {"type": "plain_text", "text": "SEV2"},
                                "value": "SEV2",
                            },
                        }
                    },
                    "private": {"private": {"type": "checkboxes", "selected_options": []}},
                    "commander": {"commander": {"type": "users_select", "selected_user": "U0BOB"}},
                    "description": {"description": {"type": "plain_text_input", "value": None}},
                }
            },
            "hash": "1700000000.AbCdEf",
            "title": {"type": "plain_text", "text": "Declare incident"},
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "root_view_id": "V0FORM",
            "app_id": "A0APP",
            "external_id": "",
            "app_installed_team_id": "T0TEAM",
            "bot_id": "B0BOT",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def message_shortcut() -> dict[str, Any]:
    return {
        "type": "message_action",
        "token": "verification",
        "action_ts": "1700000002.000300",
        "team": TEAM,
        "user": {"id": "U0ALICE", "name": "alice"},
        "channel": {"id": "C0GENERAL", "name": "general"},
        "callback_id": "declare_from_message",
        "trigger_id": "1700000002.789.aaaaaa",
        "message_ts": "1700000000.000400",
        "message": {
            "client_msg_id": "0f0e0d0c-0000-4000-8000-000000000000",
            "type": "message",
            "text": "<@U0BOB> checkout is down",
            "user": "U0CAROL",
            "ts": "1700000000.000400",
            "team": "T0TEAM",
            "files": [{"id": "F0LOG", "name": "trace.txt", "title": "Stack trace"}],
        },
        "response_url": "https://hooks.slack.com/app/T0TEAM/2/def",
    }


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    """The Events API's outer payload around `event`."""
    return {
        "token": "verification",
        "team_id": "T0TEAM",
        "api_app_id": "A0APP",
        "event": event,
        "type": "event_callback",
        "authorizations": [
            {
                "team_id": "T0TEAM",
                "user_id": "U0BOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "event_id": "Ev0EVENT",
        "event_time": 1700000003,
    }


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    """`body` with the field at `path` left out."""
    out = copy.deepcopy(body)
    at = out
    for key in path[:-1]:
        at = at[key]
    del at[path[-1]]
    return out


# -- block_actions -----------------------------------------------------------------------


def test_a_button_click_reads_who_where_and_what() -> None:
    click = parse(BlockActions, button_click())
    assert (click.user.id, click.channel_id, click.trigger_id) == (
        "U0ALICE",
        "C0INC",
        "1700000000.123.abcdef",
    )
    assert (click.action.action_id, click.action.block_id, click.action.value) == (
        "incident_resolve",
        "controls",
        "INC-1",
    )
    assert click.container.message_ts == "1700000000.000100"
    assert not click.container.is_ephemeral
    assert click.response_url == "https://hooks.slack.com/actions/T0TEAM/1/abc"


def test_a_click_in_a_modal_or_on_an_ephemeral_has_no_channel_or_is_marked() -> None:
    in_view = without(button_click(), "channel")
    in_view["container"] = {"type": "view", "view_id": "V0FORM"}
    click = parse(BlockActions, in_view)
    assert click.channel_id is None and click.container.view_id == "V0FORM"
    ephemeral = button_click()
    ephemeral["container"]["is_ephemeral"] = True
    del ephemeral["channel"]
    click = parse(BlockActions, ephemeral)
    assert click.container.is_ephemeral and click.channel_id == "C0INC"  # the container's


def test_selects_checkboxes_and_overflow_menus_read_their_choice() -> None:
    body = button_click()
    option = {"text": {"type": "plain_text", "text": "Skip"}, "value": "skip|run1|step2"}
    body["actions"] = [
        {"type": "overflow", "action_id": "menu:run1", "block_id": "s2", "selected_option": option}
    ]
    assert parse(BlockActions, body).action.chosen == "skip|run1|step2"
    boxes = [{"text": {"type": "mrkdwn", "text": "a"}, "value": "a"}, {"value": "b"}]
    body["actions"] = [
        {
            "type": "checkboxes",
            "action_id": "tick:run1",
            "block_id": "g1",
            "selected_options": boxes,
        }
    ]
    assert parse(BlockActions, body).action.ticked == ["a", "b"]
    # a button's value comes before any option (a forged click carries both)
    body["actions"] = [
        {"type": "static_select", "action_id": "x", "value": "forged", "selected_option": option}
    ]
    assert parse(BlockActions, body).action.chosen == "forged"


def test_the_full_state_of_a_message_is_read_and_unknown_elements_are_kept_quiet() -> None:
    body = button_click()
    body["state"] = {
        "values": {
            "section_block_id": {
                "multi_convos": {
                    "type": "multi_conversations_select",
                    "selected_conversations": ["G0PRIV"],
                }
            },
            "input_block_id": {"plain_text": {"type": "plain_text_input", "value": "test123"}},
        }
    }
    state = parse(BlockActions, body).state
    assert state.element("input_block_id", "plain_text") is not None
    assert state.element("input_block_id", "plain_text").value == "test123"  # type: ignore[union-attr]
    assert state.value("nothing") is None


@pytest.mark.parametrize(
    ("path", "told"),
    [
        (("user",), "That click came without who clicked it"),
        (("user", "id"), "That click came without who clicked it"),
        (("actions",), "That click came without the button it was for"),
        (("actions", 0, "action_id"), "That click came without the button it was for"),
        (("trigger_id",), "That click came without a trigger to open its form with"),
    ],
)
def test_a_click_without_what_it_needs_is_malformed_with_one_sentence(
    path: tuple[Any, ...], told: str
) -> None:
    body = without(button_click(), *path)
    with pytest.raises(Malformed) as caught:
        parse(BlockActions, body)
    text, blocks = caught.value.message
    assert text.startswith(f":warning: {told}, so nothing was done.")
    assert text.count(".") == 2  # one sentence and "Try it again."
    assert blocks[0]["text"]["text"] == text


def test_a_click_with_no_actions_or_a_wrong_type_is_malformed() -> None:
    body = button_click()
    body["actions"] = []
    with pytest.raises(Malformed, match="without the button"):
        parse(BlockActions, body)
    body = button_click()
    body["user"] = "U0ALICE"  # a string where Slack sends an object
    with pytest.raises(Malformed, match="without who clicked"):
        parse(BlockActions, body)
    for junk in (None, [], "payload", 7):
        with pytest.raises(Malformed):
            parse(BlockActions, junk)


# -- view_submission ---------------------------------------------------------------------


def test_a_submitted_form_reads_its_inputs_and_the_bots_metadata() -> None:
    form = parse(ViewSubmission, submission())
    view = form.view
    assert (form.user.id, view.id, view.callback_id, view.hash) == (
        "U0ALICE",
        "V0FORM",
        "incident_declare",
        "1700000000.AbCdEf",
    )
    assert view.meta == {"incident": "INC-1", "channel": "C0INC"}
    state = view.state
    assert state.value("title") == "Checkout down"
    assert state.value("severity") == "SEV2"
    assert state.value("description") is None
    assert not state.ticked("private")
    assert state.element("commander").selected_user == "U0BOB"  # type: ignore[union-attr]
    assert state.chosen() == {
        "title": "Checkout down",
        "severity": "SEV2",
        "private": None,
        "commander": None,
        "description": None,
    }


def test_a_form_opened_without_metadata_or_state_reads_empty() -> None:
    body = submission()
    body["view"]["private_metadata"] = ""
    body["view"]["state"] = {}  # as Slack sends a form with no inputs
    view = parse(ViewSubmission, body).view
    assert view.meta == {} and view.state.chosen() == {}
    del body["view"]["private_metadata"]
    assert parse(ViewSubmission, body).view.meta == {}


@pytest.mark.parametrize(
    ("change", "told"),
    [
        (lambda b: b.pop("user"), "That form came without who sent it"),
        (lambda b: b["view"].pop("id"), "That form came without the form's own details"),
        # the metadata is the bot's own JSON object: anything else was not written by it
        (
            lambda b: b["view"].update(private_metadata="This is for you!"),
            "That form came without the form's own details",
        ),
        (
            lambda b: b["view"].update(private_metadata="[1, 2]"),
            "That form came without the form's own details",
        ),
        (
            lambda b: b["view"]["state"]["values"]["title"]["title"].update(value=5),
            "That form came without the form's own details",
        ),
    ],
)
def test_a_form_without_what_it_needs_is_malformed(change: Any, told: str) -> None:
    body = submission()
    change(body)
    with pytest.raises(Malformed) as caught:
        parse(ViewSubmission, body)
    assert caught.value.message[0].startswith(f":warning: {told}, so nothing was done.")


# -- shortcuts ---------------------------------------------------------------------------


def test_a_message_shortcut_reads_the_message_its_channel_and_where_to_answer() -> None:
    shortcut = parse(MessageAction, message_shortcut())
    assert shortcut.callback_id == "declare_from_message"
    assert (shortcut.user.id, shortcut.channel.id) == ("U0ALICE", "C0GENERAL")
    message = shortcut.message
    assert (message.ts, message.user, message.text) == (
        "1700000000.000400",
        "U0CAROL",
        "<@U0BOB> checkout is down",
    )
    assert [(f.name, f.title) for f in message.files] == [("trace.txt", "Stack trace")]
    assert shortcut.reply.response_url == "https://hooks.slack.com/app/T0TEAM/2/def"


@pytest.mark.parametrize(
    ("path", "missing"),
    [
        (("message",), "the message"),
        (("channel",), "the message"),
        (("message", "ts"), "the message"),
        (("trigger_id",), "a trigger to open its form with"),
    ],
)
def test_a_message_shortcut_without_its_message_or_trigger_says_which(
    path: tuple[str, ...], missing: str
) -> None:
    with pytest.raises(Malformed) as caught:
        parse(MessageAction, without(message_shortcut(), *path))
    assert (caught.value.what, caught.value.missing) == ("shortcut", missing)


def test_a_message_shortcut_on_a_message_with_a_bad_ts_is_malformed() -> None:
    body = message_shortcut()
    body["message"]["ts"] = "yesterday"
    with pytest.raises(Malformed, match="the message"):
        parse(MessageAction, body)


def test_a_global_shortcut_has_no_channel_and_is_answered_in_the_dm() -> None:
    body = {
        "type": "shortcut",
        "token": "verification",
        "action_ts": "1700000004.000500",
        "team": TEAM,
        "user": {"id": "U0ALICE", "username": "alice", "team_id": "T0TEAM"},
        "callback_id": "declare",
        "trigger_id": "1700000004.321.bbbbbb",
    }
    shortcut = parse(GlobalShortcut, body)
    assert (shortcut.user.id, shortcut.trigger_id) == ("U0ALICE", "1700000004.321.bbbbbb")
    assert shortcut.reply.response_url is None and shortcut.reply.user is not None
    with pytest.raises(Malformed, match="a trigger to open its form with"):
        parse(GlobalShortcut, without(body, "trigger_id"))


def test_where_to_answer_is_read_from_any_payload_however_malformed() -> None:
    assert reply_to(button_click()).response_url == "https://hooks.slack.com/actions/T0TEAM/1/abc"
    broken = {"user": "U0ALICE", "response_url": 7}
    assert (reply_to(broken).response_url, reply_to(broken).user) == (None, None)
    only_user = reply_to({"user": {"id": "U0ALICE"}})
    assert only_user.user is not None and only_user.user.id == "U0ALICE"
    for junk in (None, "payload", [1]):
        assert reply_to(junk).response_url is None and reply_to(junk).user is None


# -- slash commands ----------------------------------------------------------------------

# as Slack posts them (application/x-www-form-urlencoded); Bolt hands the fields as a dict
COMMAND = (
    "token=verification&team_id=T0TEAM&team_domain=example&channel_id=C0GENERAL"
    "&channel_name=general&user_id=U0ALICE&user_name=alice&command=%2Fincident"
    "&text=declare+SEV2+Checkout+down&api_app_id=A0APP&is_enterprise_install=false"
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0TEAM%2F3%2Fghi"
    "&trigger_id=1700000005.654.cccccc"
)


def test_a_slash_commands_form_fields_are_read() -> None:
    command = parse(SlashCommand, dict(parse_qsl(COMMAND)))
    assert (command.user_id, command.channel_id, command.command, command.text) == (
        "U0ALICE",
        "C0GENERAL",
        "/incident",
        "declare SEV2 Checkout down",
    )
    assert command.response_url == "https://hooks.slack.com/commands/T0TEAM/3/ghi"
    assert command.trigger_id == "1700000005.654.cccccc"
    bare = dict(parse_qsl(COMMAND))
    del bare["text"]  # `/incident` alone: Slack sends an empty text, or none
    assert parse(SlashCommand, bare).text == ""


@pytest.mark.parametrize(
    ("field", "missing"),
    [("user_id", "who typed it"), ("channel_id", "the channel it was typed in")],
)
def test_a_slash_command_without_its_user_or_channel_is_malformed(field: str, missing: str) -> None:
    fields = dict(parse_qsl(COMMAND))
    del fields[field]
    with pytest.raises(Malformed) as caught:
        parse(SlashCommand, fields)
    assert (caught.value.what, caught.value.missing) == ("command", missing)


# -- the Events API ----------------------------------------------------------------------


def test_the_envelope_reads_its_id_time_app_and_bot_user() -> None:
    body = envelope({"type": "member_joined_channel", "user": "U0BOB", "channel": "C0INC"})
    callback = parse(EventCallback, body)
    assert (callback.event_id, callback.event_time, callback.api_app_id) == (
        "Ev0EVENT",
        1700000003,
        "A0APP",
    )
    assert callback.bot_user == "U0BOT"
    assert parse(EventCallback, without(body, "authorizations")).bot_user is None


def test_app_home_opened_reads_the_user_and_tab() -> None:
    event = {
        "type": "app_home_opened",
        "user": "U0ALICE",
        "channel": "D0ALICE",
        "event_ts": "1700000006.000600",
        "tab": "home",
        "view": {"id": "V0HOME", "type": "home", "blocks": [], "private_metadata": ""},
    }
    opened = parse(AppHomeOpened, event)
    assert (opened.user, opened.tab, opened.channel) == ("U0ALICE", "home", "D0ALICE")
    with pytest.raises(Malformed):
        parse(AppHomeOpened, {**event, "user": ""})


def test_member_joined_and_left_read_the_user_and_channel() -> None:
    joined = {
        "type": "member_joined_channel",
        "user": "U0BOB",
        "channel": "C0INC",
        "channel_type": "C",
        "team": "T0TEAM",
        "inviter": "U0ALICE",
    }
    member = parse(MemberChannel, joined)
    assert (member.user, member.channel) == ("U0BOB", "C0INC")
    with pytest.raises(Malformed):
        parse(MemberChannel, without(joined, "channel"))


def test_pin_added_reads_the_pinned_message_and_its_channel() -> None:
    message = {"type": "message", "user": "U0CAROL", "text": "rolled back", "ts": "1700.000700"}
    event = {
        "type": "pin_added",
        "user": "U0ALICE",
        "channel_id": "C0INC",
        "item": {
            "type": "message",
            "channel": "C0INC",
            "message": message,
            "created": 1700000007,
            "created_by": "U0ALICE",
        },
        "event_ts": "1700000007.000800",
    }
    pin = parse(PinAdded, event)
    assert (pin.user, pin.channel, pin.item.type, pin.event_ts) == (
        "U0ALICE",
        "C0INC",
        "message",
        "1700000007.000800",
    )
    assert pin.item.message == message  # handed to bot/timeline.py as Slack sent it
    # a pin of a file, or one without the channel_id: the item's channel, and its type
    other = parse(PinAdded, {**without(event, "channel_id"), "item": {"type": "file"}})
    assert (other.channel, other.item.type) == ("", "file")


def test_reaction_added_reads_the_reaction_and_the_message_it_is_on() -> None:
    event = {
        "type": "reaction_added",
        "user": "U0ALICE",
        "item": {"type": "message", "channel": "C0INC", "ts": "1700000000.000900"},
        "reaction": "pushpin",
        "item_user": "U0CAROL",
        "event_ts": "1700000008.001000",
    }
    reaction = parse(ReactionAdded, event)
    assert (reaction.user, reaction.reaction) == ("U0ALICE", "pushpin")
    assert (reaction.item.channel, reaction.item.ts) == ("C0INC", "1700000000.000900")
    with pytest.raises(Malformed):
        parse(ReactionAdded, {**event, "item": "C0INC"})
