"""Block Kit for runbook checklists and the runbook listing. Pure: no I/O.

A posted runbook is one compact Slack message, the checklist: its header and progress,
then for each phase a line (its title, how far it is, *Show steps*) and, while the phase
has steps to do, its steps as a `checkboxes` element (a group of at most ten, Slack's
limit; a longer phase takes several) followed by one overflow menu per step (I'm on it,
Skip, Undo, Add a note; each option names its step, since Slack labels no overflow). A
ticked box is a finished step (done or skipped); the option's description says who is on
it, did it or skipped it, and which role owns it. A finished phase collapses to its line.

*Show steps* answers, to whoever asked, the long form of a phase: each step with its
command and link, who did what and when, and Done / Skip / I'm on it / Undo buttons.

A tick carries the element's whole selection after the click. `ticked()` tells which
steps it changed by comparing that selection with what the clicker's message showed,
which the group's block_id records (a mask of its ticked boxes; so the block_id is new
with every state, as Slack asks of an updated message), never with the store: two people
ticking different steps of one message at once both land, and a tick of a step someone
else finished a moment before changes nothing.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import blocks.mrkdwn as mk
from blocks.common import (
    SECTION_TEXT_MAX,
    Block,
    Message,
    Mrkdwn,
    actions,
    button,
    clip,
    context,
    date_token,
    header,
    md,
    mrkdwn,
    option,
    plain,
    section,
)
from blocks.mrkdwn import join
from bot.core.durations import format_duration
from bot.core.models import StepStatus
from bot.runbooks.library import Runbook, Step, StepState

# the long form's buttons (Show steps); value = step_value(run id, step id)
ACTION_DONE = "runbook_step_done"
ACTION_SKIP = "runbook_step_skip"
ACTION_TAKE = "runbook_step_take"
ACTION_UNDO = "runbook_step_undo"
# the checklist: a group's checkboxes (action_id carries the run id, option values are
# step ids), a step's overflow menu (values menu_value(...)), a phase's Show steps
# (value step_value(run id, phase id))
ACTION_TICK = "runbook_tick"
ACTION_MENU = "runbook_menu"
ACTION_SHOW = "runbook_show"
ACTION_POST = "runbook_post"  # the listing's "Post" button; value = list_value(...)
NOTE_CALLBACK = "runbook_note"  # the Add a note modal

MAX_BLOCKS = 50
GROUP = 10  # options in one checkboxes element: Slack's most
LONG_FORM = 20  # steps in one Show steps answer (2 blocks each, within 50)
OPTION_TEXT = 75  # an option's text and its description: Slack's most
MENU_VERBS = ("take", "skip", "undo", "note")
_MENU_TEXT = {"take": "🙋 I'm on it", "skip": "⏭️ Skip", "undo": "↩️ Undo", "note": "📝 Add a note"}
_OPEN = StepState()
_FINISHED = ("done", "skipped")
_TICK_BLOCK = re.compile(r"rb-tick-(\d+)-([0-9a-f]+)")


# -- ids and values ------------------------------------------------------------------


def action_id(action: str, key: str) -> str:
    """Slack wants action_ids unique in a block, so each carries its step (or run) id."""
    return f"{action}:{key}"


def action_pattern(action: str) -> re.Pattern[str]:
    """What a handler registers for an action: `app.action(action_pattern(ACTION_DONE))`."""
    return re.compile(rf"^{re.escape(action)}(?::.*)?$")


def action_key(action_id_: str) -> str:
    """The id an action_id carries (`runbook_tick:<run id>` -> the run id)."""
    return action_id_.partition(":")[2]


def step_value(run_id: str, step_id: str) -> str:
    # Step ids never contain "|" (validated), so the last "|" splits unambiguously.
    return f"{run_id}|{step_id}"


def parse_step_value(value: str) -> tuple[str, str]:
    run_id, sep, step_id = value.rpartition("|")
    if not sep or not run_id or not step_id:
        raise ValueError(f"not a runbook step value: {value!r}")
    return run_id, step_id


def menu_value(verb: str, run_id: str, step_id: str) -> str:
    return f"{verb}|{step_value(run_id, step_id)}"


def parse_menu_value(value: str) -> tuple[str, str, str]:
    """(verb, run id, step id) of a step menu's option."""
    verb, _, rest = value.partition("|")
    if verb not in MENU_VERBS:
        raise ValueError(f"not a runbook menu value: {value!r}")
    return (verb, *parse_step_value(rest))


