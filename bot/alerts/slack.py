"""Alert notifications posted in Slack's alert channels: which channels are read, which
messages (machines only, never a person or the bot itself) and what they mean for their
alert group.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from blocks.mrkdwn import unescape
from bot.alerts.intake import AlertBatch, GroupUpdate
from bot.core.config import AlertsConfig
from bot.core.models import AlertInstance, MessageRef
from bot.core.slack import Slack, SlackError

log = logging.getLogger(__name__)

_FIRING_WORDS = {"firing", "alerting", "triggered", "alert", "problem", "critical", "warning"}
_RESOLVED_WORDS = {"resolved", "recovered", "ok", "cleared"}
# emoji shortcodes and markup before the status: ":rotating_light: *[FIRING:1]* ..."
_LEAD = r"^(?::[a-z0-9_+\-]+:\s*|[^\w\[\n])*"
_BRACKET = re.compile(_LEAD + r"\[(?P<status>[a-z ]+?)(?::(?P<count>\d+))?\]\s*(?P<rest>.+)$", re.I)
_COLON = re.compile(
    _LEAD + r"(?P<status>firing|alerting|triggered|alert|problem|resolved|recovered)\s*:\s*"
    r"(?P<rest>.+)$",
    re.I,
)
_FIELD = re.compile(
    r"^\s*[•\-*>]*\s*\*?_?(?P<key>[A-Za-z][\w ]{0,30}?)_?\*?\s*[:=]\s*(?P<value>.+)$"
)
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>|<([^>]+)>")
_TOKEN = re.compile(r"[A-Za-z_][\w:.\-]*")
_ANNOTATIONS = {
    "summary": "summary",
    "alert": "summary",
    "description": "description",
    "message": "description",
    "runbook": "runbook_url",
    "runbook_url": "runbook_url",
}


def _plain(text: str) -> str:
    """Slack markup -> plain words: links to their text, no bold/italic/code marks, and
    Slack's entities as the characters (the alert's text is escaped again when shown)."""
    text = _LINK.sub(lambda m: m.group(2) or m.group(3) or m.group(1), text)
    return unescape(re.sub(r"[*_`~]", "", text)).strip()


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass(frozen=True)
class _Header:
    firing: bool
    count: int
    rest: str  # what follows the status: alert name, group values, (common values)
    alertmanager: bool  # the `[FIRING:n] name values (common)` shape


def _header(line: str) -> _Header | None:
    m = _BRACKET.match(line)
    if m:
        word = m.group("status").strip().lower()
        if word in _FIRING_WORDS or word in _RESOLVED_WORDS:
            firing = word in _FIRING_WORDS
            count = int(m.group("count") or 1)
            am = word in ("firing", "resolved")
            return _Header(firing, count if firing else 0, m.group("rest"), am)
    m = _COLON.match(line)
    if m:
        firing = m.group("status").lower() in _FIRING_WORDS
        return _Header(firing, 1 if firing else 0, m.group("rest"), False)
    return None


def _texts(event: Mapping[str, Any]) -> Iterable[tuple[str, str | None]]:
    """Each text of a message with the link that goes with it: attachments (title,
    pretext, text, fallback), the message text, and the texts of its blocks."""
    for att in event.get("attachments") or []:
        if not isinstance(att, Mapping):
            continue
        link = att.get("title_link") or None
        for name in ("title", "pretext", "text", "fallback"):
            if att.get(name):
                yield str(att[name]), link
        for f in att.get("fields") or []:
            if isinstance(f, Mapping) and f.get("title"):
                yield f"{f['title']}: {f.get('value', '')}", None
    if event.get("text"):
        yield str(event["text"]), None
    for block in event.get("blocks") or []:
        if not isinstance(block, Mapping):
            continue
        for part in [block.get("text"), *(block.get("fields") or [])]:
            if isinstance(part, Mapping) and part.get("text"):
                yield str(part["text"]), None


def parse_alert_message(
    event: Mapping[str, Any], rules: Iterable[str], *, now: float
) -> GroupUpdate | None:
    """An alert notification posted in Slack -> the update it means for its group, or None
    when the message is not one. Understands Alertmanager's Slack notifications
    (`[FIRING:2] DatabaseDown db1 (prod)`, `[RESOLVED] …`) and the common shapes of other
    monitoring bots (`[Alerting] HighCPU`, `Triggered: HighCPU on web-1`, `[OK] …`)."""
    lines = [(line, link) for text, link in _texts(event) for line in text.splitlines()]
    found = next(
        ((i, h, link) for i, (line, link) in enumerate(lines) if (h := _header(line))), None
    )
    if found is None:
        return None
    at, head, link = found
    rest = _plain(head.rest)
    group_part = rest.split("(", 1)[0] if head.alertmanager else rest
    tokens = _TOKEN.findall(group_part)
    names = {r.lower(): r for r in rules}
    alertname = next((names[t.lower()] for t in tokens if t.lower() in names), None)
    if alertname is None:  # "High CPU on web-1" still finds HighCPU
        squashed = _squash(rest)
        alertname = next(
            (r for r in sorted(names.values(), key=len, reverse=True) if _squash(r) in squashed),
            None,
        )
    if alertname is None:
        if not tokens:
            return None
        alertname = tokens[0]
    values = [t for t in tokens if t.lower() != alertname.lower()] if head.alertmanager else []
    key = f"{alertname}|{' '.join(values)}"
    title = " ".join([alertname, *values])
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for i, (line, _) in enumerate(lines):
        if i == at or lines[i][0] == lines[at][0]:  # the status line (and its fallback copy)
            continue
        m = _FIELD.match(line)
        if not m:
            continue
        name = m.group("key").strip().lower().replace(" ", "_")
        value = _plain(m.group("value"))[:500]
        if not value:
            continue
        if name in _ANNOTATIONS:
            annotations.setdefault(_ANNOTATIONS[name], value)
        elif re.fullmatch(r"[a-z_][a-z0-9_]*", name) and len(labels) < 20:
            labels.setdefault(name, value[:200])
    labels.setdefault("alertname", alertname)
    started = float(event.get("ts") or now)
    # where the alert was posted: its thread is told of the incident it declares
    posted = event.get("channel") and event.get("ts")
    message = MessageRef(channel=str(event["channel"]), ts=str(event["ts"])) if posted else None
    alerts = [
        AlertInstance(
            fingerprint=f"slack:{i}",
            status="firing",
            alertname=alertname,
            labels=labels,
            annotations=annotations,
            starts_at=started,
            generator_url=link,
            message=message,
        )
        for i in range(head.count)
    ]
    return GroupUpdate(
        key=key, alertname=alertname, title=title, alerts=alerts, complete_prefix="slack:"
    )


def message_senders(event: Mapping[str, Any]) -> set[str]:
    """The bot and app IDs a Slack message carries; none for a person's message. Slack
    sets them, a sender cannot: a classic integration or incoming webhook posts
    `subtype: bot_message` with its `bot_id`; an app posting with chat.postMessage adds
    `bot_id`, `app_id` and `bot_profile` (its `id` and `app_id`) to its bot user's message."""
    profile = event.get("bot_profile")
    profile = profile if isinstance(profile, Mapping) else {}
    ids = (event.get("bot_id"), event.get("app_id"), profile.get("id"), profile.get("app_id"))
    return {str(i) for i in ids if i}


