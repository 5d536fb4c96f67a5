"""Methods: chat.postMessage, chat.postEphemeral, chat.update, chat.delete,
chat.getPermalink."""

from __future__ import annotations

from typing import Any

from bot.fakes.slack.model import Channel, Message
from bot.fakes.slack.wire import Args, SlackError, message_content, method
from bot.fakes.slack.workspace import Workspace


class ChatMethods(Workspace):
    """Methods: chat.postMessage, chat.postEphemeral, chat.update, chat.delete,"""

    @method("chat.postMessage")
    def _chat_post_message(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"), allow_user=True)
        self._check_can_post(channel)
        text, blocks = message_content(a)
        thread_ts = a.opt("thread_ts")
        m = self._store_message(
            channel, self.bot_user_id, text or "", blocks or [], thread_ts=thread_ts
        )
        # Slack previews links in a bot's message unless both are turned off
        m.unfurls = a.flag("unfurl_links", False) or a.flag("unfurl_media", True)
        return {"channel": channel.id, "ts": m.ts, "message": self.serialize_message(m)}

    @method("chat.postEphemeral")
    def _chat_post_ephemeral(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"), allow_user=True)
        user = a.req("user", "user_not_found")
        if user not in self.users:
            raise SlackError("user_not_found")
        self._check_can_post(channel)
        if user not in channel.members:
            raise SlackError("user_not_in_channel")
        text, blocks = message_content(a)
        m = self._store_message(
            channel,
            self.bot_user_id,
            text or "",
            blocks or [],
            thread_ts=a.opt("thread_ts"),
            ephemeral_to=user,
        )
        return {"message_ts": m.ts}

    def _own_message(self, a: Args, error: str) -> tuple[Channel, Message]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        m = self.message(channel.id, a.req("ts", "message_not_found"))
        if m is None or m.ephemeral_to is not None:
            raise SlackError("message_not_found")
        if m.user != self.bot_user_id:
            raise SlackError(error)
        return channel, m

    @method("chat.update")
    def _chat_update(self, a: Args) -> dict[str, Any]:
        channel, m = self._own_message(a, "cant_update_message")
        if channel.is_archived:
            raise SlackError("is_archived")
        text, blocks = message_content(a, required=False)
        if text is not None:
            m.text = text
        if blocks is not None:
            m.blocks = self._with_ids(blocks)
        m.edited = True
        message = self.serialize_message(m)
        self._emit({"type": "message_changed", "message": message})
        return {"channel": channel.id, "ts": m.ts, "text": m.text, "message": message}

    @method("chat.delete")
    def _chat_delete(self, a: Args) -> dict[str, Any]:
        channel, m = self._own_message(a, "cant_delete_message")
        self.messages[channel.id].remove(m)
        self._emit({"type": "message_deleted", "channel": channel.id, "ts": m.ts})
        return {"channel": channel.id, "ts": m.ts}

    @method("chat.getPermalink")
    def _chat_get_permalink(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        ts = a.req("message_ts", "message_not_found")
        m = self.message(channel.id, ts)
        if m is None:
            raise SlackError("message_not_found")
        link = self._permalink(channel.id, ts)
        if m.thread_ts and m.thread_ts != ts:  # a reply: Slack names its thread too
            link += f"?thread_ts={m.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def _permalink(self, channel: str, ts: str) -> str:
        base = self.base_url or "https://fake.slack.com/"
        return f"{base}archives/{channel}/p{ts.replace('.', '')}"
