"""Slack Web API side effects, with the idempotency and retry policy in one place.

- Every text Slack renders or notifies from (a message's `text`, a topic, a file's
  comment) is `Mrkdwn` (blocks/mrkdwn.py); a plain `str` is escaped here, so it shows as
  written and can ring nobody. Posts never unfurl: a link someone typed gets no preview
  that could dress it up.
- 429: slack_sdk's rate-limit retry handler honours `Retry-After` (safe: Slack did not
  act on a rate-limited call). Other failures are not blindly retried, because
  `chat.postMessage` is not idempotent; the declare saga records what finished and a
  retry resumes it.
- Errors that mean "already done" (`already_in_channel`, `already_pinned`) count as
  success. `name_taken` never does: an existing channel is not adopted by its name (DESIGN
  rule 2), since anyone may have made it; see `create_channel`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import Counter
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from blocks.mrkdwn import Mrkdwn

log = logging.getLogger(__name__)


class SlackError(Exception):
    """A Slack call failed; `code` is Slack's error string (or the HTTP status)."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"{method}: {code}")
        self.method = method
        self.code = code


# Errors a retry cannot fix: the channel is gone or closed to us, or the message is wrong.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "invalid_blocks",
        "msg_too_long",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "restricted_action",
    }
)


def is_transient(exc: SlackError) -> bool:
    """Whether trying the same call later may succeed (5xx, rate limits, network)."""
    return exc.code not in PERMANENT_ERRORS


def make_client(token: str | None, base_url: str) -> AsyncWebClient:
    client = AsyncWebClient(token=token, base_url=base_url, timeout=10)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


def _is_id(channel: str) -> bool:
    return bool(re.fullmatch(r"[CGD][A-Z0-9]{2,}", channel))


