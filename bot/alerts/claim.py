"""Alert incidents are claimable: what the unmatched alert's *Declare incident* form is
filled in with, and the thread reply under the alert message that declared an incident.

- **The form** (handlers/alerts.py opens it; `Alerts.declare_from_button` declares what it
  sends): the group's title and summary, its description, a severity suggested by the
  alert's `severity` label when that names a configured severity (by name, alias or label:
  `critical` is the one labelled Critical), else `alerts.unmatched_severity`; a runbook
  when one is hinted: a `runbook` label or annotation naming one, or a runbook whose
  `alerts` lists the alert. A second click, once it was declared, is told by whom.
- **The thread reply**: an alert posted in an alert channel (bot/alerts_slack.py keeps
  where, on each alert) that declares an incident gets a reply in its thread linking the
  incident's channel, once its channel and card exist: once per incident and message
  (a once-marker, across replicas and retries), released when Slack refused for a
  passing reason, so the group's next reconcile tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import blocks.alerts as ui
from blocks.mrkdwn import clip
from bot.core import redaction
from bot.core.config import IncidentConfig
from bot.core.models import AlertGroupView, Incident, MessageRef
from bot.core.slack import Slack, SlackError, is_transient
from bot.core.store import Once, Store
from bot.runbooks.library import Runbook, rank_runbooks

log = logging.getLogger(__name__)

THREAD_TTL = 30 * 86400  # an alert message's thread told of an incident is remembered this long


class Suggesting(Protocol):
    """What a suggestion reads of the alert service: the config and the runbooks."""

    config: IncidentConfig
    runbooks: Mapping[str, Runbook]


@dataclass(frozen=True)
class Prefill:
    """What an alert declares with, or its form is filled in with."""

    title: str
    severity: str | None  # None: the declare default
    description: str = ""
    runbook: str | None = None


def prefill(view: AlertGroupView, *, severity: str | None, runbook: str | None) -> Prefill:
    """The group's title (its alert name and first summary) and first description."""
    first = next(iter(view.sample), None)
    summary = (first.annotations.get("summary") if first else None) or ""
    title = f"{view.alertname}: {summary}" if summary else view.title
    description = (first.annotations.get("description") if first else None) or ""
    return Prefill(clip(title, 150), severity, description[:2500], runbook)


def suggested(view: AlertGroupView, alerts: Suggesting, default: str | None) -> Prefill:
    """The Declare incident form of an unmatched alert: its title and description, and
    the severity and runbook it hints at (`default`: the severity it does not)."""
    severity = suggested_severity(view, alerts.config) or default
    return prefill(view, severity=severity, runbook=suggested_runbook(view, alerts.runbooks))


def _labels(view: AlertGroupView) -> Iterable[Mapping[str, str]]:
    yield view.labels
    for alert in view.sample:
        yield alert.labels
        yield alert.annotations


def suggested_severity(view: AlertGroupView, config: IncidentConfig) -> str | None:
    """A configured severity the alert's `severity` (or `priority`) label names."""
    by_label = {s.label.strip().lower(): s.name for s in config.severities}
    for labels in _labels(view):
        value = (labels.get("severity") or labels.get("priority") or "").strip()
        found = value and (config.resolve_severity(value) or by_label.get(value.lower()))
        if found:
            return found
    return None


def suggested_runbook(view: AlertGroupView, runbooks: Mapping[str, Runbook]) -> str | None:
    """A runbook the alert names (`runbook` label or annotation: an id, or a URL ending
    in one), else the one whose `alerts` lists it."""
    for labels in _labels(view):
        for key in ("runbook", "runbook_url"):
            hint = labels.get(key, "").strip().rstrip("/").rsplit("/", 1)[-1]
            name = hint.rsplit(".", 1)[0] if hint.endswith((".md", ".yaml", ".yml")) else hint
            if name in runbooks:
                return name
    best = rank_runbooks(runbooks.values(), alertname=view.alertname, title=view.title)[:1]
    alert = view.alertname.lower()
    return best[0].id if best and alert in (a.lower() for a in best[0].alerts) else None


def posted_at(view: AlertGroupView) -> MessageRef | None:
    """The alert message in Slack the group's alerts came from (the latest), if any."""
    return next((a.message for a in view.sample if a.message is not None), None)


def thread_field(message: MessageRef | None) -> str:
    """How the group keeps the thread to tell (`<channel> <ts>`; "" for none)."""
    return f"{message.channel} {message.ts}" if message else ""


async def reply_in_thread(
    store: Store, slack: Slack, config: IncidentConfig, incident: Incident, thread: str
) -> bool:
    """Tell the alert message's thread (`thread_field`) of its incident, once. True when
    done with it (told now or before, or Slack will never take it); False to try again."""
    channel, _, ts = thread.partition(" ")
    key = f"{incident.id}:{channel}:{ts}"
    if not channel or not ts or not await store.claim_once(Once.ALERT_THREAD, key, ttl=THREAD_TTL):
        return True
    text, blocks = ui.thread_reply(redaction.outside(incident, config))
    try:
        await slack.post(channel, text, blocks, thread_ts=ts)
    except SlackError as exc:
        log.warning("alert thread not told", extra={"incident": incident.id, "error": exc.code})
        if not is_transient(exc):
            return True
        await store.release_once(Once.ALERT_THREAD, key)
        return False
    return True
