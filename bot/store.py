"""The only module that knows Redis keys. Every multi-key change is atomic.

Key schema (prefix `ir:`; times are UTC epoch seconds):

| key                                   | type   | holds                                          |
| ------------------------------------- | ------ | ---------------------------------------------- |
| ir:incident:{id}                      | string | the Incident as JSON                           |
| ir:incident:{id}:timeline             | list   | TimelineEntry JSON, oldest first               |
| ir:incidents:open                     | zset   | open incident ids, score = declared_at         |
| ir:incidents:all                      | zset   | every incident id, score = declared_at         |
| ir:channel:{channel_id}               | string | incident id owning that Slack channel (moves   |
|                                       |        | with the incident when it is made private)     |
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
| ir:due                                | zset   | due-item id -> due time; while an item is      |
|                                       |        | claimed, its lease expiry (bot/schedule.py)    |
| ir:due:item:{incident}|{kind}|{key}   | hash   | the DueItem: kind, lane, token, generation,    |
|                                       |        | due_at, payload JSON, attempts, ...            |
| ir:due:of:{incident}                  | set    | the incident's pending due-item ids            |
| ir:due:gen:{incident}                 | hash   | lane -> generation floor: items of the lane    |
|                                       |        | with an older generation are stale             |
| ir:due:sent:{token}                   | string | send record of a handled occurrence (JSON),    |
|                                       |        | EX 7 days                                      |
| ir:pd:{pagerduty_incident_id}         | string | our incident id for a PagerDuty incident       |
|                                       |        | (bot/pager.py; webhooks name theirs)           |
| ir:alerts:stream                      | stream | accepted alert batches (AlertBatch JSON, field |
|                                       |        | `b`), consumer group `workers`; an entry is    |
|                                       |        | deleted once applied (bot/alerts.py)           |
| ir:alertgroup:{gid}                   | hash   | an alert group: key, alertname, counts, version|
|                                       |        | (bumped by every status change), its incident, |
|                                       |        | the Slack messages showing it                  |
| ir:alertgroup:{gid}:state             | hash   | fingerprint -> "<stream seq>|<status>"         |
| ir:alertgroup:{gid}:alerts            | hash   | fingerprint -> AlertInstance JSON (latest)     |
| ir:alertgroup:{gid}:firing            | zset   | firing fingerprints, score = starts_at         |
| ir:alerts:due                         | zset   | group id -> when the group next needs its      |
|                                       |        | reconciler (changed now, or a paced edit)      |
| ir:alerts:pace:{budget}               | string | GCRA arrival time of a Slack call budget       |
| ir:incident:{id}:followups            | hash   | follow-up number -> FollowUp JSON              |
| ir:incident:{id}:followup-seq         | int    | the incident's last follow-up number (INCR)    |
| ir:followups:open                     | zset   | open follow-up ids, score = created_at         |
| ir:incident:{id}:postmortem           | string | PostmortemState JSON (bot/postmortem.py)       |
| ir:incident:{id}:captured             | set    | ts of channel messages already put on the     |
|                                       |        | timeline by a pin or a 📌 (bot/capture.py)     |
| ir:incident:{id}:captured-by          | hash   | message ts -> JSON: the credited pin or 📌's   |
|                                       |        | Slack event time (µs), user, timeline entry    |

Every incident change goes through `update()`: WATCH the incident, apply a pure
mutation, then write the incident and append its timeline entries in one MULTI, so the
timeline never disagrees with the state and concurrent replicas never lose a write.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError, WatchError

from bot.models import (
    DueItem,
    FollowUp,
    Incident,
    OnCallSnapshot,
    PostmortemState,
    RunbookRun,
    TimelineEntry,
)
from bot.runbooks import StepState

PREFIX = "ir:"


class StoreUnavailable(Exception):
    """Redis did not answer; every user-facing path turns this into a plain message."""


# Everything that means "the store did not answer", for callers outside this module
# (handlers catch these without knowing Redis is behind the store).
STORE_ERRORS: tuple[type[BaseException], ...] = (StoreUnavailable, RedisError, OSError)


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


# -- durable time (bot/schedule.py) -------------------------------------------------------
K_DUE = f"{PREFIX}due"


def k_due_item(item_id: str) -> str:
    return f"{PREFIX}due:item:{item_id}"


def k_due_of(incident_id: str) -> str:
    return f"{PREFIX}due:of:{incident_id}"


def k_due_gen(incident_id: str) -> str:
    return f"{PREFIX}due:gen:{incident_id}"


def k_due_sent(token: str) -> str:
    return f"{PREFIX}due:sent:{token}"


def k_pd_incident(pd_incident_id: str) -> str:
    return f"{PREFIX}pd:{pd_incident_id}"


# The scripts build item keys from PREFIX + id (ARGV), so they assume one Redis, not a
# cluster. Lane floors: scheduling with a newer generation than the lane's floor raises
# the floor and removes the lane's older items at once; an older generation is refused.
_DUE_SCHEDULE = """
local floor = tonumber(redis.call('HGET', KEYS[4], ARGV[5]) or '-1')
local gen = tonumber(ARGV[7])
if gen < floor then return 0 end
if gen > floor then
  redis.call('HSET', KEYS[4], ARGV[5], ARGV[7])
  for _, other in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    local ok = ARGV[11] .. 'due:item:' .. other
    local f = redis.call('HMGET', ok, 'lane', 'generation')
    if not f[1] then
      redis.call('SREM', KEYS[3], other)
    elseif f[1] == ARGV[5] and tonumber(f[2]) < gen then
      redis.call('DEL', ok)
      redis.call('ZREM', KEYS[1], other)
      redis.call('SREM', KEYS[3], other)
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'kind', ARGV[2], 'incident', ARGV[3], 'key', ARGV[4],
  'lane', ARGV[5], 'token', ARGV[6], 'generation', ARGV[7], 'due_at', ARGV[8],
  'payload', ARGV[9], 'attempts', '0')
