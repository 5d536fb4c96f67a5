"""Handing the bot what Slack sends it: over HTTP, signed with the signing secret and
POSTed to ``app_url`` (each request kept in ``sent``), or as Socket Mode envelopes over the
WebSocket the bot opened; Events API envelopes; the ack as Slack reads it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp

from bot.fakes.slack.model import APP_ID, VERIFICATION_TOKEN, Sent
from bot.fakes.slack.workspace import Workspace

# what Slack hands an app: the kinds of request (and of Socket Mode envelope)
Kind = Literal["slash_commands", "interactive", "events_api"]


class Transport(Workspace):
    """Delivery to the bot, over whichever transport it listens on."""

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """Slack's signature headers for body, as of now."""
        timestamp = str(int(time.time()))
        base = f"v0:{timestamp}:".encode() + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}

    @property
    def _app_reachable(self) -> bool:
        return self.transport == "socket" or bool(self.app_url)

    async def _deliver(
        self,
        kind: Kind,
        payload: dict[str, Any],
        *,
        retry_num: int | None = None,
    ) -> tuple[int, str]:
        """Hand the bot a request as Slack would, over the transport; (status, ack body),
        (0, "") when no answer came in time."""
        with self.activity.busy():  # on its way to the bot until the ack: the settle signal
            if self.transport == "socket":
                ack = await self.socket_mode.deliver(
                    kind, payload, timeout=self.ack_timeout, retry_attempt=retry_num
                )
                if ack is None:
                    return 0, ""
                return 200, json.dumps(ack.payload) if ack.payload else ""
            return await self._post_to_app(*_over_http(kind, payload, retry_num))

    async def _post_to_app(
        self, body: bytes, content_type: str, extra_headers: dict[str, str]
    ) -> tuple[int, str]:
        """POST a signed request to the bot as Slack would; (0, "") when no answer in time."""
        if not self.app_url:
            raise RuntimeError("FakeSlack.app_url is not set: nowhere to send the request")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **self.signed_headers(body),
            **extra_headers,
        }
        self.sent.append(Sent(self.app_url, headers, body))
        try:
            async with self._session.post(
                self.app_url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.ack_timeout),
            ) as response:
                return response.status, await response.text()
        except TimeoutError:
            return 0, ""

    @staticmethod
    def _parse_ack(text: str) -> Any:
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> int:
        """Send an Events API event_callback; a retry (retry_num) carries Slack's retry
        headers over HTTP, its `retry_attempt` over Socket Mode."""
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._new_id('')}{self._random_token(4).upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        status, _ = await self._deliver("events_api", envelope, retry_num=retry_num)
        return status


def _over_http(
    kind: Kind, payload: dict[str, Any], retry_num: int | None
) -> tuple[bytes, str, dict[str, str]]:
    """The body, content type and extra headers of a request Slack POSTs to the app."""
    form = "application/x-www-form-urlencoded"
    if kind == "events_api":
        retry = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return json.dumps(payload).encode(), "application/json", retry if retry_num else {}
    if kind == "interactive":
        return urlencode({"payload": json.dumps(payload)}).encode(), form, {}
    return urlencode(payload).encode(), form, {}
