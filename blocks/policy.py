"""What a refusal of the permissions policy (bot/policy.py) says: to the person refused
(ephemeral, naming who may, with one click to ask them), on the incident's timeline,
and in the incident's channel when they ask. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.common import Block, actions, button, section
from blocks.incident import role_title
from blocks.reminders import human_duration

if TYPE_CHECKING:
    from bot.policy import Decision, Who

Message = tuple[str, list[Block]]

ACTION_ASK = "policy_ask"  # value: ask_value(incident id, action)
ACTION_TAKE_COMMAND = "policy_take_command"  # value: the incident id


def ask_value(incident_id: str, action: str) -> str:
    return f"{incident_id}|{action}"


def parse_ask_value(value: str) -> tuple[str, str]:
    incident_id, _, action = value.partition("|")
    return incident_id, action


def _one(w: Who) -> str:
    if w.kind == "roles":
        if not w.holders:
            return "the incident's role holders (nobody holds a role yet)"
        held = ", ".join(f"<@{user}> {role_title(role).lower()}" for role, user in w.holders)
        return f"the incident's role holders ({held})"
    if w.kind == "channel_members":
        return f"members of <#{w.id}>" if w.id else "members of the incident's channel"
    if w.kind == "group":
        return f"members of <!subteam^{w.id}>"
    if w.kind == "user":
        return f"<@{w.id}>"
    return "anyone"


def who_text(who: tuple[Who, ...]) -> str:
    """`the incident's role holders (<@U1> commander), members of <!subteam^S1> or <@U2>`"""
    parts = [_one(w) for w in who]
    if len(parts) < 2:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} or {parts[-1]}"


def rate_text(decision: Decision) -> str:
    """A refused declare, plain (a modal's error shows no markup)."""
    rate = decision.rate
    limit = f" {rate.count} per {human_duration(rate.per.total_seconds())}" if rate else ""
    return (
        f"Nothing was declared: you may declare{limit}. "
        f"Try again in {human_duration(decision.retry_after)}."
    )


def refusal(decision: Decision) -> Message:
    """The ephemeral answer to a refused action."""
    if decision.why == "rate":
        text = f":hourglass: {rate_text(decision)}"
        return text, [section(text)]
    if decision.why == "channel":
        if decision.hidden or not decision.channel:
            text = ":no_entry: That belongs to an incident you are not in, so nothing was done."
        else:
            text = (
                f":no_entry: That belongs to incident {decision.incident_id}, whose channel "
                f"you are not in: use it in <#{decision.channel}>, so nothing was done."
            )
        return text, [section(text)]
    text = f":no_entry: Only {who_text(decision.who)} may {decision.doing}."
    if decision.offer_command:
        text += " Nobody commands this incident yet: take command first, then try again."
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


def refusal_line(decision: Decision, user: str) -> str:
    """The refusal as the incident's timeline records it (inside the incident)."""
    if decision.why == "channel":
        where = f"<#{decision.where}>" if decision.where else "outside its channel"
        return f"Refused: <@{user}> tried to {decision.doing} from {where}"
    return f"Refused: <@{user}> may not {decision.doing} (only {who_text(decision.who)})"


def asked(by: str, doing: str, ask: tuple[str, ...]) -> Message:
    """Posted in the incident's channel when a refused person asks whoever may."""
    text = f":raising_hand: <@{by}> asks {', '.join(ask)} to {doing}."
    return text, [section(text)]


def ask_sent(channel: str | None) -> Message:
    where = f" in <#{channel}>" if channel else ""
    text = f":white_check_mark: Asked{where}."
    return text, [section(text)]
