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
| ir:once:slack-request:{signature}     | string | a signed Slack HTTP request already served: a  |
|                                       |        | replay within its lifetime is dropped          |
|                                       |        | (bot/core/slack_transport.py) |
| ir:lease:{name}                       | string | short lease so one replica runs a job (NX PX)  |
| ir:lease:channel:{id}                 | string | who is making the incident's channel; its id   |
|                                       |        | is the incident's `channel_id`, written from   |
|                                       |        | Slack's answer: a channel is never adopted by  |
|                                       |        | name (bot/incidents.py)                        |
| ir:incident:{id}:runbooks             | hash   | runbook id -> run id: one checklist per runbook|
| ir:run:{run_id}                       | string | RunbookRun JSON: runbook, incident, channel,   |
|                                       |        | message ts of each part posted, in order       |
| ir:run:{run_id}:steps                 | hash   | step id -> StepState JSON (absent = open)      |
| ir:run:{run_id}:version               | int    | bumped by every effective step change          |
| ir:run:{run_id}:shown                 | hash   | part index -> digest of what Slack shows       |
| ir:lease:runbook:{run_id}             | string | who is bringing the checklist's messages in    |
|                                       |        | line with the store (runbooks/checklists.py)   |
| ir:oncall:snapshot                    | string | OnCallSnapshot JSON: the last on-call walk     |
|                                       |        | (EX = its horizon; bot/oncall.py)              |
| ir:oncall:failure                     | string | why the last on-call refresh failed; expires   |
|                                       |        | when PagerDuty may be asked again              |
| ir:slack:user-by-email:{email}        | string | Slack user ID with that email, "" = nobody     |
|                                       |        | (cached users.lookupByEmail answer)            |
| ir:due                                | zset   | due-item id -> due time; while an item is      |
|                                       |        | claimed, its lease expiry (core/schedule.py)    |
| ir:due:item:{incident}|{kind}|{key}   | hash   | the DueItem: kind, lane, token, generation,    |
|                                       |        | due_at, payload JSON, attempts, ...            |
| ir:due:of:{incident}                  | set    | the incident's pending due-item ids            |
| ir:due:gen:{incident}                 | hash   | lane -> generation floor: items of the lane    |
|                                       |        | with an older generation are stale             |
| ir:due:sent:{token}                   | string | send record of a handled occurrence (JSON),    |
|                                       |        | EX 7 days                                      |
| ir:pd:{pagerduty_incident_id}         | string | our incident id for a PagerDuty incident       |
|                                       |        | (bot/paging.py; webhooks name theirs)           |
| ir:alerts:stream                      | stream | accepted alert batches (AlertBatch JSON, field |
|                                       |        | `b`), consumer group `workers`; an entry is    |
|                                       |        | deleted once applied (bot/alerts.py)           |
| ir:alerts:queued                      | int    | bytes in the stream not yet applied (accepts   |
|                                       |        | stop at `alerts.max_queued`)                   |
| ir:alertgroup:{gid}                   | hash   | an alert group: key, alertname, lane, class,   |
|                                       |        | counts, version (bumped by every status        |
|                                       |        | change), its incident, the Slack messages      |
|                                       |        | showing it (bot/core/store_alerts.py) |
| ir:alertgroup:{gid}:state             | hash   | fingerprint -> "<stream seq>|<status>", at     |
|                                       |        | most `alerts.max_instances`                    |
| ir:alertgroup:{gid}:alerts            | hash   | fingerprint -> AlertInstance JSON (latest), of |
|                                       |        | the few alerts Slack shows                     |
| ir:alertgroup:{gid}:resolved          | zset   | resolved fingerprints, score = when; dropped   |
|                                       |        | after `alerts.flap_window`                     |
| ir:alertgroup:{gid}:extra             | HLL    | firing fingerprints beyond max_instances       |
| ir:alerts:groups:{rule|unmatched}     | zset   | group id -> last seen: the class's groups, at  |
|                                       |        | most `alerts.max_groups`                       |
| ir:alerts:created:{class}:{minute}    | int    | groups of the class created that minute        |
| ir:alerts:due[:page|:rest]            | zset   | group id (or ~digest, ~notice) -> when it next |
|                                       |        | needs its reconciler, one set per lane         |
| ir:alerts:board:{digest|notice}       | hash   | the announce channel's board of this window:   |
|                                       |        | start, its message, dropped counts (notice)    |
| ir:alerts:board:digest:groups         | zset   | unmatched group ids in this digest -> joined at|
| ir:alerts:pace:{budget}               | string | GCRA arrival time of a Slack call budget       |
| ir:incident:{id}:followups            | hash   | follow-up number -> FollowUp JSON              |
| ir:incident:{id}:followup-seq         | int    | the incident's last follow-up number (INCR)    |
| ir:followups:open                     | zset   | open follow-up ids, score = created_at         |
| ir:incident:{id}:postmortem           | string | PostmortemState JSON (bot/postmortem.py)       |
| ir:incident:{id}:captured             | set    | ts of channel messages already put on the     |
|                                       |        | timeline by a pin or a 📌 (bot/timeline.py)     |
| ir:incident:{id}:captured-by          | hash   | message ts -> JSON: the credited pin or 📌's   |
|                                       |        | Slack event time (µs), user, timeline entry    |
| ir:rate:{name}                        | string | GCRA arrival time of a per-user rate limit     |
|                                       |        | (`declare:{user}`; bot/core/policy.py) |
| ir:db-owner                           | string | this Redis db is the store's with this prefix  |
|                                       |        | alone (`claim_db`: the sandbox claims its db)  |

