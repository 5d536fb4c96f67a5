"""Block Kit for `/oncall`: who is on call now and next, per policy level and schedule.

Pure: an `OnCallAnswer` in, `(fallback_text, blocks)` out. Each person has a line of their
own, so inside an incident channel the line can carry an **Invite to this incident** button.
"""

from __future__ import annotations

import json

import blocks.mrkdwn as mk
from blocks.common import (
    Block,
    Message,
    Mrkdwn,
    button,
    context,
    date_token,
    divider,
    header,
    md,
    section,
)
from blocks.mrkdwn import join
from bot.core.models import OnCallAnswer, OnCallPerson, OnCallSection, OnCallSlot

ACTION_INVITE = "oncall_invite"  # action_id prefix; each button adds its index (unique ids)
USAGE = "/oncall [schedule or team] [share]"
MAX_BLOCKS = 50
NOBODY = md("_Nobody on call that PagerDuty reports._")


def who(person: OnCallPerson) -> Mrkdwn:
    """A Slack mention when the PagerDuty user matched a Slack user, else their name."""
    return mk.user(person.slack_id) if person.slack_id else mk.escape(person.name)


def invite_value(incident_id: str, person: OnCallPerson, why: str) -> str:
    return json.dumps({"incident": incident_id, "user": person.slack_id, "why": why[:500]})


def _slot_title(section: OnCallSection, slot: OnCallSlot) -> Mrkdwn:
    """What the place is: `Level 1 · Backend Primary` in a policy, nothing in a schedule."""
    if slot.level is None:
        return md("")
    what = slot.schedule_name or "targeted directly"
    return md("*Level {}* · {}", slot.level, what)


def _lines(section: OnCallSection, slot: OnCallSlot) -> list[tuple[Mrkdwn, OnCallPerson | None]]:
    """(text, person) for each line of one slot: the people on call now, then who is next."""
    title = _slot_title(section, slot)
    lead = md("{}: ", title) if title else md("Now: ")
    lines: list[tuple[Mrkdwn, OnCallPerson | None]] = []
    if not slot.now:
        lines.append((md("{}_nobody on call_", lead), None))
    for p in slot.now:
        if slot.schedule_name is None and slot.level is not None:
            tail = md(" (always on call)")
        elif slot.until is not None:
            tail = md(" until {}", date_token(slot.until))
        else:
            tail = md("")
        lines.append((lead + who(p) + tail, p))
    if slot.next is not None and slot.next_from is not None:
        indent = md("      ↳ next: ") if title else md("Next: ")
        line = md("{}{} from {}", indent, who(slot.next), date_token(slot.next_from))
        lines.append((line, slot.next))
    return lines


def _heading(section: OnCallSection) -> Mrkdwn:
    if section.kind == "policy":
        return md("*{}* · escalation policy", section.name)
    detail = section.detail
    if detail and detail.lower() != section.name.lower():
        return md("*{}* · schedule {}", section.name, detail)
    return md("*{}* · schedule", section.name)


def stale_note(answer: OnCallAnswer) -> Mrkdwn:
    return md(
        ":warning: As of {}, PagerDuty unreachable: this is the last known answer.",
        date_token(answer.as_of),
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
            body.append(section(NOBODY))
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
        md(
            "As of {} · `/oncall &lt;name&gt;` for one schedule or team · `/oncall share` "
            "posts it here",
            date_token(answer.as_of, "{date_short_pretty} {time} ({ago})"),
        )
    )
    room = MAX_BLOCKS - len(blocks) - 1
    if len(body) > room:
        more = md("…and more: ask for one with `/oncall &lt;name&gt;`.")
        body = [*body[: room - 1], context(more)]
    blocks += [*body, footer]
    text = mk.escape(title)
    if answer.unreachable:
        text += md(" (as of {}, PagerDuty unreachable)", date_token(answer.as_of))
    return text, blocks


def compact(answer: OnCallAnswer) -> list[Mrkdwn]:
    """The answer as one text a section, its heading over its lines (the App Home)."""
    out = []
    for sec in answer.sections:
        lines = [text for slot in sec.slots for text, _ in _lines(sec, slot)]
        out.append(join([_heading(sec), *(lines or [NOBODY])], "\n"))
    return out


def problem(text: str) -> Message:
    """An answer we could not give: one sentence and the usage."""
    return mk.escape(text), [section(md(":warning: {}\n*Usage:* `{}`", text, USAGE))]


def usage() -> Message:
    text = md("Who is on call now and next, from PagerDuty.")
    return text, [section(md("{}\n*Usage:* `{}`", text, USAGE))]


def invited(user: str, incident_channel: str | None) -> Message:
    where = mk.channel(incident_channel) if incident_channel else md("the incident")
    text = md("Invited {} to {}.", mk.user(user), where)
    return text, [section(text)]
