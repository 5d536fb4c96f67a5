"""Block Kit for runbook checklists and the runbook listing. Pure: no I/O.

A posted runbook is one or more Slack messages. How the steps are split across messages
depends on the runbook alone (never on who clicked what), so the bot can `chat.update`
each message in place as steps are done, skipped or undone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import blocks.mrkdwn as mk
from blocks.common import (
    SECTION_TEXT_MAX,
    Block,
    Mrkdwn,
    actions,
    button,
    clip,
    context,
    date_token,
    header,
    md,
    section,
)
from blocks.mrkdwn import join
from bot.core.durations import format_duration
from bot.runbooks.library import Runbook, Step, StepState

ACTION_DONE = "runbook_step_done"
ACTION_SKIP = "runbook_step_skip"
ACTION_TAKE = "runbook_step_take"
ACTION_UNDO = "runbook_step_undo"
ACTION_POST = "runbook_post"  # the listing's "Post" button; value = list_value(...)

MAX_BLOCKS = 50
_PREAMBLE_CONTINUED = 1  # a context line: "<title> · part 2 of 3"
_OPEN = StepState()


# -- ids and values ------------------------------------------------------------------


def action_id(action: str, step_id: str) -> str:
    """Slack wants action_ids unique in a message, so each carries its step id."""
    return f"{action}:{step_id}"


def action_pattern(action: str) -> re.Pattern[str]:
    """What a handler registers for an action: `app.action(action_pattern(ACTION_DONE))`."""
    return re.compile(rf"^{re.escape(action)}(?::.*)?$")


def step_value(run_id: str, step_id: str) -> str:
    # Step ids never contain "|" (validated), so the last "|" splits unambiguously.
    return f"{run_id}|{step_id}"


def parse_step_value(value: str) -> tuple[str, str]:
    run_id, sep, step_id = value.rpartition("|")
    if not sep or not run_id or not step_id:
        raise ValueError(f"not a runbook step value: {value!r}")
    return run_id, step_id


def list_value(incident_id: str, runbook_id: str) -> str:
    return step_value(incident_id, runbook_id)


def parse_list_value(value: str) -> tuple[str, str]:
    """(incident id, runbook id) from a listing's Post button."""
    return parse_step_value(value)


# -- progress and layout -------------------------------------------------------------


def progress(runbook: Runbook, states: Mapping[str, StepState]) -> tuple[int, int]:
    """(steps done or skipped, all steps)."""
    steps = runbook.steps()
    finished = sum(states.get(s.id, _OPEN).status in ("done", "skipped") for s in steps)
    return finished, len(steps)


@dataclass(frozen=True)
class _Chunk:
    phase: int  # index into runbook.phases
    start: int  # first step index within the phase
    stop: int
    continued: bool  # the phase began in an earlier chunk


def _preamble(runbook: Runbook, states: Mapping[str, StepState]) -> list[Block]:
    done, total = progress(runbook, states)
    skipped = sum(states.get(s.id, _OPEN).status == "skipped" for s in runbook.steps())
    filled = round(10 * done / total) if total else 0
    line = md("*{} of {} done*", done, total) + (f" ({skipped} skipped)" if skipped else "")
    meta = [md("`{}`", runbook.id), md("severity hint {}", runbook.severity)]
    if runbook.rto:
        meta.append(md("RTO {}", format_duration(runbook.rto)))
    bar = "▰" * filled + "▱" * (10 - filled)
    blocks = [
        header(f"📋 Runbook: {runbook.title}"),
        context(md("{}  {}  ·  {}", line, bar, join(meta, " · "))),
    ]
    details = []
    if runbook.summary:
        details.append(clip(mk.escape(runbook.summary), 1000))
    facts = []
    if runbook.alerts:
        facts.append(md("*Alerts:* {}", join(md("`{}`", a) for a in runbook.alerts)))
    if runbook.stakeholders:
        facts.append(md("*Stakeholders:* {}", ", ".join(runbook.stakeholders)))
    if runbook.escalate:
        esc = runbook.escalate
        targets = join(_target(t) for t in esc.to)
        note = md(" ({})", clip(esc.note, 200)) if esc.note else md("")
        after = format_duration(esc.after)
        facts.append(md("*Escalate* after {} to {}{}", after, targets, note))
    if facts:
        details.append(join(facts, "\n"))
    if details:
        blocks.append(section(join(details, "\n\n")))
    for i, block in enumerate(blocks):
        block["block_id"] = f"rb-top-{i}"
    return blocks