redis.call('ZADD', KEYS[1], ARGV[8], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[10])
redis.call('EXPIRE', KEYS[4], ARGV[10])
return 1
"""

# Claim: every due item (up to a limit) gets its score pushed to the lease's end, so it
# comes due again only if the claimer never acks it. Stale items are dropped here.
_DUE_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {0}
for _, id in ipairs(ids) do
  local ik = ARGV[4] .. 'due:item:' .. id
  local f = redis.call('HMGET', ik, 'incident', 'lane', 'generation')
  if not f[1] then
    redis.call('ZREM', KEYS[1], id)
  else
    local floor = tonumber(redis.call('HGET', ARGV[4] .. 'due:gen:' .. f[1], f[2]) or '-1')
    if tonumber(f[3]) < floor then
      redis.call('ZREM', KEYS[1], id)
      redis.call('DEL', ik)
      redis.call('SREM', ARGV[4] .. 'due:of:' .. f[1], id)
      out[1] = out[1] + 1
    else
      redis.call('ZADD', KEYS[1], ARGV[2], id)
      redis.call('HINCRBY', ik, 'attempts', 1)
      redis.call('HSETNX', ik, 'first_claimed_at', ARGV[1])
      out[#out + 1] = redis.call('HGETALL', ik)
    end
  end
end
return out
"""

# Done: write the send record (if any) and remove the item, unless it was rescheduled
# meanwhile (another token): then the new occurrence stays.
_DUE_DONE = """
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[4]) end
if redis.call('HGET', KEYS[2], 'token') == ARGV[2] then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  return 1
end
return 0
"""

_DUE_RETRY = """
if redis.call('HGET', KEYS[2], 'token') == ARGV[2] then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  redis.call('HSET', KEYS[2], 'last_error', ARGV[4])
  return 1
end
return 0
"""

_DUE_CANCEL = """
local n = 0
local lanes = {}
if ARGV[3] ~= '' then lanes[ARGV[3]] = true end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local ik = ARGV[1] .. 'due:item:' .. id
  local f = redis.call('HMGET', ik, 'kind', 'lane', 'key')
  if not f[1] then
    redis.call('SREM', KEYS[2], id)
  elseif (ARGV[2] == '' or f[1] == ARGV[2]) and (ARGV[3] == '' or f[2] == ARGV[3])
      and (ARGV[6] == '1' or f[3] == ARGV[4]) then
    redis.call('DEL', ik)
    redis.call('ZREM', KEYS[1], id)
    redis.call('SREM', KEYS[2], id)
    lanes[f[2]] = true
    n = n + 1
  end
end
if ARGV[5] ~= '' then
  for lane, _ in pairs(lanes) do
    local floor = tonumber(redis.call('HGET', KEYS[3], lane) or '-1')
    if tonumber(ARGV[5]) > floor then redis.call('HSET', KEYS[3], lane, ARGV[5]) end
  end
end
return n
"""


