"""The fake Slack answers the real slack_sdk client like slack.com does, over real HTTP.

Every test drives the fake through `AsyncWebClient` (or a signed request to a tiny bot app
that checks signatures with slack_sdk's own verifier), never through its internals, and
then looks at the fake's recorded workspace.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.fakes.slack import FakeSlack, SlackError
from tests.conftest import serve_slack_events

SECRET = "test-signing-secret"


@dataclass
class Received:
    """One request the tiny bot app got from the fake, already signature-checked."""

    headers: dict[str, str]
    body: str

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body).items()}

    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.form()["payload"]))


@dataclass
class TinyBot:
    """An aiohttp app standing in for the bot: verifies the signature, answers with `reply`."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    reply: Callable[[Received], web.Response] = lambda _: web.Response(status=200)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        if not SignatureVerifier(SECRET).is_valid_request(body, dict(request.headers)):
            return web.Response(status=401, text="bad signature")
        got = Received(dict(request.headers), body)
        self.received.append(got)
        self.arrived.set()
        return self.reply(got)


@pytest.fixture
async def bot_app() -> AsyncIterator[TinyBot]:
    tiny = TinyBot()
    app = web.Application()
    app.router.add_post("/slack/events", tiny.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    tiny.url = f"http://{host}:{port}/slack/events"
    yield tiny
    await runner.cleanup()


@pytest.fixture
async def fake(bot_app: TinyBot) -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(signing_secret=SECRET, app_url=bot_app.url)
    await slack.start()
    yield slack
    await slack.stop()


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    web_client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    yield web_client
    if web_client.session is not None:
        await web_client.session.close()


async def error_of(call: Awaitable[Any]) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, text: str = "Go", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        **extra,
    }


# ------------------------------------------------------------------ auth and plumbing


async def test_auth_test_names_the_bot_and_its_scopes(fake: FakeSlack, client: AsyncWebClient):
    response = await client.auth_test()
    assert response["user_id"] == "U0BOT"
    assert response["team_id"] == "T0FAKE"
    assert "chat:write" in response.headers["x-oauth-scopes"]


async def test_missing_and_wrong_tokens_are_refused(fake: FakeSlack):
    anonymous = AsyncWebClient(token=None, base_url=fake.api_url)
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert await error_of(anonymous.auth_test()) == "not_authed"
    assert await error_of(wrong.chat_postMessage(channel="incidents", text="hi")) == "invalid_auth"
    assert (await anonymous.api_test(foo="bar"))["args"] == {"foo": "bar"}
    assert fake.messages[fake.channel_by_name("incidents").id] == []  # type: ignore[union-attr]


async def test_unknown_method(client: AsyncWebClient):
    assert await error_of(client.api_call("chat.teleport")) == "unknown_method"


async def test_every_call_is_recorded(fake: FakeSlack, client: AsyncWebClient):
    await client.chat_postMessage(channel="incidents", text="one")
    await error_of(client.chat_postMessage(channel="nowhere", text="two"))
    calls = fake.calls_to("chat.postMessage")
    assert [(c.ok, c.error, c.args["text"]) for c in calls] == [
        (True, None, "one"),
        (False, "channel_not_found", "two"),
    ]


# ------------------------------------------------------------------ messages


async def test_post_message_by_name_id_hash_and_user(fake: FakeSlack, client: AsyncWebClient):
    incidents = fake.channel_by_name("incidents")
    assert incidents is not None
    for ref in ("incidents", "#incidents", incidents.id):
        response = await client.chat_postMessage(channel=ref, text=f"via {ref}")
        assert response["channel"] == incidents.id
    dm = await client.chat_postMessage(channel="U0ALICE", text="psst")
    assert fake.channels[dm["channel"]].is_im
    assert fake.channels[dm["channel"]].members == {"U0ALICE", "U0BOT"}
    history = await client.conversations_history(channel=incidents.id)
    assert [m["text"] for m in history["messages"]] == [
        "via " + incidents.id,
        "via #incidents",
        "via incidents",
    ]


async def test_blocks_arrive_as_json_or_as_a_form_string(fake: FakeSlack, client: AsyncWebClient):
    blocks = [section("*hello*"), {"type": "actions", "elements": [button("ack", value="1")]}]
    response = await client.chat_postMessage(channel="incidents", text="t", blocks=blocks)
    stored = fake.message(response["channel"], response["ts"])
    assert stored is not None and stored.blocks[1]["elements"][0]["action_id"] == "ack"

    async with aiohttp.ClientSession() as session:
        form = {"channel": "alerts", "text": "t", "blocks": json.dumps(blocks)}
        headers = {"Authorization": f"Bearer {fake.bot_token}"}
        async with session.post(fake.api_url + "chat.postMessage", data=form, headers=headers) as r:
            answer = await r.json()
        assert answer["ok"] is True
        assert fake.message(answer["channel"], answer["ts"]).blocks[0]["text"]["text"] == "*hello*"  # type: ignore[union-attr]
        form["blocks"] = "{not json"
        async with session.post(fake.api_url + "chat.postMessage", data=form, headers=headers) as r:
            assert (await r.json())["error"] == "invalid_blocks_format"


