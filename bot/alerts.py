"""Alerts: Prometheus Alertmanager's webhook and alert messages in Slack, made incidents.

Owns the way from an alert to an incident: validating what arrives, persisting it before
answering, grouping alerts, and keeping each alert group's incident and Slack messages in
line with the group's alerts.

1. **Accept.** A webhook payload (or a message in an alert channel) is validated and
   turned into an `AlertBatch`, then XADDed to a Redis stream *before* the HTTP answer:
   a 200 means it is stored, so a crash right after loses nothing. A malformed payload is
   refused with 400 and its reason; nothing is stored. A Slack event is stored at most
   once per `event_id` (the marker and the entry in one script), so Slack's retries never
   act twice.
2. **Apply.** A worker in every replica reads the stream through a consumer group and
   applies each group's alerts with one Lua script: an alert's status changes only for a
   later stream entry than the one that set it (redeliveries and reordering change
   nothing); a status change bumps the group's version and marks it due. Then the entries
   are acknowledged and deleted. Entries of a consumer that died unacknowledged are
   claimed by another after `claim_idle` seconds.
3. **Reconcile.** Due groups are reconciled one at a time each (a Redis lease per group),
   on any replica: declare the incident (rule matched, or `declare_unmatched`), add to it,
   reopen it, move it to monitoring when every alert resolved (and let the scheduler
   resolve it after `auto_resolve`), and keep ONE message per group current. The
   reconciler settles a group only if its version did not move meanwhile, else it runs
   again: no change is ever left unshown.

Grouping: an alert group is the alert name plus the values of the payload's group labels
(Alertmanager's `group_by`), which is exactly what the title of Alertmanager's Slack
notifications shows (`[FIRING:2] DatabaseDown db1`), so both ways in meet in one group.

Within Slack's rate limits: a storm is many alerts but few groups, and every Slack call is
per group, not per alert. One message per group is edited at most every
`alerts.update_every`; declarations, edits and posts also draw from budgets shared by all
replicas (GCRA in Redis, see `SlackBudgets`). A call that would wait long is not slept on:
the group is made due again when its budget allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from redis.exceptions import RedisError

import blocks.alerts as ui
from blocks.mrkdwn import unescape
from bot.core import redaction
from bot.core.activity import Activity, Outlook
from bot.core.config import AlertRule, IncidentConfig, format_duration
from bot.core.errors import StoreUnavailable
from bot.core.models import AlertGroupView, AlertInstance, DueItem, Incident, TimelineEntry
from bot.core.schedule import Retry, Scheduler
from bot.core.slack import Slack, SlackError
from bot.core.store import AlertEntry, AlertGroupState, Store
from bot.incidents import IncidentError, Incidents
from bot.runbooks.library import Runbook, RunbookError

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024  # a payload of thousands of alerts is a few MB
CHANNEL_WAIT = 0.25  # seconds before looking again for a just-declared incident's channel
SLACK_EVENT_TTL = 24 * 3600  # a Slack event id is remembered this long (retries: minutes)
QUIET_KIND = "alert_quiet"  # scheduler kind: resolve after the quiet period
SAMPLE = ui.SAMPLE
LEASE_MS = 60_000
# A game-day drill's synthetic alerts (bot/drills.py) carry this label, valued with the
# drill's incident id, in their group labels: their group belongs to that incident.
DRILL_LABEL = "incident_drill"


class InvalidAlerts(ValueError):
    """A payload we refuse (HTTP 400); the message says why, for the sender's log."""


# -- what arrives ---------------------------------------------------------------------------


