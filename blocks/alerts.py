"""Block Kit for alerts: an alert group's message (counts and the first alerts), the
unmatched-alert post with its Declare button, and the notices of an incident's alerts
resolving or firing again. Pure functions of the domain models.
"""

from __future__ import annotations

from collections.abc import Mapping

from blocks.common import (
    Block,
    actions,
    button,
    channel_link,
    clip,
    context,
    date_token,
    escape,
    header,
    mention,
    section,
)
from bot.models import AlertGroupView, AlertInstance, Incident

Message = tuple[str, list[Block]]

ACTION_DECLARE = "alert_declare"
ACTION_RESOLVE = "alert_resolve"

SAMPLE = 5  # alerts shown in full; the rest are counted
_SKIP_LABELS = {"alertname"}


def _labels(labels: Mapping[str, str], skip: set[str] | None = None) -> str:
    skip = _SKIP_LABELS | (skip or set())
    pairs = [
        f"`{escape(k)}={escape(clip(v, 80))}`" for k, v in sorted(labels.items()) if k not in skip
    ]
    return " ".join(pairs)


def _counts(view: AlertGroupView) -> str:
    parts = []
    if view.firing:
        parts.append(f":fire: *{view.firing} firing*")
    if view.resolved:
        parts.append(f":white_check_mark: {view.resolved} resolved")
    return " · ".join(parts) or "no alerts"


def group_title(view: AlertGroupView) -> str:
    """`ServiceDown checkout prod`: the alert name and the group's label values."""
    values = [v for k, v in sorted(view.labels.items()) if k not in _SKIP_LABELS]
    return " ".join([view.alertname, *values])


def _alert(alert: AlertInstance, group_labels: Mapping[str, str]) -> Block:
    summary = alert.annotations.get("summary") or alert.annotations.get("message")
    lines = [f"*{escape(clip(summary, 300))}*" if summary else f"*{escape(alert.alertname)}*"]
    description = alert.annotations.get("description")
    if description:
        lines.append(escape(clip(description, 1200)))
    labels = _labels(alert.labels, set(group_labels))
    if labels:
        lines.append(labels)
    meta = []
    if alert.status == "resolved":
        meta.append(":white_check_mark: resolved")
    if alert.starts_at:
        meta.append(f"started {date_token(alert.starts_at)}")
    if alert.ends_at and alert.status == "resolved":
        meta.append(f"ended {date_token(alert.ends_at)}")
    if alert.generator_url:
        meta.append(f"<{alert.generator_url}|Source>")
    if meta:
        lines.append(" · ".join(meta))
    return section("\n".join(lines))


def _body(view: AlertGroupView) -> list[Block]:
    top = _counts(view)
    labels = _labels(view.labels)
    if labels:
        top += f"\n{labels}"
    blocks: list[Block] = [section(top)]
    shown = view.sample[:SAMPLE]
    for alert in shown:
        blocks.append(_alert(alert, view.labels))
    hidden = view.firing - len([a for a in shown if a.status == "firing"])
    if hidden > 0:
        blocks.append(context(f"…and {hidden} more firing."))
    where = "Alertmanager" if view.source == "alertmanager" else "an alert message in Slack"
    source = f"<{view.link}|{where}>" if view.link else where
    blocks.append(context(f"From {source} · updated {date_token(view.updated_at)}"))
    return blocks


def alert_group(view: AlertGroupView) -> Message:
    """The one message an alert group keeps in its incident channel, edited as its alerts
    fire and resolve."""
    state = "firing" if view.firing else "resolved"
    title = clip(f"{group_title(view)}: {state}", 150)
    text = f"Alert {group_title(view)}: {view.firing} firing, {view.resolved} resolved"
    return text, [header(title), *_body(view)]


def unmatched_alert(
    view: AlertGroupView, incident: Incident | None, *, announce_rules: bool = True
) -> Message:
    """An alert no rule matches, in the announce channel: nothing is declared until
    someone presses Declare incident (then it names the incident instead)."""
    name = group_title(view)
    text = f"Unmatched alert {name}: {view.firing} firing, {view.resolved} resolved"
    blocks: list[Block] = [header(clip(f"Unmatched alert: {name}", 150))]
    if incident is not None:
        where = channel_link(incident.channel_id, incident.channel_name)
        blocks.append(
            section(f":rotating_light: Declared as {where} by {mention(incident.declared_by)}.")
        )
    else:
        note = f"No alert rule matches *{escape(view.alertname)}*, so no incident was declared."
        if announce_rules:
            note += " Declare one if it needs people; add a rule to `alerts.rules` to automate it."
        blocks.append(section(note))
    blocks.extend(_body(view))
    if incident is None and view.firing:
        blocks.append(
            actions(button("Declare incident", ACTION_DECLARE, view.group_id, style="danger"))
        )
    return text, blocks


def alerts_resolved(
    incident: Incident, view: AlertGroupView, *, at: float, auto_resolve_at: float | None
) -> Message:
    """Every alert of the group resolved: the incident is monitoring; a person resolves it
    (or the bot does after the quiet period)."""
    text = (
        f":large_green_circle: All alerts of *{escape(group_title(view))}* have resolved "
        f"({date_token(at)}). The incident is now *monitoring*."
    )
    if auto_resolve_at is not None:
        text += f" It resolves itself {date_token(auto_resolve_at, '{time}')} if they stay quiet."
    else:
        text += " Resolve it once you are satisfied it is over."
    blocks = [section(text)]
    if incident.is_open:
        blocks.append(
            actions(button("Resolve incident", ACTION_RESOLVE, incident.id, style="primary"))
        )
    return f"All alerts of {group_title(view)} resolved", blocks


def resolved_notice(user: str, at: float) -> Message:
    """The all-resolved notice once its button was used (the button goes away)."""
    text = f":white_check_mark: {mention(user)} resolved the incident {date_token(at)}."
    return "Incident resolved", [section(text)]


def firing_again(view: AlertGroupView) -> Message:
    text = f":rotating_light: *{escape(group_title(view))}* is firing again."
    return text, [section(text)]


def declared_from_alert(incident: Incident, view: AlertGroupView) -> Message:
    """The ephemeral answer to Declare incident."""
    where = channel_link(incident.channel_id, incident.channel_name)
    text = f"Declared {incident.id} ({incident.severity}) for {escape(group_title(view))} → {where}"
    return text, [section(text)]