async def test_message_needs_text_and_a_sane_length(client: AsyncWebClient):
    with pytest.warns(UserWarning, match="text"):  # slack_sdk itself warns before sending
        assert await error_of(client.chat_postMessage(channel="incidents")) == "no_text"
    long_text = "x" * 40_001
    assert (
        await error_of(client.chat_postMessage(channel="incidents", text=long_text))
        == "msg_too_long"
    )
    assert (
        await error_of(client.chat_postMessage(channel="incidents", text="t", blocks="{}"))
        == "invalid_blocks_format"
    )


@pytest.mark.parametrize(
    ("blocks", "why"),
    [
        ([section(f"{i}") for i in range(51)], "no more than 50 items"),
        ([section("x" * 3001)], "/blocks/0/text/text"),
        ([{"type": "section"}], "either text or fields"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            "/blocks/0/fields",
        ),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0/text"),
        ([{"type": "actions", "elements": [button(f"b{i}") for i in range(26)]}], "1 and 25"),
        ([{"type": "actions", "elements": [button("b", "L" * 76)]}], "/blocks/0/elements/0/text"),
        ([{"type": "actions", "elements": [button("b", style="fancy")]}], "primary, danger"),
        ([{"type": "actions", "elements": [button("b"), button("b")]}], "duplicate action_id"),
        ([section("a", block_id="x"), section("b", block_id="x")], "duplicate block_id"),
        ([{"type": "carousel"}], "unsupported type: carousel"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "1 and 10"),
    ],
)
async def test_block_kit_limits_are_enforced(client: AsyncWebClient, blocks: list[Any], why: str):
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="incidents", text="t", blocks=blocks)
    assert caught.value.response["error"] == "invalid_blocks"
    messages = caught.value.response["response_metadata"]["messages"]
    assert any(why in m for m in messages), messages


async def test_update_and_delete_only_the_bots_own_messages(
    fake: FakeSlack, client: AsyncWebClient
):
    posted = await client.chat_postMessage(channel="incidents", text="v1")
    channel, ts = posted["channel"], posted["ts"]
    updated = await client.chat_update(channel=channel, ts=ts, text="v2")
    assert updated["text"] == "v2" and fake.message(channel, ts).edited  # type: ignore[union-attr]
    human = await fake.post_message("U0ALICE", "incidents", "mine")
    assert (
        await error_of(client.chat_update(channel=channel, ts=human.ts, text="x"))
        == "cant_update_message"
    )
    assert (
        await error_of(client.chat_update(channel=channel, ts="1.000001", text="x"))
        == "message_not_found"
    )
    await client.chat_delete(channel=channel, ts=ts)
    assert fake.message(channel, ts) is None
    link = await client.chat_getPermalink(channel=channel, message_ts=human.ts)
    assert link["permalink"].endswith(human.ts.replace(".", ""))


async def test_ephemeral_needs_the_user_in_the_channel(fake: FakeSlack, client: AsyncWebClient):
    room = fake.add_channel("war-room", members=["U0BOT", "U0ALICE"])
    sent = await client.chat_postEphemeral(channel=room.id, user="U0ALICE", text="only you")
    assert fake.message(room.id, sent["message_ts"]).ephemeral_to == "U0ALICE"  # type: ignore[union-attr]
    assert (
        await error_of(client.chat_postEphemeral(channel=room.id, user="U0BOB", text="x"))
        == "user_not_in_channel"
    )
    assert (await client.conversations_history(channel=room.id))["messages"] == []


async def test_private_channels_need_membership(fake: FakeSlack, client: AsyncWebClient):
    secret = fake.add_channel("secret", is_private=True, members=["U0ALICE"])
    assert await error_of(client.chat_postMessage(channel=secret.id, text="x")) == "not_in_channel"
    lurk = fake.add_channel("lurk", members=["U0ALICE"])  # public, bot not in it
    assert (await client.chat_postMessage(channel=lurk.id, text="ok"))["ok"]
    strict = FakeSlack(scopes=["chat:write", "channels:read"], seed=False)
    await strict.start()
    try:
        other = strict.add_channel("lurk")
        strict_client = AsyncWebClient(token=strict.bot_token, base_url=strict.api_url)
        refused = strict_client.chat_postMessage(channel=other.id, text="x")
        assert await error_of(refused) == "not_in_channel"
        assert await error_of(strict_client.pins_list(channel=other.id)) == "missing_scope"
    finally:
        await strict.stop()


# ------------------------------------------------------------------ conversations


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("Incident!", "invalid_name_specials"),
        ("has space", "invalid_name_specials"),
        ("a" * 81, "invalid_name_maxlength"),
        ("--__", "invalid_name_punctuation"),
        ("incidents", "name_taken"),
    ],
)
async def test_channel_name_rules(client: AsyncWebClient, name: str, error: str):
    assert await error_of(client.conversations_create(name=name)) == error