`ir:` is the bot's prefix. A Store can be given another, and every key and script then
stays under it: the sandbox's is `sandbox:ir:`, so a sandbox pointed at a shared Redis can
neither read nor consume the bot's incidents, due-items, alert stream or leases.

Every incident change goes through `update()`: WATCH the incident, apply a pure
mutation, then write the incident and append its timeline entries in one MULTI, so the
timeline never disagrees with the state and concurrent replicas never lose a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.connection import parse_url
from redis.exceptions import (
    ConnectionError,
    LockError,
    RedisError,
    ResponseError,
    WatchError,
)
from redis.maint_notifications import MaintNotificationsConfig

from bot.core.errors import STORE_ERRORS, IncidentNotFound, StoreUnavailable
from bot.core.models import (
    DueItem,
    FollowUp,
    Incident,
    LifecycleEvent,
    OnCallSnapshot,
    PostmortemState,
    RunbookRun,
    StepState,
    TimelineEntry,
)
from bot.core.store_alerts import (  # noqa: F401 (AlertEntry, AlertGroupState: the store's names)
    PACE,
    AlertEntry,
    AlertGroupState,
    AlertStore,
    GroupClass,
    Lane,
)

log = logging.getLogger(__name__)

PREFIX = "ir:"
SANDBOX_PREFIX = "sandbox:ir:"  # bot/sandbox

__all__ = ["STORE_ERRORS", "IncidentNotFound", "Redis", "Store", "StoreUnavailable"]


class _SentinelBlockingPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary found through Sentinel, with the blocking pool's bound: a burst waits
    briefly for a free connection instead of opening one per request."""


def connect(
    url: str,
    *,
    timeout: float,
    sentinels: str | None = None,
    master: str = "mymaster",
    max_connections: int = 64,
) -> Redis:
    """The process's one Redis client: a bounded pool shared by every part.

    - Short socket timeouts: a command must be able to say "store unreachable" in < 3 s.
    - Every pooled connection is checked before use. redis-py's maintenance-notifications
      mode ("auto" by default) skips that check, so after a Redis restart or a failover each
      idle connection would fail its first command: it is switched off.
    - A command that meets a dropped connection is retried at once on a fresh one (never a
      timeout: a command that may have run is not sent twice).
    - With `sentinels` ("host:port,host:port"), the primary of `master` is found through
      them and followed across failovers; `url` then supplies only the db and password.
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 2, (ConnectionError,)),
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
        "max_connections": max_connections,
        "timeout": 10,  # seconds a caller waits for a free pooled connection
    }
    if not sentinels:
        return Redis(connection_pool=BlockingConnectionPool.from_url(url, **options))
    parsed = parse_url(url)
    auth = {k: parsed[k] for k in ("username", "password", "db") if parsed.get(k) is not None}
    nodes = [_host_port(node) for node in sentinels.split(",") if node.strip()]
    sentinel = Sentinel(
        nodes,
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    return sentinel.master_for(
        master,
        redis_class=Redis,
        connection_pool_class=_SentinelBlockingPool,
        **options,
        **auth,
    )


def _host_port(node: str) -> tuple[str, int]:
    host, _, port = node.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"REDIS_SENTINELS: {node.strip()!r} is not host:port")
    return host.strip("[]"), int(port)


