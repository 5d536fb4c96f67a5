"""Methods: conversations.* (create, invite, join, kick, archive, rename, topic and
purpose, info, list, members, history, replies, open)."""

from __future__ import annotations

from typing import Any, Literal

from bot.fakes.slack.model import TOPIC_LIMIT, Channel
from bot.fakes.slack.wire import Args, SlackError, check_channel_name, method, paged
from bot.fakes.slack.workspace import Workspace


class ConversationsMethods(Workspace):
    """Methods: conversations.* (create, invite, join, kick, archive, rename, topic and"""

    @method("conversations.create")
    def _conversations_create(self, a: Args) -> dict[str, Any]:
        name = check_channel_name(a.opt("name"))
        # names are unique among all channels: archived ones and private ones the bot
        # cannot see hold theirs too (and Slack says no more than this)
        if self.channel_by_name(name) is not None:
            raise SlackError("name_taken")
        channel = self.add_channel(
            name,
            is_private=a.flag("is_private"),
            members=[self.bot_user_id],
            creator=self.bot_user_id,
        )
        return {"channel": self.serialize_channel(channel)}

    def _member_change_target(self, a: Args) -> Channel:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    @method("conversations.invite")
    def _conversations_invite(self, a: Args) -> dict[str, Any]:
        channel = self._member_change_target(a)
        users = a.csv("users")
        if not users:
            raise SlackError("no_user")
        for uid in users:
            if uid == self.bot_user_id:
                raise SlackError("cant_invite_self")
            if uid not in self.users:
                raise SlackError("user_not_found")
        new = [u for u in dict.fromkeys(users) if u not in channel.members]
        if not new:
            raise SlackError("already_in_channel")
        for uid in new:
            channel.members.add(uid)
            self._emit({"type": "member_joined", "channel": channel.id, "user": uid})
        return {"channel": self.serialize_channel(channel)}

    @method("conversations.join")
    def _conversations_join(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        if channel.is_private or channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.bot_user_id in channel.members:
            return {
                "channel": self.serialize_channel(channel),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        channel.members.add(self.bot_user_id)
        self._emit({"type": "member_joined", "channel": channel.id, "user": self.bot_user_id})
        return {"channel": self.serialize_channel(channel)}

    @method("conversations.kick")
    def _conversations_kick(self, a: Args) -> dict[str, Any]:
        channel = self._member_change_target(a)
        user = a.req("user", "user_not_found")
        if user == self.bot_user_id:
            raise SlackError("cant_kick_self")
        if user not in self.users:
            raise SlackError("user_not_found")
        if user not in channel.members:
            raise SlackError("not_in_channel")
        channel.members.discard(user)
        self._emit({"type": "member_left", "channel": channel.id, "user": user})
        return {}

    @method("conversations.archive")
    def _conversations_archive(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        if channel.is_archived:
            raise SlackError("already_archived")
        if channel.name == "general":
            raise SlackError("cant_archive_general")
        if channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        channel.is_archived = True
        self._emit({"type": "channel_archived", "channel": channel.id})
        return {}

    @method("conversations.rename")
    def _conversations_rename(self, a: Args) -> dict[str, Any]:
        channel = self._member_change_target(a)
        name = check_channel_name(a.opt("name"))
        existing = self.channel_by_name(name)
        if existing is not None and existing is not channel:
            raise SlackError("name_taken")
        channel.name = name
        serialized = self.serialize_channel(channel)
        self._emit({"type": "channel_renamed", "channel": serialized})
        return {"channel": serialized}

    @method("conversations.setTopic")
    def _conversations_set_topic(self, a: Args) -> dict[str, Any]:
        return self._set_about(a, "topic")

    @method("conversations.setPurpose")
    def _conversations_set_purpose(self, a: Args) -> dict[str, Any]:
        return self._set_about(a, "purpose")

    def _set_about(self, a: Args, key: Literal["topic", "purpose"]) -> dict[str, Any]:
        channel = self._member_change_target(a)
        value = a.opt(key) or ""
        if len(value) > TOPIC_LIMIT:
            raise SlackError("too_long")
        setattr(channel, key, value)
        self._emit({"type": f"{key}_changed", "channel": channel.id, key: value})
        return {"channel": self.serialize_channel(channel)}

    @method("conversations.info")
    def _conversations_info(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        return {"channel": self.serialize_channel(channel)}

    @method("conversations.list")
    def _conversations_list(self, a: Args) -> dict[str, Any]:
        types = set(a.csv("types") or ["public_channel"])
        exclude_archived = a.flag("exclude_archived")

        def wanted(c: Channel) -> bool:
            if exclude_archived and c.is_archived:
                return False
            if c.is_im:
                return "im" in types and self.bot_user_id in c.members
            if c.is_private:
                return "private_channel" in types and self.bot_user_id in c.members
            return "public_channel" in types

        chosen = [self.serialize_channel(c) for c in self.channels.values() if wanted(c)]
        page, next_cursor = paged(chosen, a)
        return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}

    @method("conversations.members")
    def _conversations_members(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        page, next_cursor = paged(sorted(channel.members), a)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    @method("conversations.history")
    def _conversations_history(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._check_member(channel)
        oldest, latest = float(a.opt("oldest") or 0), float(a.opt("latest") or "inf")
        inclusive = a.flag("inclusive")

        def in_range(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        chosen = [
            self.serialize_message(m)
            for m in reversed(self.messages.get(channel.id, []))
            if m.ephemeral_to is None
            and (m.thread_ts is None or m.thread_ts == m.ts)
            and in_range(float(m.ts))
        ]
        return _messages_page(chosen, a)

    @method("conversations.replies")
    def _conversations_replies(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._check_member(channel)
        ts = a.req("ts", "thread_not_found")
        parent = self.message(channel.id, ts)
        if parent is None:
            raise SlackError("thread_not_found")
        thread = [parent] + [
            m
            for m in self.messages[channel.id]
            if m.thread_ts == ts and m.ts != ts and m.ephemeral_to is None
        ]
        return _messages_page([self.serialize_message(m) for m in thread], a)

    @method("conversations.open")
    def _conversations_open(self, a: Args) -> dict[str, Any]:
        if a.opt("channel"):
            channel = self._channel(a.opt("channel"))
            self._visible(channel)
        else:
            users = a.csv("users")
            if not users:
                raise SlackError("users_list_not_supplied")
            if len(users) > 8:
                raise SlackError("too_many_users")
            for uid in users:
                if uid not in self.users:
                    raise SlackError("user_not_found")
            channel = self._open_im(users)
        if a.flag("return_im"):
            return {"channel": self.serialize_channel(channel)}
        return {"channel": {"id": channel.id}}


def _messages_page(messages: list[dict[str, Any]], a: Args) -> dict[str, Any]:
    """conversations.history's and .replies' answer: a page of messages and whether more."""
    page, next_cursor = paged(messages, a)
    return {
        "messages": page,
        "has_more": bool(next_cursor),
        "response_metadata": {"next_cursor": next_cursor},
    }
