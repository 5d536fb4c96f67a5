"""Runbooks posted as checklists in incident channels: post them, apply clicks, and keep
the Slack messages in line with the stored state.

Owns the run of a runbook in an incident: a `RunbookRun` (which runbook, incident,
channel, and the ts of each Slack message it takes) and one `StepState` per step, both
stored through bot/core/store.py. One checklist per runbook per incident: asking again points
at the one already posted (or finishes posting it, if Slack refused a part earlier).

Why the messages are right when many people click at once, on any number of replicas:

- A click is a compare-and-set of that one step (a Lua script in the store): the step's
  new state, the run's version (+1) and the incident's timeline entry are written
  together, or, when another click got there first, the click re-reads the step and
  decides again. Twenty people pressing Done on one step make one change and one
  timeline entry; clicks on different steps never conflict with each other.
- Slack's copy is never patched from a click; it is re-rendered from the store, and
  only one worker at a time does that for a run: the holder of the Redis lease
  `runbook:{run_id}`. The holder reads one consistent snapshot (run, states, version,
  and a digest per message of what Slack shows), chat.updates only the messages whose
  rendering changed, records their digests, and repeats while the version moved under
  it. So updates to a message are never in flight concurrently, and the last one sent
  always renders the last stored state. A click that finds the lease taken returns at
  once: the holder re-checks the version after each pass and once more after releasing
  the lease, so a change made while it worked is rendered either by it or by a later
  clicker who then gets the lease (no lost wake-up). A burst of clicks coalesces into a
  few chat.update calls, which also keeps us inside Slack's rate limits.
- The lease (`Store.held`, redis-py's Lock) is renewed while its holder works and
  expires LEASE_MS after a replica that died holding it stopped renewing, so it blocks
  nobody for long; the next click re-renders whatever differs.
- Posting runs the same pass: the parts not yet posted are posted in order and each ts
  is recorded as it lands, so a post that failed halfway is finished later, not doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import blocks.mrkdwn as mk
from blocks.common import Block, clip
from blocks.incident import change_notice
from blocks.mrkdwn import Mrkdwn, md, said
from blocks.runbooks import runbook_fallback, runbook_messages
from bot.core.models import Incident, RunbookRun, TimelineEntry
from bot.core.slack import Slack, SlackError
from bot.core.store import RunSnapshot, Store
from bot.incidents import IncidentError
from bot.runbooks.library import Runbook, StepAction, StepState, next_step_state, rank_runbooks

log = logging.getLogger(__name__)

LEASE_MS = 60_000

_VERBS: dict[StepAction, str] = {
    "done": "done",
    "skip": "skipped",
    "take": "taken",
    "undo": "reopened",
}


class ChecklistError(IncidentError):
    """A runbook request we refuse; the message is shown to the user as is."""


@dataclass
class SyncOutcome:
    busy: bool = False  # another worker holds the run's lease and is rendering it
    error: str | None = None  # Slack's error code for a part that could not be posted


def step_entry_text(runbook: Runbook, step_id: str, text: str, action: StepAction) -> str:
    """The timeline line of one effective click: `Step p2-s3 done: <text> (<runbook>)`."""
    return f"Step {step_id} {_VERBS[action]}: {clip(' '.join(text.split()), 200)} ({runbook.id})"


def _digest(text: str, blocks: list[Block]) -> str:
    raw = json.dumps([text, blocks], sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


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
        self.lease_ms = lease_ms
        # called once per new checklist, with (incident, runbook, run): e.g. a runbook's
        # own escalation starts when it is posted (bot/escalations.py)

    # -- listing -------------------------------------------------------------------------
    def ranked(self, incident: Incident | None) -> list[Runbook]:
        """Every runbook, those for the incident's alert and title first."""
        return rank_runbooks(
            self.runbooks.values(),
            alertname=incident.alertname if incident else None,
            title=incident.title if incident else "",
        )

    async def run(self, run_id: str) -> RunbookRun | None:
        """A posted checklist (its steps' state), or None when it is gone."""
        return await self.store.get_run(run_id)

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
        run = await self.store.get_run(run_id)
        if run is None:
            raise ChecklistError("This checklist is no longer stored, so it cannot change.")
        runbook = self.runbooks.get(run.runbook)
        if runbook is None:
            raise ChecklistError(
                f"Runbook {run.runbook} is no longer loaded, so its checklist cannot change."
            )
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

        state, changed = await self.store.change_step(run, step.id, change)
        # Even a click that changed nothing syncs: it may come from a stale message.
        await self.sync(run.id)
        return state, changed

    # -- keeping Slack in line ------------------------------------------------------------
    async def sync(self, run_id: str) -> SyncOutcome:
        """Bring the run's messages in line with the store (see the module docstring)."""
        name = f"runbook:{run_id}"
        outcome = SyncOutcome()
        worked = False
        while True:
            async with self.store.held(name, ttl=self.lease_ms / 1000) as mine:
                if not mine:
                    outcome.busy = not worked
                    return outcome
                seen, outcome.error = await self._passes(run_id)
                worked = True
            # A click that landed between our last check and the release found the lease
            # taken and left its change to us.
            if await self.store.run_version(run_id) == seen:
                return outcome

    async def _passes(self, run_id: str) -> tuple[int, str | None]:
        while True:
            snap = await self.store.run_snapshot(run_id)
            if snap is None:
                return 0, "run_not_found"
            error = await self._render(snap)
            if await self.store.run_version(run_id) == snap.version:
                return snap.version, error

    async def _render(self, snap: RunSnapshot) -> str | None:
        run = snap.run
        runbook = self.runbooks.get(run.runbook)
        if runbook is None:
            return "runbook_not_loaded"
        messages = runbook_messages(runbook, snap.states, run_id=run.id)
        texts = [runbook_fallback(runbook, snap.states, i) for i in range(len(messages))]
        digests = [_digest(t, b) for t, b in zip(texts, messages, strict=True)]
        shown: dict[int, str] = {}
        error: str | None = None

        posted = min(len(run.messages), len(messages))
        stale = [i for i in range(posted) if snap.shown.get(i) != digests[i]]
        updates = [
            self.slack.update(run.channel, run.messages[i], texts[i], messages[i]) for i in stale
        ]
        results = await asyncio.gather(*updates, return_exceptions=True)
        for i, result in zip(stale, results, strict=True):
            if isinstance(result, SlackError):
                log.warning(
                    "checklist update failed",
                    extra={"incident": run.incident, "run": run.id, "error": result.code},
                )
            elif isinstance(result, BaseException):
                raise result
            else:
                shown[i] = digests[i]

        # Parts not posted yet go out in order: a later part must not precede an earlier.
        for i in range(len(run.messages), len(messages)):
            try:
                _, ts = await self.slack.post(run.channel, texts[i], messages[i])
            except SlackError as exc:
                log.warning(
                    "checklist post failed",
                    extra={"incident": run.incident, "run": run.id, "error": exc.code},
                )
                error = exc.code
                break
            run = await self.store.add_run_message(run.id, i, ts)
            shown[i] = digests[i]
        await self.store.set_run_shown(run.id, shown)
        return error
