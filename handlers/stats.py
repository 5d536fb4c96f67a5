"""`/incident stats [7d|30d|90d] [share]`: response numbers; the work is in bot/stats.py."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from blocks.stats import stats_message
from bot.services import Services
from bot.stats import DEFAULT_WINDOW, WINDOWS
from handlers.parse import UsageError
from handlers.replies import reply
from handlers.verbs import VerbContext, verb


@verb("stats", usage="/incident stats [7d|30d|90d] [share]", in_incident=False)
async def stats_verb(ctx: VerbContext) -> None:
    words = ctx.cmd.text.lower().split()
    share = "share" in words
    windows = [w for w in words if w != "share"]
    if len(windows) > 1 or (windows and windows[0] not in WINDOWS):
        raise UsageError("Give one window: 7d, 30d or 90d.")
    window = WINDOWS[windows[0] if windows else DEFAULT_WINDOW]
    text, blocks = stats_message(await ctx.svc.stats.report(window))
    kind = "in_channel" if share else "ephemeral"
    await ctx.respond(**reply((text, blocks), response_type=kind, replace_original=False))


def register(app: AsyncApp, svc: Services) -> None:
    """Nothing to wire: the verb above is marked for the registry (handlers/verbs.py)."""