def _layout(runbook: Runbook) -> list[list[_Chunk]]:
    """Phases and steps per message: whole phases where they fit, else split between
    steps (never leaving one step of a phase alone at a message's end)."""
    # The preamble's size depends only on the runbook, so compute it from empty states.
    first_room = MAX_BLOCKS - len(_preamble(runbook, {}))
    other_room = MAX_BLOCKS - _PREAMBLE_CONTINUED
    messages: list[list[_Chunk]] = [[]]
    room = first_room
    for p, phase in enumerate(runbook.phases):
        n = len(phase.steps)
        if 1 + 2 * n > room and messages[-1] and 1 + 2 * n <= other_room:
            messages.append([])
            room = other_room
        i = 0
        while i < n:
            fit = (room - 1) // 2
            if (fit < 1 or fit < min(2, n - i)) and messages[-1]:
                messages.append([])
                room = other_room
                continue
            take = min(fit, n - i)
            messages[-1].append(_Chunk(p, i, i + take, continued=i > 0))
            room -= 1 + 2 * take
            i += take
    return messages


def step_message_index(runbook: Runbook, step_id: str) -> int:
    """Which of runbook_messages(...) holds a step (the one to chat.update on a click)."""
    for m, chunks in enumerate(_layout(runbook)):
        for chunk in chunks:
            phase = runbook.phases[chunk.phase]
            if any(s.id == step_id for s in phase.steps[chunk.start : chunk.stop]):
                return m
    raise KeyError(step_id)


# -- rendering -----------------------------------------------------------------------


def _who(user: str | None) -> Mrkdwn:
    if not user:
        return md("someone")
    return mk.user(user) if mk.USER_ID.fullmatch(user) else clip(mk.escape(user), 100)


def _target(target: str) -> Mrkdwn:
    if target.startswith("S"):
        return mk.usergroup(target)
    if target[0] in "CG":
        return mk.channel(target)
    if target[0] in "UW":
        return mk.user(target)
    return mk.escape(target.replace("_", " "))


def _when(at: int | None) -> Mrkdwn:
    return md(" · {}", date_token(at)) if at else md("")


def _step_text(number: int, step: Step, state: StepState) -> Mrkdwn:
    # escaping can quadruple a length, so clip after escaping, not before
    text = mk.escape(step.text)
    if state.status == "skipped":
        # Strikethrough does not cross line breaks in mrkdwn, so strike each line.
        lines = step.text.split("\n")
        text = join((md("~{}~", line) if line.strip() else md("") for line in lines), "\n")
    text = clip(text, 1200)
    icon = {"open": "⬜", "taken": "🔄", "done": "✅", "skipped": "⏭️"}[state.status]
    extras = []
    if step.link:
        extras.append(mk.link(step.link, "Reference"))
    if step.owner:
        extras.append(md("owner: _{}_", step.owner.replace("_", " ")))
    status = md("")
    if state.status == "taken":
        status = md("🙋 {} is on it{}", _who(state.by), _when(state.at))
    elif state.status == "done":
        status = md("Done by {}{}", _who(state.by), _when(state.at))
    elif state.status == "skipped":
        status = md("Skipped by {}{}", _who(state.by), _when(state.at))
    head = md("{} *{}.* {}", icon, number, text)
    tail = [part for part in (join(extras, " · "), status) if part]
    parts = [head]
    if step.command:
        # The command gets whatever the section's 3000 characters leave over.
        room = SECTION_TEXT_MAX - len(head) - sum(len(t) + 1 for t in tail) - 8
        command = clip(mk.escape(step.command.replace("```", "ʼʼʼ")), room)
        parts.append(md("```{}```", command))
    return join([*parts, *tail], "\n")


