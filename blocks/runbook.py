"""Block Kit for runbook checklists and the runbook listing. Pure: no I/O.

A posted runbook is one or more Slack messages. How the steps are split across messages
depends on the runbook alone (never on who clicked what), so the bot can `chat.update`
each message in place as steps are done, skipped or undone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from blocks.common import (
    SECTION_TEXT_MAX,
    Block,
    actions,
    button,
    clip,
    context,
    date_token,
    escape,
    header,
    section,
)
from bot.runbooks import Runbook, Step, StepState

ACTION_DONE = "runbook_step_done"
ACTION_SKIP = "runbook_step_skip"
ACTION_TAKE = "runbook_step_take"
ACTION_UNDO = "runbook_step_undo"
ACTION_POST = "runbook_post"  # the listing's "Post" button; value = list_value(...)

MAX_BLOCKS = 50
_PREAMBLE_CONTINUED = 1  # a context line: "<title> · part 2 of 3"
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
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
    line = f"*{done} of {total} done*" + (f" ({skipped} skipped)" if skipped else "")
    meta = [f"`{runbook.id}`", f"severity hint {runbook.severity}"]
    if runbook.rto:
        meta.append(f"RTO {_duration(int(runbook.rto.total_seconds()))}")
    blocks = [
        header(f"📋 Runbook: {runbook.title}"),
        context(f"{line}  {'▰' * filled}{'▱' * (10 - filled)}  ·  " + " · ".join(meta)),
    ]
    details = []
    if runbook.summary:
        details.append(escape(clip(runbook.summary, 1000)))
    facts = []
    if runbook.alerts:
        facts.append("*Alerts:* " + ", ".join(f"`{escape(a)}`" for a in runbook.alerts))
    if runbook.stakeholders:
        facts.append("*Stakeholders:* " + escape(", ".join(runbook.stakeholders)))
    if runbook.escalate:
        esc = runbook.escalate
        targets = ", ".join(_target(t) for t in esc.to)
        note = f" ({escape(clip(esc.note, 200))})" if esc.note else ""
        after = _duration(int(esc.after.total_seconds()))
        facts.append(f"*Escalate* after {after} to {targets}{note}")
    if facts:
        details.append("\n".join(facts))
    if details:
        blocks.append(section("\n\n".join(details)))
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


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _who(user: str | None) -> str:
    if not user:
        return "someone"
    return f"<@{user}>" if _SLACK_USER.match(user) else _escape_clip(user, 100)


def _target(target: str) -> str:
    if target.startswith("S"):
        return f"<!subteam^{target}>"
    if target[0] in "CG":
        return f"<#{target}>"
    if target[0] in "UW":
        return f"<@{target}>"
    return escape(target.replace("_", " "))


def _when(at: int | None) -> str:
    return f" · {date_token(at)}" if at else ""


def _escape_clip(text: str, limit: int) -> str:
    """Escape, then cut to `limit` characters without splitting an `&lt;`-style entity
    (escaping can quadruple a length, so clip after escaping, not before)."""
    out: list[str] = []
    size = 0
    for char in text:
        piece = escape(char)
        if size + len(piece) > limit - 1:
            return "".join(out) + "…"
        out.append(piece)
        size += len(piece)
    return "".join(out)


def _step_text(number: int, step: Step, state: StepState) -> str:
    text = _escape_clip(step.text, 1200)
    if state.status == "skipped":
        # Strikethrough does not cross line breaks in mrkdwn, so strike each line.
        text = "\n".join(f"~{line}~" if line.strip() else line for line in text.split("\n"))
    icon = {"open": "⬜", "taken": "🔄", "done": "✅", "skipped": "⏭️"}[state.status]
    extras = []
    if step.link:
        extras.append(f"<{step.link}|Reference>")
    if step.owner:
        extras.append(f"owner: _{escape(step.owner.replace('_', ' '))}_")
    status = ""
    if state.status == "taken":
        status = f"🙋 {_who(state.by)} is on it{_when(state.at)}"
    elif state.status == "done":
        status = f"Done by {_who(state.by)}{_when(state.at)}"
    elif state.status == "skipped":
        status = f"Skipped by {_who(state.by)}{_when(state.at)}"
    head = f"{icon} *{number}.* {text}"
    tail = [part for part in (" · ".join(extras), status) if part]
    parts = [head]
    if step.command:
        # The command gets whatever the section's 3000 characters leave over.
        room = SECTION_TEXT_MAX - len(head) - sum(len(t) + 1 for t in tail) - 8
        command = _escape_clip(step.command.replace("```", "ʼʼʼ"), room)
        parts.append(f"```{command}```")
    return "\n".join([*parts, *tail])


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
            part = f"*{escape(runbook.title)}* (continued) · part {m + 1} of {len(layout)}"
            blocks = [context(part)]
            blocks[0]["block_id"] = f"rb-part-{m + 1}"
        for chunk in chunks:
            phase = runbook.phases[chunk.phase]
            title = f"*{escape(phase.title)}*" + (" (continued)" if chunk.continued else "")
            phase_block = section(title)
            phase_block["block_id"] = f"rb-phase-{phase.id}-{chunk.start}"
            blocks.append(phase_block)
            for step in phase.steps[chunk.start : chunk.stop]:
                state = states.get(step.id, _OPEN)
                blocks += _step_blocks(numbers[step.id], step, state, run_id)
        messages.append(blocks)
    return messages


def runbook_fallback(runbook: Runbook, states: Mapping[str, StepState], part: int) -> str:
    """The notification text of one part of a posted runbook (`part` counts from 0)."""
    if part == 0:
        done, total = progress(runbook, states)
        return f"Runbook: {runbook.title} ({done} of {total} done)"
    return f"Runbook: {runbook.title} (continued, part {part + 1})"


def runbook_list(
    runbooks: Sequence[Runbook], *, incident_id: str | None, note: str | None = None
) -> list[Block]:
    """The `/incident runbook` listing, in the given order (rank_runbooks decides it).

    With an incident, each runbook has a Post button; without one, the command to type.
    `note` is one line shown above the list (e.g. that the id asked for does not exist).
    """
    blocks: list[Block] = [header("📚 Runbooks")]
    if note:
        blocks.append(section(f":warning: {escape(clip(note, 500))}"))
    blocks.append(context("Post one as a checklist with `/incident runbook <id>`."))
    if not runbooks:
        blocks.append(section("No runbooks are loaded."))
        return blocks
    room = MAX_BLOCKS - len(blocks) - 1  # keep one block for "and N more"
    shown = runbooks if len(runbooks) <= room + 1 else runbooks[:room]
    for book in shown:
        lines = [f"*{escape(book.title)}*  `{book.id}`  · {book.severity}"]
        if book.summary:
            lines.append(escape(clip(book.summary, 300)))
        if book.alerts:
            lines.append("Alerts: " + ", ".join(f"`{escape(a)}`" for a in book.alerts[:10]))
        accessory = None
        if incident_id:
            accessory = button(
                "Post", action_id(ACTION_POST, book.id), list_value(incident_id, book.id)
            )
        block = section("\n".join(lines), accessory=accessory)
        block["block_id"] = f"rb-list-{book.id}"
        blocks.append(block)
    rest = runbooks[len(shown) :]
    if rest:
        more = ", ".join(f"`{b.id}`" for b in rest)
        blocks.append(context(f"and {len(rest)} more: {more}"))
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