async def test_create_invite_topic_rename_archive(fake: FakeSlack, client: AsyncWebClient):
    created = await client.conversations_create(name="inc-20240101-1-db-down", is_private=True)
    cid = created["channel"]["id"]
    assert created["channel"]["is_private"] and created["channel"]["is_member"]
    await client.conversations_invite(channel=cid, users="U0ALICE,U0BOB")
    assert fake.channels[cid].members == {"U0BOT", "U0ALICE", "U0BOB"}
    assert (
        await error_of(client.conversations_invite(channel=cid, users="U0ALICE"))
        == "already_in_channel"
    )
    assert (
        await error_of(client.conversations_invite(channel=cid, users="U0NOBODY"))
        == "user_not_found"
    )
    assert (
        await error_of(client.conversations_invite(channel=cid, users="U0BOT"))
        == "cant_invite_self"
    )
    assert await error_of(client.conversations_setTopic(channel=cid, topic="t" * 251)) == "too_long"
    await client.conversations_setTopic(channel=cid, topic="SEV1 | investigating")
    assert (await client.conversations_info(channel=cid))["channel"]["topic"][
        "value"
    ] == "SEV1 | investigating"
    await client.conversations_rename(channel=cid, name="inc-20240101-1-db-fixed")
    assert fake.channel_by_name("inc-20240101-1-db-fixed") is fake.channels[cid]
    await client.conversations_archive(channel=cid)
    assert await error_of(client.chat_postMessage(channel=cid, text="x")) == "is_archived"
    assert (
        await error_of(client.conversations_invite(channel=cid, users="U0CAROL")) == "is_archived"
    )


async def test_a_taken_name_is_refused_whoever_holds_it(fake: FakeSlack, client: AsyncWebClient):
    created = await client.conversations_create(name="inc-20240101-1-db-down")
    assert created["channel"]["creator"] == "U0BOT"
    # a member's channel, a private one the bot cannot see, an archived one: all hold names
    squat = fake.create_channel_as_user("U0BOB", "inc-20240101-2-private")
    assert (squat.creator, squat.members, squat.is_private) == ("U0BOB", {"U0BOB"}, False)
    fake.create_channel_as_user("U0BOB", "hidden-room", is_private=True)
    await client.conversations_archive(channel=created["channel"]["id"])
    for name in ("inc-20240101-2-private", "hidden-room", "inc-20240101-1-db-down"):
        with pytest.raises(SlackApiError) as caught:
            await client.conversations_create(name=name, is_private=True)
        assert caught.value.response.data == {"ok": False, "error": "name_taken"}
    with pytest.raises(SlackError):
        fake.create_channel_as_user("U0ALICE", "hidden-room")
    # the member invites the bot: it is in, and sees who made the channel
    fake.invite_as_user("U0BOB", squat.id, ["U0BOT"])
    info = await client.conversations_info(channel=squat.id)
    assert info["channel"]["is_member"] and info["channel"]["creator"] == "U0BOB"
    with pytest.raises(SlackError):
        fake.invite_as_user("U0ALICE", squat.id, ["U0CAROL"])  # not a member: cannot invite


async def test_a_failure_may_have_taken_effect(fake: FakeSlack, client: AsyncWebClient):
    fake.fail("conversations.create", error="fatal_error", took_effect=True)
    assert await error_of(client.conversations_create(name="lost-answer")) == "fatal_error"
    made = fake.channel_by_name("lost-answer")
    assert made is not None and made.creator == "U0BOT"
    assert await error_of(client.conversations_create(name="lost-answer")) == "name_taken"