def _due_item(flat: list[Any]) -> DueItem:
    raw = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
    return DueItem(
        id=raw["id"],
        kind=raw["kind"],
        incident_id=raw["incident"],
        key=raw.get("key", ""),
        lane=raw["lane"],
        token=raw["token"],
        generation=int(raw["generation"]),
        due_at=float(raw["due_at"]),
        payload=json.loads(raw.get("payload") or "{}"),
        attempts=int(raw.get("attempts", 0)),
        first_claimed_at=float(raw["first_claimed_at"]) if raw.get("first_claimed_at") else None,
        last_error=raw.get("last_error"),
    )


@dataclass(frozen=True)
class RedisFacts:
    """What the server says about itself (bot/doctor.py); None: it would not say."""

    version: str | None
    aof: bool | None  # appendonly yes
    rdb_save: str | None  # the RDB `save` policy; "" = no snapshots
    embedded: bool  # the sandbox's in-process fakeredis: nothing outlives the process


# -- alerts (bot/alerts.py) ---------------------------------------------------------------
K_ALERT_STREAM = f"{PREFIX}alerts:stream"
K_ALERT_DUE = f"{PREFIX}alerts:due"
ALERT_CONSUMERS = "workers"


def k_alert_group(gid: str) -> str:
    return f"{PREFIX}alertgroup:{gid}"


def k_alert_pace(budget: str) -> str:
    return f"{PREFIX}alerts:pace:{budget}"


# -- after the incident (bot/capture.py, bot/followups.py, bot/postmortem.py) -------------
K_FOLLOWUPS_OPEN = f"{PREFIX}followups:open"


