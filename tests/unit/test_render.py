"""The sandbox's Block Kit renderer (bot/sandbox/render/) and its live page server."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.runbooks import checklist
from bot.runbooks.library import StepState, default_runbooks_dir, load_runbooks
from bot.sandbox.render import (
    RenderContext,
    render_blocks,
    render_message,
    render_mrkdwn,
    render_view,
)

CTX = RenderContext(
    users={"U0ALICE": "alice", "U0BOB": "bob"},
    channels={"C0INC": "incidents", "C0GEN": "general"},
    usergroups={"S0SRE": "sre-oncall"},
    viewer="U0ALICE",
    bot_user_id="U0BOT",
)

VOID = {"br", "hr", "input", "img", "meta", "link"}


class _Tags(HTMLParser):
    """Collects start tags with attributes and checks that tags balance."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> in {self.stack}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    assert p.stack == [], f"unclosed tags {p.stack}"
    return p


def tags(html: str, name: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in parse(html).starts if tag == name]


def text_of(html: str) -> str:
    return "".join(parse(html).text)


# --------------------------------------------------------------------------- mrkdwn


def test_formatting_marks() -> None:
    out = render_mrkdwn("*bold* _italic_ ~strike~ `code`", CTX)
    assert out == "<b>bold</b> <i>italic</i> <s>strike</s> <code>code</code>"


def test_formatting_needs_word_edges() -> None:
    assert render_mrkdwn("snake_case_name and 2*3*4", CTX) == "snake_case_name and 2*3*4"


def test_bold_inside_code_stays_literal() -> None:
    assert render_mrkdwn("`*bold* _x_`", CTX) == "<code>*bold* _x_</code>"
    out = render_mrkdwn("```\nline *one*\n<@U0ALICE>\n```", CTX)
    assert out == "<pre>line *one*\n&lt;@U0ALICE&gt;\n</pre>"


def test_script_in_text_stays_text() -> None:
    out = render_mrkdwn("<script>alert(1)</script> <img src=x onerror=alert(1)>", CTX)
    assert "<script" not in out and "<img" not in out
    assert text_of(out) == "<script>alert(1)</script> <img src=x onerror=alert(1)>"


def test_slack_entities_are_decoded_once() -> None:
    # Slack escapes & < > in text; the page shows them as typed, still HTML-safe.
    out = render_mrkdwn("a &lt;b&gt; &amp;lt; c", CTX)
    assert out == "a &lt;b&gt; &amp;lt; c"
    assert text_of(out) == "a <b> &lt; c"


def test_links() -> None:
    out = render_mrkdwn("see <https://status.example.com/x?a=1&amp;b=2|the *status* page>", CTX)
    (a,) = tags(out, "a")
    assert a["href"] == "https://status.example.com/x?a=1&b=2"
    assert a["rel"] == "noopener noreferrer"
    assert text_of(out) == "see the status page"
    bare = render_mrkdwn("<https://example.com>", CTX)
    assert tags(bare, "a")[0]["href"] == "https://example.com"
    assert text_of(bare) == "https://example.com"


def test_unsafe_link_is_not_clickable() -> None:
    out = render_mrkdwn("<javascript:alert(1)|click me>", CTX)
    assert tags(out, "a") == [] and text_of(out) == "click me"


def test_user_mentions_show_names() -> None:
    out = render_mrkdwn("<@U0BOB> and <@U0ALICE> and <@U0NOBODY>", CTX)
    assert text_of(out) == "@bob and @alice and @U0NOBODY"
    spans = tags(out, "span")
    assert spans[1]["class"] == "bk-mention bk-mention-me"  # the viewer is highlighted
    assert spans[0]["data-user-id"] == "U0BOB"


def test_channel_links_are_clickable_names() -> None:
    out = render_mrkdwn("go to <#C0INC> or <#C0NEW|inc-new>", CTX)
    assert text_of(out) == "go to #incidents or #inc-new"
    links = tags(out, "a")
    assert [a["data-channel-id"] for a in links] == ["C0INC", "C0NEW"]


def test_special_mentions() -> None:
    out = render_mrkdwn("<!channel> <!here> <!subteam^S0SRE> <!subteam^S0X|@dbas>", CTX)
    assert text_of(out) == "@channel @here @sre-oncall @dbas"


def test_date_token_becomes_localisable_time() -> None:
    out = render_mrkdwn(
        "due <!date^1700000000^{date_short_pretty} at {time}|14 Nov 22:13 UTC>", CTX
    )
    (t,) = tags(out, "time")
    assert t == {"datetime": "2023-11-14T22:13:20Z", "data-format": "{date_short_pretty} at {time}"}
    assert text_of(out) == "due 14 Nov 22:13 UTC"


