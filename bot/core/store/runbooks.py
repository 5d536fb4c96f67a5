"""Runbook checklists (bot/runbooks/checklists.py): one run per runbook per incident, its
step states (compare-and-set per step), their version, and what Slack shows of each part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio.client import Pipeline

from bot.core.models import Incident, RunbookRun, StepState, TimelineEntry
from bot.core.store import scripts
from bot.core.store.base import StoreBase, as_str

StepChange = Callable[[StepState], tuple[StepState, TimelineEntry] | None]


@dataclass(frozen=True)
class RunSnapshot:
    """One consistent read of a checklist: the run, its step states, their version, and
    the digests of what each posted part shows in Slack."""

    run: RunbookRun
    states: dict[str, StepState]
    version: int
    shown: dict[int, str]


class RunbookRepo(StoreBase):
    """Runbook runs and their step states."""

    async def create_run(
        self, run: RunbookRun, entry: TimelineEntry, *, incident: Incident
    ) -> tuple[RunbookRun, bool]:
        """Store a new checklist, with its `runbook_posted` event, unless its incident
        already has one of that runbook: (the run, True) when created, (the existing run,
        False) otherwise."""
        index = self.keys.incident_runbooks(run.incident)

        async def work(pipe: Pipeline) -> tuple[RunbookRun, bool]:
            existing = await pipe.hget(index, run.runbook)
            if existing:
                raw = await pipe.get(self.keys.run(as_str(existing)))
                if raw:
                    return RunbookRun.model_validate_json(raw), False
            pipe.multi()
            pipe.hset(index, run.runbook, run.id)
            pipe.set(self.keys.run(run.id), run.model_dump_json())
            pipe.set(self.keys.run_version(run.id), 0)
            pipe.rpush(self.keys.timeline(run.incident), entry.model_dump_json())
            data = {"runbook": run.runbook, "run": run.id, "posted_at": run.posted_at}
            self._emit(pipe, "runbook_posted", incident, entry.at, data)
            await pipe.execute()
            return run, True

        return await self._watched(index, work)

    async def get_run(self, run_id: str) -> RunbookRun | None:
        raw = await self.redis.get(self.keys.run(run_id))
        return RunbookRun.model_validate_json(raw) if raw else None

    async def incident_runs(self, incident_id: str) -> dict[str, str]:
        """runbook id -> run id of the incident's checklists."""
        raw = await self.redis.hgetall(self.keys.incident_runbooks(incident_id))
        return {as_str(k): as_str(v) for k, v in raw.items()}

    async def add_run_message(self, run_id: str, index: int, ts: str) -> RunbookRun:
        """Record that part `index` is posted as `ts` (parts are posted in order)."""
        key = self.keys.run(run_id)

        async def work(pipe: Pipeline) -> RunbookRun:
            raw = await pipe.get(key)
            if not raw:
                raise KeyError(run_id)
            run = RunbookRun.model_validate_json(raw)
            if len(run.messages) == index:
                run.messages.append(ts)
            pipe.multi()
            pipe.set(key, run.model_dump_json())
            await pipe.execute()
            return run

        return await self._watched(key, work)

    async def change_step(
        self, run: RunbookRun, step_id: str, change: StepChange
    ) -> tuple[StepState, bool]:
        """Apply `change` to one step atomically: (its state now, whether it changed).
        `change` returns the new state and the timeline entry, or None for no change;
        it runs again on the fresh state when another click got there first. KeyError
        (nothing written) when the run itself is no longer stored."""
        steps = self.keys.run_steps(run.id)
        keys = [steps, self.keys.run_version(run.id), self.keys.timeline(run.incident)]
        keys.append(self.keys.run(run.id))
        while True:
            raw = await self.redis.hget(steps, step_id)
            current = StepState.model_validate_json(raw) if raw else StepState()
            result = change(current)
            if result is None:
                return current, False
            state, entry = result
            args = [step_id, as_str(raw) if raw else "", state.model_dump_json()]
            version = await self._script(scripts.SET_STEP)(
                keys=keys, args=[*args, entry.model_dump_json()]
            )
            if int(version) == -2:
                raise KeyError(run.id)
            if int(version) != -1:
                return state, True

    async def run_snapshot(
        self, run_id: str, *, shown: dict[int, str] | None = None
    ) -> RunSnapshot | None:
        """One consistent read of the run; `shown`: digests of parts just shown, recorded
        first in the same round trip (so the read reports them)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if shown:
                pipe.hset(self.keys.run_shown(run_id), mapping=dict(shown.items()))
            pipe.get(self.keys.run(run_id))
            pipe.hgetall(self.keys.run_steps(run_id))
            pipe.get(self.keys.run_version(run_id))
            pipe.hgetall(self.keys.run_shown(run_id))
            raw, steps, version, digests = (await pipe.execute())[-4:]
        if not raw:
            return None
        return RunSnapshot(
            run=RunbookRun.model_validate_json(raw),
            states={as_str(k): StepState.model_validate_json(v) for k, v in steps.items()},
            version=int(version or 0),
            shown={int(k): as_str(v) for k, v in digests.items()},
        )
