"""What a refusal of the permissions policy (bot/core/policy.py) says: to the person refused
(ephemeral, naming who may, with one click to ask them), on the incident's timeline,
and in the incident's channel when they ask. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.common import Block, Message, actions, button, role_title, section
from blocks.mrkdwn import Mrkdwn, channel, join, md, user, usergroup
from bot.core.durations import format_duration

if TYPE_CHECKING:
    from bot.core.policy import Decision, Who

ACTION_ASK = "policy_ask"  # value: ask_value(incident id, action)
ACTION_TAKE_COMMAND = "policy_take_command"  # value: the incident id


def ask_value(incident_id: str, action: str) -> str:
    return f"{incident_id}|{action}"


def parse_ask_value(value: str) -> tuple[str, str]:
    incident_id, _, action = value.partition("|")
    return incident_id, action


def _one(w: Who) -> Mrkdwn:
    if w.kind == "roles":
        if not w.holders:
            return md("the incident's role holders (nobody holds a role yet)")
        held = join(md("{} {}", user(u), role_title(role).lower()) for role, u in w.holders)
        return md("the incident's role holders ({})", held)
    if w.kind == "channel_members":
        if not w.id:
            return md("members of the incident's channel")
        return md("members of {}", channel(w.id))
    if w.kind == "group":
        return md("members of {}", usergroup(w.id or ""))
    if w.kind == "user":
        return user(w.id or "")
    return md("anyone")


def who_text(who: tuple[Who, ...]) -> Mrkdwn:
    """`the incident's role holders (<@U1> commander), members of <!subteam^S1> or <@U2>`:
    the people and groups named are live mentions, nothing else is markup."""
    parts = [_one(w) for w in who]
    if len(parts) < 2:
        return join(parts, "")
    return md("{} or {}", join(parts[:-1]), parts[-1])


def rate_text(decision: Decision) -> str:
    """A refused declare, plain (a modal's error shows no markup)."""
    rate = decision.rate
    limit = f" {rate.count} per {format_duration(rate.per.total_seconds())}" if rate else ""
    return (
        f"Nothing was declared: you may declare{limit}. "
        f"Try again in {format_duration(decision.retry_after)}."
    )


def refusal(decision: Decision) -> Message:
    """The ephemeral answer to a refused action."""
    if decision.why == "rate":
        text = md(":hourglass: {}", rate_text(decision))
        return text, [section(text)]
    if decision.why == "channel":
        if decision.hidden or not decision.channel:
            text = md(":no_entry: That belongs to an incident you are not in, so nothing was done.")
        else:
            text = md(
                ":no_entry: That belongs to incident {}, whose channel you are not in: "
                "use it in {}, so nothing was done.",
                decision.incident_id,
                channel(decision.channel),
            )
        return text, [section(text)]
    text = md(":no_entry: Only {} may {}.", who_text(decision.who), decision.doing)
    if decision.offer_command:
        text += md(" Nobody commands this incident yet: take command first, then try again.")
    blocks: list[Block] = [section(text)]
    buttons: list[Block] = []
    if decision.offer_command and decision.incident_id:
        buttons.append(
            button("Take command", ACTION_TAKE_COMMAND, decision.incident_id, style="primary")
        )
    if decision.ask and decision.incident_id:
        value = ask_value(decision.incident_id, decision.action)
        buttons.append(button("Ask them in the channel", ACTION_ASK, value))
    if buttons:
        blocks.append(actions(*buttons))
    return text, blocks


def refusal_line(decision: Decision, by: str) -> Mrkdwn:
    """The refusal as the incident's timeline records it (inside the incident)."""
    if decision.why == "channel":
        where = channel(decision.where) if decision.where else md("outside its channel")
        return md("Refused: {} tried to {} from {}", user(by), decision.doing, where)
    return md("Refused: {} may not {} (only {})", user(by), decision.doing, who_text(decision.who))


def asked(by: str, doing: str, ask: tuple[Mrkdwn, ...]) -> Message:
    """Posted in the incident's channel when a refused person asks whoever may: it rings
    them (`ask`, the mentions of bot/core/policy.py's `mentions`) and nobody else."""
    text = md(":raising_hand: {} asks {} to {}.", user(by), join(ask), doing)
    return text, [section(text)]


def ask_sent(where: str | None) -> Message:
    text = md(":white_check_mark: Asked{}.", md(" in {}", channel(where)) if where else "")
    return text, [section(text)]