def test_date_token_with_link_and_bad_epoch() -> None:
    out = render_mrkdwn("<!date^1700000000^{date}^https://example.com/x|then>", CTX)
    assert tags(out, "a")[0]["href"] == "https://example.com/x"
    assert tags(out, "time")
    assert render_mrkdwn("<!date^soon^{date}|whenever>", CTX) == "whenever"


def test_bold_around_a_mention_and_emoji() -> None:
    out = render_mrkdwn(":rotating_light: *<@U0BOB> is commander*", CTX)
    assert out.startswith("🚨 <b><span")
    assert text_of(out) == "🚨 @bob is commander"


def test_quotes_and_newlines() -> None:
    out = render_mrkdwn("&gt; first\n&gt; second\nafter", CTX)
    assert out == "<blockquote>first<br>second</blockquote><br>after"


@given(st.text(max_size=200))
def test_any_text_is_escaped_and_balanced(text: str) -> None:
    out = render_mrkdwn(text, CTX)
    allowed = {"b", "i", "s", "code", "pre", "a", "span", "time", "br", "blockquote"}
    parsed = parse(out)
    assert {t for t, _ in parsed.starts} <= allowed
    for tag, attrs in parsed.starts:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)


# --------------------------------------------------------------------------- blocks


def test_header_divider_context_image() -> None:
    out = render_blocks(
        [
            {"type": "header", "text": {"type": "plain_text", "text": "SEV1 <Checkout> *down*"}},
            {"type": "divider"},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "by <@U0BOB>"},
                    {"type": "image", "image_url": "https://x/y.png", "alt_text": "logo"},
                ],
            },
            {"type": "image", "image_url": "https://x/graph.png", "alt_text": "error rate"},
        ],
        CTX,
    )
    p = parse(out)
    assert [t for t, _ in p.starts if t in ("h3", "hr")] == ["h3", "hr"]
    assert "SEV1 <Checkout> *down*" in text_of(out)  # plain_text: no formatting, escaped
    assert [a["href"] for a in tags(out, "a")] == ["https://x/y.png", "https://x/graph.png"]
    assert "by @bob" in text_of(out) and "error rate" in text_of(out)


def test_section_with_fields_and_accessory_button() -> None:
    out = render_blocks(
        [
            {
                "type": "section",
                "block_id": "summary",
                "text": {"type": "mrkdwn", "text": "*Checkout is down*"},
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity*\nSEV1"},
                    {"type": "plain_text", "text": "*Status* investigating"},
                ],
                "accessory": {
                    "type": "button",
                    "action_id": "ack",
                    "value": "inc-1",
                    "text": {"type": "plain_text", "text": "Acknowledge"},
                },
            }
        ],
        CTX,
    )
    assert "<b>Checkout is down</b>" in out
    assert (
        '<div class="bk-field"><b>Severity</b><br><span class="sev sev-1">SEV1</span></div>' in out
    )
    assert '<div class="bk-field">*Status* investigating</div>' in out
    (button,) = tags(out, "button")
    assert button["data-action-id"] == "ack"
    assert button["data-block-id"] == "summary"
    assert button["data-value"] == "inc-1"


def test_actions_buttons_styles_and_confirm() -> None:
    out = render_blocks(
        [
            {
                "type": "actions",
                "block_id": "incident_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "resolve",
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Resolve"},
                    },
                    {
                        "type": "button",
                        "action_id": "page",
                        "style": "danger",
                        "value": "PD1",
                        "text": {"type": "plain_text", "text": "Page <oncall>"},
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Page?"},
                            "text": {"type": "mrkdwn", "text": "Wakes someone up"},
                            "confirm": {"type": "plain_text", "text": "Yes"},
                            "deny": {"type": "plain_text", "text": "No"},
                        },
                    },
                    {
                        "type": "static_select",
                        "action_id": "sev",
                        "placeholder": {"type": "plain_text", "text": "Severity"},
                        "options": [
                            {"text": {"type": "plain_text", "text": "SEV1"}, "value": "SEV1"}
                        ],
                    },
                ],
            }
        ],
        CTX,
    )
    buttons = tags(out, "button")
    assert [b["class"] for b in buttons] == ["bk-button bk-primary", "bk-button bk-danger"]
    assert buttons[1]["data-confirm"] == "Page?\n\nWakes someone up"
    assert "Page <oncall>" in text_of(out)
    (select,) = tags(out, "select")
    assert select["data-action-id"] == "sev" and select["data-block-id"] == "incident_actions"
    assert select["aria-label"] == "Severity"


def test_blocks_without_block_id_get_stable_ones() -> None:
    blocks = [
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "A"}}
            ],
        }
    ]
    assert tags(render_blocks(blocks, CTX), "button")[0]["data-block-id"] == "b0"


def test_unknown_block_is_named_not_dropped() -> None:
    assert "unsupported block: video" in render_blocks([{"type": "video"}], CTX)


