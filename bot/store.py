"""The only module that knows Redis keys. Every multi-key change is atomic.

Key schema (prefix `ir:`; times are UTC epoch seconds):

| key                                   | type   | holds                                          |
| ------------------------------------- | ------ | ---------------------------------------------- |
| ir:incident:{id}                      | string | the Incident as JSON                           |
| ir:incident:{id}:timeline             | list   | TimelineEntry JSON, oldest first               |
| ir:incidents:open                     | zset   | open incident ids, score = declared_at         |
| ir:incidents:all                      | zset   | every incident id, score = declared_at         |
| ir:channel:{channel_id}               | string | incident id owning that Slack channel          |
| ir:seq:{yyyymmdd}                     | int    | incidents declared that UTC day (INCR)         |
| ir:once:{scope}:{key}                 | string | idempotency marker (SET NX EX), value = result |
| ir:lease:{name}                       | string | short lease so one replica runs a job (NX PX)  |
| ir:incident:{id}:runbooks             | hash   | runbook id -> run id: one checklist per runbook|
| ir:run:{run_id}                       | string | RunbookRun JSON: runbook, incident, channel,   |
|                                       |        | message ts of each part posted, in order       |
| ir:run:{run_id}:steps                 | hash   | step id -> StepState JSON (absent = open)      |
| ir:run:{run_id}:version               | int    | bumped by every effective step change          |
| ir:run:{run_id}:shown                 | hash   | part index -> digest of what Slack shows       |
| ir:lease:runbook:{run_id}             | string | who is bringing the checklist's messages in    |
|                                       |        | line with the store (bot/checklists.py)        |
| ir:oncall:snapshot                    | string | OnCallSnapshot JSON: the last on-call walk     |
|                                       |        | (EX = its horizon; bot/oncall.py)              |
| ir:oncall:failure                     | string | why the last on-call refresh failed; expires   |
|                                       |        | when PagerDuty may be asked again              |
| ir:slack:user-by-email:{email}        | string | Slack user ID with that email, "" = nobody     |
|                                       |        | (cached users.lookupByEmail answer)            |

Every incident change goes through `update()`: WATCH the incident, apply a pure
mutation, then write the incident and append its timeline entries in one MULTI, so the
timeline never disagrees with the state and concurrent replicas never lose a write.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from bot.models import Incident, OnCallSnapshot, RunbookRun, TimelineEntry
from bot.runbooks import StepState

PREFIX = "ir:"


class StoreUnavailable(Exception):
    """Redis did not answer; every user-facing path turns this into a plain message."""


class IncidentNotFound(Exception):
    pass


def k_incident(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}"


def k_timeline(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:timeline"


K_OPEN = f"{PREFIX}incidents:open"
K_ALL = f"{PREFIX}incidents:all"


def k_channel(channel_id: str) -> str:
    return f"{PREFIX}channel:{channel_id}"


def k_seq(day: str) -> str:
    return f"{PREFIX}seq:{day}"


def k_once(scope: str, key: str) -> str:
    return f"{PREFIX}once:{scope}:{key}"


def k_lease(name: str) -> str:
    return f"{PREFIX}lease:{name}"


Mutation = Callable[[Incident], Iterable[TimelineEntry] | None]

# -- on-call cache (bot/oncall.py) -------------------------------------------------------
K_ONCALL_SNAPSHOT = f"{PREFIX}oncall:snapshot"
K_ONCALL_FAILURE = f"{PREFIX}oncall:failure"


def k_slack_user_by_email(email: str) -> str:
    return f"{PREFIX}slack:user-by-email:{email.strip().lower()}"



# -- runbook checklists (bot/checklists.py) ------------------------------------------------


def k_incident_runbooks(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:runbooks"


def k_run(run_id: str) -> str:
    return f"{PREFIX}run:{run_id}"


def k_run_steps(run_id: str) -> str:
    return f"{PREFIX}run:{run_id}:steps"


def k_run_version(run_id: str) -> str:
    return f"{PREFIX}run:{run_id}:version"


def k_run_shown(run_id: str) -> str:
    return f"{PREFIX}run:{run_id}:shown"


# Compare-and-set of one step: the step's state, the run's version and the incident's
# timeline change together or not at all. Per field, so clicks on different steps of one
# checklist never conflict (a WATCH on the hash would make them retry each other).
_SET_STEP = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[4])
return redis.call('INCR', KEYS[2])
"""

StepChange = Callable[[StepState], tuple[StepState, TimelineEntry] | None]


