"""The redaction policy of private (security) incidents: the one place that decides, for an
incident and where a message about it goes, what of it may be shown.

A private incident is discussed in its private channel only. Inside it (the channel, and
answers shown to one of its members) everything may be shown. Everything that leaves it
(the announcement, `/incident list` for people outside it, reminders and escalations
sent anywhere else, DMs included, stakeholder updates, PagerDuty, metric labels, exports,
the post-mortem file) shows only what this module lets through:

- shown: the incident id, severity, status, times, the people in its roles (whom to ask
  for access), the channel as a `<#G…>` link (Slack shows "private channel" to others);
- never: the title (a generic one instead, "Private incident 20261122-3"), the
  description, the resolution, status update texts, the alert and the runbook (a runbook
  id such as `leaked-credentials` says what happened), the message it was declared from,
  the channel's name.

How a surface uses it:

    shown = redaction.for_destination(incident, config, channel)  # or outside(incident, config)
    text, blocks = ui.announcement(shown, config)  # builders say "private" when shown.redacted

Free text built from an incident (a template's output, a note) goes through `scrub()`.
PagerDuty: `for_pagerduty()`. Files (exports, the post-mortem): `upload_channel()`.
Metric labels: `metric_label()`. Alerts whose labels make them private: `alert_view()`.

Pure functions, no I/O (a private channel name has a random part). Whether a reader is a
member of the private channel is found out by bot/privacy.py, which then calls
`for_reader()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from secrets import token_hex

from bot.core.config import IncidentConfig
from bot.core.models import AlertGroupView, Incident

REDACTED = "[private]"
PRIVATE_ALERT = "private alert"
# scrub() leaves shorter strings alone: replacing every "DB" in a text hides nothing
SCRUB_MIN = 3


def generic_title(incident: Incident) -> str:
    """What a private incident is called outside its channel."""
    return f"Private incident {incident.id}"


def private_channel_name(prefix: str, day: str, number: int | str) -> str:
    """A private incident's channel name, `<prefix>-<yyyymmdd>-<n>-private-<10 hex>`: no
    slug of the title (a name shows up in links, pages and logs), and a random part (40
    bits, new on every call) so that nobody can make the channel before the bot does and
    have the incident land in theirs. The id part is shown outside anyway."""
    return f"{prefix}-{day}-{number}-private-{token_hex(5)}"


def labels_match(config: IncidentConfig, labels: Mapping[str, str]) -> bool:
    """Whether alert labels make an incident private (`private.labels`: any one pair;
    the value `*` matches any value)."""
    for name, wanted in config.private.labels.items():
        value = labels.get(name)
        if value is None:
            continue
        if wanted == "*" or value.strip().lower() == wanted.strip().lower():
            return True
    return False


def private_by_default(
    config: IncidentConfig,
    *,
    runbook: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> bool:
    """Whether an incident declared without saying is private: its runbook is one of
    `private.runbooks`, or its alert carries one of `private.labels`."""
    if runbook is not None and runbook in config.private.runbooks:
        return True
    return labels_match(config, labels or {})


def inside(incident: Incident, destination: str | None) -> bool:
    """Whether a message going to `destination` (a channel ID) stays in the incident's own
    channel."""
    return bool(destination) and destination == incident.channel_id


def outside(incident: Incident, config: IncidentConfig) -> Incident:
    """The incident as anything leaving its channel may show it: itself when it is not
    private, else a copy with `redacted` set and nothing that says what happened. A
    game-day drill's title says "[DRILL] " first (bot/drills/), private or not."""
    if not incident.private or incident.redacted:
        return drill_tagged(incident)
    return drill_tagged(_redacted(incident))


def drill_tagged(incident: Incident) -> Incident:
    """A drill with "[DRILL] " before its title (once), for messages that leave its
    channel; any other incident as it is."""
    tag = incident.drill_tag
    if not tag or incident.title.startswith(tag):
        return incident
    return incident.model_copy(update={"title": tag + incident.title})


def _redacted(incident: Incident) -> Incident:
    return incident.model_copy(
        deep=True,
        update={
            "title": generic_title(incident),
            "description": "",
            "resolution": None,
            "last_update": None,
            "alertname": None,
            "runbook": None,
            "origin": None,
            "channel_name": "",
            "topic": None,
            "conversion": None,
            "redacted": True,
        },
    )


def for_destination(
    incident: Incident, config: IncidentConfig, destination: str | None
) -> Incident:
    """The incident as a message to `destination` (a channel ID; a user ID or None for a
    DM or anything outside Slack) may show it."""
    return incident if inside(incident, destination) else outside(incident, config)


def for_reader(incident: Incident, config: IncidentConfig, *, member: bool) -> Incident:
    """The incident as an answer shown to one person may show it (`/incident list`):
    members of its private channel see it all."""
    return incident if member else outside(incident, config)


def secrets(incident: Incident) -> list[str]:
    """The texts of a private incident that must not leave its channel, longest first."""
    if not incident.private:
        return []
    found = [
        incident.title,
        incident.description,
        incident.resolution or "",
        incident.last_update.text if incident.last_update else "",
        incident.runbook or "",
        incident.conversion.old_name if incident.conversion else "",
    ]
    out = {s.strip() for s in found if len(s.strip()) >= SCRUB_MIN}
    out.discard(generic_title(incident))
    return sorted(out, key=len, reverse=True)


def scrub(incident: Incident, text: str) -> str:
    """Free text about the incident that leaves its channel (a rendered template, a note
    to PagerDuty), with the private incident's texts taken out, as typed and as Slack
    escapes them. A safety net under `outside()`, not a replacement: render from the
    redacted copy first."""
    for secret in secrets(incident):
        escaped = secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for form in dict.fromkeys((secret, escaped)):
            text = text.replace(form, REDACTED)
    return text


def for_pagerduty(incident: Incident, config: IncidentConfig) -> Incident:
    """The incident as PagerDuty may see it (titles, details, notes): redacted unless the
    team set `private.generic_page_title: false`."""
    if incident.private and not config.private.generic_page_title:
        return drill_tagged(incident)
    return outside(incident, config)


def metric_label(incident: Incident, value: str) -> str:
    """A metric label value taken from an incident's text (runbook, alert name): `private`
    for a private incident, since whoever scrapes /metrics reads its labels."""
    return "private" if incident.private else value


def upload_channel(incident: Incident, requested: str | None = None) -> str | None:
    """Where a file about the incident (an export, the post-mortem draft) may be shared:
    a private incident's only in its own channel; others where asked, by default there."""
    if incident.private:
        return incident.channel_id
    return requested or incident.channel_id


def alert_view(view: AlertGroupView, config: IncidentConfig) -> AlertGroupView:
    """An alert group as messages outside an incident channel (the unmatched-alert post,
    the Declare answer) may show it: an alert whose labels make its incident private
    shows its counts only."""
    labels = [view.labels, *(a.labels for a in view.sample)]
    if not any(labels_match(config, found) for found in labels):
        return view
    return view.model_copy(
        update={
            "alertname": PRIVATE_ALERT,
            "title": PRIVATE_ALERT,
            "labels": {},
            "sample": [],
            "link": None,
        }
    )