class Keys:
    """Every key the store uses, under one prefix (the schema above shows the bot's, `ir:`).
    The sandbox has its own prefix, so a sandbox sharing a Redis never touches the bot's keys."""

    def __init__(self, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self.open = f"{prefix}incidents:open"
        self.all = f"{prefix}incidents:all"
        self.oncall_snapshot = f"{prefix}oncall:snapshot"
        self.oncall_failure = f"{prefix}oncall:failure"
        self.due = f"{prefix}due"
        self.alert_stream = f"{prefix}alerts:stream"
        self.alert_queued = f"{prefix}alerts:queued"
        self.followups_open = f"{prefix}followups:open"
        self.db_owner = f"{prefix}db-owner"
        self.events = f"{prefix}events"
        self.server_seen = f"{prefix}redis-server"
        self.install = f"{prefix}install"

    def event_progress(self, entry_id: str) -> str:
        return f"{self.prefix}event:{entry_id}"

    def incident(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}"

    def timeline(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:timeline"

    def channel(self, channel_id: str) -> str:
        return f"{self.prefix}channel:{channel_id}"

    def seq(self, day: str) -> str:
        return f"{self.prefix}seq:{day}"

    def once(self, scope: str, key: str) -> str:
        return f"{self.prefix}once:{scope}:{key}"

    def lease(self, name: str) -> str:
        return f"{self.prefix}lease:{name}"

    def slack_user_by_email(self, email: str) -> str:
        return f"{self.prefix}slack:user-by-email:{email.strip().lower()}"

    def incident_runbooks(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:runbooks"

    def run(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}"

    def run_steps(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:steps"

    def run_version(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:version"

    def run_shown(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:shown"

    def due_item(self, item_id: str) -> str:
        return f"{self.prefix}due:item:{item_id}"

    def due_of(self, incident_id: str) -> str:
        return f"{self.prefix}due:of:{incident_id}"

    def due_gen(self, incident_id: str) -> str:
        return f"{self.prefix}due:gen:{incident_id}"

    def due_sent(self, token: str) -> str:
        return f"{self.prefix}due:sent:{token}"

    def pd_incident(self, pd_incident_id: str) -> str:
        return f"{self.prefix}pd:{pd_incident_id}"

    def alert_group(self, gid: str) -> str:
        return f"{self.prefix}alertgroup:{gid}"

    def alert_pace(self, budget: str) -> str:
        return f"{self.prefix}alerts:pace:{budget}"

    def alert_due(self, lane: Lane) -> str:
        # the rule lane keeps the key all groups were due in before there were lanes
        return f"{self.prefix}alerts:due" + ("" if lane == "rule" else f":{lane}")

    def alert_groups(self, cls: GroupClass) -> str:
        return f"{self.prefix}alerts:groups:{cls}"

    def alert_created(self, cls: GroupClass, minute: int) -> str:
        return f"{self.prefix}alerts:created:{cls}:{minute}"

    def alert_board(self, name: str) -> str:
        return f"{self.prefix}alerts:board:{name}"

    def alert_board_members(self, name: str) -> str:
        return f"{self.prefix}alerts:board:{name}:groups"

    def followups(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:followups"

    def followup_seq(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:followup-seq"

    def postmortem(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:postmortem"

    def captured(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:captured"

    def captured_by(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}:captured-by"

    def rate(self, name: str) -> str:
        return f"{self.prefix}rate:{name}"


Mutation = Callable[[Incident], Iterable[TimelineEntry] | None]

# -- runbook checklists (bot/runbooks/checklists.py) -----------------------------------------------
# Compare-and-set of one step: the step's state, the run's version and the incident's
# timeline change together or not at all. Per field, so clicks on different steps of one
# checklist never conflict (a WATCH on the hash would make them retry each other).
# The day's next incident number, only while the store still holds its install record:
# a store that lost its data must not hand out numbers an earlier incident had.
_NEXT_NUMBER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return n
"""

# Create the install record (unless another replica just did) and raise each day's
# counter to at least the number given (what Slack already holds): KEYS = record, then one
# seq key per day; ARGV = epoch, created_at, lost_at ("" = none), then one number per day.
_INSTALL = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'created_at', ARGV[2], 'lost_at', ARGV[3])
for i = 2, #KEYS do
  local n = tonumber(ARGV[i + 2])
  if tonumber(redis.call('GET', KEYS[i]) or '0') < n then
    redis.call('SET', KEYS[i], n, 'EX', 3 * 86400)
  end
end
return 1
"""

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


# -- durable time (bot/core/schedule.py) -------------------------------------------------------
# The scripts build item keys from the store's prefix + id (ARGV), so they assume one Redis, not a
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
    """What the server says about itself (bot/doctor/); None: it would not say."""

    version: str | None
    aof: bool | None  # appendonly yes
    rdb_save: str | None  # the RDB `save` policy; "" = no snapshots
    embedded: bool  # the sandbox's in-process fakeredis: nothing outlives the process


# -- after the incident (bot/timeline.py, bot/followups.py, bot/postmortem.py) -------------


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


# A timeline entry written at most once per (scope, key): marker and entry together.
_APPEND_MARKED = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
"""


# Claim the db for a prefix: already its, or empty (then marked); else some key that is not.
_CLAIM_DB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if redis.call('DBSIZE') == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  return false
end
return redis.call('RANDOMKEY')
"""


class Store(AlertStore):
    def __init__(self, redis: Redis, *, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.keys = Keys(prefix)

    async def server_id(self) -> str:
        """Which Redis server answers: its run_id changes when it restarts or another one
        is promoted in its place (bot/core/consistency.py)."""
        info = await self.redis.info("server")
        return str(info.get("run_id", ""))

    async def swap_server_seen(self, server: str) -> str | None:
        """Record the Redis server now answering; the one recorded before (None: none)."""
        before = await self.redis.getset(self.keys.server_seen, server)
        return _text(before) if before is not None else None

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable.of(exc) from exc

    async def claim_db(self) -> str | None:
        """Make this Redis db this store's alone: None when it is (it was empty, or this
        prefix claimed it before); else the name of a key in it that is someone else's."""
        found = await self._script(_CLAIM_DB)([self.keys.db_owner], [self.keys.prefix])
        return None if found is None else _text(found)

    # -- set-up checks (bot/doctor/) -------------------------------------------------------
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
            raise StoreUnavailable.of(exc) from exc
        return RedisFacts(version=version, aof=aof, rdb_save=rdb, embedded=embedded)

    # -- incidents -------------------------------------------------------------------------
    async def next_number(self, day: str) -> int | None:
        """The day's next incident number (unique across replicas), or None when the store
        holds no install record (it lost its data, or it is new: bot/core/identity.py)."""
        keys = [self.keys.install, self.keys.seq(day)]
        n = int(await self._script(_NEXT_NUMBER)(keys, [3 * 86400]))
        return None if n < 0 else n

    async def install(self) -> dict[str, str]:
        """The install record (empty: none)."""
        raw = await self.redis.hgetall(self.keys.install)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def create_install(
        self, epoch: str, *, now: float, lost_at: float | None, seqs: Mapping[str, int]
    ) -> bool:
        """Write the install record and raise the days' counters to `seqs`, unless a record
        exists (False: another replica made it first)."""
        days = sorted(seqs)
        keys = [self.keys.install, *(self.keys.seq(d) for d in days)]
        args: list[str | int] = [epoch, repr(now), repr(lost_at) if lost_at else ""]
        args += [seqs[d] for d in days]
        return bool(await self._script(_INSTALL)(keys, args))

    async def create(
        self, incident: Incident, entry: TimelineEntry, *, data: Mapping[str, Any] | None = None
    ) -> None:
        """Store a new incident, its first timeline entry and its `declared` event (with
        `data`) in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.incident(incident.id), incident.model_dump_json(), nx=True)
            pipe.zadd(self.keys.all, {incident.id: incident.declared_at})
            if incident.is_open:
                pipe.zadd(self.keys.open, {incident.id: incident.declared_at})
            pipe.rpush(self.keys.timeline(incident.id), entry.model_dump_json())
            self._emit(pipe, "declared", incident, entry.at, data)
            await pipe.execute()

    def _emit(
        self,
        pipe: Any,
        kind: str,
        incident: Incident,
        at: float,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        event = LifecycleEvent(type=kind, incident=incident, at=at, data=dict(data or {}))
        pipe.xadd(self.keys.events, {"e": event.model_dump_json()})

    async def get(self, incident_id: str) -> Incident | None:
        raw = await self.redis.get(self.keys.incident(incident_id))
        return Incident.model_validate_json(raw) if raw else None

    async def by_channel(self, channel_id: str) -> Incident | None:
        incident_id = await self.redis.get(self.keys.channel(channel_id))
        if not incident_id:
            return None
        return await self.get(_text(incident_id))

    async def update(
        self,
        incident_id: str,
        mutate: Mutation,
        *,
        emit: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Incident:
        """Apply `mutate` atomically; it edits the incident in place and returns the
        timeline entries the change makes (none = bookkeeping, generation unchanged).
        An exception from `mutate` aborts with nothing written. `emit`: the lifecycle
        event the change is (bot/core/events.py), written in the same transaction when the
        change makes timeline entries."""
        key = self.keys.incident(incident_id)
        dropped = 0
        while True:
            rev = uuid.uuid4().hex
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
                    incident.rev = rev
                    pipe.multi()
                    pipe.set(key, incident.model_dump_json())
                    if entries:
                        pipe.rpush(
                            self.keys.timeline(incident_id), *(e.model_dump_json() for e in entries)
                        )
                        if emit:
                            self._emit(pipe, emit, incident, entries[0].at, data)
                    if was_open and not incident.is_open:
                        pipe.zrem(self.keys.open, incident_id)
                    elif incident.is_open and not was_open:
                        pipe.zadd(self.keys.open, {incident_id: incident.declared_at})
                    if incident.channel_id:
                        pipe.set(self.keys.channel(incident.channel_id), incident_id)
                    if was_channel and was_channel != incident.channel_id:
                        # the incident moved (made private): its old channel is not it any more
                        pipe.delete(self.keys.channel(was_channel))
                    await pipe.execute()
                    return incident
                except WatchError:
                    continue
                except ConnectionError:
                    # The connection dropped (a failover, a restart). Before EXEC nothing
                    # was written: run again. After it, the write may have landed: the
                    # revision says whether it did, so a change is never applied twice.
                    dropped += 1
                    if dropped > 2:
                        raise
                    if await self._rev(key) == rev:
                        return incident
                    continue

    async def _rev(self, key: str) -> str | None:
        raw = await self.redis.get(key)
        return Incident.model_validate_json(raw).rev if raw else None

    async def append(self, incident_id: str, *entries: TimelineEntry) -> None:
        await self.redis.rpush(
            self.keys.timeline(incident_id), *(e.model_dump_json() for e in entries)
        )

    async def timeline(self, incident_id: str) -> list[TimelineEntry]:
        raw = await self.redis.lrange(self.keys.timeline(incident_id), 0, -1)
        return [TimelineEntry.model_validate_json(r) for r in raw]

    async def open_incidents(self, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrange(self.keys.open, 0, limit - 1)
        return await self._many(ids)

    async def recent_incidents(self, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrange(self.keys.all, 0, limit - 1)
        return await self._many(ids)

    async def _many(self, ids: list[Any]) -> list[Incident]:
        if not ids:
            return []
        raws = await self.redis.mget([self.keys.incident(_text(i)) for i in ids])
        return [Incident.model_validate_json(r) for r in raws if r]

    # -- exactly once ----------------------------------------------------------------------
    async def claim_once(self, scope: str, key: str, *, ttl: int, value: str = "1") -> bool:
        """True for the first caller of (scope, key) within ttl seconds, on any replica."""
        return bool(await self.redis.set(self.keys.once(scope, key), value, nx=True, ex=ttl))

    async def once_value(self, scope: str, key: str) -> str | None:
        raw = await self.redis.get(self.keys.once(scope, key))
        return _text(raw) if raw is not None else None

    async def set_once_value(self, scope: str, key: str, value: str, *, ttl: int) -> None:
        await self.redis.set(self.keys.once(scope, key), value, ex=ttl)

    @contextlib.asynccontextmanager
    async def held(self, name: str, *, ttl: float, wait: float = 0) -> AsyncIterator[bool]:
        """Hold lease `name` for the block if nobody holds it, or lets go of it within `wait`
        seconds (yields False otherwise, holding nothing). It is renewed while held, so `ttl`
        only bounds how long a holder that died keeps others waiting. The one lease of the
        bot (redis-py's Lock)."""
        lock = self.redis.lock(
            self.keys.lease(name),
            timeout=ttl,
            sleep=0.05,
            blocking=wait > 0,
            blocking_timeout=wait if wait > 0 else None,
        )
        if not await lock.acquire():
            yield False
            return

        async def renew() -> None:
            while True:
                await asyncio.sleep(ttl / 3)
                with contextlib.suppress(*STORE_ERRORS, LockError):
                    await lock.reacquire()

        renewing = asyncio.get_running_loop().create_task(renew())
        try:
            yield True
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            with contextlib.suppress(*STORE_ERRORS, LockError):
                await lock.release()

    # -- lifecycle events (bot/core/events.py) ----------------------------------------------------
    @contextlib.asynccontextmanager
    async def _grouped(self, make: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
        """A stream read whose consumer group is gone (Redis lost its data) makes it again,
        and reads nothing this time, instead of failing forever."""
        try:
            yield
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("a stream's consumer group was gone; made again")
            await make()

    async def events_group(self, group: str) -> None:
        """Create the consumer group (from the stream's start: nothing written before the
        first consumer ran is skipped); an existing group is fine."""
        try:
            await self.redis.xgroup_create(self.keys.events, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def events_read(
        self, group: str, consumer: str, count: int, *, block_ms: int | None
    ) -> list[tuple[str, str]]:
        """New (entry id, event JSON) for this consumer, waiting up to `block_ms` for one."""
        out: Any = None
        async with self._grouped(lambda: self.events_group(group)):
            out = await self.redis.xreadgroup(
                group, consumer, {self.keys.events: ">"}, count=count, block=block_ms
            )
        return [(_text(i), _text(f.get("e", ""))) for _, rows in out or [] for i, f in rows]

    async def events_reclaim(
        self, group: str, consumer: str, idle_ms: int, count: int
    ) -> list[tuple[str, str]]:
        """Entries another consumer read but never acknowledged (it died, or a subscriber
        failed): this consumer takes them."""
        out: Any = ()
        async with self._grouped(lambda: self.events_group(group)):
            out = await self.redis.xautoclaim(
                self.keys.events, group, consumer, min_idle_time=idle_ms, count=count
            )
        rows = out[1] if len(out) > 1 else []
        return [(_text(i), _text(f.get("e", ""))) for i, f in rows if f]

    async def events_touch(self, group: str, consumer: str, entry_ids: list[str]) -> None:
        """Entries this consumer is still working on: reset their idle time, so nobody
        takes them over."""
        ids: list[Any] = list(entry_ids)
        await self.redis.xclaim(
            self.keys.events, group, consumer, min_idle_time=0, message_ids=ids, justid=True
        )

    async def events_progress(self, entry_id: str) -> tuple[set[str], int]:
        """The subscribers done with an entry, and how often it was taken up (this time
        included)."""
        key = self.keys.event_progress(entry_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "_attempts", 1)
            pipe.expire(key, 7 * 86400)
            pipe.hgetall(key)
            attempts, _, fields = await pipe.execute()
        return {_text(k) for k in fields if _text(k) != "_attempts"}, int(attempts)

    async def events_mark(self, entry_id: str, subscriber: str) -> None:
        await self.redis.hset(self.keys.event_progress(entry_id), subscriber, "1")

    async def events_ack(self, group: str, entry_id: str) -> None:
        """Every subscriber is done: the entry leaves the stream."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.keys.events, group, entry_id)
            pipe.xdel(self.keys.events, entry_id)
            pipe.delete(self.keys.event_progress(entry_id))
            await pipe.execute()

    async def events_backlog(self, group: str) -> int:
        """Entries written and not yet acknowledged by every subscriber."""
        try:
            groups = await self.redis.xinfo_groups(self.keys.events)
        except ResponseError:
            return 0  # no stream yet
        for g in groups:
            if _text(g.get("name", "")) == group:
                return int(g.get("lag") or 0) + int(g.get("pending") or 0)
        return int(await self.redis.xlen(self.keys.events))

    # -- runbook checklists (bot/runbooks/checklists.py) -------------------------------------------
    async def create_run(
        self, run: RunbookRun, entry: TimelineEntry, *, incident: Incident
    ) -> tuple[RunbookRun, bool]:
        """Store a new checklist, with its `runbook_posted` event, unless its incident
        already has one of that runbook: (the run, True) when created, (the existing run,
        False) otherwise."""
        index = self.keys.incident_runbooks(run.incident)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(index)
                    existing = await pipe.hget(index, run.runbook)
                    if existing:
                        raw = await pipe.get(self.keys.run(_text(existing)))
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
                except WatchError:
                    continue

    async def get_run(self, run_id: str) -> RunbookRun | None:
        raw = await self.redis.get(self.keys.run(run_id))
        return RunbookRun.model_validate_json(raw) if raw else None

    async def incident_runs(self, incident_id: str) -> dict[str, str]:
        """runbook id -> run id of the incident's checklists."""
        raw = await self.redis.hgetall(self.keys.incident_runbooks(incident_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def add_run_message(self, run_id: str, index: int, ts: str) -> RunbookRun:
        """Record that part `index` is posted as `ts` (parts are posted in order)."""
        key = self.keys.run(run_id)
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
        steps = self.keys.run_steps(run.id)
        keys = [steps, self.keys.run_version(run.id), self.keys.timeline(run.incident)]
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
            pipe.get(self.keys.run(run_id))
            pipe.hgetall(self.keys.run_steps(run_id))
            pipe.get(self.keys.run_version(run_id))
            pipe.hgetall(self.keys.run_shown(run_id))
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
        return int(await self.redis.get(self.keys.run_version(run_id)) or 0)

    async def set_run_shown(self, run_id: str, digests: dict[int, str]) -> None:
        if digests:
            await self.redis.hset(self.keys.run_shown(run_id), mapping=dict(digests.items()))

    # -- on-call cache (bot/oncall.py) ------------------------------------------------------
    async def oncall_snapshot(self) -> OnCallSnapshot | None:
        raw = await self.redis.get(self.keys.oncall_snapshot)
        return OnCallSnapshot.model_validate_json(raw) if raw else None

    async def save_oncall_snapshot(self, snapshot: OnCallSnapshot, *, ttl: int) -> None:
        """The new snapshot and the end of any remembered failure, together."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.oncall_snapshot, snapshot.model_dump_json(), ex=ttl)
            pipe.delete(self.keys.oncall_failure)
            await pipe.execute()

    async def oncall_failure(self) -> str | None:
        raw = await self.redis.get(self.keys.oncall_failure)
        return _text(raw) if raw is not None else None

    async def record_oncall_failure(self, reason: str, *, ttl: float) -> None:
        await self.redis.set(self.keys.oncall_failure, reason, px=max(1, int(ttl * 1000)))

    async def slack_users_by_email(self, emails: Iterable[str]) -> dict[str, str]:
        """Cached lookups: email -> Slack user ID, or "" when Slack has nobody with it.
        Emails not cached are absent."""
        wanted = list(dict.fromkeys(emails))
        if not wanted:
            return {}
        raws = await self.redis.mget([self.keys.slack_user_by_email(e) for e in wanted])
        return {e: _text(r) for e, r in zip(wanted, raws, strict=True) if r is not None}

    async def remember_slack_user(self, email: str, slack_id: str | None, *, ttl: int) -> None:
        await self.redis.set(self.keys.slack_user_by_email(email), slack_id or "", ex=ttl)

    # -- durable time (bot/core/schedule.py) -----------------------------------------------------
    def _script(self, body: str) -> AsyncScript:
        """A registered script: EVALSHA, loading it again if Redis forgot it."""
        scripts: dict[str, AsyncScript] = self.__dict__.setdefault("_scripts", {})
        if body not in scripts:
            scripts[body] = self.redis.register_script(body)
        return scripts[body]

    async def due_schedule(self, item: DueItem, *, keep_for: int) -> bool:
        """Store `item` as its (incident, kind, key)'s one pending occurrence. False when
        its generation is older than its lane's floor (a newer decision was made)."""
        keys = [
            self.keys.due,
            self.keys.due_item(item.id),
            self.keys.due_of(item.incident_id),
            self.keys.due_gen(item.incident_id),
        ]
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
            self.keys.prefix,
        ]
        return bool(await self._script(_DUE_SCHEDULE)(keys, args))

    async def due_claim(
        self, now: float, lease_until: float, limit: int
    ) -> tuple[list[DueItem], int]:
        """Claim up to `limit` due items (one script): (claimed, stale ones dropped)."""
        out = await self._script(_DUE_CLAIM)(
            [self.keys.due], [repr(now), repr(lease_until), limit, self.keys.prefix]
        )
        return [_due_item(flat) for flat in out[1:]], int(out[0])

    async def due_done(self, item: DueItem, record: dict[str, Any] | None, *, ttl: int) -> bool:
        """Finish a claimed item: its send record written (if given) and the item removed,
        unless it was rescheduled meanwhile. True when this removed it."""
        keys = [
            self.keys.due,
            self.keys.due_item(item.id),
            self.keys.due_of(item.incident_id),
            self.keys.due_sent(item.token),
        ]
        body = dumps(record) if record is not None else ""
        return bool(await self._script(_DUE_DONE)(keys, [item.id, item.token, body, ttl]))

    async def due_retry(self, item: DueItem, at: float, error: str) -> bool:
        keys = [self.keys.due, self.keys.due_item(item.id)]
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
        keys = [self.keys.due, self.keys.due_of(incident_id), self.keys.due_gen(incident_id)]
        args = [
            self.keys.prefix,
            kind or "",
            lane or "",
            key or "",
            "" if generation is None else generation,
            "1" if key is None else "0",
        ]
        return int(await self._script(_DUE_CANCEL)(keys, args))

    async def due_next(self) -> float | None:
        """When the first pending item (of any incident) is due, or None."""
        first = await self.redis.zrange(self.keys.due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def due_pending(self, incident_id: str) -> list[DueItem]:
        ids = await self.redis.smembers(self.keys.due_of(incident_id))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.hgetall(self.keys.due_item(_text(item_id)))
            found = await pipe.execute()
        items = []
        for raw in found:
            if raw:
                flat = [x for pair in raw.items() for x in pair]
                items.append(_due_item(flat))
        return sorted(items, key=lambda i: i.due_at)

    async def due_sent(self, token: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.keys.due_sent(token))
        return json.loads(raw) if raw else None

    async def due_count(self) -> int:
        return int(await self.redis.zcard(self.keys.due))

    # -- paging (bot/paging.py) ---------------------------------------------------------------
    async def link_pd_incident(self, pd_incident_id: str, incident_id: str, *, ttl: int) -> None:
        await self.redis.set(self.keys.pd_incident(pd_incident_id), incident_id, ex=ttl)

    async def incident_for_pd(self, pd_incident_id: str) -> str | None:
        raw = await self.redis.get(self.keys.pd_incident(pd_incident_id))
        return _text(raw) if raw is not None else None

    async def release_once(self, scope: str, key: str) -> None:
        """Forget an idempotency marker, so a retry of work that failed is not refused."""
        await self.redis.delete(self.keys.once(scope, key))

    async def take_rate(self, name: str, *, interval: float, burst: int, now: float) -> float:
        """Book one use of a rate limit shared by every replica (the same GCRA as the Slack
        budgets): 0 when booked, else the seconds until one is free (nothing booked)."""
        wait = await self._script(PACE)(
            [self.keys.rate(name)], [repr(now), "0", repr(interval), burst]
        )
        return max(0.0, -float(wait))

    # -- after the incident (bot/timeline.py, bot/followups.py, bot/postmortem.py, bot/stats.py)
    async def append_marked(
        self, incident_id: str, entry: TimelineEntry, *, scope: str, key: str, ttl: int
    ) -> bool:
        """Append `entry` unless (scope, key) was used within `ttl` seconds: the marker and
        the entry are written together, so a crash between them loses nothing and a
        repeat adds nothing. True when appended."""
        keys = [self.keys.once(scope, key), self.keys.timeline(incident_id)]
        return bool(await self._script(_APPEND_MARKED)(keys, [ttl, entry.model_dump_json()]))

    async def capture(
        self, incident_id: str, message_ts: str, entry: TimelineEntry, *, at: int, by: str
    ) -> Literal["added", "moved"] | None:
        """Put a channel message on the timeline once, credited to the pin or 📌 with the
        earliest Slack event time `at` (µs) by `by`: "added" (first seen), "moved" (this
        one came earlier than the credited one: its entry replaces that one in place), or
        None. One script: marker, credit and entry change together."""
        keys = [
            self.keys.captured(incident_id),
            self.keys.captured_by(incident_id),
            self.keys.timeline(incident_id),
        ]
        args = [message_ts, str(at), by, entry.model_dump_json()]
        done = int(await self._script(_CAPTURE)(keys, args))
        return "added" if done == 1 else "moved" if done == 2 else None

    async def many(self, incident_ids: list[str]) -> list[Incident]:
        """The incidents with these ids that exist, in that order."""
        return await self._many(list(dict.fromkeys(incident_ids)))

    async def incidents_declared_since(self, since: float, until: float) -> list[Incident]:
        """Incidents declared in [since, until], oldest first."""
        ids = await self.redis.zrangebyscore(self.keys.all, since, until)
        return await self._many(ids)

    async def timelines(self, incident_ids: list[str]) -> dict[str, list[TimelineEntry]]:
        """Several incidents' timelines in one round trip."""
        if not incident_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for incident_id in incident_ids:
                pipe.lrange(self.keys.timeline(incident_id), 0, -1)
            found = await pipe.execute()
        return {
            incident_id: [TimelineEntry.model_validate_json(r) for r in raw]
            for incident_id, raw in zip(incident_ids, found, strict=True)
        }

    async def add_followup(self, followup: FollowUp) -> FollowUp:
        """Store a new follow-up, numbered within its incident (its id and number are set
        here). A crash between the number and the write only skips a number."""
        number = int(await self.redis.incr(self.keys.followup_seq(followup.incident_id)))
        stored = followup.model_copy(
            update={"number": number, "id": f"{followup.incident_id}.{number}"}
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.followups(followup.incident_id), str(number), stored.model_dump_json()
            )
            if stored.status == "open":
                pipe.zadd(self.keys.followups_open, {stored.id: stored.created_at})
            await pipe.execute()
        return stored

    async def followups(self, incident_id: str) -> list[FollowUp]:
        raw = await self.redis.hgetall(self.keys.followups(incident_id))
        found = [FollowUp.model_validate_json(v) for v in raw.values()]
        return sorted(found, key=lambda f: f.number)

    async def followup(self, followup_id: str) -> FollowUp | None:
        incident_id, _, number = followup_id.rpartition(".")
        if not incident_id or not number.isdigit():
            return None
        raw = await self.redis.hget(self.keys.followups(incident_id), number)
        return FollowUp.model_validate_json(raw) if raw else None

    async def open_followups(self, limit: int = 200) -> list[FollowUp]:
        """Open follow-ups of every incident, oldest first."""
        ids = [_text(i) for i in await self.redis.zrange(self.keys.followups_open, 0, limit - 1)]
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for followup_id in ids:
                incident_id, _, number = followup_id.rpartition(".")
                pipe.hget(self.keys.followups(incident_id), number)
            found = await pipe.execute()
        return [FollowUp.model_validate_json(r) for r in found if r]

    async def finish_followup(
        self, followup_id: str, *, by: str, at: float
    ) -> tuple[FollowUp, bool] | None:
        """Mark a follow-up done: (it, True), or (it, False) when it already was; None when
        there is no such follow-up. Two clicks at once make one change."""
        incident_id, _, number = followup_id.rpartition(".")
        key = self.keys.followups(incident_id)
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
                    pipe.zrem(self.keys.followups_open, followup.id)
                    await pipe.execute()
                    return followup, True
                except WatchError:
                    continue

    async def postmortem(self, incident_id: str) -> PostmortemState:
        raw = await self.redis.get(self.keys.postmortem(incident_id))
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
        key = self.keys.postmortem(incident_id)
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
                        pipe.rpush(self.keys.timeline(incident_id), outcome.model_dump_json())
                    await pipe.execute()
                    return state, True
                except WatchError:
                    continue


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