def sender_refused(
    event: Mapping[str, Any], allowed: frozenset[str], own: frozenset[str]
) -> tuple[str, str] | None:
    """(reason, why) an alert channel does not read this message, or None when it does.
    People never declare, resolve or reopen; with `from:` listed, only those machines do;
    the bot's own posts (`own`: its user, bot and app IDs) are never read."""
    senders = message_senders(event)
    if not own.isdisjoint({*senders, event.get("user")}):
        return "own_message", "the bot's own post"
    if not senders:
        return "not_a_bot", "posted by a person, not a bot or app"
    if allowed and senders.isdisjoint(allowed):
        return "sender_not_allowed", "posted by a bot or app not in alerts.channels `from`"
    return None


class AlertChannels:
    """Reads alert messages in `alerts.channels`."""

    def __init__(
        self,
        slack: Slack,
        settings: AlertsConfig,
        *,
        clock: Callable[[], float],
        rejected: Callable[[str], None],
    ) -> None:
        self.slack = slack
        self.settings = settings
        self.clock = clock
        self.rejected = rejected
        self._channels: tuple[float, dict[str, frozenset[str]]] = (float("-inf"), {})

    async def batch(
        self, event: Mapping[str, Any], *, event_id: str | None, own: Iterable[str]
    ) -> tuple[AlertBatch, str] | None:
        """A message event, when a bot or app (one `alerts.channels` allows) posted it in
        an alert channel and it reads as an alert notification: the batch it makes and the
        key it is accepted once under (its Slack event). `own`: the bot's own user, bot and
        app IDs, whose posts are never read."""
        if not self.settings.channels or event.get("subtype") not in (None, "bot_message"):
            return None
        channel = str(event.get("channel") or "")
        allowed = (await self._alert_channels()).get(channel)
        if allowed is None:
            return None
        now = self.clock()
        update = parse_alert_message(event, (r.alertname for r in self.settings.rules), now=now)
        if update is None:
            return None
        refused = sender_refused(event, allowed, frozenset(own))
        if refused:
            reason, why = refused
            # one line, so "why did my alert do nothing" has an answer in the log
            log.info(
                "alert message ignored: %s",
                why,
                extra={
                    "channel": channel,
                    "user": event.get("user"),
                    "senders": sorted(message_senders(event)),
                },
            )
            self.rejected(reason)
            return None
        batch = AlertBatch(source="slack", received_at=now, groups=[update])
        return batch, event_id or f"{channel}:{event.get('ts')}"

    async def _alert_channels(self) -> dict[str, frozenset[str]]:
        """The configured alert channels by ID (names looked up, cached five minutes), each
        with the bot and app IDs it accepts (empty: any)."""
        at, ids = self._channels
        if self.clock() - at < 300:  # an empty answer too: no conversations.list per message
            return ids
        found: dict[str, frozenset[str]] = {}
        for entry in self.settings.channels:
            ref = entry.channel.lstrip("#")
            channel_id: str | None = ref
            if not re.fullmatch(r"[CGD][A-Z0-9]{2,}", ref):
                try:
                    channel_id = await self.slack.find_channel(ref)
                except SlackError as exc:
                    log.warning(
                        "alert channel lookup failed", extra={"channel": ref, "error": exc.code}
                    )
                    continue
            if not channel_id:
                continue
            senders = frozenset(entry.senders)
            if channel_id in found:  # listed twice: what either entry accepts ("any" wins)
                before = found[channel_id]
                senders = frozenset() if not before or not senders else before | senders
            found[channel_id] = senders
        self._channels = (self.clock(), found)
        return found
