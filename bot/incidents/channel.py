"""An incident's channel: its name, the fresh names tried when it is taken, and the bot's
own channel found again after a lost answer (bot/incidents/ makes it).
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from collections.abc import Iterator

from bot.core import redaction
from bot.core.models import Incident
from bot.core.slack import Slack

log = logging.getLogger(__name__)

CHANNEL_NAME_MAX = 80
FRESH_NAMES = 3  # names tried after the incident's own is taken, before giving up


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def channel_name(prefix: str, day: str, number: int | str, title: str, token: str = "") -> str:
    """`<prefix>-<yyyymmdd>-<n>-<slug>[-<token>]`, within Slack's rules and 80 characters."""
    base = f"{prefix}-{day}-{number}"
    tail = f"-{token}" if token else ""
    room = CHANNEL_NAME_MAX - len(base) - len(tail) - 1
    slug = slugify(title)[:room].rstrip("-")
    return f"{base}-{slug}{tail}" if slug else base + tail


def channel_names(incident: Incident, first: str, prefix: str) -> Iterator[str]:
    # someone else's channel may hold a predictable name (a public incident's): the
    # fresh ones have a random part, so they cannot be taken in advance too
    yield first
    prefix = "drill" if incident.drill else prefix
    day, _, number = incident.id.partition("-")
    for _ in range(FRESH_NAMES):
        if incident.private:
            yield redaction.private_channel_name(prefix, day, number)
        else:
            yield channel_name(prefix, day, number, incident.title, secrets.token_hex(3))


async def own_orphan(slack: Slack, incident: Incident) -> tuple[str, str] | None:
    """The channel of the incident's recorded name if the bot made it after the
    declaration (a set-up cut off before it recorded Slack's answer): (id, name)."""
    found = await slack.channels_named({incident.channel_name})
    channel = found.get(incident.channel_name)
    if channel is None:
        return None
    mine = channel.get("creator") == await slack.bot_user_id()
    # Slack's `created` is whole seconds; ours is not
    fresh = float(channel.get("created") or 0) >= int(incident.declared_at)
    if not (mine and fresh and bool(channel.get("is_private")) == incident.private):
        return None
    log.info("channel made before a crash adopted", extra={"incident": incident.id})
    return str(channel["id"]), incident.channel_name