async def test_list_paginates_with_cursors(fake: FakeSlack, client: AsyncWebClient):
    for i in range(5):
        fake.add_channel(f"extra-{i}")
    fake.add_channel("hidden", is_private=True, members=["U0ALICE"])
    names: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.conversations_list(limit=3, cursor=cursor)
        names += [c["name"] for c in page["channels"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(names) == 8 and "hidden" not in names
    assert await error_of(client.conversations_list(cursor="garbage")) == "invalid_cursor"


async def test_pins_reactions_and_users(fake: FakeSlack, client: AsyncWebClient):
    posted = await client.chat_postMessage(channel="incidents", text="pin me")
    channel, ts = posted["channel"], posted["ts"]
    await client.pins_add(channel=channel, timestamp=ts)
    assert await error_of(client.pins_add(channel=channel, timestamp=ts)) == "already_pinned"
    assert (
        await error_of(client.pins_add(channel=channel, timestamp="9.000009"))
        == "message_not_found"
    )
    assert [i["message"]["ts"] for i in (await client.pins_list(channel=channel))["items"]] == [ts]
    await client.reactions_add(channel=channel, timestamp=ts, name="eyes")
    got = await client.reactions_get(channel=channel, timestamp=ts)
    assert got["message"]["reactions"] == [{"name": "eyes", "users": ["U0BOT"], "count": 1}]
    alice = await client.users_lookupByEmail(email="alice@example.com")
    assert alice["user"]["id"] == "U0ALICE"
    assert (
        await error_of(client.users_lookupByEmail(email="nobody@example.com")) == "users_not_found"
    )
    assert (await client.users_info(user="U0BOB"))["user"]["name"] == "bob"


# ------------------------------------------------------------------ injected failures


async def test_rate_limit_is_retried_by_slack_sdk(fake: FakeSlack):
    retrying = AsyncWebClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.fail("chat.postMessage", status=429, retry_after=0)
    response = await retrying.chat_postMessage(channel="incidents", text="eventually")
    assert response["ok"]
    calls = fake.calls_to("chat.postMessage")
    assert [(c.status, c.error) for c in calls] == [(429, "ratelimited"), (200, None)]
    if retrying.session is not None:
        await retrying.session.close()


async def test_rate_limit_and_server_error_reach_a_plain_client(
    fake: FakeSlack, client: AsyncWebClient
):
    fake.fail("conversations.create", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        await client.conversations_create(name="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    fake.fail("conversations.create", status=500)
    with pytest.raises(SlackApiError) as caught:
        await client.conversations_create(name="x")
    assert caught.value.response.status_code == 500
    fake.fail("conversations.create", error="restricted_action", times=2)
    assert await error_of(client.conversations_create(name="x")) == "restricted_action"
    assert await error_of(client.conversations_create(name="x")) == "restricted_action"
    assert (await client.conversations_create(name="x"))["ok"]


# ------------------------------------------------------------------ humans toward the bot


async def test_slash_command_is_signed_and_its_ack_shown_ephemerally(
    fake: FakeSlack, bot_app: TinyBot
):
    bot_app.reply = lambda _: web.json_response({"text": "Usage: /incident declare <title>"})
    result = await fake.slash_command("U0ALICE", "incidents", "/incident", "help")
    assert result.status == 200
    form = bot_app.received[0].form()
    assert (form["command"], form["text"], form["user_id"]) == ("/incident", "help", "U0ALICE")
    channel = fake.channel_by_name("incidents")
    assert channel is not None and form["channel_id"] == channel.id
    [shown] = fake.messages[channel.id]
    assert shown.ephemeral_to == "U0ALICE" and shown.text.startswith("Usage")


async def test_bad_signature_is_what_the_verifier_rejects(fake: FakeSlack, bot_app: TinyBot):
    fake.signing_secret = "some-other-secret"
    result = await fake.slash_command("U0ALICE", "incidents", "/incident", "help")
    assert result.status == 401 and bot_app.received == []


async def test_response_url_posts_in_channel_and_ephemeral(fake: FakeSlack, bot_app: TinyBot):
    await fake.slash_command("U0BOB", "alerts", "/incident", "list")
    response_url = bot_app.received[0].form()["response_url"]
    assert response_url.startswith(fake.base_url)
    webhook = AsyncWebhookClient(response_url)
    assert (await webhook.send(text="just you")).status_code == 200
    assert (await webhook.send(text="everyone", response_type="in_channel")).status_code == 200
    bad = await webhook.send(text="t", blocks=[{"type": "carousel"}])
    assert bad.status_code == 400 and "invalid_blocks" in bad.body
    alerts = fake.channel_by_name("alerts")
    assert alerts is not None
    shown = [(m.text, m.ephemeral_to) for m in fake.messages[alerts.id]]
    assert shown == [("just you", "U0BOB"), ("everyone", None)]


async def test_click_sends_block_actions_and_replace_original(
    fake: FakeSlack, client: AsyncWebClient, bot_app: TinyBot
):
    blocks = [
        section("Incident declared"),
        {
            "type": "actions",
            "elements": [button("ack", value="inc-1"), button("resolve", value="inc-1")],
        },
    ]
    posted = await client.chat_postMessage(channel="incidents", text="declared", blocks=blocks)
    result = await fake.click("U0CAROL", "incidents", posted["ts"], "resolve", value="inc-1")
    assert result.status == 200
    payload = bot_app.received[-1].payload()
    assert payload["type"] == "block_actions"
    assert payload["actions"][0]["action_id"] == "resolve"
    assert payload["actions"][0]["value"] == "inc-1"
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": posted["channel"],
        "is_ephemeral": False,
    }
    webhook = AsyncWebhookClient(payload["response_url"])
    await webhook.send(text="Resolved by carol", replace_original=True)
    replaced = fake.message(posted["channel"], posted["ts"])
    assert replaced is not None and replaced.text == "Resolved by carol" and replaced.blocks == []
    with pytest.raises(ValueError, match="no element"):
        await fake.click("U0CAROL", "incidents", posted["ts"], "nope")


DECLARE_MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "title": {"type": "plain_text", "text": "Declare incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": {"type": "plain_text", "text": "Severity"},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [
                    {"text": {"type": "plain_text", "text": s}, "value": s}
                    for s in ("SEV1", "SEV2")
                ],
            },
        },
        {
            "type": "input",
            "block_id": "commander",
            "optional": True,
            "label": {"type": "plain_text", "text": "Commander"},
            "element": {"type": "users_select", "action_id": "value"},
        },
    ],
}