def test_rich_text_from_a_person() -> None:
    out = render_blocks(
        [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "text", "text": "<b>hi</b> ", "style": {"bold": True}},
                            {"type": "user", "user_id": "U0BOB"},
                        ],
                    }
                ],
            }
        ],
        CTX,
    )
    assert "<b>&lt;b&gt;hi&lt;/b&gt; </b>" in out and "@bob" in text_of(out)


# --------------------------------------------------------------------------- messages


def _msg(**kw: Any) -> dict[str, Any]:
    base = {"channel": "C0INC", "ts": "1700000000.000100", "user": "U0BOB", "text": "hello"}
    return {**base, **kw}


def test_message_is_an_article_with_author_and_time() -> None:
    out = render_message(_msg(text="*hi* <script>"), CTX)
    (article,) = tags(out, "article")
    assert article["id"] == "msg-C0INC-1700000000-000100"
    assert article["data-ts"] == "1700000000.000100"
    assert '<span class="msg-author">bob</span>' in out
    assert tags(out, "time")[0]["datetime"] == "2023-11-14T22:13:20Z"
    assert "<b>hi</b> &lt;script&gt;" in out


def test_avatar_is_drawn_by_css_and_adds_no_text() -> None:
    person = render_message(_msg(), CTX)
    (avatar,) = [t for t in tags(person, "span") if "msg-avatar" in (t["class"] or "")]
    assert avatar["data-initial"] == "B" and avatar["aria-hidden"] == "true"
    again = tags(render_message(_msg(text="again"), CTX), "span")
    assert avatar in again  # one colour a person, every time
    assert not text_of(person).startswith("B")
    bot = render_message(_msg(user="U0BOT"), CTX)
    assert 'class="msg-avatar msg-avatar-app"' in bot


def test_severity_is_coloured() -> None:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "SEV2 · Checkout down"}}]
    out = render_message(_msg(blocks=blocks), CTX)
    assert '<span class="sev sev-2">SEV2</span>' in out
    assert tags(out, "article")[0]["class"] == "msg msg-sev-2"
    assert render_mrkdwn("`SEV1`", CTX) == "<code>SEV1</code>"


def test_message_blocks_win_over_text() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "from blocks"}}]
    out = render_message(_msg(text="fallback", blocks=blocks), CTX)
    assert "from blocks" in out and "fallback" not in out


def test_message_marks() -> None:
    plain = render_message(_msg(), CTX)
    assert "Pinned" not in plain and "edited" not in plain and "Only visible" not in plain
    out = render_message(
        _msg(user="U0BOT", pinned=True, edited={"ts": "1"}, ephemeral_to="U0ALICE"), CTX
    )
    assert '<span class="msg-author">Incident Bot</span>' in out
    assert "APP" in out and "📌 Pinned" in out and "(edited)" in out
    assert "Only visible to you" in out
    assert tags(out, "article")[0]["class"] == "msg msg-pinned msg-ephemeral"


def test_thread_marks() -> None:
    reply = render_message(_msg(thread_ts="1699999999.000001"), CTX)
    assert "↳ reply in thread" in text_of(reply)
    parent = render_message(_msg(thread_ts="1700000000.000100", reply_count=2), CTX)
    assert "2 replies" in text_of(parent) and "reply in thread" not in text_of(parent)


def test_message_files_and_reactions() -> None:
    out = render_message(
        _msg(
            files=[{"title": "timeline.md", "url_private": "https://files/x"}, {"name": "raw"}],
            reactions=[{"name": "eyes", "count": 2, "users": ["U0ALICE", "U0BOB"]}],
        ),
        CTX,
    )
    assert tags(out, "a")[0]["href"] == "https://files/x"
    assert "timeline.md" in text_of(out) and "raw" in text_of(out) and "👀 2" in text_of(out)


# --------------------------------------------------------------------------- views

