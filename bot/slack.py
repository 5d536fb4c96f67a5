"""Slack Web API side effects, with the idempotency and retry policy in one place.

- 429: slack_sdk's rate-limit retry handler honours `Retry-After` (safe: Slack did not
  act on a rate-limited call). Other failures are not blindly retried, because
  `chat.postMessage` is not idempotent; the declare saga records what finished and a
  retry resumes it.
- Errors that mean "already done" (`name_taken` for our own channel name,
  `already_in_channel`, `already_pinned`) count as success.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class SlackError(Exception):
    """A Slack call failed; `code` is Slack's error string (or the HTTP status)."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"{method}: {code}")
        self.method = method
        self.code = code


def make_client(token: str | None, base_url: str) -> AsyncWebClient:
    client = AsyncWebClient(token=token, base_url=base_url, timeout=10)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


class Slack:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            # the typed client methods send each method in the encoding Slack expects
            response = await getattr(self.client, method.replace(".", "_"))(**kwargs)
        except SlackApiError as exc:
            code = exc.response.get("error") or f"http_{exc.response.status_code}"
            raise SlackError(method, str(code)) from exc
        except Exception as exc:  # connection errors, timeouts
            raise SlackError(method, type(exc).__name__) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def create_channel(self, name: str, *, private: bool = False) -> str:
        try:
            data = await self._call("conversations.create", name=name, is_private=private)
            return str(data["channel"]["id"])
        except SlackError as exc:
            if exc.code != "name_taken":
                raise
        # Our saga crashed after Slack made the channel: find and reuse it.
        existing = await self.find_channel(name)
        if existing is None:
            raise SlackError("conversations.create", "name_taken")
        return existing

    async def find_channel(self, name: str) -> str | None:
        cursor = None
        while True:
            args: dict[str, Any] = {"limit": 1000, "types": "public_channel,private_channel"}
            if cursor:
                args["cursor"] = cursor
            data = await self._call("conversations.list", **args)
            for ch in data.get("channels", []):
                if ch.get("name") == name:
                    return str(ch["id"])
            cursor = data.get("response_metadata", {}).get("next_cursor")
            if not cursor:
                return None

    async def invite(self, channel: str, users: list[str]) -> None:
        users = [u for u in dict.fromkeys(users) if u]
        if not users:
            return
        try:
            await self._call("conversations.invite", channel=channel, users=",".join(users))
        except SlackError as exc:
            if exc.code not in ("already_in_channel", "cant_invite_self"):
                raise

    async def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, **extra: Any
    ) -> tuple[str, str]:
        """Post a message; returns (channel_id, ts) so it can be updated later."""
        data = await self._call(
            "chat.postMessage", channel=channel, text=text, blocks=blocks or [], **extra
        )
        return str(data["channel"]), str(data["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def permalink(self, channel: str, ts: str) -> str:
        data = await self._call("chat.getPermalink", channel=channel, message_ts=ts)
        return str(data["permalink"])

    async def ephemeral(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        await self._call(
            "chat.postEphemeral", channel=channel, user=user, text=text, blocks=blocks or []
        )

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self._call("pins.add", channel=channel, timestamp=ts)
        except SlackError as exc:
            if exc.code != "already_pinned":
                raise

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._call("conversations.setTopic", channel=channel, topic=topic)

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        data = await self._call("views.open", trigger_id=trigger_id, view=view)
        return str(data["view"]["id"])

    async def user_by_email(self, email: str) -> str | None:
        """The Slack user ID with this email, or None when nobody has it (lookupByEmail)."""
        try:
            data = await self._call("users.lookupByEmail", email=email)
        except SlackError as exc:
            if exc.code == "users_not_found":
                return None
            raise
        return str(data["user"]["id"])

    async def auth_test(self) -> dict[str, Any]:
        return await self._call("auth.test")