def choice(value: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"text": {"type": kind, "text": value.upper()}, "value": value}


async def test_a_tick_sends_the_whole_selection_and_an_overflow_its_choice(
    fake: FakeSlack, client: AsyncWebClient, bot_app: TinyBot
):
    """Slack's block_actions of a checkboxes element carry its selected_options after the
    click (and state.values beside them); an overflow's its selected_option."""
    boxes = {
        "type": "checkboxes",
        "action_id": "boxes",
        "options": [choice("a"), choice("b"), choice("c")],
        "initial_options": [choice("a")],
    }
    menu = {"type": "overflow", "action_id": "more", "options": [choice("x", "plain_text")]}
    blocks = [{"type": "actions", "block_id": "steps", "elements": [boxes, menu]}]
    posted = await client.chat_postMessage(channel="incidents", text="steps", blocks=blocks)
    ts = posted["ts"]

    assert (await fake.tick("U0CAROL", "incidents", ts, "c")).status == 200
    payload = bot_app.received[-1].payload()
    (action,) = payload["actions"]
    assert {k: action[k] for k in ("type", "action_id", "block_id")} == {
        "type": "checkboxes",
        "action_id": "boxes",
        "block_id": "steps",
    }
    assert action["selected_options"] == [choice("a"), choice("c")]  # in the options' order
    assert payload["state"]["values"]["steps"]["boxes"] == {
        "type": "checkboxes",
        "selected_options": [choice("a"), choice("c")],
    }
    assert payload["message"]["blocks"][0]["elements"][0]["initial_options"] == [choice("a")]

    await fake.tick("U0CAROL", "incidents", ts, "a")  # unticking
    assert bot_app.received[-1].payload()["actions"][0]["selected_options"] == []

    await fake.choose("U0CAROL", "incidents", ts, "x")
    (picked,) = bot_app.received[-1].payload()["actions"]
    assert picked["type"] == "overflow" and picked["selected_option"] == choice("x", "plain_text")
    # the same action_id in two blocks: a click by value is on the one offering it
    other = {**boxes, "options": [choice("d")], "initial_options": [choice("d")]}
    two = [{"type": "actions", "block_id": "more", "elements": [other]}, *blocks]
    both = await client.chat_postMessage(channel="incidents", text="two", blocks=two)
    await fake.click("U0CAROL", "incidents", both["ts"], "boxes", value="b")
    (action,) = bot_app.received[-1].payload()["actions"]
    assert action["block_id"] == "steps" and action["selected_options"] == [
        choice("a"),
        choice("b"),
    ]
    with pytest.raises(ValueError, match="no checkboxes with an option 'zz'"):
        await fake.tick("U0CAROL", "incidents", ts, "zz")
    # Slack refuses initial_options that are not among the options
    wrong = {**boxes, "initial_options": [choice("d")]}
    bad = [{"type": "actions", "elements": [wrong]}]
    assert await error_of(client.chat_postMessage(channel="incidents", text="x", blocks=bad)) == (
        "invalid_blocks"
    )


async def test_modal_trigger_rules_and_submission(
    fake: FakeSlack, client: AsyncWebClient, bot_app: TinyBot
):
    await fake.slash_command("U0ALICE", "incidents", "/incident", "declare")
    trigger = bot_app.received[0].form()["trigger_id"]
    assert (
        await error_of(client.views_open(trigger_id="1.2.nope", view=DECLARE_MODAL))
        == "invalid_trigger_id"
    )
    too_long = {**DECLARE_MODAL, "title": {"type": "plain_text", "text": "T" * 25}}
    assert (
        await error_of(client.views_open(trigger_id=trigger, view=too_long)) == "invalid_arguments"
    )
    opened = await client.views_open(trigger_id=trigger, view=DECLARE_MODAL)
    view_id = opened["view"]["id"]
    assert view_id.startswith("V") and fake.views[view_id]["callback_id"] == "declare"
    assert (
        await error_of(client.views_open(trigger_id=trigger, view=DECLARE_MODAL))
        == "exchanged_trigger_id"
    )

    bot_app.reply = lambda _: web.json_response(
        {"response_action": "errors", "errors": {"title": "Too vague"}}
    )
    result = await fake.submit_view(
        "U0ALICE", view_id, {"title": {"value": "db"}, "severity": {"value": "SEV1"}}
    )
    assert result.errors == {"title": "Too vague"} and view_id in fake.views
    state = bot_app.received[-1].payload()["view"]["state"]["values"]
    assert state["title"]["value"] == {"type": "plain_text_input", "value": "db"}
    assert state["severity"]["value"]["selected_option"]["value"] == "SEV1"
    assert state["commander"]["value"] == {"type": "users_select", "selected_user": None}

    bot_app.reply = lambda _: web.Response(status=200)
    values = {
        "title": {"value": "Database down"},
        "severity": {"value": "SEV2"},
        "commander": {"value": "U0BOB"},
    }
    result = await fake.submit_view("U0ALICE", view_id, values)
    assert result.errors is None and view_id not in fake.views


