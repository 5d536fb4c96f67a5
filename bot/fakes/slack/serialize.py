"""The workspace's records in Slack's JSON shapes (messages, channels, users, Home tabs),
as the Web API answers with them and as the sandbox page shows them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.fakes.slack.model import Bot, Channel, Message, User


class Serialization:
    """Slack's shapes of the records; mixed into the workspace, whose state it reads."""

    team_id: str
    bot_user_id: str
    bots: dict[str, Bot]
    messages: dict[str, list[Message]]
    homes: dict[str, dict[str, Any]]

    def serialize_home(self, user: str) -> dict[str, Any] | None:
        """The Home tab published to `user` (the view as views.publish answered it), or
        None when the app has published none to them."""
        view = self.homes.get(user)
        return copy.deepcopy(view) if view is not None else None

    def serialize_message(self, m: Message) -> dict[str, Any]:
        """Slack's message shape, plus channel, pinned and ephemeral_to for the sandbox."""
        out: dict[str, Any] = {
            "type": "message",
            "ts": m.ts,
            "channel": m.channel,
            "user": m.user,
            "text": m.text,
            "blocks": m.blocks,
            "team": self.team_id,
            "pinned": m.pinned,
            "ephemeral_to": m.ephemeral_to,
        }
        bot = self.bots.get(m.bot_id or "")
        if bot is not None:
            out["bot_id"] = bot.id
            if bot.app_id:
                out["app_id"] = bot.app_id
            if bot.user_id is None:  # a classic integration: no user, its own name
                out.update(subtype="bot_message", username=m.username or bot.name, icons={})
                del out["user"]
            else:
                out["bot_profile"] = self._bot_profile(bot)
        if m.attachments:
            out["attachments"] = m.attachments
        replies = [
            r
            for r in self.messages.get(m.channel, [])
            if r.thread_ts == m.ts and r.ts != m.ts and r.ephemeral_to is None
        ]
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
        elif replies:
            out["thread_ts"] = m.ts
        if replies:
            out["reply_count"] = len(replies)
            out["latest_reply"] = replies[-1].ts
        if m.edited:
            out["edited"] = {"user": m.user, "ts": m.ts}
        if m.pinned:
            out["pinned_to"] = [m.channel]
        if m.files:
            out["files"] = m.files
        if m.reactions:
            out["reactions"] = [
                {"name": name, "users": sorted(users), "count": len(users)}
                for name, users in m.reactions.items()
            ]
        return out

    def _bot_profile(self, bot: Bot) -> dict[str, Any]:
        return {
            "id": bot.id,
            "deleted": False,
            "name": bot.name,
            "updated": 0,
            "app_id": bot.app_id,
            "icons": {"image_48": f"https://example.com/bots/{bot.id}.png"},
            "team_id": self.team_id,
        }

    def serialize_channel(self, c: Channel) -> dict[str, Any]:
        return {
            "id": c.id,
            "name": c.name,
            "name_normalized": c.name,
            "is_channel": not c.is_private and not c.is_im,
            "is_group": c.is_private and not c.is_im,
            "is_im": c.is_im,
            "is_mpim": False,
            "is_private": c.is_private,
            "is_archived": c.is_archived,
            "is_general": c.name == "general",
            "is_member": self.bot_user_id in c.members,
            "created": c.created,
            "creator": c.creator,
            "user": next((u for u in c.members if u != self.bot_user_id), None)
            if c.is_im
            else None,
            "topic": {"value": c.topic, "creator": "", "last_set": 0},
            "purpose": {"value": c.purpose, "creator": "", "last_set": 0},
            "num_members": len(c.members),
        }

    def serialize_user(self, u: User) -> dict[str, Any]:
        offset = ZoneInfo(u.tz).utcoffset(datetime.now(UTC).replace(tzinfo=None))
        profile: dict[str, Any] = {
            "real_name": u.real_name,
            "display_name": u.name,
            "real_name_normalized": u.real_name,
            "display_name_normalized": u.name,
            "image_48": f"https://example.com/avatars/{u.id}.png",
            "team": self.team_id,
        }
        if u.email:
            profile["email"] = u.email
        if u.is_bot:
            profile["bot_id"] = next((b.id for b in self.bots.values() if b.user_id == u.id), "")
        return {
            "id": u.id,
            "team_id": self.team_id,
            "name": u.name,
            "deleted": False,
            "real_name": u.real_name,
            "tz": u.tz,
            "tz_label": u.tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_bot": u.is_bot,
            "is_admin": False,
            "is_app_user": False,
            "updated": 0,
            "profile": profile,
        }