DECLARE_VIEW: dict[str, Any] = {
    "type": "modal",
    "callback_id": "declare",
    "title": {"type": "plain_text", "text": "Declare an incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Fill *all* of it"}},
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "initial_value": 'Checkout "down" <now>',
                "placeholder": {"type": "plain_text", "text": "What is broken?"},
                "max_length": 150,
            },
        },
        {
            "type": "input",
            "block_id": "description",
            "optional": True,
            "label": {"type": "plain_text", "text": "Description"},
            "hint": {"type": "plain_text", "text": "Markdown welcome"},
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": {"type": "plain_text", "text": "Severity"},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "initial_option": {"text": {"type": "plain_text", "text": "SEV2"}, "value": "SEV2"},
                "options": [
                    {"text": {"type": "plain_text", "text": f"SEV{n}"}, "value": f"SEV{n}"}
                    for n in range(1, 5)
                ],
            },
        },
        {
            "type": "input",
            "block_id": "commander",
            "label": {"type": "plain_text", "text": "Commander"},
            "element": {"type": "users_select", "action_id": "value", "initial_user": "U0BOB"},
        },
        {
            "type": "input",
            "block_id": "responders",
            "label": {"type": "plain_text", "text": "Responders"},
            "element": {
                "type": "multi_users_select",
                "action_id": "value",
                "initial_users": ["U0ALICE", "U0BOB"],
            },
        },
        {
            "type": "input",
            "block_id": "flags",
            "label": {"type": "plain_text", "text": "Flags"},
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "initial_options": [
                    {"text": {"type": "plain_text", "text": "Private"}, "value": "private"}
                ],
                "options": [
                    {"text": {"type": "plain_text", "text": "Private"}, "value": "private"},
                    {"text": {"type": "mrkdwn", "text": "*Drill*"}, "value": "drill"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "started",
            "label": {"type": "plain_text", "text": "Started on"},
            "element": {"type": "datepicker", "action_id": "value", "initial_date": "2024-05-01"},
        },
    ],
}


def test_view_is_a_dialog_labelled_by_its_title() -> None:
    out = render_view(DECLARE_VIEW, CTX, view_id="V0001")
    (dialog,) = tags(out, "dialog")
    assert dialog["data-view-id"] == "V0001"
    (h2,) = tags(out, "h2")
    assert h2["id"] == dialog["aria-labelledby"]
    assert "Declare an incident" in text_of(out)
    buttons = tags(out, "button")
    assert [b["type"] for b in buttons] == ["button", "submit"]
    assert "Cancel" in text_of(out) and "Declare" in text_of(out)


def test_view_inputs_of_every_kind() -> None:
    out = render_view(DECLARE_VIEW, CTX, view_id="V0001")
    controls = {
        a["data-block-id"]: (tag, a)
        for tag, a in parse(out).starts
        if tag in ("input", "textarea", "select", "div") and a.get("data-kind")
    }
    assert {b: (t, a["data-kind"]) for b, (t, a) in controls.items()} == {
        "title": ("input", "plain_text_input"),
        "description": ("textarea", "plain_text_input"),
        "severity": ("select", "static_select"),
        "commander": ("select", "users_select"),
        "responders": ("select", "multi_users_select"),
        "flags": ("div", "checkboxes"),
        "started": ("input", "datepicker"),
    }
    title = controls["title"][1]
    assert title["value"] == 'Checkout "down" <now>'
    assert title["maxlength"] == "150" and title["placeholder"] == "What is broken?"
    assert controls["started"][1]["type"] == "date"
    assert controls["started"][1]["value"] == "2024-05-01"
    assert "multiple" in controls["responders"][1]
    # Every labelable control is named by its label.
    labels = {a["for"] for a in tags(out, "label") if a.get("for")}
    for block in ("title", "description", "severity", "commander", "responders", "started"):
        assert controls[block][1]["id"] in labels
    assert controls["flags"][1]["aria-labelledby"] == "in-flags-label"
    assert "(optional)" in text_of(out) and "Markdown welcome" in text_of(out)
    assert "required" in title and "required" not in controls["description"][1]


def test_view_initial_selections() -> None:
    out = render_view(DECLARE_VIEW, CTX, view_id="V0001")
    selected = [a["value"] for a in tags(out, "option") if "selected" in a]
    assert selected == ["SEV2", "U0BOB", "U0ALICE", "U0BOB"]
    checked = [a["value"] for a in tags(out, "input") if "checked" in a]
    assert checked == ["private"]
    assert "<b>Drill</b>" in out


def test_view_errors_show_under_their_inputs() -> None:
    out = render_view(DECLARE_VIEW, CTX, view_id="V1", errors={"title": "Too <short>"})
    assert '<p class="bk-error" role="alert" data-error-for="title">Too &lt;short&gt;</p>' in out
    assert '<p class="bk-error" role="alert" data-error-for="severity" hidden></p>' in out


def test_view_without_submit_has_only_close() -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Timeline"}, "blocks": []}
    out = render_view(view, CTX, view_id="V2")
    assert [b["type"] for b in tags(out, "button")] == ["button"]
    assert "Close" in text_of(out)


@pytest.mark.parametrize(
    "element",
    [
        {"type": "timepicker", "action_id": "t", "initial_time": "09:30"},
        {
            "type": "radio_buttons",
            "action_id": "r",
            "options": [{"text": {"type": "plain_text", "text": "x"}, "value": "x"}],
        },
        {"type": "multi_static_select", "action_id": "m", "options": []},
        {"type": "conversations_select", "action_id": "c", "initial_conversation": "C0GEN"},
        {"type": "number_input", "action_id": "n", "is_decimal_allowed": False},
    ],
)
def test_more_input_elements_render_balanced(element: dict[str, Any]) -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "T"},
        "blocks": [
            {
                "type": "input",
                "block_id": "x",
                "label": {"type": "plain_text", "text": "L"},
                "element": element,
            }
        ],
    }
    out = render_view(view, CTX, view_id="V3")
    assert f'data-kind="{element["type"]}"' in out
    assert "unsupported" not in out