def list_value(incident_id: str, runbook_id: str) -> str:
    return step_value(incident_id, runbook_id)


def parse_list_value(value: str) -> tuple[str, str]:
    """(incident id, runbook id) from a listing's Post button."""
    return parse_step_value(value)


# -- progress and layout -------------------------------------------------------------


def _finished(steps: Iterable[Step], states: Mapping[str, StepState]) -> int:
    return sum(states.get(s.id, _OPEN).status in _FINISHED for s in steps)


def progress(runbook: Runbook, states: Mapping[str, StepState]) -> tuple[int, int]:
    """(steps done or skipped, all steps)."""
    steps = runbook.steps()
    return _finished(steps, states), len(steps)


@dataclass(frozen=True)
class Group:
    """Steps of one phase in one checkboxes element; `index` counts across the runbook."""

    index: int
    phase: int  # index into runbook.phases
    steps: tuple[Step, ...]


def groups(runbook: Runbook) -> list[Group]:
    """Each phase's steps in groups of at most GROUP, as even as can be (a phase of 11 is
    6 + 5). Depends on the runbook only, so a group's index means the same in every
    rendering."""
    out: list[Group] = []
    for p, phase in enumerate(runbook.phases):
        n = len(phase.steps)
        count = math.ceil(n / GROUP)
        start = 0
        for i in range(count):
            size = n // count + (i < n % count)
            out.append(Group(len(out), p, tuple(phase.steps[start : start + size])))
            start += size
    return out


def _mask(group: Group, states: Mapping[str, StepState]) -> int:
    return sum(
        1 << bit
        for bit, step in enumerate(group.steps)
        if states.get(step.id, _OPEN).status in _FINISHED
    )


def ticked(runbook: Runbook, block_id: str, selected: Iterable[str]) -> list[tuple[str, bool]]:
    """The steps a tick changed, each with whether it is now ticked: the element's
    selection after the click (`selected`, its step ids) against what the clicker's
    message showed (the group's block_id). ValueError: not a block of this runbook."""
    found = _TICK_BLOCK.fullmatch(block_id)
    all_groups = groups(runbook)
    if found is None or int(found[1]) >= len(all_groups):
        raise ValueError(f"not a checklist block of runbook {runbook.id}: {block_id!r}")
    shown, now = int(found[2], 16), set(selected)
    return [
        (step.id, step.id in now)
        for bit, step in enumerate(all_groups[int(found[1])].steps)
        if bool(shown >> bit & 1) != (step.id in now)
    ]


# -- the checklist -------------------------------------------------------------------


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


def _flat(text: str) -> str:
    return " ".join(text.split())


def _step_option(number: int, step: Step, state: StepState) -> Block:
    head = md("*{}.* ", number)
    text = clip(mk.escape(_flat(step.text)), OPTION_TEXT - len(head) - 2)
    if state.status == "skipped":
        text = md("~{}~", text)
    found: Block = {"text": mrkdwn(head + text), "value": step.id}
    notes = []
    if state.status == "taken":
        notes.append(md("🙋 {} is on it", _who(state.by, 24)))
    elif state.status == "done":
        notes.append(md("done by {}", _who(state.by, 24)))
    elif state.status == "skipped":
        notes.append(md("skipped by {}", _who(state.by, 24)))
    if step.owner and state.status not in _FINISHED:
        notes.append(md("owner: {}", step.owner.replace("_", " ")))
    if notes:
        found["description"] = mrkdwn(clip(join(notes, " · "), OPTION_TEXT))
    return found


