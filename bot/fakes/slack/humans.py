"""The humans of the workspace, acting toward the bot the way the Slack client lets them:
slash commands, messages, joining and leaving, reactions and pins, channels of their own,
clicks on messages and in modals, submitting and closing modals. Each builds the payload
Slack would send (bot/fakes/slack/payloads.py), delivers it, and applies the ack as Slack
does."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from blocks.limits import view_problems
from bot.fakes.slack.model import (
    APP_ID,
    VERIFICATION_TOKEN,
    VIEW_STACK_LIMIT,
    AckResult,
    Bot,
    Channel,
    Message,
    User,
)
from bot.fakes.slack.payloads import (
    action_payload,
    find_element,
    find_option,
    message_state,
    state_values,
)
from bot.fakes.slack.transport import Transport
from bot.fakes.slack.wire import Args, SlackError, check_channel_name, message_content


class Humans(Transport):
    """What people in the workspace do (tests and the sandbox page drive them)."""

    def _user_obj(self, user: str) -> dict[str, Any]:
        u = self._human(user)
        return {"id": u.id, "username": u.name, "name": u.name, "team_id": self.team_id}

    def _human(self, user: str) -> User:
        if user not in self.users:
            raise ValueError(f"no such user {user!r} in the fake workspace")
        return self.users[user]

    def _human_channel(self, channel: str) -> Channel:
        found = self.channels.get(channel) or self.channel_by_name(channel)
        if found is None:
            raise ValueError(f"no such channel {channel!r} in the fake workspace")
        return found

    def _human_message(self, channel: str, ts: str) -> tuple[Channel, Message]:
        """The channel (by ID or name) and its message `ts` a person acts on."""
        ch = self._human_channel(channel)
        m = self.message(ch.id, ts)
        if m is None:
            raise ValueError(f"no message {ts} in {ch.name}")
        return ch, m

    async def slash_command(
        self, user: str, channel: str, command: str, text: str, *, without: Iterable[str] = ()
    ) -> AckResult:
        """A human types `command text` in channel; the ack body is shown as Slack shows it.
        `without`: fields left out (a malformed request; tests only)."""
        u, ch = self._human(user), self._human_channel(channel)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": ch.id,
            "channel_name": "directmessage" if ch.is_im else ch.name,
            "user_id": u.id,
            "user_name": u.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._new_response_url(ch.id, u.id, None),
            "trigger_id": self._new_trigger(u.id),
        }
        for key in without:
            fields.pop(key, None)
        status, raw = await self._deliver("slash_commands", fields)
        body = self._parse_ack(raw)
        result = AckResult(status, body)
        if status != 200 or body is None:
            return result
        reply = body if isinstance(body, dict) else {"text": str(body)}
        if not reply.get("text") and not reply.get("blocks"):
            return result
        try:
            text_out, blocks = message_content(Args(reply))
        except SlackError as e:
            result.errors = {
                e.error: "; ".join(e.extra.get("response_metadata", {}).get("messages", []))
            }
            return result
        in_channel = reply.get("response_type") == "in_channel"
        self._store_message(
            ch,
            self.bot_user_id,
            text_out or "",
            blocks or [],
            ephemeral_to=None if in_channel else u.id,
        )
        return result

    async def post_message(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        retry_num: int | None = None,
        event_id: str | None = None,
        thread_ts: str | None = None,
    ) -> Message:
        """A human posts text; the bot gets the message event if it is in the channel."""
        u, ch = self._human(user), self._human_channel(channel)
        if u.id not in ch.members:
            if ch.is_private:
                raise ValueError(f"{u.name} is not in private channel {ch.name}")
            # a human posting in a public channel joins it first, as the Slack client offers
            await self.join(u.id, ch.id)
        m = self._store_message(ch, u.id, text, [], thread_ts=thread_ts)
        if self._app_reachable and self.bot_user_id in ch.members:
            event: dict[str, Any] = {
                "type": "message",
                "channel": ch.id,
                "user": u.id,
                "text": text,
                "ts": m.ts,
                "event_ts": m.ts,
                "team": self.team_id,
                "channel_type": "im" if ch.is_im else ("group" if ch.is_private else "channel"),
            }
            if thread_ts:
                event["thread_ts"] = thread_ts
            await self.send_event(event, event_id=event_id, retry_num=retry_num)
            if f"<@{self.bot_user_id}>" in text and not ch.is_im:
                mention = {k: v for k, v in event.items() if k != "channel_type"}
                await self.send_event({**mention, "type": "app_mention"})
        return m

    async def join(self, user: str, channel: str) -> None:
        """A human joins a public channel; the bot hears member_joined_channel if it is in it."""
        u, ch = self._human(user), self._human_channel(channel)
        if ch.is_private or ch.is_im:
            raise ValueError(f"{u.name} cannot join private channel {ch.name} uninvited")
        if u.id in ch.members:
            return
        ch.members.add(u.id)
        self._emit({"type": "member_joined", "channel": ch.id, "user": u.id})
        await self._member_event("member_joined_channel", u.id, ch)

    async def leave(self, user: str, channel: str) -> None:
        """A human leaves a channel; the bot hears member_left_channel if it is in it."""
        u, ch = self._human(user), self._human_channel(channel)
        if u.id not in ch.members:
            return
        ch.members.discard(u.id)
        self._emit({"type": "member_left", "channel": ch.id, "user": u.id})
        await self._member_event("member_left_channel", u.id, ch)

    async def _member_event(self, kind: str, user: str, ch: Channel) -> None:
        if self._app_reachable and self.bot_user_id in ch.members:
            event = {
                "type": kind,
                "user": user,
                "channel": ch.id,
                "channel_type": "G" if ch.is_private else "C",
                "team": self.team_id,
                "event_ts": self._next_ts(),
            }
            await self.send_event(event)

    async def post_as_bot(
        self,
        bot: Bot | str,
        channel: str,
        text: str = "",
        *,
        attachments: list[dict[str, Any]] | None = None,
        event_id: str | None = None,
    ) -> Message:
        """Another app or integration posts (a `Bot` of `add_bot`, or its ID); the bot gets
        the message event as Slack sends it, if it is in the channel: an app's message
        carries `bot_id`, `app_id` and `bot_profile` beside its bot user; a classic
        integration's is `subtype: bot_message` with its `bot_id` and no user."""
        b = self.bots[bot] if isinstance(bot, str) else bot
        ch = self._human_channel(channel)
        if b.user_id and b.user_id not in ch.members:
            if ch.is_private:
                raise SlackError("not_in_channel")
            ch.members.add(b.user_id)  # an app posting in a public channel (chat:write.public)
        m = self._store_message(ch, b.user_id, text, [], bot=b, attachments=attachments)
        if self.app_url and self.bot_user_id in ch.members:
            event = {
                k: v
                for k, v in self.serialize_message(m).items()
                if k not in ("pinned", "ephemeral_to")
            }
            event["event_ts"] = m.ts
            event["channel_type"] = "group" if ch.is_private else "channel"
            await self.send_event(event, event_id=event_id)
        return m

    async def add_reaction(self, user: str, channel: str, ts: str, name: str) -> None:
        ch, m = self._human_message(channel, ts)
        self._react(ch, m, self._human(user).id, name)
        if self._app_reachable and self.bot_user_id in ch.members:
            await self.send_event(
                {
                    "type": "reaction_added",
                    "user": user,
                    "reaction": name,
                    "item_user": m.user,
                    "item": {"type": "message", "channel": ch.id, "ts": ts},
                    "event_ts": self._next_ts(),
                }
            )

    def create_channel_as_user(self, user: str, name: str, *, is_private: bool = False) -> Channel:
        """A human creates a channel, under the rules conversations.create applies (a valid
        name, not taken); they are its creator and only member."""
        u = self._human(user)
        name = check_channel_name(name)
        if self.channel_by_name(name) is not None:
            raise SlackError("name_taken")
        return self.add_channel(name, is_private=is_private, members=[u.id], creator=u.id)

    def invite_as_user(self, user: str, channel: str, users: Iterable[str]) -> None:
        """A member invites people (the bot too) into a channel, as `/invite` does."""
        u, ch = self._human(user), self._human_channel(channel)
        if ch.is_archived:
            raise SlackError("is_archived")
        if u.id not in ch.members:
            raise SlackError("not_in_channel")
        for uid in users:
            self._human(uid)
            if uid not in ch.members:
                ch.members.add(uid)
                self._emit({"type": "member_joined", "channel": ch.id, "user": uid})

    async def pin_as_user(self, user: str, channel: str, ts: str) -> None:
        ch, m = self._human_message(channel, ts)
        m.pinned = True
        self._emit({"type": "pinned", "channel": ch.id, "ts": ts, "user": self._human(user).id})
        if self._app_reachable and self.bot_user_id in ch.members:
            await self.send_event(
                {
                    "type": "pin_added",
                    "user": user,
                    "channel_id": ch.id,
                    "item": {
                        "type": "message",
                        "channel": ch.id,
                        "created": int(time.time()),
                        "created_by": user,
                        "message": self.serialize_message(m),
                    },
                    "event_ts": self._next_ts(),
                }
            )

    async def click(
        self,
        user: str,
        channel: str,
        message_ts: str,
        action_id: str,
        *,
        value: str | None = None,
        block_id: str | None = None,
        forged_value: str | None = None,
        selected: list[str] | None = None,
        without: Iterable[str] = (),
    ) -> AckResult:
        """A human clicks (or picks from) the element `action_id` on a stored message; on
        checkboxes, `value` is the box they tick or untick (Slack sends the selection after
        it), or `selected` the whole selection their client holds (the sandbox page).

        `forged_value`: an attacker's crafted request: the real block_actions of this
        click, but its action carries another value than the button's (e.g. another
        incident's id). Attack tests only. `without`: payload fields left out (a malformed
        request; tests only)."""
        u, (ch, m) = self._human(user), self._human_message(channel, message_ts)
        if m.ephemeral_to not in (None, u.id):
            raise ValueError(f"{u.name} cannot see the ephemeral message {message_ts}")
        found_block, element = find_element(m.blocks, action_id, value, block_id)
        action = action_payload(found_block, element, value, selected=selected)
        action["action_ts"] = self._next_ts()
        if forged_value is not None:
            action["value"] = forged_value
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_obj(u.id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": m.ts,
                "channel_id": ch.id,
                "is_ephemeral": m.ephemeral_to is not None,
            },
            "trigger_id": self._new_trigger(u.id),
            "team": {"id": self.team_id, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": ch.id, "name": "directmessage" if ch.is_im else ch.name},
            "state": {"values": message_state(m.blocks, action)},
            "response_url": self._new_response_url(ch.id, u.id, m.ts),
            "actions": [action],
        }
        if m.ephemeral_to is None:
            # Slack sends the message only for normal ones; ephemeral ones are not stored there
            payload["message"] = self.serialize_message(m)
        for key in without:
            payload.pop(key, None)
        status, raw = await self._deliver("interactive", payload)
        return AckResult(status, self._parse_ack(raw))

    async def tick(self, user: str, channel: str, message_ts: str, value: str) -> AckResult:
        """A human ticks (or unticks) the box `value` of a checkboxes element on a message:
        Slack sends the element's whole selection after the click."""
        _, m = self._human_message(channel, message_ts)
        block, element = find_option(m.blocks, value, ("checkboxes",))
        return await self.click(
            user, channel, message_ts, element["action_id"], value=value, block_id=block["block_id"]
        )

    async def choose(self, user: str, channel: str, message_ts: str, value: str) -> AckResult:
        """A human picks the option `value` from an overflow menu (or a select) on a message."""
        _, m = self._human_message(channel, message_ts)
        block, element = find_option(m.blocks, value, ("overflow", "static_select"))
        return await self.click(
            user, channel, message_ts, element["action_id"], value=value, block_id=block["block_id"]
        )

    async def click_view(
        self,
        user: str,
        view_id: str,
        action_id: str,
        *,
        value: str | None = None,
        block_id: str | None = None,
        values: dict[str, dict[str, Any]] | None = None,
    ) -> AckResult:
        """A human clicks (or picks from) `action_id` inside their open modal view_id, or
        on their Home tab (its view id: the payload carries the `home` view).

        `values` is what the modal's inputs hold at that moment (as for submit_view); Slack
        sends it as view.state, empty required inputs included, since nothing is submitted.
        """
        u = self._human(user)
        view = self.views.get(view_id)
        if view is None and self.home_owner(view_id) == u.id:
            view = self.homes[u.id]
        elif view is None or self._view_user.get(view_id) != u.id:
            raise ValueError(f"{u.name} has no open view {view_id}")
        found_block, element = find_element(view["blocks"], action_id, value, block_id)
        action = action_payload(found_block, element, value)
        action["action_ts"] = self._next_ts()
        view["state"] = {"values": state_values(view, values or {}, submitting=False)}
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_obj(u.id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view_id},
            # a trigger from inside a modal may views.push onto its stack
            "trigger_id": self._new_trigger(u.id, view_id=view_id),
            "team": {"id": self.team_id, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "actions": [action],
        }
        status, raw = await self._deliver("interactive", payload)
        return AckResult(status, self._parse_ack(raw))

    async def open_home(self, user: str) -> int:
        """A human opens the app's Home tab: `app_home_opened` as Slack sends it (`channel`:
        their conversation with the app; `view`: the tab as last published, once one was).
        The status the bot answered the event with."""
        u = self._human(user)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": u.id,
            "channel": self._open_im([u.id]).id,
            "tab": "home",
            "event_ts": self._next_ts(),
        }
        if u.id in self.homes:
            event["view"] = self.homes[u.id]
        return await self.send_event(event)

    async def submit_view(
        self,
        user: str,
        view_id: str,
        values: dict[str, dict[str, Any]],
        *,
        without: Iterable[str] = (),
    ) -> AckResult:
        """A human fills the open modal view_id with values and presses submit. `without`:
        payload fields left out (a malformed request; tests only)."""
        u = self._human(user)
        view = self.views.get(view_id)
        if view is None:
            raise ValueError(f"no open view {view_id}")
        state = state_values(view, values)
        view["state"] = {"values": state}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": self._user_obj(u.id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._new_trigger(u.id, view_id=view_id),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        for key in without:
            payload.pop(key, None)
        status, raw = await self._deliver("interactive", payload)
        body = self._parse_ack(raw)
        result = AckResult(status, body)
        if status != 200:
            return result  # Slack shows "We had some trouble connecting"; the modal stays
        action = body.get("response_action") if isinstance(body, dict) else None
        if action is None:
            self._close_views(view_id, whole_stack=False)
        elif action == "errors":
            result.errors = dict(body.get("errors") or {})
        elif action == "clear":
            self._close_views(view_id, whole_stack=True)
        elif action in ("update", "push"):
            problems = view_problems(body.get("view"))
            if problems:
                result.errors = {"view": "; ".join(problems)}
            elif action == "update":
                self._replace_view(view, body["view"])
            else:
                stack = self._stacks[view["root_view_id"]]
                if len(stack) >= VIEW_STACK_LIMIT:
                    result.errors = {"view": "push_limit_reached"}
                else:
                    self._open_view(body["view"], u.id, stack)
        else:
            result.errors = {"response_action": f"unknown response_action {action!r}"}
        return result

    async def close_view(self, user: str, view_id: str) -> AckResult | None:
        """A human presses Cancel; the bot hears view_closed only if notify_on_close is set."""
        view = self.views.get(view_id)
        if view is None:
            raise ValueError(f"no open view {view_id}")
        notify = view.get("notify_on_close")
        self._close_views(view_id, whole_stack=bool(view.get("clear_on_close")))
        if not notify:
            return None
        payload = {
            "type": "view_closed",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": self._user_obj(user),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": view,
            "is_cleared": bool(view.get("clear_on_close")),
        }
        status, raw = await self._deliver("interactive", payload)
        return AckResult(status, self._parse_ack(raw))