class _AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    # Alertmanager's own field names; RFC 3339 with a zone (a naive time has no epoch)
    startsAt: AwareDatetime | None = None
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""

    @field_validator("labels")
    @classmethod
    def _alertname(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels.get("alertname", "").strip():
            raise ValueError("an alert needs an alertname label")
        return labels


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body (version 4). Unknown fields are ignored, so newer
    Alertmanagers that add fields still work."""

    model_config = ConfigDict(extra="ignore")

    version: str
    status: Literal["firing", "resolved"] | None = None
    receiver: str = ""
    groupKey: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[_AmAlert] = Field(min_length=1)


class GroupUpdate(BaseModel):
    """What one batch says about one alert group."""

    key: str  # "<alertname>|<group label values>": the group's identity
    alertname: str
    title: str
    labels: dict[str, str] = Field(default_factory=dict)
    alerts: list[AlertInstance] = Field(default_factory=list)
    # a complete report (a Slack message counts all the group's alerts): alerts whose
    # fingerprint has this prefix and that are not listed have resolved
    complete_prefix: str = ""
    link: str = ""


class AlertBatch(BaseModel):
    """One accepted delivery (a webhook payload or a Slack message), as stored."""

    source: Literal["alertmanager", "slack"]
    received_at: float
    groups: list[GroupUpdate]

    @property
    def count(self) -> int:
        return sum(len(g.alerts) for g in self.groups)


def group_key(alertname: str, group_labels: Mapping[str, str]) -> tuple[str, str]:
    """(key, title) of an alert group: the alert name and the group label values, sorted
    by label name as Alertmanager's Slack titles show them."""
    values = [v for k, v in sorted(group_labels.items()) if k != "alertname" and v]
    return f"{alertname}|{' '.join(values)}", " ".join([alertname, *values])


def group_id(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:20]


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    ts = value.timestamp()
    return ts if ts > 0 else None  # Alertmanager's "0001-01-01T00:00:00Z" means unset


def _fingerprint(labels: Mapping[str, str]) -> str:
    raw = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


def parse_alertmanager(body: bytes, *, now: float) -> AlertBatch:
    """Validate a webhook body into a batch; InvalidAlerts says what is wrong.

    pydantic reads the JSON itself: bad UTF-8, lone surrogates, deep nesting and wrong
    shapes all come out as one ValidationError (json.loads would raise RecursionError)."""
    try:
        payload = AlertmanagerPayload.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise InvalidAlerts(
                f"the body is not JSON ({first['msg'].removeprefix('Invalid JSON: ')})"
            ) from None
        if first["type"] == "model_type":
            raise InvalidAlerts(
                "the body must be a JSON object (Alertmanager webhook, version 4)"
            ) from None
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "(body)"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise InvalidAlerts("not an Alertmanager payload: " + "; ".join(problems) + more) from None
    if payload.version != "4":
        log.info("alertmanager payload version %s; reading it as version 4", payload.version)
    groups: dict[str, GroupUpdate] = {}
    for a in payload.alerts:
        alertname = a.labels["alertname"].strip()
        key, title = group_key(alertname, payload.groupLabels)
        group = groups.get(key)
        if group is None:
            labels = {k: v for k, v in payload.groupLabels.items() if k != "alertname"}
            group = groups[key] = GroupUpdate(
                key=key, alertname=alertname, title=title, labels=labels, link=payload.externalURL
            )
        group.alerts.append(
            AlertInstance(
                fingerprint=a.fingerprint or _fingerprint(a.labels),
                status=a.status,
                alertname=alertname,
                labels=a.labels,
                annotations=a.annotations,
                starts_at=_epoch(a.startsAt),
                ends_at=_epoch(a.endsAt),
                generator_url=a.generatorURL or None,
            )
        )
    return AlertBatch(source="alertmanager", received_at=now, groups=list(groups.values()))


def bearer_ok(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time. The header is the
    sender's bytes as aiohttp decoded them (undecodable ones as surrogates): encoded back
    the same way, so any header compares, and only the right token matches."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode()
    )


# -- alert messages in Slack ------------------------------------------------------------------

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
    alerts = [
        AlertInstance(
            fingerprint=f"slack:{i}",
            status="firing",
            alertname=alertname,
            labels=labels,
            annotations=annotations,
            starts_at=started,
            generator_url=link,
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


# -- Slack budgets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    interval: float  # seconds between calls, sustained
    burst: int  # calls allowed at once


@dataclass(frozen=True)
class SlackBudgets:
    """Slack calls the alert path makes, paced across replicas (Slack's published tiers):
    declaring creates a channel and sets its topic (Tier 2, about 20 a minute) and posts
    into the announce channel; chat.update is Tier 3 (about 50 a minute); chat.postMessage
    allows about one message a second in a channel, with short bursts."""

    declare: Budget = Budget(3.0, 10)
    update: Budget = Budget(1.2, 10)
    post: Budget = Budget(1.0, 4)  # per channel
    max_wait: float = 0.5  # longer waits are not slept on: the group comes back later


class _Later(Exception):
    """A Slack budget is spent: reconcile the group again at `at`."""

    def __init__(self, at: float) -> None:
        super().__init__(at)
        self.at = at


# -- the service ---------------------------------------------------------------------------


@dataclass
class _Metrics:
    received: Counter
    rejected: Counter
    applied: Counter
    actions: Counter

    @classmethod
    def on(cls, registry: CollectorRegistry) -> _Metrics:
        return cls(
            received=Counter(
                "alerts_received_total", "Alerts accepted", ["source"], registry=registry
            ),
            rejected=Counter(
                "alert_payloads_rejected_total", "Payloads refused", ["reason"], registry=registry
            ),
            applied=Counter(
                "alert_batches_applied_total", "Accepted batches applied", registry=registry
            ),
            actions=Counter(
                "alert_incident_actions_total",
                "What alerts did to incidents (declared, reopened, monitoring, resolved, "
                "unmatched)",
                ["action"],
                registry=registry,
            ),
        )


@dataclass
class _Worker:
    stopping: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    inflight: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)


class Alerts:
    """Accepts alerts, applies them to groups, and reconciles each group with Slack."""

    def __init__(
        self,
        store: Store,
        slack: Slack,
        incidents: Incidents,
        config: IncidentConfig,
        runbooks: Mapping[str, Runbook],
        *,
        scheduler: Scheduler | None = None,  # the auto-resolve timer
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        budgets: SlackBudgets | None = None,
        activity: Activity | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.incidents = incidents
        self.activity = activity or Activity("alerts")
        self.config = config
        self.settings = config.alerts
        self.scheduler = scheduler
        self.clock = clock
        self.budgets = budgets or SlackBudgets()
        self.metrics = _Metrics.on(registry or CollectorRegistry())
        self.rules: dict[str, AlertRule] = {}
        for i, rule in enumerate(config.alerts.rules):
            if rule.runbook and rule.runbook not in runbooks:
                known = ", ".join(sorted(runbooks)) or "none"
                raise RunbookError(
                    f"alerts.rules[{i}] ({rule.alertname}): no runbook {rule.runbook!r} "
                    f"(known: {known})"
                )
            self.rules.setdefault(rule.alertname.lower(), rule)
        # tuning, seconds; tests make them small
        self.poll = 0.5  # how often an idle worker looks at the stream (a local accept wakes it)
        self.claim_idle = 30.0  # an entry read but unacknowledged this long is taken over
        self.batch = 256
        self.concurrency = 16
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake_ingest = asyncio.Event()
        self._wake_reconcile = asyncio.Event()
        self._worker: _Worker | None = None
        self._bot_user: str | None = None
        self._bot_lock = asyncio.Lock()
        self._channels: tuple[float, dict[str, frozenset[str]]] = (float("-inf"), {})
        if scheduler is not None:
            scheduler.on(QUIET_KIND, self._quiet_over)

    # -- rules ---------------------------------------------------------------------------
    def rule_for(self, alertname: str) -> AlertRule | None:
        return self.rules.get(alertname.lower())

    def rule_severity(self, rule: AlertRule | None) -> str | None:
        """The rule's severity as configured; the built-in rules' SEV4 falls back to the
        mildest severity when fewer are configured. None: the declare default."""
        if rule is None:
            unmatched = self.settings.unmatched_severity
            return self.config.resolve_severity(unmatched) if unmatched else None
        return self.config.resolve_severity(rule.severity) or self.config.severities[-1].name

    @property
    def retention(self) -> int:
        """How long an alert group is remembered after its last alert."""
        windows = self.settings.dedupe_window + self.settings.flap_window
        if self.settings.auto_resolve:
            windows += self.settings.auto_resolve
        return int(max(7 * 86400, 2 * windows.total_seconds()))

    # -- 1. accept -----------------------------------------------------------------------
    async def accept(self, batch: AlertBatch, *, once: str | None = None) -> bool:
        """Persist a batch for the workers; True when stored (False: `once` was used)."""
        body = batch.model_dump_json(exclude_defaults=True)
        stored = await self.store.alerts_accept(body, once=once, ttl=SLACK_EVENT_TTL)
        if stored:
            self.metrics.received.labels(batch.source).inc(batch.count or 1)
            self._wake_ingest.set()
        return stored

    def rejected(self, reason: str) -> None:
        self.metrics.rejected.labels(reason).inc()

    async def on_slack_message(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None,
        own: Iterable[str] = (),
    ) -> bool:
        """A message event: when a bot or app (one `alerts.channels` allows) posted it in
        an alert channel and it reads as an alert notification, accept it (once per Slack
        event). `own`: the bot's own user, bot and app IDs, whose posts are never read.
        True when accepted."""
        if not self.settings.channels or event.get("subtype") not in (None, "bot_message"):
            return False
        channel = str(event.get("channel") or "")
        allowed = (await self._alert_channels()).get(channel)
        if allowed is None:
            return False
        now = self.clock()
        update = parse_alert_message(event, (r.alertname for r in self.settings.rules), now=now)
        if update is None:
            return False
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
            return False
        batch = AlertBatch(source="slack", received_at=now, groups=[update])
        once = event_id or f"{channel}:{event.get('ts')}"
        return await self.accept(batch, once=once)

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

    # -- 2. apply ------------------------------------------------------------------------
    async def apply(self, entries: list[AlertEntry]) -> None:
        """Apply stream entries to their groups, then acknowledge and delete them."""
        updates: list[tuple[str, AlertEntry, list[str | int | float]]] = []
        for entry in entries:
            try:
                batch = AlertBatch.model_validate_json(entry.batch)
            except ValidationError:
                # written by a newer replica, or corrupted: keeping it would block nothing
                # but would be retried forever
                log.error("unreadable alert batch dropped", extra={"entry": entry.id})
                continue
            for g in batch.groups:
                group = json.dumps({"title": g.title, "labels": g.labels}, sort_keys=True)
                args: list[str | int | float] = [
                    g.complete_prefix,
                    g.key,
                    g.alertname,
                    group,
                    batch.source,
                    g.link,
                ]
                for a in g.alerts:
                    args += [a.fingerprint, a.status, a.starts_at or 0, a.model_dump_json()]
                updates.append((group_id(g.key), entry, args))
        await self.store.alerts_apply(entries, updates, now=self.clock(), ttl=self.retention)
        self.metrics.applied.inc(len(entries))
        self._wake_reconcile.set()

    async def _ingest_loop(self) -> None:
        assert self._worker is not None
        worker = self._worker
        await self._until_ready(self.store.alerts_consumer_group)
        next_reclaim = 0.0
        while not worker.stopping:
            self._wake_ingest.clear()  # before reading: an accept from now on wakes us
            try:
                entries = await self.store.alerts_read(self.consumer, self.batch)
                if not entries and time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + max(self.claim_idle / 2, 0.1)
                    idle_ms = int(self.claim_idle * 1000)
                    entries = await self.store.alerts_reclaim(self.consumer, idle_ms, self.batch)
                if entries:
                    await self.apply(entries)
                    continue
            except (RedisError, OSError, StoreUnavailable) as exc:
                log.warning("alert stream unavailable", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
                continue
            await _wait(self._wake_ingest, self.poll)

    async def _until_ready(self, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await step()
                return
            except (RedisError, OSError, StoreUnavailable) as exc:
                log.warning("alert worker waiting for Redis", extra={"error": str(exc)})
                await asyncio.sleep(1.0)

    # -- 3. reconcile --------------------------------------------------------------------
    async def _reconcile_loop(self) -> None:
        assert self._worker is not None
        worker = self._worker
        gate = asyncio.Semaphore(self.concurrency)
        while not worker.stopping:
            self._wake_reconcile.clear()
            wait = self.poll
            try:
                now = self.clock()
                due, later = await self.store.alerts_due(now, self.concurrency * 4)
                for gid in due:
                    if gid not in worker.inflight:
                        task = self.activity.spawn(self._reconcile_guarded(gid, gate))
                        worker.inflight[gid] = task
                        task.add_done_callback(_forget(worker.inflight, gid))
                if later is not None:
                    wait = min(wait, max(0.01, later - now))
                if due and len(due) > len(worker.inflight):
                    wait = min(wait, 0.05)
            except (RedisError, OSError, StoreUnavailable) as exc:
                log.warning("alert reconciler cannot read Redis", extra={"error": str(exc)})
                wait = 1.0
            await _wait(self._wake_reconcile, wait)

    async def _reconcile_guarded(self, gid: str, gate: asyncio.Semaphore) -> None:
        assert self._worker is not None
        async with gate:
            try:
                await self.reconcile(gid)
                self._worker.failures.pop(gid, None)
            except Exception as exc:
                n = self._worker.failures.get(gid, 0) + 1
                self._worker.failures[gid] = n
                level = logging.WARNING if isinstance(exc, SlackError | IncidentError) else 0
                log.log(
                    level or logging.ERROR,
                    "alert group reconcile failed",
                    exc_info=not level,
                    extra={"group": gid, "error": str(exc), "attempt": n},
                )
                with contextlib.suppress(RedisError, OSError):
                    await self.store.alerts_mark_due(gid, self.clock() + min(60.0, 2.0**n))

    async def reconcile(self, gid: str) -> None:
        """Bring the group's incident and messages in line with its alerts (one replica
        at a time per group; another replica holding it will see any change)."""
        lease = await self.store.acquire_lease(f"alertgroup:{gid}", ttl_ms=LEASE_MS)
        if lease is None:
            return
        try:
            for _ in range(10):
                state = await self.store.alerts_group(gid, sample=SAMPLE)
                if state is None:
                    await self.store.alerts_forget_due(gid)
                    return
                try:
                    next_at = await self._reconcile_once(state)
                except _Later as later:
                    next_at = later.at
                if await self.store.alerts_settle(
                    gid, state.text("version"), next_at, self.clock()
                ):
                    return
        finally:
            await self.store.release_lease(f"alertgroup:{gid}", lease)

    async def _reconcile_once(self, g: AlertGroupState) -> float | None:
        now = self.clock()
        view = self.view(g)
        incident = await self.store.get(g.text("incident")) if g.text("incident") else None
        firing, fired = int(g.number("firing")), int(g.number("fired"))
        if firing and fired > g.number("handled_fired"):
            incident = await self._firing(g, view, incident, now)
            await self.store.alerts_group_set(
                g.gid, handled_fired=fired, quiet_since="", quiet_told=""
            )
            g.fields.update(quiet_since="", quiet_told="")
            if incident is not None:
                g.fields["incident"] = incident.id
        elif not firing and view.resolved and not g.text("quiet_told"):
            incident = await self._quiet(g, view, incident, now)
        return await self._show(g, view, incident, now)

    async def _firing(
        self, g: AlertGroupState, view: AlertGroupView, incident: Incident | None, now: float
    ) -> Incident | None:
        """New alerts fire: add to the open incident, reopen a recent one, or declare."""
        quiet = bool(g.text("quiet_told"))
        bot = await self.bot_user()
        if incident is not None and incident.is_open:
            if quiet:
                await self._post(incident, ui.firing_again(view))
                await self._note(incident, "alert", f"{view.title} firing again")
                if self.scheduler is not None:
                    await self.scheduler.cancel(incident.id, QUIET_KIND, key=g.gid)
                if incident.status == "monitoring":
                    incident = await self.incidents.set_status(
                        incident, by=bot, status="investigating"
                    )
            return incident
        if DRILL_LABEL in view.labels:
            return await self._drill_incident(g, view, incident)
        if incident is not None:
            within_flap = incident.resolved_at is not None and (
                now - incident.resolved_at <= self.settings.flap_window.total_seconds()
            )
            within_dedupe = now - g.number("declared_at") <= (
                self.settings.dedupe_window.total_seconds()
            )
            if within_flap or within_dedupe:
                self.metrics.actions.labels("reopened").inc()
                return await self.incidents.reopen(
                    incident, by=bot, reason=f"{view.title} is firing again"
                )
            # long over: this firing is a new episode, with its own incident and messages
            await self._forget_episode(g, "incident", "msg", "unmatched")
        rule = self.rule_for(view.alertname)
        if rule is None and not self.settings.declare_unmatched:
            if g.text("unmatched_ts") and quiet:
                since = now - g.number("unmatched_at")
                if since > self.settings.dedupe_window.total_seconds():
                    # back after a quiet spell and the window: a fresh post, not an old edit
                    await self._forget_episode(g, "unmatched")
            return None
        # the declaration creates a channel and posts in the announce channel
        await self._pace(
            now,
            ("declare", self.budgets.declare),
            (f"post:{self.config.announce_channel}", self.budgets.post),
        )
        return await self._declare(g, view, rule, by=bot, roles={})

    async def _drill_incident(
        self, g: AlertGroupState, view: AlertGroupView, incident: Incident | None
    ) -> Incident | None:
        """A drill's alert attaches to its drill, open or over: it never declares, reopens
        or pages anything real."""
        if incident is None:
            found = await self.store.get(view.labels[DRILL_LABEL])
            if found is None or found.drill is None:
                log.warning("drill alert without its drill", extra={"group": g.gid})
                return None
            incident = found
            await self.store.alerts_group_set(g.gid, incident=incident.id)
        return incident

    async def _declare(
        self,
        g: AlertGroupState,
        view: AlertGroupView,
        rule: AlertRule | None,
        *,
        by: str,
        roles: dict[str, str] | None,
    ) -> Incident:
        key = g.text("declaring") or f"{g.gid}:{uuid.uuid4().hex}"
        if not g.text("declaring"):
            await self.store.alerts_group_set(g.gid, declaring=key)
        first = next((a for a in view.sample), None)
        summary = (first.annotations.get("summary") if first else None) or ""
        title = f"{view.alertname}: {summary}" if summary else view.title
        description = (first.annotations.get("description") if first else None) or ""
        incident = await self.incidents.declare(
            title=title[:149] + "…" if len(title) > 150 else title,
            severity=self.rule_severity(rule),
            by=by,
            description=description[:2500],
            source="alert",
            runbook=rule.runbook if rule else None,
            alertname=view.alertname,
            roles=roles,
            key=key,
            labels={**(first.labels if first else {}), **view.labels},  # private.labels
        )
        now = self.clock()
        await self.store.alerts_group_set(
            g.gid,
            incident=incident.id,
            declared_at=now,
            declaring="",
            msg_channel="",
            msg_ts="",
            msg_digest="",
            msg_at="",
        )
        g.fields.update(
            incident=incident.id, declared_at=str(now), msg_channel="", msg_ts="", msg_digest=""
        )
        self.metrics.actions.labels("declared").inc()
        return incident

    async def _forget_episode(self, g: AlertGroupState, *parts: str) -> None:
        fields: dict[str, str] = {}
        for part in parts:
            if part == "incident":
                fields.update(incident="", declared_at="")
            else:
                fields.update(
                    {f"{part}_{f}": "" for f in ("channel", "ts", "digest", "at", "state")}
                )
        await self.store.alerts_group_set(g.gid, **fields)
        g.fields.update(fields)

    async def _quiet(
        self, g: AlertGroupState, view: AlertGroupView, incident: Incident | None, now: float
    ) -> Incident | None:
        """Every alert of the group resolved: tell the channel, move to monitoring, and
        let the scheduler resolve it after the quiet period (if configured)."""
        if incident is not None and incident.is_open:
            bot = await self.bot_user()
            auto = self.settings.auto_resolve
            auto_at = now + auto.total_seconds() if auto else None
            await self._post(
                incident, ui.alerts_resolved(incident, view, at=now, auto_resolve_at=auto_at)
            )
            await self._note(incident, "alert", f"All alerts of {view.title} resolved")
            if incident.status != "monitoring":
                incident = await self.incidents.set_status(incident, by=bot, status="monitoring")
            self.metrics.actions.labels("monitoring").inc()
            if auto_at is not None and self.scheduler is not None:
                await self.scheduler.schedule(
                    QUIET_KIND,
                    incident.id,
                    auto_at,
                    key=g.gid,
                    payload={"group": g.gid, "since": now},
                    generation=incident.generation,
                )
        await self.store.alerts_group_set(g.gid, quiet_since=now, quiet_told=1)
        g.fields.update(quiet_since=str(now), quiet_told="1")
        return incident

    async def _quiet_over(self, item: DueItem) -> None:
        """Scheduler handler: the quiet period passed; resolve if nothing fired since."""
        gid = str(item.payload.get("group", ""))
        lease = await self.store.acquire_lease(f"alertgroup:{gid}", ttl_ms=LEASE_MS)
        if lease is None:
            raise Retry("the alert group is being reconciled", after=1.0)
        try:
            g = await self.store.alerts_group(gid, sample=1)
            incident = await self.store.get(item.incident_id)
            if (
                g is None
                or incident is None
                or not incident.is_open
                or incident.status != "monitoring"
                or g.text("incident") != incident.id
                or g.number("firing") > 0
                or g.number("quiet_since") != float(item.payload.get("since", -1))
            ):
                return
            quiet = format_duration(self.settings.auto_resolve or self.settings.flap_window)
            title = self.view(g).title
            await self.incidents.resolve(
                incident,
                by=await self.bot_user(),
                summary=f"All alerts of {title} stayed resolved for {quiet}; resolved by the bot.",
            )
            self.metrics.actions.labels("resolved").inc()
        finally:
            await self.store.release_lease(f"alertgroup:{gid}", lease)

    # -- the messages ----------------------------------------------------------------------
    async def _show(
        self, g: AlertGroupState, view: AlertGroupView, incident: Incident | None, now: float
    ) -> float | None:
        """Post or edit the group's messages; when an edit must wait, when to come back."""
        later: list[float] = []
        if incident is not None and g.text("incident") == incident.id:
            if incident.channel_id:
                at = await self._keep(g, "msg", incident.channel_id, ui.alert_group(view), now)
                if at is not None:
                    later.append(at)
            elif "channel" not in incident.setup_errors:
                later.append(now + CHANNEL_WAIT)  # the set-up is making the channel
        unmatched = incident is None and view.firing and not g.text("incident")
        unmatched = unmatched and DRILL_LABEL not in view.labels  # never in the announce channel
        if g.text("unmatched_ts") or unmatched:
            linked = incident if g.text("incident") else None
            # in the announce channel: an alert that makes a private incident shows no details
            msg = ui.unmatched_alert(redaction.alert_view(view, self.config), linked)
            at = await self._keep(g, "unmatched", self.config.announce_channel, msg, now)
            if at is not None:
                later.append(at)
        return min(later) if later else None

    async def _keep(
        self, g: AlertGroupState, slot: str, channel: str, message: ui.Message, now: float
    ) -> float | None:
        text, blocks = message
        digest = hashlib.sha1(json.dumps([text, blocks], sort_keys=True).encode()).hexdigest()
        if digest == g.text(f"{slot}_digest"):
            return None
        ts, where = g.text(f"{slot}_ts"), g.text(f"{slot}_channel")
        state = "firing" if g.number("firing") else "resolved"
        if ts and where:
            last = g.number(f"{slot}_at")
            every = self.settings.update_every.total_seconds()
            # counts wait for the next edit; firing <-> all resolved is shown at once
            if now - last < every and g.text(f"{slot}_state") == state:
                return last + every
            await self._pace(now, ("update", self.budgets.update))
            try:
                await self.slack.update(where, ts, text, blocks)
            except SlackError as exc:
                if exc.code not in (
                    "message_not_found",
                    "cant_update_message",
                    "channel_not_found",
                    "is_archived",  # the incident moved to a private channel
                ):
                    raise
                ts = ""  # gone: post it again below
        if not ts or not where:
            await self._pace(now, (f"post:{channel}", self.budgets.post))
            where, ts = await self.slack.post(channel, text, blocks)
            if slot == "unmatched":
                self.metrics.actions.labels("unmatched").inc()
        fields = {
            f"{slot}_channel": where,
            f"{slot}_ts": ts,
            f"{slot}_digest": digest,
            f"{slot}_at": repr(now),
            f"{slot}_state": state,
            # until the next edit may go, alerts that only change counts can wait
            "hold_until": repr(now + self.settings.update_every.total_seconds()),
        }
        if slot == "unmatched" and not g.text("unmatched_ts"):
            fields["unmatched_at"] = repr(now)
        await self.store.alerts_group_set(g.gid, **fields)
        g.fields.update(fields)
        return None

    async def _pace(self, now: float, *budgets: tuple[str, Budget]) -> None:
        """Wait for the call's turn on its budgets, or come back later (_Later)."""
        wait = await self.store.alerts_pace(
            [(name, b.interval, b.burst) for name, b in budgets],
            now=now,
            max_wait=self.budgets.max_wait,
        )
        if wait < 0:
            raise _Later(now - wait)
        if wait > 0:
            await asyncio.sleep(wait)

    async def _post(self, incident: Incident, message: ui.Message) -> None:
        if not incident.channel_id:
            return
        text, blocks = message
        try:
            await self.slack.post(incident.channel_id, text, blocks)
        except SlackError as exc:
            log.warning(
                "alert notice not posted", extra={"incident": incident.id, "error": exc.code}
            )

    async def _note(self, incident: Incident, kind: str, text: str) -> None:
        entry = TimelineEntry(at=self.clock(), actor=None, kind=kind, text=text)
        await self.store.append(incident.id, entry)

    def view(self, g: AlertGroupState) -> AlertGroupView:
        group = json.loads(g.text("group") or "{}")
        sample = []
        for _, body, firing in g.sample:
            try:
                alert = AlertInstance.model_validate_json(body)
            except ValidationError:
                continue
            alert.status = "firing" if firing else "resolved"
            sample.append(alert)
        return AlertGroupView(
            group_id=g.gid,
            alertname=g.text("alertname"),
            title=group.get("title") or g.text("alertname"),
            labels=group.get("labels") or {},
            source=g.text("source") or "alertmanager",
            firing=int(g.number("firing")),
            resolved=int(g.number("resolved")),
            sample=sample,
            updated_at=g.number("changed_at") or g.number("created"),
            link=g.text("link") or None,
        )

    async def bot_user(self) -> str:
        """The bot's own Slack user: who declares and changes incidents for alerts."""
        async with self._bot_lock:  # one auth.test, however many groups ask at once
            if self._bot_user is None:
                try:
                    self._bot_user = str((await self.slack.auth_test()).get("user_id") or "")
                except SlackError:
                    return ""
        return self._bot_user

    # -- buttons -------------------------------------------------------------------------
    async def declare_from_button(self, gid: str, *, user: str) -> tuple[Incident, AlertGroupView]:
        """Declare incident on an unmatched alert: the clicker declares (and commands) it
        at `alerts.unmatched_severity`; a second click gets the same incident."""
        lease = None
        for _ in range(50):  # the reconciler may hold the group for a moment
            lease = await self.store.acquire_lease(f"alertgroup:{gid}", ttl_ms=LEASE_MS)
            if lease is not None:
                break
            await asyncio.sleep(0.1)
        if lease is None:
            raise IncidentError("That alert is being updated; try again in a moment.")
        try:
            g = await self.store.alerts_group(gid, sample=SAMPLE)
            if g is None:
                raise IncidentError(
                    "That alert is no longer known; declare with /incident declare."
                )
            view = self.view(g)
            current = await self.store.get(g.text("incident")) if g.text("incident") else None
            if current is not None and current.is_open:
                return current, view
            incident = await self._declare(g, view, None, by=user, roles=None)
            await self.store.alerts_group_set(g.gid, handled_fired=int(g.number("fired")))
            await self.store.alerts_mark_due(gid, self.clock())
            self._wake_reconcile.set()
            return incident, view
        finally:
            await self.store.release_lease(f"alertgroup:{gid}", lease)

    async def resolve_from_button(self, incident_id: str, *, user: str) -> Incident:
        incident = await self.store.get(incident_id)
        if incident is None:
            raise IncidentError(f"No incident {incident_id}.")
        if not incident.is_open:
            raise IncidentError(f"Incident {incident.id} is already resolved.")
        return await self.incidents.resolve(incident, by=user, summary="")

    # -- running ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._worker is not None:
            return
        self._worker = _Worker()
        self._worker.tasks = [
            asyncio.create_task(self._ingest_loop(), name="alerts-ingest"),
            asyncio.create_task(self._reconcile_loop(), name="alerts-reconcile"),
        ]

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        # The loops stop at their next turn; a reconcile under way may finish (it holds
        # its group's lease), briefly. Whatever is cut short is redone by any replica.
        worker.stopping = True
        self._wake_ingest.set()
        self._wake_reconcile.set()
        tasks = [*worker.tasks, *worker.inflight.values()]
        _, pending = await asyncio.wait(tasks, timeout=5.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def settled(self) -> bool:
        """Nothing accepted is left unapplied and no group waits for its reconciler
        (tests and the bench wait on this)."""
        return not (await self.outlook()).busy

    async def outlook(self) -> Outlook:
        """The settle probe (bot/core/activity.py): busy while a group is reconciled, an
        accepted batch is unapplied or a group is due; next_at: the next group due."""
        if self._worker is not None and self._worker.inflight:
            return Outlook(busy=True)
        if await self.store.alerts_backlog():
            return Outlook(busy=True)
        due, later = await self.store.alerts_due(self.clock(), 1)
        return Outlook(busy=True) if due else Outlook.first_due(later, self.clock)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` pass (asyncio.timeout, unlike wait_for on 3.11,
    never swallows a cancellation)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _forget(tasks: dict[str, asyncio.Task[None]], gid: str) -> Callable[[asyncio.Task[None]], None]:
    def done(_: asyncio.Task[None]) -> None:
        tasks.pop(gid, None)

    return done