def _step_menu(number: int, step: Step, state: StepState, run_id: str) -> Block:
    verbs = ["undo"] if state.status in _FINISHED else ["take", "skip"]
    options = [
        option(f"{_MENU_TEXT[verb]} (step {number})", menu_value(verb, run_id, step.id))
        for verb in (*verbs, "note")
    ]
    return {"type": "overflow", "action_id": action_id(ACTION_MENU, step.id), "options": options}


def _group_block(
    group: Group, numbers: Mapping[str, int], states: Mapping[str, StepState], run_id: str
) -> Block:
    looks = tuple(
        (numbers[s.id], (st := states.get(s.id, _OPEN)).status, st.by, st.at) for s in group.steps
    )
    return _rendered_group(group, looks, run_id)


# (a step's number, and its state's status, by and at)
Looks = tuple[tuple[int, StepStatus, str | None, int | None], ...]


@functools.lru_cache(maxsize=512)
def _rendered_group(group: Group, looks: Looks, run_id: str) -> Block:
    """A group's block, made once for each look of its steps: a click changes one group,
    so a pass of a busy checklist renders that one again, not all of them. The block is
    shared by every rendering that shows it: read it, never change it."""
    numbers = {s.id: number for s, (number, *_) in zip(group.steps, looks, strict=True)}
    states = {
        s.id: StepState(status=status, by=by, at=at)
        for s, (_, status, by, at) in zip(group.steps, looks, strict=True)
    }
    options = [_step_option(numbers[s.id], s, states[s.id]) for s in group.steps]
    mask = _mask(group, states)
    boxes: Block = {
        "type": "checkboxes",
        "action_id": action_id(ACTION_TICK, run_id),
        "options": options,
    }
    if mask:
        boxes["initial_options"] = [o for bit, o in enumerate(options) if mask >> bit & 1]
    menus = [_step_menu(numbers[s.id], s, states[s.id], run_id) for s in group.steps]
    return actions(boxes, *menus, block_id=f"rb-tick-{group.index}-{mask:x}")


def _phase_line(runbook: Runbook, p: int, states: Mapping[str, StepState], run_id: str) -> Block:
    phase = runbook.phases[p]
    done, total = _finished(phase.steps, states), len(phase.steps)
    skipped = sum(states.get(s.id, _OPEN).status == "skipped" for s in phase.steps)
    aside = md(" ({} skipped)", skipped) if skipped else md("")
    if done == total:
        text = md("✅ *{}* — {}/{} done{}", phase.title, done, total, aside)
    else:
        text = md("*{}* · {}/{}{}", phase.title, done, total, aside)
    show = button("Show steps", action_id(ACTION_SHOW, phase.id), step_value(run_id, phase.id))
    block = section(text, accessory=show)
    block["block_id"] = f"rb-phase-{phase.id}"
    return block


def checklist(runbook: Runbook, states: Mapping[str, StepState], *, run_id: str) -> list[Block]:
    """The checklist message: the header and progress, then each phase's line and, while
    it has steps to do, its groups of checkboxes."""
    blocks = _preamble(runbook, states)
    numbers = _numbers(runbook)
    all_groups = groups(runbook)
    for p, phase in enumerate(runbook.phases):
        blocks.append(_phase_line(runbook, p, states, run_id))
        if _finished(phase.steps, states) < len(phase.steps):
            blocks += [_group_block(g, numbers, states, run_id) for g in all_groups if g.phase == p]
    return blocks


def runbook_messages(
    runbook: Runbook, states: Mapping[str, StepState], *, run_id: str
) -> list[list[Block]]:
    """The checklist's Slack messages: one (MAX_STEPS keeps any runbook within 50 blocks)."""
    return [checklist(runbook, states, run_id=run_id)]


