"""Block Kit for alerts: an alert group's message (counts and the first alerts), the
digest of unmatched alerts with its Declare choices (and what the form they open and its
answers say), the reply in an alert message's thread, the notice of groups a storm kept
out, and the notices of an incident's alerts resolving or firing again. Pure functions
of the domain models.
"""

from __future__ import annotations

from collections.abc import Mapping

import blocks.mrkdwn as mk
from blocks.common import (
    SECTION_TEXT_MAX,
    Block,
    Message,
    Mrkdwn,
    actions,
    button,
    channel_link,
    clip,
    context,
    date_token,
    header,
    md,
    mention,
    option,
    section,
)
from blocks.incident import shown_title
from blocks.mrkdwn import join
from bot.core.models import AlertGroupView, AlertInstance, Incident

ACTION_DECLARE = "alert_declare"  # opens the declare form, filled in from the alert
ACTION_RESOLVE = "alert_resolve"
DECLARE_CALLBACK = "alert_declare_form"  # that form's submission

SAMPLE = 5  # alerts shown in full; the rest are counted
DIGEST_LINES = 20  # groups a digest lists; the rest are counted
DIGEST_CHOICES = 100  # Slack's most options in a select
_SKIP_LABELS = {"alertname"}


def _labels(labels: Mapping[str, str], skip: set[str] | None = None) -> Mrkdwn:
    skip = _SKIP_LABELS | (skip or set())
    pairs = [md("`{}={}`", k, clip(v, 80)) for k, v in sorted(labels.items()) if k not in skip]
    return join(pairs, " ")


def _counts(view: AlertGroupView) -> Mrkdwn:
    parts = []
    if view.firing:
        parts.append(md(":fire: *{} firing*", view.firing))
    if view.resolved:
        parts.append(md(":white_check_mark: {} resolved", view.resolved))
    return join(parts, " · ") or md("no alerts")


def group_title(view: AlertGroupView) -> str:
    """`ServiceDown checkout prod`: the alert name and the group's label values."""
    values = [v for k, v in sorted(view.labels.items()) if k not in _SKIP_LABELS]
    return " ".join([view.alertname, *values])


def _alert(alert: AlertInstance, group_labels: Mapping[str, str]) -> Block:
    summary = alert.annotations.get("summary") or alert.annotations.get("message")
    lines = [md("*{}*", clip(summary, 300) if summary else alert.alertname)]
    description = alert.annotations.get("description")
    if description:
        lines.append(mk.escape(clip(description, 1200)))
    labels = _labels(alert.labels, set(group_labels))
    if labels:
        lines.append(labels)
    meta = []
    if alert.status == "resolved":
        meta.append(md(":white_check_mark: resolved"))
    if alert.starts_at:
        meta.append(md("started {}", date_token(alert.starts_at)))
    if alert.ends_at and alert.status == "resolved":
        meta.append(md("ended {}", date_token(alert.ends_at)))
    if alert.generator_url:
        meta.append(mk.link(alert.generator_url, "Source"))
    if meta:
        lines.append(join(meta, " · "))
    return section(join(lines, "\n"))


def _body(view: AlertGroupView) -> list[Block]:
    top = _counts(view)
    labels = _labels(view.labels)
    if labels:
        top = md("{}\n{}", top, labels)
    blocks: list[Block] = [section(top)]
    shown = view.sample[:SAMPLE]
    for alert in shown:
        blocks.append(_alert(alert, view.labels))
    hidden = view.firing - len([a for a in shown if a.status == "firing"])
    if hidden > 0:
        blocks.append(context(md("…and {} more firing.", hidden)))
    if view.untracked:
        blocks.append(
            context(
                md(
                    "…and about {} more firing beyond the {} this group tracks one by one "
                    "(`alerts.max_instances`): counted, not shown.",
                    view.untracked,
                    view.firing + view.resolved,
                )
            )
        )
    where = "Alertmanager" if view.source == "alertmanager" else "an alert message in Slack"
    source = mk.link(view.link, where) if view.link else mk.escape(where)
    blocks.append(context(md("From {} · updated {}", source, date_token(view.updated_at))))
    return blocks


