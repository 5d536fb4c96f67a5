"""The one Block Kit validator (blocks/limits.py) holds Slack's limits: each one accepts a
payload at the limit and refuses it one past, with the number Slack's own Python models
(slack_sdk.models) carry, so a limit we got wrong, or one Slack changes, shows here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk.models import views
from slack_sdk.models.blocks import basic_components as parts
from slack_sdk.models.blocks import block_elements as elements
from slack_sdk.models.blocks import blocks as kinds

from blocks.limits import check_blocks, check_view


def text(n: int, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": kind, "text": "x" * n}


def button(n: int = 1, **fields: Any) -> dict[str, Any]:
    return {"type": "button", "text": text(n), "action_id": "b", **fields}


def option(i: int, *, text_len: int = 1, value_len: int = 1) -> dict[str, Any]:
    return {"text": text(text_len), "value": f"{i:0{value_len}d}"[-value_len:]}


def select(options: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"type": "static_select", "action_id": "s", "options": options, **fields}


def confirm(**lengths: int) -> dict[str, Any]:
    """A confirmation dialog, each part 1 character unless given."""
    return {part: text(lengths.get(part, 1)) for part in ("title", "text", "confirm", "deny")}


def section(**fields: Any) -> dict[str, Any]:
    return {"type": "section", "text": text(1, "mrkdwn"), **fields}


def modal(**fields: Any) -> dict[str, Any]:
    return {"type": "modal", "title": text(1), "blocks": [], **fields}


def form(**fields: Any) -> dict[str, Any]:
    """A modal with one text input block."""
    field = {"type": "input", "element": {"type": "plain_text_input", "action_id": "v"}}
    return modal(submit=text(1), blocks=[{**field, **fields}])


Message = Callable[[int], list[dict[str, Any]]]
View = Callable[[int], dict[str, Any]]

MESSAGE_LIMITS: list[tuple[str, int, Message]] = [
    (
        "section text",
        kinds.SectionBlock.text_max_length,
        lambda n: [{"type": "section", "text": text(n, "mrkdwn")}],
    ),
    (
        "section fields",
        kinds.SectionBlock.fields_max_length,
        lambda n: [{"type": "section", "fields": [text(1, "mrkdwn")] * n}],
    ),
    (
        "header text",
        kinds.HeaderBlock.text_max_length,
        lambda n: [{"type": "header", "text": text(n)}],
    ),
    (
        "context elements",
        kinds.ContextBlock.elements_max_length,
        lambda n: [{"type": "context", "elements": [text(1, "mrkdwn")] * n}],
    ),
    (
        "actions elements",
        kinds.ActionsBlock.elements_max_length,
        lambda n: [{"type": "actions", "elements": [button(action_id=f"b{i}") for i in range(n)]}],
    ),
    (
        "image alt_text",
        kinds.ImageBlock.alt_text_max_length,
        lambda n: [{"type": "image", "image_url": "https://x/i.png", "alt_text": "x" * n}],
    ),
    (
        "image title",
        kinds.ImageBlock.title_max_length,
        lambda n: [
            {"type": "image", "image_url": "https://x/i.png", "alt_text": "x", "title": text(n)}
        ],
    ),
    (
        "block_id",
        kinds.Block.block_id_max_length,
        lambda n: [{"type": "divider", "block_id": "x" * n}],
    ),
    (
        "button text",
        elements.ButtonElement.text_max_length,
        lambda n: [section(accessory=button(n))],
    ),
    (
        "button value",
        elements.ButtonElement.value_max_length,
        lambda n: [section(accessory=button(value="x" * n))],
    ),
    (
        "button url",
        elements.ButtonElement.url_max_length,
        lambda n: [section(accessory=button(url="x" * n))],
    ),
    (
        "action_id",
        elements.InteractiveElement.action_id_max_length,
        lambda n: [section(accessory=button(action_id="x" * n))],
    ),
    (
        "select options",
        elements.StaticSelectElement.options_max_length,
        lambda n: [section(accessory=select([option(i, value_len=3) for i in range(n)]))],
    ),
    (
        "select option_groups",
        elements.StaticSelectElement.option_groups_max_length,
        lambda n: [
            section(
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "option_groups": [{"label": text(1), "options": [option(0)]}] * n,
                }
            )
        ],
    ),
    (
        "select placeholder",
        elements.InputInteractiveElement.placeholder_max_length,
        lambda n: [section(accessory=select([option(0)], placeholder=text(n)))],
    ),
    (
        "overflow options",
        elements.OverflowMenuElement.options_max_length,
        lambda n: [
            section(accessory={"type": "overflow", "options": [option(i) for i in range(n)]})
        ],
    ),
    (
        "option text",
        parts.Option.label_max_length,
        lambda n: [section(accessory=select([option(0, text_len=n)]))],
    ),
    (
        "option value",
        parts.Option.value_max_length,
        lambda n: [section(accessory=select([option(0, value_len=n)]))],
    ),
    (
        "option group label",
        parts.OptionGroup.label_max_length,
        lambda n: [
            section(
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "option_groups": [{"label": text(n), "options": [option(0)]}],
                }
            )
        ],
    ),
    # Slack's docs (option object): a description of at most 75 characters, as its text
    (
        "option description",
        75,
        lambda n: [section(accessory=select([{**option(0), "description": text(n)}]))],
    ),
    *[
        (
            f"confirm {part}",
            most,
            lambda n, part=part: [section(accessory=button(confirm=confirm(**{part: n})))],
        )
        for part, most in (
            ("title", parts.ConfirmObject.title_max_length),
            ("text", parts.ConfirmObject.text_max_length),
            ("confirm", parts.ConfirmObject.confirm_max_length),
            ("deny", parts.ConfirmObject.deny_max_length),
        )
    ],
    # Slack's docs: "You can include up to 50 blocks in each message" (slack_sdk has no
    # model of a message to carry it)
    ("message blocks", 50, lambda n: [{"type": "divider"}] * n),
    # the checkboxes element: "A maximum of 10 options are allowed" (docs.slack.dev; its
    # slack_sdk model states it only in its docstring)
    ("checkboxes options", 10, lambda n: [section(accessory=checkboxes(n))]),
    (
        "option description",
        parts.Option.label_max_length,  # docs: 75, like the option's text
        lambda n: [section(accessory=checkboxes(1, description=text(n)))],
    ),
]


def checkboxes(n: int, initial: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    options = [{**option(i, value_len=2), **extra} for i in range(n)]
    box: dict[str, Any] = {"type": "checkboxes", "action_id": "c", "options": options}
    if initial is not None:
        box["initial_options"] = [options[i] for i in initial]
    return box


VIEW_LIMITS: list[tuple[str, int, View]] = [
    ("view title", views.View.title_max_length, lambda n: modal(title=text(n))),
    ("view close", views.View.close_max_length, lambda n: modal(close=text(n))),
    ("view submit", views.View.submit_max_length, lambda n: modal(submit=text(n))),
    (
        "view private_metadata",
        views.View.private_metadata_max_length,
        lambda n: modal(private_metadata="x" * n),
    ),
    ("view callback_id", views.View.callback_id_max_length, lambda n: modal(callback_id="x" * n)),
    (
        "view blocks",
        views.View.blocks_max_length,
        lambda n: modal(blocks=[{"type": "divider"}] * n),
    ),
    (
        "input label",
        kinds.InputBlock.label_max_length,
        lambda n: form(label=text(n)),
    ),
    (
        "input hint",
        kinds.InputBlock.hint_max_length,
        lambda n: form(label=text(1), hint=text(n)),
    ),
]


@pytest.mark.parametrize(
    ("what", "limit", "build"), MESSAGE_LIMITS, ids=[c[0] for c in MESSAGE_LIMITS]
)
def test_a_message_limit_is_slacks(what: str, limit: int, build: Message) -> None:
    assert check_blocks(build(limit)) == [], what
    assert check_blocks(build(limit + 1)), what


@pytest.mark.parametrize(("what", "limit", "build"), VIEW_LIMITS, ids=[c[0] for c in VIEW_LIMITS])
def test_a_view_limit_is_slacks(what: str, limit: int, build: View) -> None:
    assert check_view(build(limit)) == [], what
    assert check_view(build(limit + 1)), what


def test_a_modals_blocks_may_number_a_hundred() -> None:
    assert check_blocks([{"type": "divider"}] * 100, modal=True) == []
    assert check_blocks([{"type": "divider"}] * 100) != []


def test_action_ids_need_be_unique_only_within_their_block() -> None:
    # docs: "Should be unique among all other action_ids in the containing block"
    twice = [section(accessory=button()), section(accessory=button())]
    assert check_blocks(twice) == []
    same_block = [{"type": "actions", "elements": [button(), button()]}]
    assert check_blocks(same_block) == [
        "[ERROR] duplicate action_id: b [json-pointer:/blocks/0/elements/1/action_id]"
    ]


def test_overflow_and_checkboxes_options_are_slacks() -> None:
    overflow = {"type": "overflow", "action_id": "o", "options": []}
    assert check_blocks([section(accessory=overflow)]) == [
        "[ERROR] must have between 1 and 5 items [json-pointer:/blocks/0/accessory/options]"
    ]
    # an overflow's options are plain_text; checkboxes' may be mrkdwn, description too
    mrkdwn_option = {"text": text(1, "mrkdwn"), "value": "v"}
    overflow["options"] = [mrkdwn_option]
    assert check_blocks([section(accessory=overflow)]) == [
        "[ERROR] must be a text object of type plain_text "
        "[json-pointer:/blocks/0/accessory/options/0/text]"
    ]
    described = {**mrkdwn_option, "description": text(1, "mrkdwn")}
    boxes = {"type": "checkboxes", "action_id": "c", "options": [described]}
    assert check_blocks([{"type": "actions", "elements": [boxes]}]) == []
    assert check_blocks([section(accessory={**overflow, "options": [described]})])


def test_initial_options_must_be_some_of_the_options() -> None:
    assert check_blocks([section(accessory=checkboxes(3, initial=[0, 2]))]) == []
    box = checkboxes(3, initial=[1])
    box["initial_options"] = [{**box["initial_options"][0], "value": "99"}]
    assert check_blocks([section(accessory=box)]) == [
        "[ERROR] must exactly match one of the options "
        "[json-pointer:/blocks/0/accessory/initial_options/0]"
    ]
    empty = {**checkboxes(2), "initial_options": []}
    assert check_blocks([section(accessory=empty)])
    chosen = select([option(0), option(1)], initial_option=option(2))
    assert check_blocks([section(accessory=chosen)]) == [
        "[ERROR] must exactly match one of the options "
        "[json-pointer:/blocks/0/accessory/initial_option]"
    ]
