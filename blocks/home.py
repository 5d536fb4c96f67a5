"""Block Kit for the App Home (bot/home.py): the open incidents, those where the viewer
holds a role first, who is on call now, and a *Declare incident* button.

Pure. The incidents come as the viewer may see them: bot/home.py hands private ones the
viewer is not inside as bot/core/redaction.py's redacted copies, shown here by the same
row `/incident list` shows them with. The on-call answer comes as `/oncall` has it, or as
the sentence saying why there is none. A Home tab holds at most 100 blocks: the list
stops where the room does and says how many more there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import blocks.mrkdwn as mk
from blocks.common import (
    Block,
    Mrkdwn,
    actions,
    button,
    context,
    date_token,
    divider,
    header,
    md,
    mention,
    role_title,
    section,
)
from blocks.incident import severity_text, shown_title, status_text
from blocks.limits import MODAL_BLOCK_LIMIT
from blocks.oncall import compact, stale_note
from blocks.privacy import LOCK
from blocks.privacy import list_row as private_row
from bot.core.config import IncidentConfig
from bot.core.models import Incident, OnCallAnswer

ACTION_DECLARE = "home_declare"  # opens the declare form
CALLBACK = "incident_home"
ONCALL_MOST = 10  # on-call sections shown; `/oncall` has them all


def home_view(
    incidents: Sequence[Incident],
    viewer: str,
    config: IncidentConfig,
    oncall: OnCallAnswer | str,
) -> dict[str, Any]:
    """The viewer's Home tab (a `home` view for views.publish). `oncall`: the answer, or
    why there is none (PagerDuty off, or failing with nothing known)."""
    mine = _ordered([i for i in incidents if viewer in i.roles.values()], config)
    others = _ordered([i for i in incidents if viewer not in i.roles.values()], config)
    top: list[Block] = [
        header("Incidents"),
        section(_summary(len(incidents), len(mine))),
        actions(button("Declare incident", ACTION_DECLARE, style="primary")),
    ]
    bottom = [divider(), *_oncall(oncall)]
    groups = [(g, title) for g, title in ((mine, "Yours"), (others, "Other open incidents")) if g]
    # what else the list needs: a heading a group and the "and N more" line
    room = MODAL_BLOCK_LIMIT - len(top) - len(bottom) - len(groups) - 1
    body: list[Block] = []
    listed = 0
    for group, title in groups:
        if listed >= room:
            break
        body.append(header(f"{title} ({len(group)})"))
        for incident in group[: room - listed]:
            body.append(_row(incident, viewer, config))
            listed += 1
    if listed < len(incidents):
        more = md(
            "…and {} more: `/incident list` shows every open incident.", len(incidents) - listed
        )
        body.append(context(more))
    return {"type": "home", "callback_id": CALLBACK, "blocks": [*top, *body, *bottom]}


def _ordered(incidents: list[Incident], config: IncidentConfig) -> list[Incident]:
    """Worst severity first, then the newest."""

    def rank(incident: Incident) -> int:
        try:
            return config.severity_rank(incident.severity)
        except (KeyError, ValueError):
            return len(config.severities)

    return sorted(incidents, key=lambda i: (rank(i), -i.declared_at, i.id))


def _summary(total: int, mine: int) -> Mrkdwn:
    if not total:
        return md(":sunny: No open incidents.")
    count = md("*{} open incident{}*", total, "" if total == 1 else "s")
    return count + (md(" · you hold a role in {}", mine) if mine else md(""))


def _row(incident: Incident, viewer: str, config: IncidentConfig) -> Block:
    if incident.redacted:  # a private incident the viewer is not in
        return private_row(incident, config)
    where = mk.channel(incident.channel_id) if incident.channel_id else md("_channel being set up_")
    lock = f"{LOCK} " if incident.private else ""
    text = md(
        "{} · {}*{}*\n{} · {} · Commander {} · declared {} · {}",
        severity_text(incident, config),
        lock,
        shown_title(incident),
        incident.id,
        status_text(incident.status),
        mention(incident.commander),
        date_token(incident.declared_at, "{ago}"),
        where,
    )
    held = [role_title(role) for role, user in incident.roles.items() if user == viewer]
    if held:
        text += md("\n_You: {}_", ", ".join(held))
    return section(text)


def _oncall(oncall: OnCallAnswer | str) -> list[Block]:
    out: list[Block] = [header("On call now")]
    if isinstance(oncall, str):
        return [*out, section(md(":information_source: {}", oncall))]
    if oncall.unreachable:
        out.append(context(stale_note(oncall)))
    texts = compact(oncall)
    out += [section(text) for text in texts[:ONCALL_MOST]]
    if not texts:
        out.append(section(md("_No schedules to show._")))
    elif len(texts) > ONCALL_MOST:
        more = md("…and {} more: `/oncall` shows them all.", len(texts) - ONCALL_MOST)
        out.append(context(more))
    return out
