"""How handlers answer people: ephemeral messages, and errors turned into sentences."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from blocks.common import Block, Message, Mrkdwn, md
from blocks.incident import usage_error
from blocks.mrkdwn import said
from bot.core.errors import STORE_ERRORS, IncidentNotFound
from bot.core.slack import SlackError
from bot.incidents import DeclareUncertain, IncidentError
from bot.services import Services
from handlers.parse import UsageError
from handlers.payloads import Malformed, ReplyTo

log = logging.getLogger(__name__)

Respond = Callable[..., Awaitable[Any]]

NOT_SURE = (
    ":warning: The incident store stopped answering while incident {} was being recorded, "
    "so it may or may not exist. Check `/incident list` in a moment before declaring again."
)
STORE_DOWN = md(
    ":warning: The incident store is unreachable right now, so nothing was changed. "
    "Try again in a moment; if it persists, check the bot's Redis."
)


def reply(message: Message, **extra: Any) -> dict[str, Any]:
    """An answer's body for Bolt's ack/respond; its `text` is Slack-safe like every post."""
    text, blocks = message
    return {"text": Mrkdwn(text), "blocks": blocks, **extra}


def ephemeral(message: Message) -> dict[str, Any]:
    return reply(message, response_type="ephemeral")


async def tell(svc: Services, channel: str | None, user: str, text: Mrkdwn) -> None:
    """An ephemeral to `user` in `channel`, after the click or form was answered. With no
    channel to say it in, or Slack refusing (a DM the bot cannot post in), only the answer
    is lost: what it answers stands."""
    if not channel:
        return
    try:
        await svc.slack.ephemeral(channel, user, text)
    except SlackError as exc:
        log.info("could not answer", extra={"error": exc.code})


def responder(svc: Services, to: ReplyTo) -> Respond:
    """Answers to the user alone, at the payload's response_url; without one (a global
    shortcut, the Home tab, a form), in their DM with the bot."""

    async def respond(text: str = "", blocks: list[Block] | None = None, **_: Any) -> None:
        try:
            if to.response_url:
                await svc.slack.respond(to.response_url, Mrkdwn(text), blocks)
            elif to.user:
                await svc.slack.post(to.user.id, Mrkdwn(text), blocks)
        except SlackError as exc:
            log.info("answer not delivered", extra={"error": exc.code})

    return respond


def refusal(exc: Exception) -> Mrkdwn:
    """A refusal as one sentence."""
    return md(":warning: {}", said(exc))


@asynccontextmanager
async def answering(respond: Respond, *, what: str = "command") -> AsyncIterator[None]:
    """Every failure after ack() becomes one clear ephemeral sentence, never a trace."""
    try:
        yield
    except DeclareUncertain as exc:
        log.warning("declare outcome unknown", extra={"incident": exc.incident_id})
        await _safe(respond, md(NOT_SURE, exc.incident_id))
    except STORE_ERRORS as exc:
        log.warning("store unreachable", extra={"what": what, "error": str(exc)})
        await _safe(respond, STORE_DOWN)
    except Malformed as exc:  # Slack's payload lacked what the handler needs (logged)
        await _safe(respond, *exc.message)
    except UsageError as err:
        # a registered verb found its arguments wrong after ack(): same answer as the parser's
        text, blocks = usage_error(err.problem, err.usage)
        await _safe(respond, text, blocks)
    except (IncidentError, IncidentNotFound) as exc:
        await _safe(respond, refusal(exc))
    except Exception:
        log.exception("command failed", extra={"what": what})
        await _safe(
            respond, md(":warning: Something went wrong on our side; it is logged. Try again.")
        )


async def _safe(respond: Respond, text: Mrkdwn, blocks: list[Block] | None = None) -> None:
    try:
        await respond(
            **reply((text, blocks or []), response_type="ephemeral", replace_original=False)
        )
    except Exception:
        log.exception("could not send the error reply")
