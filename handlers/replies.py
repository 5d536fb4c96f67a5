"""How handlers answer people: ephemeral messages, and errors turned into sentences."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from blocks.common import Block
from blocks.incident import usage_error
from bot.incidents import DeclareUncertain, IncidentError
from bot.store import STORE_ERRORS, IncidentNotFound
from handlers.parse import UsageError

log = logging.getLogger(__name__)

Respond = Callable[..., Awaitable[Any]]

NOT_SURE = (
    ":warning: The incident store stopped answering while incident {id} was being recorded, "
    "so it may or may not exist. Check `/incident list` in a moment before declaring again."
)
STORE_DOWN = (
    ":warning: The incident store is unreachable right now, so nothing was changed. "
    "Try again in a moment; if it persists, check the bot's Redis."
)


def ephemeral(message: tuple[str, list[Block]]) -> dict[str, Any]:
    text, blocks = message
    return {"response_type": "ephemeral", "text": text, "blocks": blocks}


@asynccontextmanager
async def answering(respond: Respond, *, what: str = "command") -> AsyncIterator[None]:
    """Every failure after ack() becomes one clear ephemeral sentence, never a trace."""
    try:
        yield
    except DeclareUncertain as exc:
        log.warning("declare outcome unknown", extra={"incident": exc.incident_id})
        await _safe(respond, NOT_SURE.format(id=exc.incident_id))
    except STORE_ERRORS as exc:
        log.warning("store unreachable", extra={"what": what, "error": str(exc)})
        await _safe(respond, STORE_DOWN)
    except UsageError as err:
        # a registered verb found its arguments wrong after ack(): same answer as the parser's
        text, blocks = usage_error(err.problem, err.usage)
        await _safe(respond, text, blocks)
    except (IncidentError, IncidentNotFound) as exc:
        await _safe(respond, f":warning: {exc}")
    except Exception:
        log.exception("command failed", extra={"what": what})
        await _safe(respond, ":warning: Something went wrong on our side; it is logged. Try again.")


async def _safe(respond: Respond, text: str, blocks: list[Block] | None = None) -> None:
    try:
        await respond(
            text=text, blocks=blocks or [], response_type="ephemeral", replace_original=False
        )
    except Exception:
        log.exception("could not send the error reply")
