"""Methods: pins.add, pins.remove, pins.list, reactions.add, reactions.remove,
reactions.get."""

from __future__ import annotations

from typing import Any

from bot.fakes.slack.model import Channel, Message
from bot.fakes.slack.wire import Args, SlackError, method
from bot.fakes.slack.workspace import Workspace


class PinsReactionsMethods(Workspace):
    """Methods: pins.add, pins.remove, pins.list, reactions.add, reactions.remove,"""

    def _target_message(self, a: Args, ts_arg: str = "timestamp") -> tuple[Channel, Message]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        m = self.message(channel.id, a.req(ts_arg, "no_item_specified"))
        if m is None or m.ephemeral_to is not None:
            raise SlackError("message_not_found")
        return channel, m

    @method("pins.add")
    def _pins_add(self, a: Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        if m.pinned:
            raise SlackError("already_pinned")
        m.pinned = True
        self._emit({"type": "pinned", "channel": channel.id, "ts": m.ts, "user": self.bot_user_id})
        return {}

    @method("pins.remove")
    def _pins_remove(self, a: Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        if not m.pinned:
            raise SlackError("no_pin")
        m.pinned = False
        self._emit(
            {"type": "unpinned", "channel": channel.id, "ts": m.ts, "user": self.bot_user_id}
        )
        return {}

    @method("pins.list")
    def _pins_list(self, a: Args) -> dict[str, Any]:
        channel = self._channel(a.req("channel", "channel_not_found"))
        self._visible(channel)
        items = [
            {
                "type": "message",
                "channel": channel.id,
                "created": int(float(m.ts)),
                "created_by": self.bot_user_id,
                "message": self.serialize_message(m),
            }
            for m in self.messages[channel.id]
            if m.pinned
        ]
        return {"items": items}

    @method("reactions.add")
    def _reactions_add(self, a: Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        name = a.req("name", "invalid_name").strip(":")
        if self.bot_user_id in m.reactions.get(name, set()):
            raise SlackError("already_reacted")
        self._react(channel, m, self.bot_user_id, name)
        return {}

    @method("reactions.remove")
    def _reactions_remove(self, a: Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        name = a.req("name", "invalid_name").strip(":")
        users = m.reactions.get(name, set())
        if self.bot_user_id not in users:
            raise SlackError("no_reaction")
        users.discard(self.bot_user_id)
        if not users:
            del m.reactions[name]
        self._emit(
            {
                "type": "reaction_removed",
                "channel": channel.id,
                "ts": m.ts,
                "reaction": name,
                "user": self.bot_user_id,
            }
        )
        return {}

    @method("reactions.get")
    def _reactions_get(self, a: Args) -> dict[str, Any]:
        channel, m = self._target_message(a)
        return {"type": "message", "channel": channel.id, "message": self.serialize_message(m)}