def _numbers(runbook: Runbook) -> dict[str, int]:
    return {s.id: n for n, s in enumerate(runbook.steps(), start=1)}


# -- the long form (Show steps) ------------------------------------------------------


def long_form(
    runbook: Runbook, states: Mapping[str, StepState], phase_id: str, *, run_id: str
) -> list[Message]:
    """Show steps: a phase's steps in full (command, link, who did what and when, and
    buttons), LONG_FORM steps a message. ValueError: no such phase."""
    p = next((i for i, ph in enumerate(runbook.phases) if ph.id == phase_id), None)
    if p is None:
        raise ValueError(f"runbook {runbook.id} has no phase {phase_id!r}")
    phase, numbers = runbook.phases[p], _numbers(runbook)
    parts = math.ceil(len(phase.steps) / LONG_FORM)
    out: list[Message] = []
    for part in range(parts):
        chunk = phase.steps[part * LONG_FORM : (part + 1) * LONG_FORM]
        title = md("📋 *{}* · *{}*", runbook.title, phase.title)
        if parts > 1:
            first = numbers[chunk[0].id]
            title += md(" · steps {}–{}", first, first + len(chunk) - 1)
        blocks = [context(title)]
        for step in chunk:
            blocks += _step_blocks(numbers[step.id], step, states.get(step.id, _OPEN), run_id)
        out.append((md("{} · {}", runbook.title, phase.title), blocks))
    return out


def long_form_of(
    runbook: Runbook, states: Mapping[str, StepState], step_id: str, *, run_id: str
) -> Message:
    """The Show steps message that holds a step (to show a click on it). KeyError: none."""
    for phase in runbook.phases:
        ids = [s.id for s in phase.steps]
        if step_id in ids:
            parts = long_form(runbook, states, phase.id, run_id=run_id)
            return parts[ids.index(step_id) // LONG_FORM]
    raise KeyError(step_id)


def step_label(runbook: Runbook, step_id: str) -> str:
    """How a note names its step: `step 4 (p3-s1) of service-down`. KeyError: none."""
    return f"step {_numbers(runbook)[step_id]} ({step_id}) of {runbook.id}"


def note_modal(runbook: Runbook, step_id: str, *, private_metadata: str) -> Block:
    """Add a note (a step's menu): a note on the incident's timeline that names the step."""
    step = next(s for s in runbook.steps() if s.id == step_id)
    about = md("*{}* · step {}: {}", runbook.title, _numbers(runbook)[step_id], _flat(step.text))
    field = {"type": "plain_text_input", "action_id": "note", "multiline": True, "max_length": 1000}
    return {
        "type": "modal",
        "callback_id": NOTE_CALLBACK,
        "title": plain("Note on a step", 24),
        "submit": plain("Add", 24),
        "close": plain("Cancel", 24),
        "private_metadata": private_metadata,
        "blocks": [
            context(clip(about, 500)),
            {"type": "input", "block_id": "note", "label": plain("Note"), "element": field},
        ],
    }


# -- pieces -------------------------------------------------------------------------


def _who(user: str | None, most: int = 100) -> Mrkdwn:
    if not user:
        return md("someone")
    return mk.user(user) if mk.USER_ID.fullmatch(user) else clip(mk.escape(user), most)


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
    "ACTION_MENU",
    "ACTION_POST",
    "ACTION_SHOW",
    "ACTION_SKIP",
    "ACTION_TAKE",
    "ACTION_TICK",
    "ACTION_UNDO",
    "NOTE_CALLBACK",
    "action_id",
    "action_key",
    "action_pattern",
    "checklist",
    "groups",
    "list_value",
    "long_form",
    "long_form_of",
    "menu_value",
    "note_modal",
    "parse_list_value",
    "parse_menu_value",
    "parse_step_value",
    "progress",
    "runbook_fallback",
    "runbook_list",
    "runbook_messages",
    "step_label",
    "step_value",
    "ticked",
]