# --------------------------------------------------------------------------- web.py
#
# The page server against a real FakeSlack mounted on the same app, as the sandbox runs it.
# The "bot" here is a few lines of aiohttp in the test: it acks /incident with a modal and
# answers view submissions, enough to drive compose -> view -> submit -> errors -> close.

import asyncio  # noqa: E402
import json as jsonlib  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

from aiohttp import ClientWebSocketResponse, web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402

from bot.fakes.slack import FakeSlack  # noqa: E402
from bot.sandbox.web import mount_sandbox_ui, sandbox_feed  # noqa: E402
from tests.sandbox_process import free_port  # noqa: E402

MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "title": {"type": "plain_text", "text": "Declare an incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "actions",
            "block_id": "more",
            "elements": [
                {
                    "type": "button",
                    "action_id": "suggest",
                    "value": "title",
                    "text": {"type": "plain_text", "text": "Suggest a title"},
                }
            ],
        },
    ],
}


HOME = {
    "type": "home",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*2 open incidents*"}},
        {
            "type": "actions",
            "block_id": "top",
            "elements": [
                {
                    "type": "button",
                    "action_id": "declare",
                    "text": {"type": "plain_text", "text": "Declare incident"},
                }
            ],
        },
    ],
}


class Sandbox:
    def __init__(self, fake: FakeSlack, client: TestClient, bot: AsyncWebClient) -> None:
        self.fake, self.client, self.bot = fake, client, bot
        self.submissions: list[dict[str, Any]] = []
        self.commands: list[str] = []  # the text of each slash command the bot got

    def channel(self, name: str) -> str:
        found = self.fake.channel_by_name(name)
        assert found is not None
        return found.id

    async def page(self, user: str | None = None) -> ClientWebSocketResponse:
        ws = await self.client.ws_connect("/sandbox/ws")
        first = await receive(ws, "snapshot")
        assert first["me"] == "U0ALICE"
        if user:
            await ws.send_json({"type": "as", "user": user})
            assert (await receive(ws, "snapshot"))["me"] == user
        return ws