def _step_blocks(number: int, step: Step, state: StepState, run_id: str) -> list[Block]:
    value = step_value(run_id, step.id)
    if state.status in ("done", "skipped"):
        buttons = [button("Undo", action_id(ACTION_UNDO, step.id), value)]
    else:
        buttons = [
            button("Done", action_id(ACTION_DONE, step.id), value, style="primary"),
            button("Skip", action_id(ACTION_SKIP, step.id), value),
            button("I'm on it", action_id(ACTION_TAKE, step.id), value),
        ]
    text_block = section(_step_text(number, step, state))
    text_block["block_id"] = f"rb-step-{step.id}"
    return [text_block, actions(*buttons, block_id=f"rb-act-{step.id}")]


def runbook_messages(
    runbook: Runbook, states: Mapping[str, StepState], *, run_id: str
) -> list[list[Block]]:
    """One block list per Slack message; the first has the header and the progress.

    The number of messages and which steps each holds depend on the runbook only.
    """
    layout = _layout(runbook)
    numbers = {s.id: n for n, s in enumerate(runbook.steps(), start=1)}
    messages: list[list[Block]] = []
    for m, chunks in enumerate(layout):
        if m == 0:
            blocks = _preamble(runbook, states)
        else:
            part = md("*{}* (continued) · part {} of {}", runbook.title, m + 1, len(layout))
            blocks = [context(part)]
            blocks[0]["block_id"] = f"rb-part-{m + 1}"
        for chunk in chunks:
            phase = runbook.phases[chunk.phase]
            title = md("*{}*", phase.title) + (" (continued)" if chunk.continued else "")
            phase_block = section(title)
            phase_block["block_id"] = f"rb-phase-{phase.id}-{chunk.start}"
            blocks.append(phase_block)
            for step in phase.steps[chunk.start : chunk.stop]:
                state = states.get(step.id, _OPEN)
                blocks += _step_blocks(numbers[step.id], step, state, run_id)
        messages.append(blocks)
    return messages


def runbook_fallback(runbook: Runbook, states: Mapping[str, StepState], part: int) -> Mrkdwn:
    """The notification text of one part of a posted runbook (`part` counts from 0)."""
    if part == 0:
        done, total = progress(runbook, states)
        return md("Runbook: {} ({} of {} done)", runbook.title, done, total)
    return md("Runbook: {} (continued, part {})", runbook.title, part + 1)


def runbook_list(
    runbooks: Sequence[Runbook], *, incident_id: str | None, note: str | None = None
) -> list[Block]:
    """The `/incident runbook` listing, in the given order (rank_runbooks decides it).

    With an incident, each runbook has a Post button; without one, the command to type.
    `note` is one line shown above the list (e.g. that the id asked for does not exist).
    """
    blocks: list[Block] = [header("📚 Runbooks")]
    if note:
        blocks.append(section(md(":warning: {}", clip(note, 500))))
    blocks.append(context(md("Post one as a checklist with `/incident runbook &lt;id&gt;`.")))
    if not runbooks:
        blocks.append(section(md("No runbooks are loaded.")))
        return blocks
    room = MAX_BLOCKS - len(blocks) - 1  # keep one block for "and N more"
    shown = runbooks if len(runbooks) <= room + 1 else runbooks[:room]
    for book in shown:
        lines = [md("*{}*  `{}`  · {}", book.title, book.id, book.severity)]
        if book.summary:
            lines.append(mk.escape(clip(book.summary, 300)))
        if book.alerts:
            lines.append(md("Alerts: {}", join(md("`{}`", a) for a in book.alerts[:10])))
        accessory = None
        if incident_id:
            accessory = button(
                "Post", action_id(ACTION_POST, book.id), list_value(incident_id, book.id)
            )
        block = section(join(lines, "\n"), accessory=accessory)
        block["block_id"] = f"rb-list-{book.id}"
        blocks.append(block)
    rest = runbooks[len(shown) :]
    if rest:
        more = join(md("`{}`", b.id) for b in rest)
        blocks.append(context(md("and {} more: {}", len(rest), more)))
    return blocks


__all__ = [
    "ACTION_DONE",
    "ACTION_POST",
    "ACTION_SKIP",
    "ACTION_TAKE",
    "ACTION_UNDO",
    "action_id",
    "action_pattern",
    "list_value",
    "parse_list_value",
    "parse_step_value",
    "progress",
    "runbook_fallback",
    "runbook_list",
    "runbook_messages",
    "step_message_index",
    "step_value",
]