def alert_group(view: AlertGroupView) -> Message:
    """The one message an alert group keeps in its incident channel, edited as its alerts
    fire and resolve."""
    state = "firing" if view.firing else "resolved"
    title = clip(f"{group_title(view)}: {state}", 150)
    text = md("Alert {}: {} firing, {} resolved", group_title(view), view.firing, view.resolved)
    return text, [header(title), *_body(view)]


def unmatched_alert(
    view: AlertGroupView, incident: Incident | None, *, announce_rules: bool = True
) -> Message:
    """An alert no rule matches, in the announce channel: nothing is declared until
    someone presses Declare incident and sends its form (then it names the incident, and
    who declared it, instead)."""
    name = group_title(view)
    text = md("Unmatched alert {}: {} firing, {} resolved", name, view.firing, view.resolved)
    blocks: list[Block] = [header(clip(f"Unmatched alert: {name}", 150))]
    if incident is not None:
        where = channel_link(incident.channel_id, incident.channel_name)
        declared = md(
            ":rotating_light: Declared as {} by {}.", where, mention(incident.declared_by)
        )
        blocks.append(section(declared))
    else:
        note = md("No alert rule matches *{}*, so no incident was declared.", view.alertname)
        if announce_rules:
            note += md(
                " Declare one if it needs people; add a rule to `alerts.rules` to automate it."
            )
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
    text = md(
        ":large_green_circle: All alerts of *{}* have resolved ({}). The incident is now "
        "*monitoring*.",
        group_title(view),
        date_token(at),
    )
    if auto_resolve_at is not None:
        when = date_token(auto_resolve_at, "{time}")
        text += md(" It resolves itself {} if they stay quiet.", when)
    else:
        text += md(" Resolve it once you are satisfied it is over.")
    blocks = [section(text)]
    if incident.is_open:
        blocks.append(
            actions(button("Resolve incident", ACTION_RESOLVE, incident.id, style="primary"))
        )
    return md("All alerts of {} resolved", group_title(view)), blocks


def resolved_notice(user: str, at: float) -> Message:
    """The all-resolved notice once its button was used (the button goes away)."""
    text = md(":white_check_mark: {} resolved the incident {}.", mention(user), date_token(at))
    return md("Incident resolved"), [section(text)]


def firing_again(view: AlertGroupView) -> Message:
    text = md(":rotating_light: *{}* is firing again.", group_title(view))
    return text, [section(text)]


def declared_from_alert(incident: Incident, view: AlertGroupView) -> Message:
    """The ephemeral answer to Declare incident."""
    where = channel_link(incident.channel_id, incident.channel_name)
    text = md(
        "Declared {} ({}) for {} → {}", incident.id, incident.severity, group_title(view), where
    )
    return text, [section(text)]


def declare_note(view: AlertGroupView) -> Mrkdwn:
    """The first line of the form Declare incident opens on an unmatched alert."""
    return md(
        ":rotating_light: From the unmatched alert *{}* ({}). Change anything before "
        "declaring: the alert's messages follow the incident.",
        group_title(view),
        _counts(view),
    )


def already_declared(incident: Incident, view: AlertGroupView) -> Message:
    """The answer to Declare incident once the group has its incident: whose, and where."""
    where = channel_link(incident.channel_id, incident.channel_name)
    text = md(
        ":information_source: *{}* was declared already: {} by {} → {}.",
        group_title(view),
        incident.id,
        mention(incident.declared_by),
        where,
    )
    return text, [section(text)]