async def receive(ws: ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next feed event of `kind`, skipping others (the timeout only guards a hang)."""
    while True:
        event = await asyncio.wait_for(ws.receive_json(), timeout=5)
        if event["type"] == kind:
            return dict(event)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    fake = FakeSlack()
    port = free_port()
    app = web.Application()
    fake.mount(app, "/slack-api", f"http://127.0.0.1:{port}/slack-api/")
    bot = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    box: dict[str, Sandbox] = {}

    async def tiny_bot(request: web.Request) -> web.Response:
        raw = await request.text()
        if raw.startswith("{"):  # an Events API event: a Home tab opened
            event = jsonlib.loads(raw)["event"]
            await bot.views_publish(user_id=event["user"], view=HOME)
            return web.Response()
        form = parse_qs(raw)
        if "command" in form:
            box["s"].commands.append(form.get("text", [""])[0])
            await bot.views_open(trigger_id=form["trigger_id"][0], view=MODAL)
            return web.Response()
        payload = jsonlib.loads(form["payload"][0])
        box["s"].submissions.append(payload)
        if payload["type"] == "block_actions":
            return web.Response()
        title = payload["view"]["state"]["values"]["title"]["value"]["value"]
        if len(title) < 5:
            return web.json_response(
                {"response_action": "errors", "errors": {"title": "Say a bit more <please>"}}
            )
        return web.Response()

    app.router.add_post("/slack/events", tiny_bot)
    fake.app_url = f"http://127.0.0.1:{port}/slack/events"
    mount_sandbox_ui(app, fake, extra_panels={"alerts": lambda: "<h2>Alerts</h2>"})
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    box["s"] = Sandbox(fake, client, bot)
    try:
        yield box["s"]
    finally:
        await client.close()


async def test_page_and_static_files(sandbox: Sandbox) -> None:
    page = await sandbox.client.get("/")
    assert page.status == 200 and page.content_type == "text/html"
    body = await page.text()
    assert 'aria-label="Message"' in body and '<nav aria-label="Channels"' in body
    js = await sandbox.client.get("/static/app.js")
    assert js.status == 200 and js.content_type == "text/javascript"
    assert (await sandbox.client.get("/static/web.py")).status == 404
    assert (await sandbox.client.get("/static/..%2Fweb.py")).status == 404


async def test_snapshot_has_channels_users_and_panels(sandbox: Sandbox) -> None:
    ws = await sandbox.client.ws_connect("/sandbox/ws")
    snap = await receive(ws, "snapshot")
    assert {c["name"] for c in snap["channels"]} >= {"incidents", "alerts", "general"}
    users = {u["id"]: u for u in snap["users"]}
    assert users["U0BOB"]["name"] == "bob" and users["U0BOT"]["is_bot"]
    assert snap["panels"] == {"alerts": "<h2>Alerts</h2>"}
    await ws.close()


async def test_bot_message_arrives_rendered_and_updates_in_place(sandbox: Sandbox) -> None:
    ws = await sandbox.page()
    channel = sandbox.channel("incidents")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "SEV1 Checkout is down"}},
        {
            "type": "actions",
            "block_id": "acts",
            "elements": [
                {
                    "type": "button",
                    "action_id": "ack",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Acknowledge"},
                }
            ],
        },
    ]
    posted = await sandbox.bot.chat_postMessage(
        channel=channel, text="<script>x</script>", blocks=blocks
    )
    event = await receive(ws, "message")
    assert (event["channel"], event["ts"]) == (channel, posted["ts"])
    html = event["html"]
    assert html.startswith("<article") and "Incident Bot" in html
    assert '<span class="sev sev-1">SEV1</span>' in html
    assert tags(html, "button")[0]["data-action-id"] == "ack" and "Acknowledge" in html

    fine = [{"type": "section", "text": {"type": "mrkdwn", "text": "<b>now</b> *fine*"}}]
    await sandbox.bot.chat_update(channel=channel, ts=posted["ts"], text="x", blocks=fine)
    changed = await receive(ws, "message")
    assert changed["ts"] == posted["ts"]
    assert "<b>fine</b>" in changed["html"] and "&lt;b&gt;now" in changed["html"]
    assert "(edited)" in changed["html"]

    await sandbox.bot.pins_add(channel=channel, timestamp=posted["ts"])
    pinned = await receive(ws, "message")
    assert "📌 Pinned" in pinned["html"]
    await ws.close()


async def test_ephemeral_reaches_only_its_user(sandbox: Sandbox) -> None:
    alice = await sandbox.page()
    bob = await sandbox.page("U0BOB")
    channel = sandbox.channel("incidents")
    await sandbox.bot.chat_postEphemeral(channel=channel, user="U0BOB", text="just for bob")
    await sandbox.bot.chat_postMessage(channel=channel, text="for everyone")
    for_bob = await receive(bob, "message")
    assert "just for bob" in for_bob["html"] and "Only visible to you" in for_bob["html"]
    # Alice's feed is in order: the public message comes first, nothing before it.
    first_for_alice = await receive(alice, "message")
    assert "for everyone" in first_for_alice["html"]
    # On reconnect, history respects the same rule.
    again = await sandbox.page("U0ALICE")
    await again.send_json({"type": "as", "user": "U0ALICE"})
    snap = await receive(again, "snapshot")
    assert all("just for bob" not in m["html"] for m in snap["messages"][channel])
    for ws in (alice, bob, again):
        await ws.close()


async def test_new_channels_appear_live(sandbox: Sandbox) -> None:
    ws = await sandbox.page()
    created = await sandbox.bot.conversations_create(name="inc-20240501-1-checkout")
    cid = created["channel"]["id"]
    event = await receive(ws, "channels")
    assert "inc-20240501-1-checkout" in {c["name"] for c in event["channels"]}
    assert event["messages"] == {cid: []}
    # A private channel shows only to its members.
    secret = await sandbox.bot.conversations_create(name="inc-secret", is_private=True)
    event = await receive(ws, "channels")
    assert "inc-secret" not in {c["name"] for c in event["channels"]}
    await sandbox.bot.conversations_invite(channel=secret["channel"]["id"], users="U0ALICE")
    event = await receive(ws, "channels")
    assert "inc-secret" in {c["name"] for c in event["channels"]}
    await ws.close()


async def test_slash_command_modal_submit_with_errors_then_close(sandbox: Sandbox) -> None:
    ws = await sandbox.page()
    channel = sandbox.channel("incidents")
    res = await sandbox.client.post(
        "/sandbox/compose",
        json={"user": "U0ALICE", "channel": channel, "text": "/incident declare"},
    )
    assert await res.json() == {"ok": True}
    opened = await receive(ws, "view")
    view_id = opened["view_id"]
    assert tags(opened["html"], "dialog")[0]["data-view-id"] == view_id
    assert "Declare an incident" in text_of(opened["html"])

    bad = await sandbox.client.post(
        "/sandbox/submit",
        json={"user": "U0ALICE", "view_id": view_id, "values": {"title": {"value": "x"}}},
    )
    assert await bad.json() == {"ok": False, "errors": {"title": "Say a bit more <please>"}}
    empty = await sandbox.client.post(
        "/sandbox/submit",
        json={"user": "U0ALICE", "view_id": view_id, "values": {"title": {"value": None}}},
    )
    assert (await empty.json())["errors"] == {"title": "Please fill out this field."}

    good = await sandbox.client.post(
        "/sandbox/submit",
        json={"user": "U0ALICE", "view_id": view_id, "values": {"title": {"value": "DB down"}}},
    )
    assert await good.json() == {"ok": True}
    assert (await receive(ws, "view_closed"))["view_id"] == view_id
    assert [s["type"] for s in sandbox.submissions] == ["view_submission", "view_submission"]
    await ws.close()


async def test_a_button_in_a_modal_sends_block_actions_from_the_view(sandbox: Sandbox) -> None:
    ws = await sandbox.page()
    channel = sandbox.channel("incidents")
    await sandbox.client.post(
        "/sandbox/compose", json={"user": "U0ALICE", "channel": channel, "text": "/incident"}
    )
    opened = await receive(ws, "view")
    view_id = opened["view_id"]
    (button,) = [b for b in tags(opened["html"], "button") if b.get("data-action-id")]
    assert button["data-block-id"] == "more" and button["data-value"] == "title"

    click = {
        "user": "U0ALICE",
        "view_id": view_id,
        "action_id": "suggest",
        "block_id": "more",
        "value": "title",
        "values": {"title": {"value": None}},  # required, still empty: a click is no submit
    }
    res = await sandbox.client.post("/sandbox/click", json=click)
    assert await res.json() == {"ok": True}
    (payload,) = sandbox.submissions
    assert payload["type"] == "block_actions"
    assert payload["container"] == {"type": "view", "view_id": view_id}
    assert payload["view"]["id"] == view_id and "response_url" not in payload
    assert payload["actions"][0]["action_id"] == "suggest"
    assert payload["actions"][0]["value"] == "title"
    assert payload["view"]["state"]["values"]["title"]["value"]["value"] is None
    assert view_id in sandbox.fake.views  # still open

    as_bob = await sandbox.client.post("/sandbox/click", json={**click, "user": "U0BOB"})
    assert as_bob.status == 400
    assert await as_bob.json() == {"ok": False, "error": "That form is no longer open."}
    await ws.close()


async def test_typed_names_become_mentions_and_topics_render(sandbox: Sandbox) -> None:
    channel = sandbox.channel("incidents")
    sandbox.fake.channels[channel].topic = "Commander <@U0BOB> · see <#" + channel + ">"
    ws = await sandbox.page()
    await sandbox.client.post(
        "/sandbox/compose",
        json={"user": "U0ALICE", "channel": channel, "text": "/incident commander @bob"},
    )
    assert sandbox.commands == ["commander <@U0BOB|bob>"]  # should_escape, as in the manifest
    text = "ask @carol in #general; mail bob@example.com; @nobody #4812"
    await sandbox.client.post(
        "/sandbox/compose", json={"user": "U0ALICE", "channel": channel, "text": text}
    )
    general = sandbox.channel("general")
    assert sandbox.fake.messages[channel][-1].text == (
        f"ask <@U0CAROL> in <#{general}>; mail bob@example.com; @nobody #4812"
    )

    # the topic is mrkdwn: a page connecting now gets it rendered, mentions and all
    await ws.close()
    ws = await sandbox.client.ws_connect("/sandbox/ws")
    snap = await receive(ws, "snapshot")
    (incidents,) = [c for c in snap["channels"] if c["id"] == channel]
    assert 'data-user-id="U0BOB">@bob</span>' in incidents["topic_html"]
    assert "#incidents</a>" in incidents["topic_html"]
    await ws.close()


async def test_views_go_only_to_their_user(sandbox: Sandbox) -> None:
    bob = await sandbox.page("U0BOB")
    channel = sandbox.channel("incidents")
    await sandbox.client.post(
        "/sandbox/compose", json={"user": "U0ALICE", "channel": channel, "text": "/incident"}
    )
    await sandbox.client.post(
        "/sandbox/compose", json={"user": "U0BOB", "channel": channel, "text": "/incident"}
    )
    opened = await receive(bob, "view")
    (vid,) = [v for v, view in sandbox.fake.views.items() if v == opened["view_id"]]
    assert sandbox.fake.view_owner(vid) == "U0BOB"
    res = await sandbox.client.post("/sandbox/close", json={"user": "U0BOB", "view_id": vid})
    assert await res.json() == {"ok": True}
    assert (await receive(bob, "view_closed"))["view_id"] == vid
    await bob.close()


async def test_user_messages_and_errors_surface_as_json(sandbox: Sandbox) -> None:
    ws = await sandbox.page()
    channel = sandbox.channel("general")
    res = await sandbox.client.post(
        "/sandbox/compose", json={"user": "U0CAROL", "channel": channel, "text": "hi _all_"}
    )
    assert await res.json() == {"ok": True}
    event = await receive(ws, "message")
    assert (
        "<i>all</i>" in event["html"] and '<span class="msg-author">carol</span>' in event["html"]
    )

    unknown = await sandbox.client.post(
        "/sandbox/compose", json={"user": "U0NOPE", "channel": channel, "text": "x"}
    )
    assert unknown.status == 400
    assert await unknown.json() == {"ok": False, "error": "Unknown user 'U0NOPE'."}
    missing = await sandbox.client.post(
        "/sandbox/click",
        json={"user": "U0ALICE", "channel": channel, "ts": event["ts"], "action_id": "nope"},
    )
    body = await missing.json()
    assert body["ok"] is False and "nope" in body["error"] and "Traceback" not in body["error"]
    await ws.close()


async def test_panels_are_published_to_every_page(sandbox: Sandbox) -> None:
    ws = await sandbox.page()
    sandbox_feed(sandbox.client.app).publish(
        {"type": "panel", "panel": "pagerduty", "html": "<h2>On call</h2>"}
    )
    assert await receive(ws, "panel") == {
        "type": "panel",
        "panel": "pagerduty",
        "html": "<h2>On call</h2>",
    }
    await ws.close()


def test_a_thread_folds_under_its_message() -> None:
    reply = tags(render_message(_msg(thread_ts="1699999999.000001"), CTX), "article")[0]
    assert reply["data-thread"] == "1699999999.000001" and "msg-reply" in reply["class"]
    parent = render_message(_msg(thread_ts="1700000000.000100", reply_count=2), CTX)
    [toggle] = tags(parent, "button")
    assert toggle["data-thread-of"] == "1700000000.000100" and toggle["aria-expanded"] == "false"
    assert "data-thread=" not in parent.split(">", 1)[0]


async def test_the_home_tab_reaches_only_its_user_and_clicks_as_its_view(sandbox: Sandbox) -> None:
    async def snapshot_of(user: str) -> dict[str, Any]:
        ws = await sandbox.client.ws_connect("/sandbox/ws")
        await receive(ws, "snapshot")
        await ws.send_json({"type": "as", "user": user})
        snap = await receive(ws, "snapshot")
        await ws.close()
        return snap

    assert "has not published a Home tab for you" in (await snapshot_of("U0ALICE"))["home"]
    alice = await sandbox.page()
    res = await sandbox.client.post("/sandbox/home", json={"user": "U0ALICE"})
    assert await res.json() == {"ok": True}
    home = await receive(alice, "home")
    assert 'role="region" aria-label="App Home"' in home["html"]
    assert "2 open incidents" in home["html"]
    (button,) = [b for b in tags(home["html"], "button") if b.get("data-action-id")]
    assert button["data-action-id"] == "declare"
    # a page connecting now is shown the tab of its own user only
    assert "2 open incidents" in (await snapshot_of("U0ALICE"))["home"]
    assert "has not published a Home tab for you" in (await snapshot_of("U0BOB"))["home"]

    view_id = sandbox.fake.homes["U0ALICE"]["id"]
    click = {"user": "U0ALICE", "view_id": view_id, "action_id": "declare", "values": {}}
    assert await (await sandbox.client.post("/sandbox/click", json=click)).json() == {"ok": True}
    payload = sandbox.submissions[-1]
    assert payload["container"] == {"type": "view", "view_id": view_id}
    assert payload["view"]["type"] == "home" and payload["actions"][0]["action_id"] == "declare"
    as_bob = await sandbox.client.post("/sandbox/click", json={**click, "user": "U0BOB"})
    assert as_bob.status == 400
    await alice.close()


def test_a_checklist_renders_its_boxes_and_step_menus() -> None:
    book = load_runbooks(default_runbooks_dir())["service-down"]
    first, second = (s.id for s in book.phases[0].steps)
    states = {first: StepState(status="done", by="U0BOB", at=1)}
    out = render_blocks(checklist(book, states, run_id="r1"), CTX)
    boxes = [a for a in tags(out, "input") if a.get("type") == "checkbox"]
    assert [(a["value"], "checked" in a) for a in boxes[:2]] == [(first, True), (second, False)]
    assert "done by @bob" in text_of(out)  # the option's description, mrkdwn rendered
    group = next(a for a in tags(out, "div") if a.get("data-kind") == "checkboxes")
    assert group["data-action-id"] == "runbook_tick:r1"
    assert group["data-block-id"] == "rb-tick-0-1"  # what app.js sends back with a tick
    menus = [a for a in tags(out, "select") if a.get("data-kind") == "overflow"]
    assert len(menus) == 21 and all(m["aria-label"] == "More actions" for m in menus)
    assert "🙋 I'm on it (step 2)" in text_of(out) and "↩️ Undo (step 1)" in text_of(out)
