"""The humans' shortcuts: a message's *More actions* menu (a message shortcut,
`message_action`) and the *Shortcuts* menu (a global shortcut, `shortcut`), sent as
Slack sends them: a fresh trigger_id (views.open works with it for TRIGGER_TTL), and for a
message shortcut the whole message, its channel and a response_url."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.fakes.slack.humans import Humans
from bot.fakes.slack.model import APP_ID, VERIFICATION_TOKEN, AckResult


class Shortcuts(Humans):
    """Shortcuts, as the Slack client sends them when a person picks one."""

    async def message_shortcut(
        self,
        user: str,
        channel: str,
        ts: str,
        callback_id: str,
        *,
        without: Iterable[str] = (),
    ) -> AckResult:
        """`user` picks the message shortcut `callback_id` on the message `ts` of
        `channel`. `without`: payload fields left out (a malformed request; tests only)."""
        u, ch = self._human(user), self._human_channel(channel)
        m = self.message(ch.id, ts)
        if m is None or m.ephemeral_to is not None:
            raise ValueError(f"no message {ts} in {ch.name} to use a shortcut on")
        if ch.is_private and u.id not in ch.members:
            raise ValueError(f"{u.name} cannot see private channel {ch.name}")
        message = {
            k: v
            for k, v in self.serialize_message(m).items()
            if k not in ("ephemeral_to", "channel", "pinned")
        }
        payload: dict[str, Any] = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": self._next_ts(),
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {"id": u.id, "name": u.name, "username": u.name, "team_id": self.team_id},
            "channel": {"id": ch.id, "name": "directmessage" if ch.is_im else ch.name},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._new_trigger(u.id),
            "response_url": self._new_response_url(ch.id, u.id, None),
            "message_ts": m.ts,
            "message": message,
        }
        for key in without:
            payload.pop(key, None)
        status, raw = await self._deliver("interactive", payload)
        return AckResult(status, self._parse_ack(raw))

    async def global_shortcut(
        self, user: str, callback_id: str, *, without: Iterable[str] = ()
    ) -> AckResult:
        """`user` picks the global shortcut `callback_id` (no channel, no response_url)."""
        u = self._human(user)
        payload: dict[str, Any] = {
            "type": "shortcut",
            "token": VERIFICATION_TOKEN,
            "action_ts": self._next_ts(),
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {"id": u.id, "username": u.name, "team_id": self.team_id},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._new_trigger(u.id),
            "api_app_id": APP_ID,
        }
        for key in without:
            payload.pop(key, None)
        status, raw = await self._deliver("interactive", payload)
        return AckResult(status, self._parse_ack(raw))
