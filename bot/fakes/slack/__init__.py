"""A fake Slack: the Web API over real HTTP, plus the humans who click, type and submit.

It owns a whole pretend workspace in memory (users, channels, messages, pins, reactions,
modals, uploaded files, user groups) and serves it the way slack.com does: every method on
``/api/<method>`` answers HTTP 200 JSON ``{"ok": ...}``, arguments arrive as JSON, form or
query string, tokens are checked, and what Slack rejects is rejected with Slack's error
codes (Block Kit limits included). Tests and the local sandbox point the real
``AsyncWebClient`` at ``api_url``.

The other direction is here too: ``slash_command``, ``click``, ``submit_view``,
``post_message`` and friends build the payloads Slack would send and deliver them over
``transport``: "http" signs them with the signing secret and POSTs them to the bot's
``app_url`` (each request as sent is kept in ``sent``); "socket" sends them as Socket Mode
envelopes over the WebSocket the bot opened with ``apps.connections.open`` and its
app-level token (bot/fakes/socket_mode.py). Either way the ack is applied as Slack does.

``subscribe`` feeds every visible change (a new message, a pin, a modal opening) to the
sandbox UI as JSON-able dicts.

The package, one module a seam: ``workspace`` (the state and what Slack does to it),
``wire`` (arguments, errors, scopes: what the API refuses; Block Kit in blocks/limits.py),
``server`` (the HTTP endpoints), ``methods/`` (the Web API, one module a method family),
``transport`` and ``humans`` (the other direction), ``payloads`` (interaction payloads),
``serialize`` (Slack's JSON shapes, which the sandbox shows), ``mrkdwn`` (what Slack reads).
"""

from blocks.limits import BLOCK_TYPES, block_problems, view_problems
from bot.fakes.slack.fake import FakeSlack
from bot.fakes.slack.model import APP_ID, BOT_ID, AckResult, Bot, Call, Channel, Message, User
from bot.fakes.slack.mrkdwn import Notice, notice, shown
from bot.fakes.slack.wire import DEFAULT_SCOPES, SlackError

__all__ = [
    "APP_ID",
    "BLOCK_TYPES",
    "BOT_ID",
    "DEFAULT_SCOPES",
    "AckResult",
    "Bot",
    "Call",
    "Channel",
    "FakeSlack",
    "Message",
    "Notice",
    "SlackError",
    "User",
    "block_problems",
    "notice",
    "shown",
    "view_problems",
]