def k_followups(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:followups"


def k_followup_seq(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:followup-seq"


def k_postmortem(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:postmortem"


def k_captured(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:captured"


def k_captured_by(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:captured-by"


# A message goes on the timeline once, however often it is pinned or 📌-reacted, credited
# to the earliest pin or 📌 by Slack's event time (ARGV[2], integer µs: exact as a Lua
# number), whatever order the events are handled in: a later-handled earlier one takes
# the credit over and its entry replaces the first in place. 1: added, 2: credit moved,
# 0: nothing changed. A message captured before credits were kept keeps its entry.
_CAPTURE = """
local ts, at, by, entry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('SADD', KEYS[1], ts) == 1 then
  redis.call('HSET', KEYS[2], ts, cjson.encode({at = at, by = by, entry = entry}))
  redis.call('RPUSH', KEYS[3], entry)
  return 1
end
local held = redis.call('HGET', KEYS[2], ts)
if not held then return 0 end
local credit = cjson.decode(held)
if tonumber(credit.at) <= tonumber(at) then return 0 end
if credit.by == by then
  credit.at = at
  redis.call('HSET', KEYS[2], ts, cjson.encode(credit))
  return 0
end
local i = redis.call('LPOS', KEYS[3], credit.entry)
if not i then return 0 end
redis.call('LSET', KEYS[3], i, entry)
redis.call('HSET', KEYS[2], ts, cjson.encode({at = at, by = by, entry = entry}))
return 2
"""


# Accept a batch at most once per key (a Slack event id): the marker and the entry are
# written together or not at all.
_ALERT_ACCEPT_ONCE = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return false end
return redis.call('XADD', KEYS[1], '*', 'b', ARGV[1])
"""

# Apply one group's alerts from stream entry ARGV[2] (a sortable sequence): an alert's
# state changes only for a later entry than the one that set it, so redelivered or
# reordered entries change nothing. A status change bumps the version and makes the group
# due for its reconciler, in the same script (no lost wake-up).
_ALERT_APPLY = """
local meta, state, alerts, firing, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local gid, seq, now, ttl, prefix = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
if redis.call('HEXISTS', meta, 'key') == 0 then
  redis.call('HSET', meta, 'key', ARGV[6], 'alertname', ARGV[7], 'group', ARGV[8],
    'source', ARGV[9], 'version', 0, 'firing', 0, 'resolved', 0, 'fired', 0,
    'handled_fired', 0, 'created', ARGV[3])
end
if ARGV[10] ~= '' then redis.call('HSET', meta, 'link', ARGV[10]) end
local firing_before = tonumber(redis.call('HGET', meta, 'firing'))
local changed = false
local function set(fp, status, score, body)
  local cur = redis.call('HGET', state, fp)
  local cur_seq, cur_status = '', ''
  if cur then cur_seq, cur_status = string.match(cur, '^([^|]*)|(.*)$') end
  if cur and cur_seq >= seq then return end
  redis.call('HSET', state, fp, seq .. '|' .. status)
  if body ~= '' then redis.call('HSET', alerts, fp, body) end
  if status == cur_status then return end
  changed = true
  if status == 'firing' then
    redis.call('HINCRBY', meta, 'firing', 1)
    redis.call('HINCRBY', meta, 'fired', 1)
    redis.call('ZADD', firing, score, fp)
    if cur_status == 'resolved' then redis.call('HINCRBY', meta, 'resolved', -1) end
  else
    redis.call('HINCRBY', meta, 'resolved', 1)
    redis.call('ZREM', firing, fp)
    if cur_status == 'firing' then redis.call('HINCRBY', meta, 'firing', -1) end
  end
end
local seen = {}
for i = 11, #ARGV, 4 do
  seen[ARGV[i]] = true
  set(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3])
end
if prefix ~= '' then
  -- a complete report (a Slack message): its source's alerts not named have resolved
  local all = redis.call('HGETALL', state)
  for j = 1, #all, 2 do
    local fp = all[j]
    if not seen[fp] and string.sub(fp, 1, #prefix) == prefix
        and string.sub(all[j + 1], -7) == '|firing' then
      set(fp, 'resolved', 0, '')
    end
  end
end
redis.call('HSET', meta, 'last_seen', ARGV[3])
if changed then
  redis.call('HINCRBY', meta, 'version', 1)
  redis.call('HSET', meta, 'changed_at', ARGV[3])
  -- Starting to fire, or all resolved, is acted on now. More or fewer alerts of a group
  -- that keeps firing only change its message: that waits for the message's next edit
  -- (hold_until), so a storm costs one reconcile a group per edit, not one an alert.
  local firing_after = tonumber(redis.call('HGET', meta, 'firing'))
  local at = now
  if (firing_before > 0) == (firing_after > 0) then
    local hold = tonumber(redis.call('HGET', meta, 'hold_until') or '0')
    if hold > at then at = hold end
  end
  local cur = redis.call('ZSCORE', due, gid)
  if (not cur) or tonumber(cur) > at then redis.call('ZADD', due, tostring(at), gid) end
end
for _, k in ipairs({meta, state, alerts, firing}) do redis.call('EXPIRE', k, ttl) end
return changed and 1 or 0
"""

# The reconciler is done with a version of the group: drop it from the due set (or keep
# it due at ARGV[3]) only if nothing changed meanwhile; otherwise it is due again now.
_ALERT_SETTLE = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  return 0
end
if ARGV[3] == '' then redis.call('ZREM', KEYS[2], ARGV[1])
else redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 1
"""

# Slack call budgets shared by every replica (GCRA): each allows `burst` calls at once,
# then one per `interval`. One call may need several (a declaration creates a channel and
# posts in the announce channel): all are booked, or none. Returns the wait before the
# call may go, or minus it when longer than ARGV[2] (then nothing is booked).
_ALERT_PACE = """
local now, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait, tats = 0, {}
for i, key in ipairs(KEYS) do
  local interval, burst = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tats[i] = tat
  local w = tat - (burst - 1) * interval - now
  if w > wait then wait = w end
end
if wait > max_wait then return tostring(-wait) end
for i, key in ipairs(KEYS) do
  local new_tat = tats[i] + tonumber(ARGV[1 + 2 * i])
  redis.call('SET', key, tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
end
return tostring(wait)
"""


@dataclass(frozen=True)
class AlertEntry:
    """One accepted batch as read from the stream: its id and the batch JSON."""

    id: str
    batch: str

    @property
    def seq(self) -> str:
        """The entry id as a string that sorts like the stream (`ms-n` zero-padded)."""
        ms, _, n = self.id.partition("-")
        return f"{int(ms):015d}-{int(n or 0):010d}"


@dataclass
class AlertGroupState:
    """One read of an alert group: its fields (see the key table) and the first alerts."""

    gid: str
    fields: dict[str, str]
    sample: list[tuple[str, str, bool]]  # (fingerprint, AlertInstance JSON, firing)

    def text(self, name: str) -> str:
        return self.fields.get(name, "")

    def number(self, name: str) -> float:
        try:
            return float(self.fields.get(name) or 0)
        except ValueError:
            return 0.0


class Store:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc

    # -- set-up checks (bot/doctor.py) -------------------------------------------------------
    async def server_facts(self) -> RedisFacts:
        """Version and persistence settings; StoreUnavailable when Redis does not answer.

        CONFIG is often disabled on managed Redis: then INFO persistence still says whether
        AOF is on, and the RDB policy stays unknown."""
        embedded = type(self.redis).__module__.startswith("fakeredis")
        version: str | None = None
        aof: bool | None = None
        rdb: str | None = None
        try:
            await self.redis.ping()
            with contextlib.suppress(ResponseError):
                info = await self.redis.info("server")
                version = str(info.get("redis_version") or "") or None
            try:
                conf = await self.redis.config_get("appendonly")
                aof = _text(conf["appendonly"]) == "yes" if "appendonly" in conf else None
                conf = await self.redis.config_get("save")
                rdb = _text(conf["save"]) if "save" in conf else None
            except ResponseError:
                with contextlib.suppress(ResponseError, KeyError, ValueError):
                    aof = bool(int((await self.redis.info("persistence"))["aof_enabled"]))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        return RedisFacts(version=version, aof=aof, rdb_save=rdb, embedded=embedded)

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
                    was_channel = incident.channel_id
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
                    if was_channel and was_channel != incident.channel_id:
                        # the incident moved (made private): its old channel is not it any more
                        pipe.delete(k_channel(was_channel))
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

    # -- durable time (bot/schedule.py) -----------------------------------------------------
    def _script(self, body: str) -> AsyncScript:
        """A registered script: EVALSHA, loading it again if Redis forgot it."""
        scripts: dict[str, AsyncScript] = self.__dict__.setdefault("_scripts", {})
        if body not in scripts:
            scripts[body] = self.redis.register_script(body)
        return scripts[body]

    async def due_schedule(self, item: DueItem, *, keep_for: int) -> bool:
        """Store `item` as its (incident, kind, key)'s one pending occurrence. False when
        its generation is older than its lane's floor (a newer decision was made)."""
        keys = [K_DUE, k_due_item(item.id), k_due_of(item.incident_id), k_due_gen(item.incident_id)]
        args: list[str | int] = [
            item.id,
            item.kind,
            item.incident_id,
            item.key,
            item.lane,
            item.token,
            item.generation,
            repr(item.due_at),
            dumps(item.payload),
            keep_for,
            PREFIX,
        ]
        return bool(await self._script(_DUE_SCHEDULE)(keys, args))

    async def due_claim(
        self, now: float, lease_until: float, limit: int
    ) -> tuple[list[DueItem], int]:
        """Claim up to `limit` due items (one script): (claimed, stale ones dropped)."""
        out = await self._script(_DUE_CLAIM)([K_DUE], [repr(now), repr(lease_until), limit, PREFIX])
        return [_due_item(flat) for flat in out[1:]], int(out[0])

    async def due_done(self, item: DueItem, record: dict[str, Any] | None, *, ttl: int) -> bool:
        """Finish a claimed item: its send record written (if given) and the item removed,
        unless it was rescheduled meanwhile. True when this removed it."""
        keys = [K_DUE, k_due_item(item.id), k_due_of(item.incident_id), k_due_sent(item.token)]
        body = dumps(record) if record is not None else ""
        return bool(await self._script(_DUE_DONE)(keys, [item.id, item.token, body, ttl]))

    async def due_retry(self, item: DueItem, at: float, error: str) -> bool:
        keys = [K_DUE, k_due_item(item.id)]
        args = [item.id, item.token, repr(at), error[:500]]
        return bool(await self._script(_DUE_RETRY)(keys, args))

    async def due_cancel(
        self,
        incident_id: str,
        *,
        kind: str | None,
        lane: str | None,
        key: str | None,
        generation: int | None,
    ) -> int:
        keys = [K_DUE, k_due_of(incident_id), k_due_gen(incident_id)]
        args = [
            PREFIX,
            kind or "",
            lane or "",
            key or "",
            "" if generation is None else generation,
            "1" if key is None else "0",
        ]
        return int(await self._script(_DUE_CANCEL)(keys, args))

    async def due_next(self) -> float | None:
        """When the first pending item (of any incident) is due, or None."""
        first = await self.redis.zrange(K_DUE, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def due_pending(self, incident_id: str) -> list[DueItem]:
        ids = await self.redis.smembers(k_due_of(incident_id))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.hgetall(k_due_item(_text(item_id)))
            found = await pipe.execute()
        items = []
        for raw in found:
            if raw:
                flat = [x for pair in raw.items() for x in pair]
                items.append(_due_item(flat))
        return sorted(items, key=lambda i: i.due_at)

    async def due_sent(self, token: str) -> dict[str, Any] | None:
        raw = await self.redis.get(k_due_sent(token))
        return json.loads(raw) if raw else None

    async def due_count(self) -> int:
        return int(await self.redis.zcard(K_DUE))

    # -- paging (bot/pager.py) ---------------------------------------------------------------
    async def link_pd_incident(self, pd_incident_id: str, incident_id: str, *, ttl: int) -> None:
        await self.redis.set(k_pd_incident(pd_incident_id), incident_id, ex=ttl)

    async def incident_for_pd(self, pd_incident_id: str) -> str | None:
        raw = await self.redis.get(k_pd_incident(pd_incident_id))
        return _text(raw) if raw is not None else None

    async def release_once(self, scope: str, key: str) -> None:
        """Forget an idempotency marker, so a retry of work that failed is not refused."""
        await self.redis.delete(k_once(scope, key))

    # -- alerts (bot/alerts.py) ----------------------------------------------------------------
    async def alerts_accept(self, batch: str, *, once: str | None = None, ttl: int = 0) -> bool:
        """Persist an accepted batch (XADD): once this returns, a crash loses nothing.
        With `once`, a batch under an already used key is not stored (False)."""
        if once is None:
            await self.redis.xadd(K_ALERT_STREAM, {"b": batch})
            return True
        keys = [K_ALERT_STREAM, k_once("alert-batch", once)]
        return bool(await self._script(_ALERT_ACCEPT_ONCE)(keys, [batch, ttl]))

    async def alerts_consumer_group(self) -> None:
        """Create the consumer group (from the stream's start: nothing accepted before the
        first worker ran is skipped); an existing group is fine."""
        try:
            await self.redis.xgroup_create(K_ALERT_STREAM, ALERT_CONSUMERS, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def alerts_read(self, consumer: str, count: int) -> list[AlertEntry]:
        """New entries for this consumer (never blocks: the caller waits itself)."""
        out: Any = await self.redis.xreadgroup(
            ALERT_CONSUMERS, consumer, {K_ALERT_STREAM: ">"}, count=count
        )
        return [AlertEntry(_text(i), _text(f.get("b", ""))) for _, rows in out for i, f in rows]

    async def alerts_reclaim(self, consumer: str, idle_ms: int, count: int) -> list[AlertEntry]:
        """Entries another consumer read but never acknowledged (it died): take them."""
        out = await self.redis.xautoclaim(
            K_ALERT_STREAM, ALERT_CONSUMERS, consumer, min_idle_time=idle_ms, count=count
        )
        rows = out[1] if len(out) > 1 else []
        return [AlertEntry(_text(i), _text(f.get("b", ""))) for i, f in rows if f]

    async def alerts_apply(
        self,
        entries: list[AlertEntry],
        updates: list[tuple[str, AlertEntry, list[str | int | float]]],
        *,
        now: float,
        ttl: int,
    ) -> None:
        """Apply each (group id, entry, args) with the apply script, then acknowledge and
        delete the entries: one round trip. args: prefix, key, alertname, group JSON
        (title and labels), source, link, then (fingerprint, status, score, AlertInstance
        JSON) per alert."""
        script = self._script(_ALERT_APPLY)
        async with self.redis.pipeline(transaction=False) as pipe:
            for gid, entry, args in updates:
                base = k_alert_group(gid)
                keys = [base, f"{base}:state", f"{base}:alerts", f"{base}:firing", K_ALERT_DUE]
                await script(keys, [gid, entry.seq, repr(now), ttl, *args], client=pipe)
            if entries:
                ids = [e.id for e in entries]
                pipe.xack(K_ALERT_STREAM, ALERT_CONSUMERS, *ids)
                pipe.xdel(K_ALERT_STREAM, *ids)
            await pipe.execute()

    async def alerts_backlog(self) -> int:
        """Entries accepted and not yet applied (read or not)."""
        return int(await self.redis.xlen(K_ALERT_STREAM))

    async def alerts_due(self, now: float, limit: int) -> tuple[list[str], float | None]:
        """Group ids due by `now`, and when the next one after them is due (or None)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(K_ALERT_DUE, "-inf", now, start=0, num=limit)
            pipe.zrange(K_ALERT_DUE, 0, 0, withscores=True)
            due, first = await pipe.execute()
        gids = [_text(g) for g in due]
        later = [float(score) for _, score in first if float(score) > now]
        return gids, later[0] if later else None

    async def alerts_due_count(self) -> int:
        return int(await self.redis.zcard(K_ALERT_DUE))

    async def alerts_mark_due(self, gid: str, at: float) -> None:
        await self.redis.zadd(K_ALERT_DUE, {gid: at})

    async def alerts_settle(
        self, gid: str, version: str, next_at: float | None, now: float
    ) -> bool:
        """Done with `version` of the group (see _ALERT_SETTLE); False: it changed meanwhile."""
        keys = [k_alert_group(gid), K_ALERT_DUE]
        args = [gid, version, "" if next_at is None else repr(next_at), repr(now)]
        return bool(await self._script(_ALERT_SETTLE)(keys, args))

    async def alerts_forget_due(self, gid: str) -> None:
        await self.redis.zrem(K_ALERT_DUE, gid)

    async def alerts_group(self, gid: str, *, sample: int) -> AlertGroupState | None:
        """The group's fields and its first `sample` alerts (firing ones, oldest first;
        when none fire, any of them)."""
        base = k_alert_group(gid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(base)
            pipe.zrange(f"{base}:firing", 0, sample - 1)
            fields, firing = await pipe.execute()
        if not fields:
            return None
        fps = [_text(f) for f in firing]
        is_firing = True
        if not fps:
            is_firing = False
            _, found = await self.redis.hscan(f"{base}:alerts", 0, count=sample)
            fps = sorted(_text(f) for f in found)[:sample]
        bodies = await self.redis.hmget(f"{base}:alerts", fps) if fps else []
        return AlertGroupState(
            gid=gid,
            fields={_text(k): _text(v) for k, v in fields.items()},
            sample=[(fp, _text(b), is_firing) for fp, b in zip(fps, bodies, strict=True) if b],
        )

    async def alerts_group_set(self, gid: str, **fields: str | int | float) -> None:
        """Record what the reconciler did (it holds the group's lease)."""
        await self.redis.hset(k_alert_group(gid), mapping={k: str(v) for k, v in fields.items()})

    async def alerts_pace(
        self, budgets: list[tuple[str, float, int]], *, now: float, max_wait: float
    ) -> float:
        """Book one call on Slack budgets (name, interval, burst), all or none: seconds to
        wait first (>= 0), or minus the wait when longer than max_wait (nothing booked)."""
        args: list[str | int] = [repr(now), repr(max_wait)]
        for _, interval, burst in budgets:
            args += [repr(interval), burst]
        keys = [k_alert_pace(name) for name, _, _ in budgets]
        return float(await self._script(_ALERT_PACE)(keys, args))

    # -- after the incident (bot/capture.py, bot/followups.py, bot/postmortem.py, bot/stats.py)
    async def capture(
        self, incident_id: str, message_ts: str, entry: TimelineEntry, *, at: int, by: str
    ) -> Literal["added", "moved"] | None:
        """Put a channel message on the timeline once, credited to the pin or 📌 with the
        earliest Slack event time `at` (µs) by `by`: "added" (first seen), "moved" (this
        one came earlier than the credited one: its entry replaces that one in place), or
        None. One script: marker, credit and entry change together."""
        keys = [k_captured(incident_id), k_captured_by(incident_id), k_timeline(incident_id)]
        args = [message_ts, str(at), by, entry.model_dump_json()]
        done = int(await self._script(_CAPTURE)(keys, args))
        return "added" if done == 1 else "moved" if done == 2 else None

    async def many(self, incident_ids: list[str]) -> list[Incident]:
        """The incidents with these ids that exist, in that order."""
        return await self._many(list(dict.fromkeys(incident_ids)))

    async def incidents_declared_since(self, since: float, until: float) -> list[Incident]:
        """Incidents declared in [since, until], oldest first."""
        ids = await self.redis.zrangebyscore(K_ALL, since, until)
        return await self._many(ids)

    async def timelines(self, incident_ids: list[str]) -> dict[str, list[TimelineEntry]]:
        """Several incidents' timelines in one round trip."""
        if not incident_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for incident_id in incident_ids:
                pipe.lrange(k_timeline(incident_id), 0, -1)
            found = await pipe.execute()
        return {
            incident_id: [TimelineEntry.model_validate_json(r) for r in raw]
            for incident_id, raw in zip(incident_ids, found, strict=True)
        }

    async def add_followup(self, followup: FollowUp) -> FollowUp:
        """Store a new follow-up, numbered within its incident (its id and number are set
        here). A crash between the number and the write only skips a number."""
        number = int(await self.redis.incr(k_followup_seq(followup.incident_id)))
        stored = followup.model_copy(
            update={"number": number, "id": f"{followup.incident_id}.{number}"}
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(k_followups(followup.incident_id), str(number), stored.model_dump_json())
            if stored.status == "open":
                pipe.zadd(K_FOLLOWUPS_OPEN, {stored.id: stored.created_at})
            await pipe.execute()
        return stored

    async def followups(self, incident_id: str) -> list[FollowUp]:
        raw = await self.redis.hgetall(k_followups(incident_id))
        found = [FollowUp.model_validate_json(v) for v in raw.values()]
        return sorted(found, key=lambda f: f.number)

    async def followup(self, followup_id: str) -> FollowUp | None:
        incident_id, _, number = followup_id.rpartition(".")
        if not incident_id or not number.isdigit():
            return None
        raw = await self.redis.hget(k_followups(incident_id), number)
        return FollowUp.model_validate_json(raw) if raw else None

    async def open_followups(self, limit: int = 200) -> list[FollowUp]:
        """Open follow-ups of every incident, oldest first."""
        ids = [_text(i) for i in await self.redis.zrange(K_FOLLOWUPS_OPEN, 0, limit - 1)]
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for followup_id in ids:
                incident_id, _, number = followup_id.rpartition(".")
                pipe.hget(k_followups(incident_id), number)
            found = await pipe.execute()
        return [FollowUp.model_validate_json(r) for r in found if r]

    async def finish_followup(
        self, followup_id: str, *, by: str, at: float
    ) -> tuple[FollowUp, bool] | None:
        """Mark a follow-up done: (it, True), or (it, False) when it already was; None when
        there is no such follow-up. Two clicks at once make one change."""
        incident_id, _, number = followup_id.rpartition(".")
        key = k_followups(incident_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hget(key, number)
                    if not raw:
                        return None
                    followup = FollowUp.model_validate_json(raw)
                    if followup.status == "done":
                        return followup, False
                    followup.status, followup.done_by, followup.done_at = "done", by, at
                    pipe.multi()
                    pipe.hset(key, number, followup.model_dump_json())
                    pipe.zrem(K_FOLLOWUPS_OPEN, followup.id)
                    await pipe.execute()
                    return followup, True
                except WatchError:
                    continue

    async def postmortem(self, incident_id: str) -> PostmortemState:
        raw = await self.redis.get(k_postmortem(incident_id))
        if not raw:
            return PostmortemState(incident_id=incident_id)
        return PostmortemState.model_validate_json(raw)

    async def change_postmortem(
        self,
        incident_id: str,
        change: Callable[[PostmortemState], TimelineEntry | bool | None],
    ) -> tuple[PostmortemState, bool]:
        """Apply `change` to the post-mortem state atomically: it edits the state in place
        and returns a timeline entry to append with it, True to save without one, or None
        for no change. Returns (the state, whether it changed)."""
        key = k_postmortem(incident_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    state = (
                        PostmortemState.model_validate_json(raw)
                        if raw
                        else PostmortemState(incident_id=incident_id)
                    )
                    outcome = change(state)
                    if outcome is None or outcome is False:
                        return state, False
                    pipe.multi()
                    pipe.set(key, state.model_dump_json())
                    if isinstance(outcome, TimelineEntry):
                        pipe.rpush(k_timeline(incident_id), outcome.model_dump_json())
                    await pipe.execute()
                    return state, True
                except WatchError:
                    continue


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