async def test_expired_trigger(fake: FakeSlack, client: AsyncWebClient, bot_app: TinyBot):
    now = [1000.0]
    fake.clock = lambda: now[0]
    await fake.slash_command("U0ALICE", "incidents", "/incident", "declare")
    trigger = bot_app.received[0].form()["trigger_id"]
    now[0] += 3.5
    assert (
        await error_of(client.views_open(trigger_id=trigger, view=DECLARE_MODAL))
        == "expired_trigger_id"
    )


async def test_human_message_becomes_a_signed_event_with_retry_headers(
    fake: FakeSlack, bot_app: TinyBot
):
    message = await fake.post_message(
        "U0DAVE", "alerts", "FIRING: disk full", retry_num=1, event_id="Ev1"
    )
    received = bot_app.received[-1]
    envelope = json.loads(received.body)
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev1"
    assert (
        envelope["event"]["text"] == "FIRING: disk full" and envelope["event"]["ts"] == message.ts
    )
    assert received.headers["X-Slack-Retry-Num"] == "1"
    assert received.headers["X-Slack-Retry-Reason"] == "http_timeout"


async def test_file_upload_v2_round_trip(fake: FakeSlack, client: AsyncWebClient):
    alerts = fake.channel_by_name("alerts")
    assert alerts is not None
    uploaded = await client.files_upload_v2(
        channel=alerts.id, content="timeline...", filename="timeline.md", title="Timeline"
    )
    file_id = uploaded["file"]["id"]
    assert fake.files[file_id]["content"] == b"timeline..."
    assert fake.files[file_id]["title"] == "Timeline"
    [shared] = fake.messages[alerts.id]
    assert shared.files[0]["id"] == file_id


async def test_subscribers_see_the_workspace_change(fake: FakeSlack, client: AsyncWebClient):
    seen: list[dict[str, Any]] = []
    got_async = asyncio.Event()

    async def async_listener(event: dict[str, Any]) -> None:
        if event["type"] == "message":
            got_async.set()

    unsubscribe = fake.subscribe(seen.append)
    fake.subscribe(async_listener)
    created = await client.conversations_create(name="feed-test")
    await client.chat_postMessage(channel=created["channel"]["id"], text="hello")
    await asyncio.wait_for(got_async.wait(), timeout=2)
    unsubscribe()
    await client.conversations_setTopic(channel=created["channel"]["id"], topic="quiet")
    assert [e["type"] for e in seen] == ["channel_created", "message"]
    assert seen[1]["message"]["text"] == "hello"
    json.dumps(seen)  # the feed goes to a browser as JSON


async def test_views_push_and_update(fake: FakeSlack, client: AsyncWebClient, bot_app: TinyBot):
    await fake.slash_command("U0ALICE", "incidents", "/incident", "declare")
    opened = await client.views_open(
        trigger_id=bot_app.received[0].form()["trigger_id"], view=DECLARE_MODAL
    )
    view = opened["view"]
    info = {"type": "modal", "title": {"type": "plain_text", "text": "Info"}, "blocks": []}
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view=info)
    assert fake.views[view["id"]]["title"]["text"] == "Info"
    stale = client.views_update(view_id=view["id"], hash=view["hash"], view=info)
    assert await error_of(stale) == "hash_conflict"
    assert await error_of(client.views_update(view_id="V0NONE", view=info)) == "not_found"
    assert updated["view"]["root_view_id"] == view["id"]

    bot_app.reply = lambda _: web.json_response({"response_action": "push", "view": info})
    await fake.submit_view("U0ALICE", view["id"], {})
    assert len(fake.views) == 2
    bot_app.reply = lambda _: web.json_response({"response_action": "clear"})
    pushed = next(v for v in fake.views if v != view["id"])
    await fake.submit_view("U0ALICE", pushed, {})
    assert fake.views == {}


async def test_in_channel_ack_and_ephemeral_clicks(fake: FakeSlack, bot_app: TinyBot):
    ack = {
        "response_type": "in_channel",
        "text": "Declared",
        "blocks": [{"type": "actions", "elements": [button("join")]}],
    }
    bot_app.reply = lambda _: web.json_response(ack)
    await fake.slash_command("U0BOB", "general", "/incident", "declare SEV2 x")
    general = fake.channel_by_name("general")
    assert general is not None
    [shown] = fake.messages[general.id]
    assert shown.ephemeral_to is None and shown.user == "U0BOT"

    bot_app.reply = lambda _: web.json_response({"text": "t", "blocks": ack["blocks"]})
    await fake.slash_command("U0BOB", "general", "/incident", "help")
    private = fake.messages[general.id][-1]
    assert private.ephemeral_to == "U0BOB"
    bot_app.reply = lambda _: web.Response(status=200)
    await fake.click("U0BOB", "general", private.ts, "join")
    payload = bot_app.received[-1].payload()
    assert payload["container"]["is_ephemeral"] is True and "message" not in payload
    with pytest.raises(ValueError, match="cannot see"):
        await fake.click("U0ALICE", "general", private.ts, "join")