def thread_reply(incident: Incident) -> Message:
    """In the thread of the alert message that declared the incident (redacted as for
    any channel outside it): where it is, and that it waits for someone to take command."""
    where = channel_link(incident.channel_id, incident.channel_name)
    text = md(
        ":rotating_light: Declared as incident *{}* · {} ({}) → {}",
        incident.id,
        shown_title(incident),
        incident.severity,
        where,
    )
    if incident.is_open and not incident.commander:
        text += md("\nNobody commands it yet: *Take command* is on its card there.")
    elif incident.commander:
        text += md("\nCommander: {}", mention(incident.commander))
    return md("Incident {} declared for this alert", incident.id), [section(text)]


def _digest_line(view: AlertGroupView, incident: Incident | None) -> Mrkdwn:
    counts = md("{} firing", view.firing)
    if view.resolved:
        counts = md("{}, {} resolved", counts, view.resolved)
    line = md("• *{}*: {}", clip(group_title(view), 80), counts)
    if incident is not None:
        line = md("{} → {}", line, channel_link(incident.channel_id, incident.channel_name))
    return line


def unmatched_digest(
    views: list[AlertGroupView],
    incidents: Mapping[str, Incident],
    *,
    total: int,
    since: float,
) -> Message:
    """The one message of a window's unmatched alert groups in the announce channel: one
    group shows in full with its Declare button; several are listed (the first
    DIGEST_LINES, the rest counted) with a choice of which to declare."""
    if total == 1 and len(views) == 1:
        view = views[0]
        return unmatched_alert(view, incidents.get(view.incident or ""))
    firing = sum(v.firing for v in views)
    text = md("Unmatched alerts: {} groups, {} alerts firing", total, firing)
    blocks: list[Block] = [header(f"Unmatched alerts: {total} groups")]
    blocks.append(
        section(
            md(
                "No alert rule matches these, so no incident was declared. Declare one if it "
                "needs people; add a rule to `alerts.rules` to automate it."
            )
        )
    )
    lines = [_digest_line(v, incidents.get(v.incident or "")) for v in views[:DIGEST_LINES]]
    chunk: list[Mrkdwn] = []
    for line in lines:  # whole lines a section, each within Slack's 3000 characters
        if chunk and sum(len(c) + 1 for c in chunk) + len(line) > SECTION_TEXT_MAX:
            blocks.append(section(join(chunk, "\n")))
            chunk = []
        chunk.append(line)
    blocks.append(section(join(chunk, "\n")))
    more = total - len(lines)
    if more > 0:
        blocks.append(context(md("…and {} more groups.", more)))
    blocks.append(context(md("Since {}", date_token(since))))
    choices = [
        option(clip(group_title(v), 75), v.group_id) for v in views if v.firing and not v.incident
    ][:DIGEST_CHOICES]
    if choices:
        select: Block = {
            "type": "static_select",
            "action_id": ACTION_DECLARE,
            "placeholder": {"type": "plain_text", "text": "Declare incident for…"},
            "options": choices,
        }
        blocks.append(actions(select))
    return text, blocks


_DROP_REASONS = {
    "payload": "over `alerts.groups_per_payload` in one payload",
    "minute": "over `alerts.groups_per_minute` new groups a minute",
    "total": "over `alerts.max_groups` remembered at once",
}


def storm_notice(dropped: Mapping[str, int], *, since: float) -> Message:
    """Alert groups the storm limits kept out, since the window began: one notice a window,
    edited as the counts grow."""
    total = sum(dropped.values())
    text = md(":warning: Alert storm: {} alert groups were not tracked", total)
    parts = [
        md("{} {}", n, _DROP_REASONS.get(reason, reason))
        for reason, n in sorted(dropped.items())
        if n
    ]
    body = md(
        ":warning: *Alert storm*: since {}, {} alert groups were not tracked: {}. Their "
        "alerts show no message and declare nothing; `incident_bot_alert_groups_dropped_total` on "
        "/metrics counts them. Groups already known still update, and unmatched alerts "
        "never keep a rule's group out.",
        date_token(since),
        total,
        join(parts, "; "),
    )
    return text, [section(body)]