class Slack:
    def __init__(self, client: AsyncWebClient, *, errors: Counter | None = None) -> None:
        self.client = client
        # incident_bot_slack_api_errors_total{method, error} (bot/core/metrics.py), when given
        self.errors = errors
        self._bot_user: str | None = None

    def _failed(self, method: str, code: str) -> SlackError:
        if self.errors is not None:
            self.errors.labels(method, code).inc()
        return SlackError(method, code)

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            # the typed client methods send each method in the encoding Slack expects
            response = await getattr(self.client, method.replace(".", "_"))(**kwargs)
        except SlackApiError as exc:
            code = exc.response.get("error") or f"http_{exc.response.status_code}"
            raise self._failed(method, str(code)) from exc
        except Exception as exc:  # connection errors, timeouts
            raise self._failed(method, type(exc).__name__) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def create_channel(
        self,
        names: Iterable[str],
        *,
        private: bool,
        before: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[str, str]:
        """Make a channel under the first of `names` that is free; returns (id, name).
        `before(name)` runs before each name is asked for (the caller records it).

        A taken name is skipped, never adopted: whoever holds it (a member who made it
        first and invited the bot, an archived channel, or ours from an attempt whose answer
        was lost) it is not known to be this caller's; only the id in an answer is. The
        answer is checked too: the channel is of the kind asked for, and the bot made it.
        """
        me = await self.bot_user_id()  # before: failing after the create would waste it
        for name in names:
            if before is not None:
                await before(name)
            try:
                data = await self._call("conversations.create", name=name, is_private=private)
            except SlackError as exc:
                if exc.code != "name_taken":
                    raise
                log.warning("channel name taken, trying another", extra={"channel_name": name})
                continue
            channel = data.get("channel") or {}
            if channel.get("creator") != me or bool(channel.get("is_private")) != private:
                raise self._failed("conversations.create", "not_own_channel")
            return str(channel["id"]), str(channel.get("name") or name)
        raise SlackError("conversations.create", "name_taken")

    async def find_channel(self, name: str) -> str | None:
        found = await self.channels_named({name})
        return str(found[name]["id"]) if name in found else None

    async def channels(self) -> AsyncIterator[dict[str, Any]]:
        """Every channel the bot can see (public ones, private ones it is in), archived
        included, page by page: a caller may stop as soon as it has what it wants, as big
        workspaces have many."""
        cursor = None
        while True:
            args: dict[str, Any] = {"limit": 1000, "types": "public_channel,private_channel"}
            if cursor:
                args["cursor"] = cursor
            data = await self._call("conversations.list", **args)
            for ch in data.get("channels", []):
                yield dict(ch)
            cursor = data.get("response_metadata", {}).get("next_cursor")
            if not cursor:
                return

    async def invite(self, channel: str, users: list[str]) -> None:
        """Invite `users` (repeats, blanks and the bot itself left out: Slack refuses the
        whole call over cant_invite_self); those in the channel already are no error."""
        bots = await self.bots()
        users = [u for u in dict.fromkeys(users) if u and u not in bots]
        if not users:
            return
        try:
            await self._call("conversations.invite", channel=channel, users=",".join(users))
        except SlackError as exc:
            if exc.code not in ("already_in_channel", "cant_invite_self"):
                raise

    async def post(
        self,
        channel: str,
        text: Mrkdwn,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        """Post a message (a reply in the thread of `thread_ts`); returns (channel_id, ts)
        so it can be updated later."""
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        data = await self._call(
            "chat.postMessage",
            channel=channel,
            text=Mrkdwn(text),
            blocks=blocks or [],
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )
        return str(data["channel"]), str(data["ts"])

    async def notice(
        self,
        channel: str | None,
        message: tuple[Mrkdwn, list[dict[str, Any]]],
        *,
        what: str,
        incident: str,
        marker: str | None = None,
        maybe_sent_since: float | None = None,
    ) -> None:
        """Post a notice nothing waits on: a Slack refusal is logged as `what` not posted,
        and the work that posted it goes on. No channel (yet): nothing to do. With
        `marker`, posted once (`post_once`)."""
        if not channel:
            return
        try:
            if marker is None:
                await self.post(channel, *message)
            else:
                await self.post_once(
                    channel, *message, marker=marker, maybe_sent_since=maybe_sent_since
                )
        except SlackError as exc:
            log.warning(f"{what} not posted", extra={"incident": incident, "error": exc.code})

    async def post_once(
        self,
        channel: str,
        text: Mrkdwn,
        blocks: list[dict[str, Any]],
        *,
        marker: str,
        maybe_sent_since: float | None = None,
    ) -> tuple[str, str]:
        """Post a message marked with `marker` (the first block's block_id). With
        `maybe_sent_since` (a retry after a crash or timeout that may have posted it), look
        for the marked message in the channel's history since then first, and return it
        instead of posting again. If the history cannot be read, post: a repeat beats a miss.
        """
        if maybe_sent_since is not None:
            try:
                if not _is_id(channel):  # history is read by id
                    channel = await self.find_channel(channel.lstrip("#")) or channel
                found = await self.find_marked(channel, marker, since=maybe_sent_since)
            except SlackError as exc:
                log.warning("history lookup failed", extra={"error": exc.code})
                found = None
            if found is not None:
                return channel, found
        marked = [dict(blocks[0], block_id=marker), *blocks[1:]] if blocks else []
        return await self.post(channel, text, marked)

    async def find_marked(self, channel: str, marker: str, *, since: float) -> str | None:
        """The ts of the channel's message whose block carries block_id `marker`."""
        cursor = None
        for _ in range(5):  # a few pages: the message, if sent, is recent
            # a minute's margin: `since` is our clock, ts is Slack's
            args: dict[str, Any] = {"channel": channel, "oldest": f"{since - 60:.6f}", "limit": 200}
            if cursor:
                args["cursor"] = cursor
            data = await self._call("conversations.history", **args)
            for message in data.get("messages", []):
                if any(b.get("block_id") == marker for b in message.get("blocks") or []):
                    return str(message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    async def update(
        self, channel: str, ts: str, text: Mrkdwn, blocks: list[dict[str, Any]]
    ) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=Mrkdwn(text), blocks=blocks)

    async def permalink(self, channel: str, ts: str) -> str:
        data = await self._call("chat.getPermalink", channel=channel, message_ts=ts)
        return str(data["permalink"])

    async def respond(
        self, response_url: str, text: Mrkdwn, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        """Answer a slash command or an action at its response_url, seen only by the user
        (valid 30 minutes, 5 answers)."""
        webhook = AsyncWebhookClient(response_url, session=self.client.session, timeout=10)
        try:
            response = await webhook.send(
                text=Mrkdwn(text),
                blocks=blocks or [],
                response_type="ephemeral",
                replace_original=False,
            )
        except Exception as exc:  # connection errors, timeouts
            raise self._failed("response_url", type(exc).__name__) from exc
        if response.status_code != 200:
            raise self._failed("response_url", f"http_{response.status_code}")

    async def ephemeral(
        self, channel: str, user: str, text: Mrkdwn, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        await self._call(
            "chat.postEphemeral", channel=channel, user=user, text=Mrkdwn(text), blocks=blocks or []
        )

    async def pin(self, channel: str, ts: str) -> None:
        try:
            await self._call("pins.add", channel=channel, timestamp=ts)
        except SlackError as exc:
            if exc.code != "already_pinned":
                raise

    async def set_topic(self, channel: str, topic: Mrkdwn) -> None:
        await self._call("conversations.setTopic", channel=channel, topic=Mrkdwn(topic))

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        data = await self._call("views.open", trigger_id=trigger_id, view=view)
        return str(data["view"]["id"])

    async def update_view(self, view_id: str, view: dict[str, Any]) -> None:
        """Replace an open modal (one opened at once, then filled in when known)."""
        await self._call("views.update", view_id=view_id, view=view)

    async def publish_home(self, user: str, view: dict[str, Any]) -> str:
        """The user's Home tab (views.publish): the view's id."""
        data = await self._call("views.publish", user_id=user, view=view)
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

    def know_bot_user(self, user_id: str) -> None:
        """The bot's user ID, learnt at start-up (bot/core/slack_transport.py)."""
        self._bot_user = user_id or None

    @property
    def known_bot_user(self) -> str | None:
        return self._bot_user

    async def bot_user_id(self) -> str:
        """The bot's own user ID (auth.test, asked once): a channel it made names it as
        creator, a channel's members include it, and inviting it fails."""
        if self._bot_user is None:
            self._bot_user = str((await self.auth_test()).get("user_id") or "")
        return self._bot_user

    async def acting_user(self) -> str:
        """`bot_user_id()`, or "" while Slack cannot say (asked again the next time): who
        an alert or a drill declares and changes incidents as."""
        try:
            return await self.bot_user_id()
        except SlackError:
            return ""

    async def bots(self) -> frozenset[str]:
        """Who acts as the bot on timelines besides None: its own user, once known."""
        user = await self.acting_user()
        return frozenset({user}) if user else frozenset()

    # -- after the incident (bot/postmortem.py, bot/followups.py, bot/timeline.py) ------------
    async def upload_file(
        self,
        channel: str,
        content: str,
        *,
        filename: str,
        title: str,
        initial_comment: Mrkdwn | None = None,
    ) -> str:
        """Share a text file in a channel (Slack's external upload: getUploadURLExternal,
        the bytes, completeUploadExternal; slack_sdk's files_upload_v2); returns its id.
        Not idempotent: a retry may share it twice."""
        data = await self._call(
            "files.upload_v2",
            channel=channel,
            content=content.encode(),
            filename=filename,
            title=title,
            initial_comment=Mrkdwn(initial_comment) if initial_comment else None,
        )
        found = data.get("file") or (data.get("files") or [{}])[0]
        return str(found.get("id") or "")

    async def open_dm(self, user: str) -> str:
        """The bot's direct-message channel with `user` (conversations.open)."""
        data = await self._call("conversations.open", users=user)
        return str(data["channel"]["id"])

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts: from the channel's history, else (a thread reply) from
        its thread. None when Slack has no such message."""
        data = await self._call(
            "conversations.history", channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
        )
        for m in data.get("messages") or []:
            if m.get("ts") == ts:
                return dict(m)
        try:
            data = await self._call("conversations.replies", channel=channel, ts=ts, limit=200)
        except SlackError as exc:
            if exc.code == "thread_not_found":
                return None
            raise
        return next((dict(m) for m in data.get("messages") or [] if m.get("ts") == ts), None)

    async def user_info(self, user: str) -> dict[str, Any]:
        data = await self._call("users.info", user=user)
        return dict(data["user"])

    # -- set-up checks (bot/doctor/): reads only -----------------------------------------
    async def auth_test_with_headers(self) -> tuple[dict[str, Any], dict[str, str]]:
        """auth.test's answer and its HTTP headers (lower-case names): Slack reports the
        token's granted scopes only in `x-oauth-scopes`, and its clock in `date`."""
        try:
            response = await self.client.auth_test()
        except SlackApiError as exc:
            code = exc.response.get("error") or f"http_{exc.response.status_code}"
            raise self._failed("auth.test", str(code)) from exc
        except Exception as exc:  # connection errors, timeouts
            raise self._failed("auth.test", type(exc).__name__) from exc
        headers = {str(k).lower(): str(v) for k, v in (response.headers or {}).items()}
        data = dict(response.data) if isinstance(response.data, dict) else {}
        return data, headers

    async def channel_info(self, channel: str) -> dict[str, Any]:
        """conversations.info's channel object (is_member, is_archived, is_private, name)."""
        data = await self._call("conversations.info", channel=channel)
        return dict(data["channel"])

    async def channels_named(self, names: set[str]) -> dict[str, dict[str, Any]]:
        """Name -> channel object for those of `names` the bot can see."""
        found: dict[str, dict[str, Any]] = {}
        async for ch in self.channels():
            if ch.get("name") in names:
                found[str(ch["name"])] = ch
                if not names - found.keys():
                    break
        return found

    # -- the escalation matrix and stakeholder updates (bot/escalations.py, stakeholders.py) --
    async def usergroup_members(self, group: str) -> list[str]:
        """The user IDs of a user group (S…), for DMing a stakeholder group."""
        data = await self._call("usergroups.users.list", usergroup=group)
        return [str(u) for u in data.get("users", [])]

    async def usergroups(self) -> dict[str, dict[str, Any]]:
        """Every user group of the workspace (disabled ones too), by ID (for the doctor)."""
        data = await self._call("usergroups.list", include_disabled=True, include_count=True)
        return {str(g["id"]): dict(g) for g in data.get("usergroups", [])}

    # -- private incidents (bot/privacy.py) ------------------------------------------------
    async def channel_members(self, channel: str) -> list[str]:
        """Every member of a channel (conversations.members, all pages)."""
        members: list[str] = []
        cursor = None
        while True:
            args: dict[str, Any] = {"channel": channel, "limit": 1000}
            if cursor:
                args["cursor"] = cursor
            data = await self._call("conversations.members", **args)
            members += [str(u) for u in data.get("members", [])]
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return members

    async def archive(self, channel: str) -> None:
        try:
            await self._call("conversations.archive", channel=channel)
        except SlackError as exc:
            if exc.code != "already_archived":
                raise
