"""Runbooks posted as checklists in incident channels: post them, apply clicks, and keep
the Slack messages in line with the stored state.

Owns the run of a runbook in an incident: a `RunbookRun` (which runbook, incident,
channel, and the ts of the Slack message it takes: the compact checklist of
blocks/runbooks.py is one message) and one `StepState` per step, both stored through
bot/core/store/runbooks.py. One checklist per runbook per incident: asking again points
at the one already posted (or finishes posting it, if Slack refused it earlier).

Why the message is right when many people click at once, on any number of replicas:

- A click is a compare-and-set of that one step (a Lua script in the store): the step's
  new state, the run's version (+1) and the incident's timeline entry are written
  together, or, when another click got there first, the click re-reads the step and
  decides again. Twenty people ticking one step make one change and one timeline entry;
  clicks on different steps never conflict with each other.
- A tick carries its checkbox group's whole selection; which steps it changed is read
  against what the clicker's message showed (`blocks.runbooks.ticked`), not against the
  store, so each tick is one intent (done, or reopened) applied as a click is.
- Slack's copy is never patched from a click; it is re-rendered from the store by the
  mirror (bot/core/mirror.py): one holder of the lease `runbook:{run_id}` at a time reads
  one consistent snapshot (run, states, version, and a digest per message of what Slack
  shows), edits only the messages whose rendering changed, and repeats while the version
  moved under it; a click that finds the lease taken returns at once and leaves its
  change to the holder. A burst of clicks coalesces into a few chat.update calls, which
  also keeps us inside Slack's rate limits.
- Posting runs the same pass: the parts not yet posted are posted in order and each ts
  is recorded on the run as it lands, so a post that failed halfway is finished later,
  not doubled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import blocks.mrkdwn as mk
from blocks.common import Block, Message, clip
from blocks.incident import change_notice
from blocks.mrkdwn import Mrkdwn, md, said
from blocks.runbooks import (
    long_form,
    long_form_of,
    note_modal,
    runbook_fallback,
    runbook_messages,
    step_label,
    ticked,
)
from bot.core.mirror import Frame, Mirror, Part, Shown, Synced
from bot.core.models import Incident, RunbookRun, TimelineEntry
from bot.core.slack import Slack, SlackError
from bot.core.store import Lease, RunSnapshot, Store
from bot.incidents import IncidentError
from bot.runbooks.library import (
    Runbook,
    StepAction,
    StepState,
    next_step_state,
    rank_runbooks,
    suggest_runbooks,
)

log = logging.getLogger(__name__)

LEASE_MS = 60_000
KNOWN_RUNS = 1024  # runs a process keeps as first read (see Checklists._known)

_VERBS: dict[StepAction, str] = {
    "done": "done",
    "skip": "skipped",
    "take": "taken",
    "undo": "reopened",
}


class ChecklistError(IncidentError):
    """A runbook request we refuse; the message is shown to the user as is."""


def step_entry_text(runbook: Runbook, step_id: str, text: str, action: StepAction) -> str:
    """The timeline line of one effective click: `Step p2-s3 done: <text> (<runbook>)`."""
    return f"Step {step_id} {_VERBS[action]}: {clip(' '.join(text.split()), 200)} ({runbook.id})"


class Checklists:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        runbooks: Mapping[str, Runbook],
        *,
        clock: Callable[[], float] = time.time,
        lease_ms: int = LEASE_MS,
    ) -> None:
        self.store = store
        self.slack = slack
        self.runbooks = runbooks
        self.clock = clock
        self.mirror = Mirror(store, slack, clock=clock, lease=lease_ms / 1000)
        # runs as first read: what a click uses of one (its id, runbook and incident) never
        # changes once stored, so a click does not read it again; that the run is still
        # stored is checked by the click's own write (`Store.change_step`)
        self._known: dict[str, RunbookRun] = {}
        # called once per new checklist, with (incident, runbook, run): e.g. a runbook's
        # own escalation starts when it is posted (bot/escalations.py)

    # -- listing -------------------------------------------------------------------------
    def ranked(self, incident: Incident | None) -> list[Runbook]:
        """Every runbook, those that fit the incident best first (its alert, title,
        description and severity: bot/runbooks/library.py's `runbook_fit`)."""
        if incident is None:
            return rank_runbooks(self.runbooks.values(), alertname=None, title="")
        suggested, others = self.suggested(incident)  # the suggested ones rank first
        return [*suggested, *others]

    def suggested(self, incident: Incident) -> tuple[list[Runbook], list[Runbook]]:
        """(the runbooks suggested for the incident, the others), each ranked."""
        return suggest_runbooks(
            self.runbooks.values(),
            alertname=incident.alertname,
            title=incident.title,
            description=incident.description,
            severity=incident.severity,
        )

    async def posted(self, incident: Incident) -> set[str]:
        """The ids of the runbooks posted in the incident (or being posted)."""
        return set(await self.store.incident_runs(incident.id))

    async def incident_of(self, run_id: str) -> str | None:
        """The incident a checklist is of (None: no such checklist), read once."""
        run = await self._stored(run_id)
        return run.incident if run is not None else None

    async def _stored(self, run_id: str) -> RunbookRun | None:
        run = self._known.get(run_id)
        if run is None and (run := await self.store.get_run(run_id)) is not None:
            if len(self._known) >= KNOWN_RUNS:
                del self._known[next(iter(self._known))]  # the first read goes first
            self._known[run_id] = run
        return run

    # -- posting -------------------------------------------------------------------------
    async def on_incident_event(self, event: str, incident: Incident) -> None:
        """Incidents listener: a runbook chosen at declaration (the modal's select, an
        alert rule) is posted once the channel and its summary card exist."""
        if event != "declared" or not incident.runbook or not incident.channel_id:
            return
        # the bot posts it for an alert or a drill: nobody responded by posting it
        by = None if incident.source in ("alert", "drill") else incident.declared_by
        try:
            await self.post(incident, incident.runbook, by=by)
        except ChecklistError as exc:
            log.warning(
                "runbook not posted",
                extra={"incident": incident.id, "runbook": incident.runbook, "error": str(exc)},
            )
            text, blocks = change_notice(md(":warning: {}", said(exc)))
            with contextlib.suppress(SlackError):
                await self.slack.post(incident.channel_id, text, blocks)

    async def post(self, incident: Incident, runbook_id: str, *, by: str | None) -> RunbookRun:
        """Post a runbook as a checklist in the incident's channel (or finish posting it).
        Raises ChecklistError when it is already there or Slack refused it."""
        runbook = self.runbooks.get(runbook_id)
        if runbook is None:
            raise ChecklistError(f"No runbook {runbook_id}; `/incident runbook` lists them.")
        if not incident.channel_id:
            raise ChecklistError(
                f"Incident {incident.id} has no channel yet; retry its set-up first."
            )
        now = self.clock()
        run = RunbookRun(
            id=uuid.uuid4().hex[:12],
            runbook=runbook.id,
            incident=incident.id,
            channel=incident.channel_id,
            parts=len(runbook_messages(runbook, {}, run_id="-")),  # depends on the runbook only
            posted_by=by,
            posted_at=now,
        )
        entry = TimelineEntry(
            at=now, actor=by, kind="runbook", text=f"Runbook posted: {runbook.title} ({runbook.id})"
        )
        # with its `runbook_posted` event: a runbook's own escalation starts from it
        run, created = await self.store.create_run(run, entry, incident=incident)
        if not created and run.complete:
            raise ChecklistError(await self._already_posted(run, runbook))
        outcome = await self.sync(run.id)
        latest = await self.store.get_run(run.id)
        run = latest or run
        if not run.complete and not outcome.busy:
            raise ChecklistError(
                f"Slack refused part {len(run.messages) + 1} of {run.parts} of runbook "
                f"{runbook.id} ({outcome.error}); run `/incident runbook {runbook.id}` "
                "again to finish posting it."
            )
        if created:
            log.info("runbook posted", extra={"incident": incident.id, "runbook": runbook.id})
        return run

    async def _already_posted(self, run: RunbookRun, runbook: Runbook) -> Mrkdwn:
        where = md("in this incident's channel")
        try:
            link = await self.slack.permalink(run.channel, run.messages[0])
            where = md("here: {}", mk.link(link, "open it"))
        except SlackError:
            pass
        return md("Runbook {} ({}) is already posted {}.", runbook.title, runbook.id, where)

    # -- clicks --------------------------------------------------------------------------
    async def click(
        self, run_id: str, step_id: str, action: StepAction, *, user: str
    ) -> tuple[StepState, bool]:
        """Apply a Done / Skip / I'm on it / Undo click: (the step's state, whether the
        click changed it). Either way the messages are brought in line afterwards."""
        run, runbook = await self._run(run_id)
        state, changed = await self._change(run, runbook, step_id, action, user)
        # Even a click that changed nothing syncs: it may come from a stale message.
        await self.sync(run.id)
        return state, changed

    async def tick(self, run_id: str, block_id: str, selected: list[str], *, user: str) -> int:
        """Apply a tick on the checklist's checkboxes: `selected` is the element's whole
        selection after the click, compared with what the clicker's message showed (its
        block_id; see blocks/runbooks.py), so each step it changed is done (ticked) or
        reopened (unticked) once. How many steps that changed in the store."""
        run, runbook = await self._run(run_id)
        try:
            toggled = ticked(runbook, block_id, selected)
        except ValueError:
            raise ChecklistError(
                "That checklist no longer matches its runbook; use `/incident runbook` to "
                "post it again."
            ) from None
        changed = 0
        for step_id, done in toggled:
            _, did = await self._change(run, runbook, step_id, "done" if done else "undo", user)
            changed += did
        await self.sync(run.id)
        return changed

    async def _run(self, run_id: str) -> tuple[RunbookRun, Runbook]:
        """The run's id, runbook and incident (as first read: see `_known`)."""
        run = await self._stored(run_id)
        if run is None:
            raise ChecklistError("This checklist is no longer stored, so it cannot change.")
        runbook = self.runbooks.get(run.runbook)
        if runbook is None:
            raise ChecklistError(
                f"Runbook {run.runbook} is no longer loaded, so its checklist cannot change."
            )
        return run, runbook

    async def _change(
        self, run: RunbookRun, runbook: Runbook, step_id: str, action: StepAction, user: str
    ) -> tuple[StepState, bool]:
        step = next((s for s in runbook.steps() if s.id == step_id), None)
        if step is None:
            raise ChecklistError(f"Runbook {runbook.id} no longer has a step {step_id}.")
        now = self.clock()

        def change(state: StepState) -> tuple[StepState, TimelineEntry] | None:
            new = next_step_state(state, action, user=user, at=int(now))
            if new is None:
                return None
            text = step_entry_text(runbook, step.id, step.text, action)
            return new, TimelineEntry(at=now, actor=user, kind="runbook_step", text=text)

        try:
            return await self.store.change_step(run, step.id, change)
        except KeyError:  # Redis lost it
            self._known.pop(run.id, None)
            raise ChecklistError(
                "This checklist is no longer stored, so it cannot change."
            ) from None

    # -- the long form and notes ----------------------------------------------------------
    async def long_form(self, run_id: str, phase_id: str) -> list[Message]:
        """Show steps: a phase's steps in full as they stand, for whoever asked."""
        run, runbook, states = await self._states(run_id)
        try:
            return long_form(runbook, states, phase_id, run_id=run.id)
        except ValueError:
            raise ChecklistError(f"Runbook {runbook.id} no longer has that phase.") from None

    async def long_form_of(self, run_id: str, step_id: str) -> Message:
        """The Show steps message holding a step, as it stands (after a click in it)."""
        run, runbook, states = await self._states(run_id)
        try:
            return long_form_of(runbook, states, step_id, run_id=run.id)
        except KeyError:
            raise ChecklistError(f"Runbook {runbook.id} no longer has a step {step_id}.") from None

    async def note_form(self, run_id: str, step_id: str, *, channel: str | None) -> Block:
        """The Add a note modal of a step; its metadata carries the incident, the channel
        to answer in and how the note names the step (`step 4 (p3-s1) of service-down`)."""
        run, runbook = await self._run(run_id)
        try:
            about = step_label(runbook, step_id)
        except KeyError:
            raise ChecklistError(f"Runbook {runbook.id} no longer has a step {step_id}.") from None
        meta = json.dumps({"incident": run.incident, "channel": channel, "about": about})
        return note_modal(runbook, step_id, private_metadata=meta)

    async def _states(self, run_id: str) -> tuple[RunbookRun, Runbook, dict[str, StepState]]:
        run, runbook = await self._run(run_id)
        snap = await self.store.run_snapshot(run.id)
        return run, runbook, dict(snap.states) if snap else {}

    # -- keeping Slack in line ------------------------------------------------------------
    async def sync(self, run_id: str) -> Synced:
        """Bring the run's messages in line with the store (see the module docstring)."""
        return await self.mirror.sync(_Checklist(self, run_id))


@dataclass
class _Checklist:
    """A run's messages as the mirror keeps them: a part per message, the ts of each on the
    run (posted in order) and their digests beside its step states.

    One round trip a pass besides Slack's: the digests of what a pass showed are written
    by the version check that follows it, and that check reads the whole snapshot, which
    the next pass renders (when the version moved) instead of reading it again."""

    service: Checklists
    run_id: str
    posted: int = 0
    pending: dict[int, str] = field(default_factory=dict)  # digests shown, not yet stored
    fresh: tuple[RunSnapshot | None] | None = None  # read by the last version check

    @property
    def lease(self) -> tuple[Lease, str]:
        return Lease.RUNBOOK, self.run_id

    async def _snapshot(self) -> RunSnapshot | None:
        shown, self.pending = self.pending, {}
        return await self.service.store.run_snapshot(self.run_id, shown=shown)

    async def read(self) -> Frame | None:
        (snap,) = self.fresh or (await self._snapshot(),)
        self.fresh = None
        if snap is None:
            return None
        run = snap.run
        self.posted = len(run.messages)
        runbook = self.service.runbooks.get(run.runbook)
        if runbook is None:
            return Frame(snap.version, [], {}, error="runbook_not_loaded")
        messages = runbook_messages(runbook, snap.states, run_id=run.id)
        parts = [
            Part(str(i), run.channel, (runbook_fallback(runbook, snap.states, i), blocks))
            for i, blocks in enumerate(messages)
        ]
        shown = {
            str(i): Shown(run.channel, ts, snap.shown.get(i, ""))
            for i, ts in enumerate(run.messages)
        }
        return Frame(snap.version, parts, shown)

    async def version(self) -> object:
        snap = await self._snapshot()
        self.fresh = (snap,)
        return snap.version if snap is not None else None

    async def record(self, part: Part, shown: Shown) -> None:
        i = int(part.key)
        if i >= self.posted:
            await self.service.store.add_run_message(self.run_id, i, shown.ts)
        self.pending[i] = shown.digest
