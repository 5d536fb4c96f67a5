"""The store's alert part (bot/alerts.py): the accepted-batch stream, alert groups, their
reconcile lanes, the announce channel's boards, and the Slack call budgets. Its keys are
named in bot/store.py's `Keys` with the rest (the schema table is there).

Memory is bounded by construction, whatever arrives: the stream by `max_queued` bytes, a
group by `max_instances` fingerprints (and a few alert bodies and one HyperLogLog), the
groups by `max_groups` of each class, and their creation by `groups_per_minute`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from redis.exceptions import ResponseError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from bot.store import Keys

ALERT_CONSUMERS = "workers"
# Reconcile lanes, first served first: groups of rules whose severity pages, other rules'
# groups, then everything else (unmatched groups, the boards). Each has its own workers,
# so a lane's backlog never delays an earlier one.
Lane = Literal["page", "rule", "rest"]
LANES: tuple[Lane, ...] = ("page", "rule", "rest")
# Group classes, capped apart: unmatched noise never keeps a rule's group out.
GroupClass = Literal["rule", "unmatched"]
BOARDS = ("digest", "notice")  # messages of the announce channel, one per window
BOARD_MARK = "~"  # a due member "~digest" is a board, not a group


# Count groups the caps kept out, in this window's notice board (KEYS[1]), and make the
# notice due (KEYS[2], the rest lane) unless it already is. ARGV: now, window, ttl.
_DROPPED_FN = """
local function dropped(notice, rest, reason, n, now, window, ttl)
  local start = tonumber(redis.call('HGET', notice, 'start') or '-1')
  if start < 0 or now - start >= window then
    redis.call('DEL', notice)
    redis.call('HSET', notice, 'start', tostring(now))
  end
  redis.call('HINCRBY', notice, 'n:' .. reason, n)
  redis.call('HINCRBY', notice, 'version', 1)
  redis.call('HSET', notice, 'lane', 'rest')
  redis.call('EXPIRE', notice, ttl)
  if not redis.call('ZSCORE', rest, '~notice') then
    redis.call('ZADD', rest, tostring(now), '~notice')
  end
end
"""

_DROPPED = (
    _DROPPED_FN
    + """
