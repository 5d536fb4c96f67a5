"""Block Kit for `/oncall`: who is on call now and next, per policy level and schedule.

Pure: an `OnCallAnswer` in, `(fallback_text, blocks)` out. Each person has a line of their
own, so inside an incident channel the line can carry an **Invite to this incident** button.
"""

from __future__ import annotations

import json

from blocks.common import Block, button, context, date_token, divider, escape, header, section
from bot.models import OnCallAnswer, OnCallPerson, OnCallSection, OnCallSlot

Message = tuple[str, list[Block]]

ACTION_INVITE = "oncall_invite"  # action_id prefix; each button adds its index (unique ids)
USAGE = "/oncall [schedule or team] [share]"
MAX_BLOCKS = 50


def who(person: OnCallPerson) -> str:
    """A Slack mention when the PagerDuty user matched a Slack user, else their name."""
    return f"<@{person.slack_id}>" if person.slack_id else escape(person.name)


def invite_value(incident_id: str, person: OnCallPerson, why: str) -> str:
    return json.dumps({"incident": incident_id, "user": person.slack_id, "why": why[:500]})


def _slot_title(section: OnCallSection, slot: OnCallSlot) -> str:
    """What the place is: `Level 1 · Backend Primary` in a policy, nothing in a schedule."""
    if slot.level is None:
        return ""
    what = escape(slot.schedule_name) if slot.schedule_name else "targeted directly"
    return f"*Level {slot.level}* · {what}"


def _lines(section: OnCallSection, slot: OnCallSlot) -> list[tuple[str, OnCallPerson | None]]:
    """(text, person) for each line of one slot: the people on call now, then who is next."""
    title = _slot_title(section, slot)
    lead = f"{title}: " if title else "Now: "
    lines: list[tuple[str, OnCallPerson | None]] = []
    if not slot.now:
        lines.append((f"{lead}_nobody on call_", None))
    for p in slot.now:
        if slot.schedule_name is None and slot.level is not None:
            tail = " (always on call)"
        elif slot.until is not None:
            tail = f" until {date_token(slot.until)}"
        else:
            tail = ""
        lines.append((f"{lead}{who(p)}{tail}", p))
    if slot.next is not None and slot.next_from is not None:
        indent = "      ↳ next: " if title else "Next: "
        lines.append((f"{indent}{who(slot.next)} from {date_token(slot.next_from)}", slot.next))
    return lines


def _heading(section: OnCallSection) -> str:
    if section.kind == "policy":
        return f"*{escape(section.name)}* · escalation policy"
    detail = section.detail
    if detail and detail.lower() != section.name.lower():
        return f"*{escape(section.name)}* · schedule {escape(detail)}"
    return f"*{escape(section.name)}* · schedule"


def stale_note(answer: OnCallAnswer) -> str:
    return (
        f":warning: As of {date_token(answer.as_of)}, PagerDuty unreachable: "
        "this is the last known answer."
    )


def oncall_message(answer: OnCallAnswer, *, incident_id: str | None = None) -> Message:
    """The answer. With `incident_id` (asked inside an incident channel), every person with
    a Slack account gets an **Invite to this incident** button."""
    title = "On call now" if len(answer.sections) != 1 else f"On call: {answer.sections[0].name}"
    blocks: list[Block] = [header(title)]
    if answer.unreachable:
        blocks.append(context(stale_note(answer)))
    body: list[Block] = []
    n = 0
    for i, sec in enumerate(answer.sections):
        if i:
            body.append(divider())
        body.append(section(_heading(sec)))
        if not sec.slots:
            body.append(section("_Nobody on call that PagerDuty reports._"))
        for slot in sec.slots:
            where = sec.name if slot.level is None else f"{sec.name}, level {slot.level}"
            for text, person in _lines(sec, slot):
                accessory = None
                if incident_id and person is not None and person.slack_id:
                    accessory = button(
                        "Invite to this incident",
                        f"{ACTION_INVITE}_{n}",
                        invite_value(incident_id, person, f"on call for {where}"),
                    )
                    n += 1
                body.append(section(text, accessory=accessory))
    footer = context(
        f"As of {date_token(answer.as_of, '{date_short_pretty} {time} ({ago})')} · "
        f"`/oncall <name>` for one schedule or team · `/oncall share` posts it here"
    )
    room = MAX_BLOCKS - len(blocks) - 1
    if len(body) > room:
        body = [*body[: room - 1], context("…and more: ask for one with `/oncall <name>`.")]
    blocks += [*body, footer]
    text = title
    if answer.unreachable:
        text += f" (as of {date_token(answer.as_of)}, PagerDuty unreachable)"
    return text, blocks


def problem(text: str) -> Message:
    """An answer we could not give: one sentence and the usage."""
    return text, [section(f":warning: {escape(text)}\n*Usage:* `{USAGE}`")]


def usage() -> Message:
    text = "Who is on call now and next, from PagerDuty."
    return text, [section(f"{text}\n*Usage:* `{USAGE}`")]


def invited(user: str, incident_channel: str | None) -> Message:
    where = f"<#{incident_channel}>" if incident_channel else "the incident"
    return f"Invited <@{user}> to {where}.", [section(f"Invited <@{user}> to {where}.")]