async def test_conversations_open_gives_one_dm_per_user(fake: FakeSlack, client: AsyncWebClient):
    first = await client.conversations_open(users="U0CAROL")
    again = await client.conversations_open(users=["U0CAROL"])
    assert first["channel"]["id"] == again["channel"]["id"]
    assert fake.channels[first["channel"]["id"]].is_im
    assert await error_of(client.conversations_open(users="U0GHOST")) == "user_not_found"


async def test_mounted_inside_another_app():
    with socket.socket() as probe:  # the sandbox knows its own port before it serves
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mounted = FakeSlack()
    parent = web.Application()
    mounted.mount(parent, "/slack-fake/", f"http://127.0.0.1:{port}/slack-fake/")
    runner = web.AppRunner(parent)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    mounted_client = AsyncWebClient(token=mounted.bot_token, base_url=mounted.api_url)
    try:
        assert (await mounted_client.auth_test())["user_id"] == "U0BOT"
        assert mounted.calls_to("auth.test")[0].ok
    finally:
        await runner.cleanup()


async def test_a_real_bolt_app_understands_the_fake():
    """slack_bolt verifies, parses and answers every kind of request the fake sends."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp

    fake = FakeSlack(signing_secret=SECRET)
    await fake.start()
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    bolt = AsyncApp(client=client, signing_secret=SECRET)
    # Bolt runs a listener after its ack is sent: each one reports here when it is done
    heard: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    modal = {**DECLARE_MODAL, "blocks": DECLARE_MODAL["blocks"][:1]}  # type: ignore[index]

    @bolt.command("/incident")
    async def on_command(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        opened = await client.views_open(trigger_id=body["trigger_id"], view=modal)
        heard.put_nowait(("modal", opened["view"]["id"]))

    @bolt.view("declare")
    async def on_submit(ack: Any, view: dict[str, Any]) -> None:
        await ack()
        heard.put_nowait(("submitted", view["state"]["values"]["title"]["value"]["value"]))

    @bolt.action("ack")
    async def on_click(ack: Any, respond: Any) -> None:
        await ack()
        await respond(text="Acknowledged", replace_original=True)
        heard.put_nowait(("responded", None))

    @bolt.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        heard.put_nowait(("message", event["text"]))

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    runner = await serve_slack_events(fake, slack_events)
    try:
        assert (await fake.slash_command("U0ALICE", "incidents", "/incident", "")).status == 200
        kind, view_id = await heard.get()
        assert kind == "modal" and view_id in fake.views
        assert (
            await fake.submit_view("U0ALICE", view_id, {"title": {"value": "DB"}})
        ).status == 200
        assert view_id not in fake.views
        assert await heard.get() == ("submitted", "DB")
        blocks = [{"type": "actions", "elements": [button("ack", value="inc-1")]}]
        posted = await client.chat_postMessage(channel="incidents", text="page", blocks=blocks)
        assert (await fake.click("U0BOB", "incidents", posted["ts"], "ack")).status == 200
        assert await heard.get() == ("responded", None)
        replaced = fake.message(posted["channel"], posted["ts"])
        assert replaced is not None and replaced.text == "Acknowledged"
        await fake.post_message("U0BOB", "incidents", "is it fixed?")
        assert await heard.get() == ("message", "is it fixed?")
        assert heard.empty()
    finally:
        await runner.cleanup()
        await fake.stop()


# ------------------------------------------------------------------ shortcuts and threads


async def test_a_message_shortcut_sends_message_action_whose_trigger_opens_a_view(
    fake: FakeSlack, client: AsyncWebClient, bot_app: TinyBot
):
    posted = await fake.post_message("U0CAROL", "general", "Checkout is down")
    ack = await fake.message_shortcut("U0ALICE", "general", posted.ts, "declare_from_message")
    assert ack.status == 200
    payload = bot_app.received[-1].payload()
    general = fake.channel_by_name("general")
    assert general is not None
    assert payload["type"] == "message_action" and payload["callback_id"] == "declare_from_message"
    assert payload["channel"] == {"id": general.id, "name": "general"}
    assert payload["user"]["id"] == "U0ALICE" and payload["response_url"].startswith("http")
    message = payload["message"]
    assert (message["type"], message["ts"], message["text"], message["user"]) == (
        "message",
        posted.ts,
        "Checkout is down",
        "U0CAROL",
    )
    await client.views_open(trigger_id=payload["trigger_id"], view=DECLARE_MODAL)
    # the global one: no channel, no message, no response_url
    await fake.global_shortcut("U0BOB", "declare")
    payload = bot_app.received[-1].payload()
    assert payload["type"] == "shortcut" and payload["user"]["id"] == "U0BOB"
    assert not {"channel", "message", "response_url"} & set(payload)
    await client.views_open(trigger_id=payload["trigger_id"], view=DECLARE_MODAL)
    assert len(fake.views) == 2


async def test_a_reply_in_a_thread_changes_its_parent_and_has_a_thread_permalink(
    fake: FakeSlack, client: AsyncWebClient
):
    general = fake.channel_by_name("general")
    assert general is not None
    parent = await fake.post_message("U0CAROL", "general", "Checkout is down")
    seen: list[dict[str, Any]] = []
    fake.subscribe(seen.append)
    reply = await client.chat_postMessage(channel=general.id, text="on it", thread_ts=parent.ts)
    changed = [e["message"] for e in seen if e["type"] == "message_changed"]
    assert [(m["ts"], m["reply_count"]) for m in changed] == [(parent.ts, 1)]
    top = await client.chat_getPermalink(channel=general.id, message_ts=parent.ts)
    assert top["permalink"].endswith(f"/archives/{general.id}/p{parent.ts.replace('.', '')}")
    inner = await client.chat_getPermalink(channel=general.id, message_ts=reply["ts"])
    assert inner["permalink"].endswith(f"?thread_ts={parent.ts}&cid={general.id}")


# ------------------------------------------------------------------ the App Home

HOME = {
    "type": "home",
    "blocks": [section("Hello"), {"type": "actions", "elements": [button("go")]}],
}


async def test_views_publish_keeps_one_home_tab_a_user(fake: FakeSlack, client: AsyncWebClient):
    first = (await client.views_publish(user_id="U0ALICE", view=HOME))["view"]
    assert first["type"] == "home" and first["id"].startswith("V")
    assert first["blocks"][1]["elements"][0]["action_id"] == "go"
    again = (await client.views_publish(user_id="U0ALICE", view=HOME, hash=first["hash"]))["view"]
    assert again["id"] == first["id"] and again["hash"] != first["hash"]
    # a hash that is not the current view's: someone published meanwhile
    stale = client.views_publish(user_id="U0ALICE", view=HOME, hash=first["hash"])
    assert await error_of(stale) == "hash_conflict"
    bobs = (await client.views_publish(user_id="U0BOB", view=HOME))["view"]
    assert bobs["id"] != first["id"]
    assert fake.homes["U0ALICE"]["id"] == first["id"] and fake.view_owner(bobs["id"]) == "U0BOB"
    assert fake.serialize_home("U0CAROL") is None


async def test_views_publish_refuses_what_slack_refuses(fake: FakeSlack, client: AsyncWebClient):
    assert await error_of(client.views_publish(user_id="U0NOBODY", view=HOME)) == (
        "invalid_arguments"
    )
    modal = {**HOME, "type": "modal", "title": {"type": "plain_text", "text": "Hi"}}
    assert await error_of(client.views_publish(user_id="U0ALICE", view=modal)) == (
        "invalid_arguments"
    )
    too_many = {"type": "home", "blocks": [section(f"{n}") for n in range(101)]}
    assert await error_of(client.views_publish(user_id="U0ALICE", view=too_many)) == (
        "invalid_arguments"
    )
    fake.home_tab_enabled = False
    assert await error_of(client.views_publish(user_id="U0ALICE", view=HOME)) == "not_enabled"
    assert fake.homes == {}
    with pytest.raises(SlackApiError) as missing:
        await client.api_call("views.publish", json={"view": HOME})
    assert missing.value.response["response_metadata"]["messages"] == ["invalid `user_id`"]


async def test_opening_the_home_tab_and_clicking_on_it(
    fake: FakeSlack, client: AsyncWebClient, bot_app: TinyBot
):
    assert await fake.open_home("U0ALICE") == 200
    event = json.loads(bot_app.received[-1].body)["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", "U0ALICE", "home")
    dm = fake.channels[event["channel"]]
    assert dm.is_im and dm.members == {"U0BOT", "U0ALICE"} and "view" not in event
    view = (await client.views_publish(user_id="U0ALICE", view=HOME))["view"]
    await fake.open_home("U0ALICE")
    assert json.loads(bot_app.received[-1].body)["event"]["view"]["id"] == view["id"]

    answer = await fake.click_view("U0ALICE", view["id"], "go")
    assert answer.status == 200
    payload = bot_app.received[-1].payload()
    assert payload["type"] == "block_actions" and payload["actions"][0]["action_id"] == "go"
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["view"]["type"] == "home" and payload["trigger_id"]
    with pytest.raises(ValueError, match="no open view"):  # nobody clicks another's Home tab
        await fake.click_view("U0BOB", view["id"], "go")