dropped(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]))
return 1
"""
)

# Accept a batch: refused (-1) while the stream holds `max_bytes` unapplied; at most once
# per key (a Slack event id: 0 when used), the marker and the entry together.
_ACCEPT = """
local stream, bytes, once = KEYS[1], KEYS[2], KEYS[3]
local size, max_bytes = string.len(ARGV[1]), tonumber(ARGV[2])
if redis.call('XLEN', stream) == 0 then redis.call('SET', bytes, 0) end
if tonumber(redis.call('GET', bytes) or '0') + size > max_bytes then return -1 end
if once and not redis.call('SET', once, '1', 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('XADD', stream, '*', 'b', ARGV[1])
redis.call('INCRBY', bytes, size)
return 1
"""

# A resolved alert leaves its group: a fingerprint, its body and its resolved mark.
_FORGET_FN = """
local function forget(meta, state, bodies, resolved, fp)
  redis.call('HDEL', state, fp)
  redis.call('HDEL', bodies, fp)
  redis.call('ZREM', resolved, fp)
  redis.call('HINCRBY', meta, 'resolved', -1)
end
local function prune(meta, state, bodies, resolved, before)
  local old = redis.call('ZRANGEBYSCORE', resolved, '-inf', before, 'LIMIT', 0, 1000)
  for _, fp in ipairs(old) do forget(meta, state, bodies, resolved, fp) end
  return #old
end
"""

# Apply one group's alerts from stream entry ARGV[2] (a sortable sequence). An alert's
# state changes only for a later entry than the one that set it, so redelivered or
# reordered entries change nothing; a status change bumps the version and makes the group
# due in its lane, in the same script (no lost wake-up). Bounded: a new group is kept out
# (-1: `max_groups` of its class, after evicting the oldest quiet one fails; -2:
# `groups_per_minute`); a group tracks `max_instances` fingerprints (a firing one beyond
# them takes a resolved one's place, or is only counted in the HyperLogLog `extra`);
# bodies are kept for `keep` alerts (the sample Slack shows); resolved alerts are dropped
# after the flap window.
_APPLY = (
    _DROPPED_FN
    + _FORGET_FN
    + """
local meta, state, bodies, resolved, extra = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local due, groups, created, notice, rest = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local gid, seq, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local complete, lane, cls, base = ARGV[5], ARGV[11], ARGV[12], ARGV[20]
local max_instances, keep, flap = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local max_groups, per_minute = tonumber(ARGV[16]), tonumber(ARGV[17])
local quiet, window = tonumber(ARGV[18]), tonumber(ARGV[19])
local function evict()
  local oldest = redis.call('ZRANGE', groups, 0, 4, 'WITHSCORES')
  for i = 1, #oldest, 2 do
    local g, seen = oldest[i], tonumber(oldest[i + 1])
    if seen > now - quiet then return false end
    local b = base .. g
    if tonumber(redis.call('HGET', b, 'firing') or '0') == 0 then
      redis.call('DEL', b, b .. ':state', b .. ':alerts', b .. ':resolved', b .. ':extra')
      redis.call('ZREM', groups, g)
      for k = 11, 13 do redis.call('ZREM', KEYS[k], g) end
      return true
    end
  end
  return false
end
if redis.call('EXISTS', meta) == 0 then
  redis.call('ZREMRANGEBYSCORE', groups, '-inf', now - ttl)
  local reason = nil
  if redis.call('ZCARD', groups) >= max_groups and not evict() then reason = 'total' end
  if not reason then
    local n = redis.call('INCR', created)
    if n == 1 then redis.call('EXPIRE', created, 120) end
    if n > per_minute then reason = 'minute' end
  end
  if reason then
    dropped(notice, rest, reason, 1, now, window, ttl)
    return reason == 'total' and -1 or -2
  end
  redis.call('HSET', meta, 'key', ARGV[6], 'alertname', ARGV[7], 'group', ARGV[8],
    'source', ARGV[9], 'version', 0, 'firing', 0, 'resolved', 0, 'fired', 0,
    'handled_fired', 0, 'created', ARGV[3])
end
redis.call('ZADD', groups, ARGV[3], gid)
local old_lane = redis.call('HGET', meta, 'lane')
if old_lane and old_lane ~= lane then
  for k = 11, 13 do if KEYS[k] ~= due then redis.call('ZREM', KEYS[k], gid) end end
end
redis.call('HSET', meta, 'lane', lane, 'class', cls)
if ARGV[10] ~= '' then redis.call('HSET', meta, 'link', ARGV[10]) end
local firing_before = tonumber(redis.call('HGET', meta, 'firing'))
local changed = prune(meta, state, bodies, resolved, now - flap) > 0
local function room_for_body()
  if redis.call('HLEN', bodies) < keep then return true end
  for _, b in ipairs(redis.call('HKEYS', bodies)) do
    local s = redis.call('HGET', state, b)
    if (not s) or string.sub(s, -9) == '|resolved' then
      redis.call('HDEL', bodies, b)
      return true
    end
  end
  return false
end
local function set(fp, status, body)
  local cur = redis.call('HGET', state, fp)
  local cur_seq, cur_status = '', ''
  if cur then
    cur_seq, cur_status = string.match(cur, '^([^|]*)|(.*)$')
    if cur_seq >= seq then return end
  elseif redis.call('HLEN', state) >= max_instances then
    if status ~= 'firing' then return end
    local oldest = redis.call('ZRANGE', resolved, 0, 0)
    if #oldest == 0 then
      if redis.call('PFADD', extra, fp) == 1 then changed = true end
      return
    end
    forget(meta, state, bodies, resolved, oldest[1])
  end
  redis.call('HSET', state, fp, seq .. '|' .. status)
  if body ~= '' then
    if redis.call('HEXISTS', bodies, fp) == 1 then redis.call('HSET', bodies, fp, body)
    elseif status == 'firing' and room_for_body() then redis.call('HSET', bodies, fp, body)
    elseif redis.call('HLEN', bodies) < keep then redis.call('HSET', bodies, fp, body) end
  end
  if status == cur_status then return end
  changed = true
  if status == 'firing' then
    redis.call('HINCRBY', meta, 'firing', 1)
    redis.call('HINCRBY', meta, 'fired', 1)
    redis.call('ZREM', resolved, fp)
    if cur_status == 'resolved' then redis.call('HINCRBY', meta, 'resolved', -1) end
  else
    redis.call('HINCRBY', meta, 'resolved', 1)
    redis.call('ZADD', resolved, ARGV[3], fp)
    if cur_status == 'firing' then redis.call('HINCRBY', meta, 'firing', -1) end
  end
end
local seen = {}
for i = 21, #ARGV, 3 do
  seen[ARGV[i]] = true
  set(ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
if complete ~= '' then
  -- a complete report (a Slack message): its source's alerts not named have resolved
  local all = redis.call('HGETALL', state)
  for j = 1, #all, 2 do
    local fp = all[j]
    if not seen[fp] and string.sub(fp, 1, #complete) == complete
        and string.sub(all[j + 1], -7) == '|firing' then
      set(fp, 'resolved', '')
    end
  end
end
redis.call('HSET', meta, 'last_seen', ARGV[3])
local firing_after = tonumber(redis.call('HGET', meta, 'firing'))
if firing_after == 0 and redis.call('DEL', extra) == 1 then changed = true end
if changed then
  redis.call('HINCRBY', meta, 'version', 1)
  redis.call('HSET', meta, 'changed_at', ARGV[3])
  -- Starting to fire, or all resolved, is acted on now. More or fewer alerts of a group
  -- that keeps firing only change its message: that waits for the message's next edit
  -- (hold_until), so a storm costs one reconcile a group per edit, not one an alert.
  local at = now
  if (firing_before > 0) == (firing_after > 0) then
    local hold = tonumber(redis.call('HGET', meta, 'hold_until') or '0')
    if hold > at then at = hold end
  end
  local cur = redis.call('ZSCORE', due, gid)
  if (not cur) or tonumber(cur) > at then redis.call('ZADD', due, tostring(at), gid) end
end
for _, k in ipairs({meta, state, bodies, resolved, extra}) do redis.call('EXPIRE', k, ttl) end
return changed and 1 or 0
"""
)

# Resolved alerts older than ARGV[1] leave the group; a change is due at once (ARGV[2]).
_PRUNE = (
    _FORGET_FN
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = prune(KEYS[1], KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]))
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('HSET', KEYS[1], 'changed_at', ARGV[2])
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
end
return n
"""
)

# The reconciler is done with a version of the group: drop it from its lane's due set (or
# keep it due at ARGV[3]) only if nothing changed meanwhile; otherwise it is due now.
_SETTLE = """
local lanes = {page = KEYS[2], rule = KEYS[3], rest = KEYS[4]}
local due = lanes[redis.call('HGET', KEYS[1], 'lane') or 'rule'] or KEYS[3]
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then
  redis.call('ZADD', due, ARGV[4], ARGV[1])
  return 0
end
if ARGV[3] == '' then redis.call('ZREM', due, ARGV[1])
else redis.call('ZADD', due, ARGV[3], ARGV[1]) end
return 1
"""

# A group shows in the unmatched digest (KEYS[1] the board, KEYS[2] its members): a firing
# group (ARGV[3] = 1) joins this window's digest, opening a new window when the last one is
# over (the old message stays as it was); a member that changed makes the digest due
# (KEYS[3], the rest lane). Returns the window's start, or "" (not a member).
_DIGEST_JOIN = """
local board, members, rest = KEYS[1], KEYS[2], KEYS[3]
local gid, now, join, window, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1',
  tonumber(ARGV[4]), tonumber(ARGV[5])
local start = tonumber(redis.call('HGET', board, 'start') or '-1')
local member = redis.call('ZSCORE', members, gid)
if start < 0 or now - start >= window then
  if not join then return '' end
  redis.call('DEL', board, members)
  redis.call('HSET', board, 'start', ARGV[2])
  start, member = now, nil
end
if not member then
  if not join then return '' end
  redis.call('ZADD', members, ARGV[2], gid)
end
redis.call('HINCRBY', board, 'version', 1)
redis.call('HSET', board, 'lane', 'rest')
redis.call('EXPIRE', board, ttl)
redis.call('EXPIRE', members, ttl)
if not redis.call('ZSCORE', rest, '~digest') then redis.call('ZADD', rest, ARGV[2], '~digest') end
return redis.call('HGET', board, 'start')
"""

# Slack call budgets shared by every replica (GCRA): each allows `burst` calls at once,
# then one per `interval`. One call may need several (a declaration creates a channel and
# posts in the announce channel): all are booked, or none. Returns the wait before the
# call may go, or minus it when longer than ARGV[2] (then nothing is booked).
PACE = """
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
    """One read of an alert group: its fields (see the key table), the alerts whose bodies
    are kept (the sample), when its oldest resolved alert resolved, and about how many
    firing alerts it counts beyond the ones it tracks."""

    gid: str
    fields: dict[str, str]
    sample: list[tuple[str, str, bool]]  # (fingerprint, AlertInstance JSON, firing)
    oldest_resolved: float | None = None
    untracked: int = 0

    def text(self, name: str) -> str:
        return self.fields.get(name, "")

    def number(self, name: str) -> float:
        try:
            return float(self.fields.get(name) or 0)
        except ValueError:
            return 0.0


@dataclass(frozen=True)
class GroupLimits:
    """The bounds one apply enforces (config `alerts`; seconds for the windows)."""

    max_instances: int
    keep: int  # alert bodies kept a group: the sample Slack shows
    flap: float  # resolved alerts are dropped this long after they resolved
    max_groups: int  # of each class
    per_minute: int  # new groups of each class a minute
    quiet: float  # a group not seen this long, none firing, may be evicted for a new one
    window: float  # the boards' window
    ttl: int  # a group is forgotten this long after its last alert


@dataclass
class GroupApply:
    """What one batch applies to one group (args: see _APPLY's per-alert triples)."""

    gid: str
    entry: AlertEntry
    lane: Lane
    cls: GroupClass
    head: list[str]  # complete prefix, key, alertname, group JSON, source, link
    alerts: list[str] = field(default_factory=list)  # fingerprint, status, body, ...


class AlertStore:
    """Alert methods of `Store` (a mixin: `redis`, `keys` and `_script` are the Store's)."""

    redis: Redis
    keys: Keys

    if TYPE_CHECKING:

        def _script(self, body: str) -> AsyncScript: ...

        def _grouped(
            self, make: Callable[[], Awaitable[None]]
        ) -> contextlib.AbstractAsyncContextManager[None]: ...

    # -- the stream ------------------------------------------------------------------------
    async def alerts_accept(
        self, batch: str, *, max_bytes: int, once: str | None = None, ttl: int = 0
    ) -> bool | None:
        """Persist an accepted batch (XADD): once this returns True, a crash loses nothing.
        False: `once` was used already; None: the stream holds `max_bytes` unapplied."""
        keys = [self.keys.alert_stream, self.keys.alert_queued]
        if once is not None:
            keys.append(self.keys.once("alert-batch", once))
        done = int(await self._script(_ACCEPT)(keys, [batch, max_bytes, ttl]))
        return None if done < 0 else bool(done)

    async def alerts_consumer_group(self) -> None:
        """Create the consumer group (from the stream's start: nothing accepted before the
        first worker ran is skipped); an existing group is fine."""
        try:
            await self.redis.xgroup_create(
                self.keys.alert_stream, ALERT_CONSUMERS, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def alerts_read(
        self, consumer: str, count: int, *, own: bool = False
    ) -> list[AlertEntry]:
        """New entries for this consumer (never blocks: the caller waits itself); `own`:
        the ones it read before without acknowledging them (their answer was lost)."""
        out: Any = ()
        async with self._grouped(self.alerts_consumer_group):
            out = await self.redis.xreadgroup(
                ALERT_CONSUMERS,
                consumer,
                {self.keys.alert_stream: "0" if own else ">"},
                count=count,
            )
        return [
            AlertEntry(_text(i), _text(f.get("b", "")))
            for _, rows in out
            for i, f in rows
            if f  # an entry deleted meanwhile comes back empty
        ]

    async def alerts_reclaim(self, consumer: str, idle_ms: int, count: int) -> list[AlertEntry]:
        """Entries another consumer read but never acknowledged (it died): take them."""
        out: Any = ()
        async with self._grouped(self.alerts_consumer_group):
            out = await self.redis.xautoclaim(
                self.keys.alert_stream,
                ALERT_CONSUMERS,
                consumer,
                min_idle_time=idle_ms,
                count=count,
            )
        rows = out[1] if len(out) > 1 else []
        return [AlertEntry(_text(i), _text(f.get("b", ""))) for i, f in rows if f]

    async def alerts_apply(
        self,
        entries: Sequence[AlertEntry],
        updates: Sequence[GroupApply],
        *,
        now: float,
        limits: GroupLimits,
    ) -> list[int]:
        """Apply each update with the apply script, then acknowledge and delete the entries:
        one round trip. Per update: 1 changed, 0 not, -1/-2 kept out (see _APPLY)."""
        script = self._script(_APPLY)
        k = self.keys
        minute = int(now // 60)
        async with self.redis.pipeline(transaction=False) as pipe:
            for u in updates:
                base = k.alert_group(u.gid)
                keys = [
                    base,
                    f"{base}:state",
                    f"{base}:alerts",
                    f"{base}:resolved",
                    f"{base}:extra",
                    k.alert_due(u.lane),
                    k.alert_groups(u.cls),
                    k.alert_created(u.cls, minute),
                    k.alert_board("notice"),
                    k.alert_due("rest"),
                    *(k.alert_due(lane) for lane in LANES),
                ]
                args: list[str | int | float] = [u.gid, u.entry.seq, repr(now), limits.ttl]
                args += [*u.head, u.lane, u.cls, limits.max_instances, limits.keep]
                args += [limits.flap, limits.max_groups, limits.per_minute, limits.quiet]
                args += [limits.window, k.alert_group(""), *u.alerts]
                await script(keys, args, client=pipe)
            if entries:
                ids = [e.id for e in entries]
                pipe.xack(k.alert_stream, ALERT_CONSUMERS, *ids)
                pipe.xdel(k.alert_stream, *ids)
                pipe.decrby(k.alert_queued, sum(len(e.batch.encode()) for e in entries))
            results = await pipe.execute()
        return [int(r) for r in results[: len(updates)]]

    async def alerts_backlog(self) -> int:
        """Entries accepted and not yet applied (read or not)."""
        return int(await self.redis.xlen(self.keys.alert_stream))

    # -- the caps --------------------------------------------------------------------------
    async def alerts_dropped(
        self, reason: str, n: int, *, now: float, window: float, ttl: int
    ) -> None:
        """Count `n` groups kept out for `reason` on this window's notice board."""
        keys = [self.keys.alert_board("notice"), self.keys.alert_due("rest")]
        await self._script(_DROPPED)(keys, [reason, n, repr(now), window, ttl])

    # -- reconcile lanes -------------------------------------------------------------------
    async def alerts_due(
        self, now: float, limit: int, lane: Lane
    ) -> tuple[list[str], float | None]:
        """The lane's members due by `now`, and when its next one after them is due."""
        key = self.keys.alert_due(lane)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(key, "-inf", now, start=0, num=limit)
            pipe.zrange(key, 0, 0, withscores=True)
            due, first = await pipe.execute()
        later = [float(score) for _, score in first if float(score) > now]
        return [_text(g) for g in due], later[0] if later else None

    async def alerts_mark_due(self, gid: str, at: float, lane: Lane) -> None:
        await self.redis.zadd(self.keys.alert_due(lane), {gid: at})

    async def alerts_settle(
        self, gid: str, version: str, next_at: float | None, now: float, *, board: str = ""
    ) -> bool:
        """Done with `version` of the group (or board: see _SETTLE); False: it changed
        meanwhile."""
        held = self.keys.alert_board(board) if board else self.keys.alert_group(gid)
        keys = [held, *(self.keys.alert_due(lane) for lane in LANES)]
        args = [gid, version, "" if next_at is None else repr(next_at), repr(now)]
        return bool(await self._script(_SETTLE)(keys, args))

    async def alerts_forget_due(self, gid: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in LANES:
                pipe.zrem(self.keys.alert_due(lane), gid)
            await pipe.execute()

    # -- a group ---------------------------------------------------------------------------
    async def alerts_group(self, gid: str) -> AlertGroupState | None:
        """The group's fields and its sample: the alerts whose bodies are kept, firing ones
        when any fire."""
        base = self.keys.alert_group(gid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(base)
            pipe.hgetall(f"{base}:alerts")
            pipe.zrange(f"{base}:resolved", 0, 0, withscores=True)
            pipe.pfcount(f"{base}:extra")
            fields, bodies, oldest, untracked = await pipe.execute()
        if not fields:
            return None
        kept = {_text(k): _text(v) for k, v in bodies.items()}
        fps = sorted(kept)
        states = await self.redis.hmget(f"{base}:state", fps) if fps else []
        sample = [
            (fp, kept[fp], _text(s).endswith("|firing"))
            for fp, s in zip(fps, states, strict=True)
            if s is not None
        ]
        if any(firing for _, _, firing in sample):
            sample = [s for s in sample if s[2]]
        return AlertGroupState(
            gid=gid,
            fields={_text(k): _text(v) for k, v in fields.items()},
            sample=sample,
            oldest_resolved=float(oldest[0][1]) if oldest else None,
            untracked=int(untracked),
        )

    async def alerts_group_set(self, gid: str, **fields: str | int | float) -> None:
        """Record what the reconciler did (it holds the group's lease)."""
        await self.redis.hset(
            self.keys.alert_group(gid), mapping={k: str(v) for k, v in fields.items()}
        )

    async def alerts_prune(self, gid: str, *, before: float, now: float, lane: Lane) -> int:
        """Drop the group's alerts resolved before `before`; how many were dropped."""
        base = self.keys.alert_group(gid)
        keys = [base, f"{base}:state", f"{base}:alerts", f"{base}:resolved"]
        keys.append(self.keys.alert_due(lane))
        return int(await self._script(_PRUNE)(keys, [repr(before), repr(now), gid]))

    async def alerts_tracked(self, gid: str) -> int:
        """How many alerts the group tracks one by one (bounded by `max_instances`)."""
        return int(await self.redis.hlen(f"{self.keys.alert_group(gid)}:state"))

    async def alerts_groups(self, cls: GroupClass) -> int:
        """How many groups of the class are remembered."""
        return int(await self.redis.zcard(self.keys.alert_groups(cls)))

    async def alerts_groups_brief(self, gids: Iterable[str]) -> dict[str, dict[str, str]]:
        """The fields of several groups (a board lists them), missing ones left out."""
        gids = list(gids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for gid in gids:
                pipe.hgetall(self.keys.alert_group(gid))
            found = await pipe.execute()
        return {
            gid: {_text(k): _text(v) for k, v in f.items()}
            for gid, f in zip(gids, found, strict=True)
            if f
        }

    # -- the announce channel's boards -----------------------------------------------------
    async def alerts_digest_join(
        self, gid: str, *, join: bool, now: float, window: float, ttl: int
    ) -> str:
        """See _DIGEST_JOIN: the digest window's start the group shows in, or ""."""
        keys = [
            self.keys.alert_board("digest"),
            self.keys.alert_board_members("digest"),
            self.keys.alert_due("rest"),
        ]
        args = [gid, repr(now), "1" if join else "0", window, ttl]
        return _text(await self._script(_DIGEST_JOIN)(keys, args))

    async def alerts_board(
        self, name: str, *, members: int
    ) -> tuple[dict[str, str], list[str], int]:
        """A board's fields, its first `members` member group ids (oldest first) and how
        many it has."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.keys.alert_board(name))
            pipe.zrange(self.keys.alert_board_members(name), 0, members - 1)
            pipe.zcard(self.keys.alert_board_members(name))
            fields, first, count = await pipe.execute()
        return {_text(k): _text(v) for k, v in fields.items()}, [_text(g) for g in first], count

    async def alerts_board_set(self, name: str, start: str, **fields: str | int | float) -> bool:
        """Record what the board's message shows, unless a new window began meanwhile."""
        key = self.keys.alert_board(name)
        script = (
            "if redis.call('HGET', KEYS[1], 'start') ~= ARGV[1] then return 0 end "
            "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) return 1"
        )
        flat = [str(x) for kv in fields.items() for x in kv]
        return bool(await self._script(script)([key], [start, *flat]))

    # -- Slack budgets -----------------------------------------------------------------------
    async def alerts_pace(
        self, budgets: list[tuple[str, float, int]], *, now: float, max_wait: float
    ) -> float:
        """Book one call on Slack budgets (name, interval, burst), all or none: seconds to
        wait first (>= 0), or minus the wait when longer than max_wait (nothing booked)."""
        args: list[str | int] = [repr(now), repr(max_wait)]
        for _, interval, burst in budgets:
            args += [repr(interval), burst]
        keys = [self.keys.alert_pace(name) for name, _, _ in budgets]
        return float(await self._script(PACE)(keys, args))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