@dataclass(frozen=True)
class RunSnapshot:
    """One consistent read of a checklist: the run, its step states, their version, and
    the digests of what each posted part shows in Slack."""

    run: RunbookRun
    states: dict[str, StepState]
    version: int
    shown: dict[int, str]


class Store:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc

    # -- incidents -------------------------------------------------------------------------
    async def next_number(self, day: str) -> int:
        """The day's next incident number; INCR makes it unique across replicas."""
        n = await self.redis.incr(k_seq(day))
        await self.redis.expire(k_seq(day), 3 * 86400)
        return int(n)

    async def create(self, incident: Incident, entry: TimelineEntry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(k_incident(incident.id), incident.model_dump_json(), nx=True)
            pipe.zadd(K_ALL, {incident.id: incident.declared_at})
            if incident.is_open:
                pipe.zadd(K_OPEN, {incident.id: incident.declared_at})
            pipe.rpush(k_timeline(incident.id), entry.model_dump_json())
            await pipe.execute()

    async def get(self, incident_id: str) -> Incident | None:
        raw = await self.redis.get(k_incident(incident_id))
        return Incident.model_validate_json(raw) if raw else None

    async def by_channel(self, channel_id: str) -> Incident | None:
        incident_id = await self.redis.get(k_channel(channel_id))
        if not incident_id:
            return None
        return await self.get(_text(incident_id))

    async def update(self, incident_id: str, mutate: Mutation) -> Incident:
        """Apply `mutate` atomically; it edits the incident in place and returns the
        timeline entries the change makes (none = bookkeeping, generation unchanged).
        An exception from `mutate` aborts with nothing written."""
        key = k_incident(incident_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if not raw:
                        raise IncidentNotFound(incident_id)
                    incident = Incident.model_validate_json(raw)
                    was_open = incident.is_open
                    entries = list(mutate(incident) or ())
                    if entries:
                        incident.generation += 1
                    pipe.multi()
                    pipe.set(key, incident.model_dump_json())
                    if entries:
                        pipe.rpush(k_timeline(incident_id), *(e.model_dump_json() for e in entries))
                    if was_open and not incident.is_open:
                        pipe.zrem(K_OPEN, incident_id)
                    elif incident.is_open and not was_open:
                        pipe.zadd(K_OPEN, {incident_id: incident.declared_at})
                    if incident.channel_id:
                        pipe.set(k_channel(incident.channel_id), incident_id)
                    await pipe.execute()
                    return incident
                except WatchError:
                    continue

    async def append(self, incident_id: str, *entries: TimelineEntry) -> None:
        await self.redis.rpush(k_timeline(incident_id), *(e.model_dump_json() for e in entries))

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        raw = await self.redis.lrange(k_timeline(incident_id), 0, -1)
        return [TimelineEntry.model_validate_json(r) for r in raw]

    async def open_incidents(self, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrange(K_OPEN, 0, limit - 1)
        return await self._many(ids)

    async def recent_incidents(self, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrange(K_ALL, 0, limit - 1)
        return await self._many(ids)

    async def _many(self, ids: list[Any]) -> list[Incident]:
        if not ids:
            return []
        raws = await self.redis.mget([k_incident(_text(i)) for i in ids])
        return [Incident.model_validate_json(r) for r in raws if r]

    # -- exactly once ----------------------------------------------------------------------
    async def claim_once(self, scope: str, key: str, *, ttl: int, value: str = "1") -> bool:
        """True for the first caller of (scope, key) within ttl seconds, on any replica."""
        return bool(await self.redis.set(k_once(scope, key), value, nx=True, ex=ttl))

    async def once_value(self, scope: str, key: str) -> str | None:
        raw = await self.redis.get(k_once(scope, key))
        return _text(raw) if raw is not None else None

    async def set_once_value(self, scope: str, key: str, value: str, *, ttl: int) -> None:
        await self.redis.set(k_once(scope, key), value, ex=ttl)

    async def acquire_lease(self, name: str, *, ttl_ms: int) -> str | None:
        token = uuid.uuid4().hex
        ok = await self.redis.set(k_lease(name), token, nx=True, px=ttl_ms)
        return token if ok else None

    async def release_lease(self, name: str, token: str) -> None:
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
        )
        await self.redis.eval(script, 1, k_lease(name), token)

    # -- runbook checklists (bot/checklists.py) ----------------------------------------------
    async def create_run(self, run: RunbookRun, entry: TimelineEntry) -> tuple[RunbookRun, bool]:
        """Store a new checklist unless its incident already has one of that runbook:
        (the run, True) when created, (the existing run, False) otherwise."""
        index = k_incident_runbooks(run.incident)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(index)
                    existing = await pipe.hget(index, run.runbook)
                    if existing:
                        raw = await pipe.get(k_run(_text(existing)))
                        if raw:
                            return RunbookRun.model_validate_json(raw), False
                    pipe.multi()
                    pipe.hset(index, run.runbook, run.id)
                    pipe.set(k_run(run.id), run.model_dump_json())
                    pipe.set(k_run_version(run.id), 0)
                    pipe.rpush(k_timeline(run.incident), entry.model_dump_json())
                    await pipe.execute()
                    return run, True
                except WatchError:
                    continue

    async def get_run(self, run_id: str) -> RunbookRun | None:
        raw = await self.redis.get(k_run(run_id))
        return RunbookRun.model_validate_json(raw) if raw else None

    async def incident_runs(self, incident_id: str) -> dict[str, str]:
        """runbook id -> run id of the incident's checklists."""
        raw = await self.redis.hgetall(k_incident_runbooks(incident_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def add_run_message(self, run_id: str, index: int, ts: str) -> RunbookRun:
        """Record that part `index` is posted as `ts` (parts are posted in order)."""
        key = k_run(run_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
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
                except WatchError:
                    continue

    async def change_step(
        self, run: RunbookRun, step_id: str, change: StepChange
    ) -> tuple[StepState, bool]:
        """Apply `change` to one step atomically: (its state now, whether it changed).
        `change` returns the new state and the timeline entry, or None for no change;
        it runs again on the fresh state when another click got there first."""
        steps = k_run_steps(run.id)
        keys = [steps, k_run_version(run.id), k_timeline(run.incident)]
        while True:
            raw = await self.redis.hget(steps, step_id)
            current = StepState.model_validate_json(raw) if raw else StepState()
            result = change(current)
            if result is None:
                return current, False
            state, entry = result
            args = [step_id, _text(raw) if raw else "", state.model_dump_json()]
            version = await self.redis.register_script(_SET_STEP)(
                keys=keys, args=[*args, entry.model_dump_json()]
            )
            if int(version) != -1:
                return state, True

    async def run_snapshot(self, run_id: str) -> RunSnapshot | None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(k_run(run_id))
            pipe.hgetall(k_run_steps(run_id))
            pipe.get(k_run_version(run_id))
            pipe.hgetall(k_run_shown(run_id))
            raw, steps, version, shown = await pipe.execute()
        if not raw:
            return None
        return RunSnapshot(
            run=RunbookRun.model_validate_json(raw),
            states={_text(k): StepState.model_validate_json(v) for k, v in steps.items()},
            version=int(version or 0),
            shown={int(k): _text(v) for k, v in shown.items()},
        )

    async def run_version(self, run_id: str) -> int:
        return int(await self.redis.get(k_run_version(run_id)) or 0)

    async def set_run_shown(self, run_id: str, digests: dict[int, str]) -> None:
        if digests:
            await self.redis.hset(k_run_shown(run_id), mapping=dict(digests.items()))

    # -- on-call cache (bot/oncall.py) ------------------------------------------------------
    async def oncall_snapshot(self) -> OnCallSnapshot | None:
        raw = await self.redis.get(K_ONCALL_SNAPSHOT)
        return OnCallSnapshot.model_validate_json(raw) if raw else None

    async def save_oncall_snapshot(self, snapshot: OnCallSnapshot, *, ttl: int) -> None:
        """The new snapshot and the end of any remembered failure, together."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(K_ONCALL_SNAPSHOT, snapshot.model_dump_json(), ex=ttl)
            pipe.delete(K_ONCALL_FAILURE)
            await pipe.execute()

    async def oncall_failure(self) -> str | None:
        raw = await self.redis.get(K_ONCALL_FAILURE)
        return _text(raw) if raw is not None else None

    async def record_oncall_failure(self, reason: str, *, ttl: float) -> None:
        await self.redis.set(K_ONCALL_FAILURE, reason, px=max(1, int(ttl * 1000)))

    async def slack_users_by_email(self, emails: Iterable[str]) -> dict[str, str]:
        """Cached lookups: email -> Slack user ID, or "" when Slack has nobody with it.
        Emails not cached are absent."""
        wanted = list(dict.fromkeys(emails))
        if not wanted:
            return {}
        raws = await self.redis.mget([k_slack_user_by_email(e) for e in wanted])
        return {e: _text(r) for e, r in zip(wanted, raws, strict=True) if r is not None}

    async def remember_slack_user(self, email: str, slack_id: str | None, *, ttl: int) -> None:
        await self.redis.set(k_slack_user_by_email(email), slack_id or "", ex=ttl)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
