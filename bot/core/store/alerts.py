"""Alerts (bot/alerts/): the accepted-batch stream, alert groups, their reconcile lanes,
the announce channel's boards, and the Slack call budgets.

Memory is bounded by construction, whatever arrives: the stream by `max_queued` bytes, a
group by `max_instances` fingerprints (and a few alert bodies and one HyperLogLog), the
groups by `max_groups` of each class, and their creation by `groups_per_minute`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from redis.exceptions import ResponseError

from bot.core.store import scripts
from bot.core.store.base import StoreBase, as_str
from bot.core.store.keys import ALERT_CONSUMERS, LANES, GroupClass, Lane, Once, Rate

__all__ = ["ALERT_CONSUMERS", "LANES", "Admit", "AlertEntry", "AlertGroupState", "AlertRepo"]


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


class Admit(NamedTuple):  # not a dataclass: one is made a POST, a tuple at a third the cost
    """One webhook POST's batch to store (`AlertRepo.alerts_admit`); with `sender`, one use
    of its rate (`interval` seconds apart, `burst` at once, at `now`) booked first."""

    batch: str
    max_bytes: int
    sender: str | None = None
    interval: float = 0.0
    burst: int = 1
    now: float = 0.0


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
    """What one or more batches apply to one group (lua/alert_apply.lua), the last from
    `entry`."""

    gid: str
    entry: AlertEntry
    lane: Lane
    cls: GroupClass
    head: list[str]  # complete prefix, key, alertname, group JSON, source, link
    alerts: list[str] = field(default_factory=list)  # fingerprint, status, body, entry seq, ...


class AlertRepo(StoreBase):
    """The alert stream, groups, lanes, boards and Slack budgets."""

    # -- the stream ------------------------------------------------------------------------
    async def alerts_accept(
        self, batch: str, *, max_bytes: int | None = None, once: str | None = None, ttl: int = 0
    ) -> bool | None:
        """Persist an accepted batch (XADD): once this returns True, a crash loses nothing.
        False: `once` was used already; None: the stream holds `max_bytes` unapplied (by
        default, no bound)."""
        keys = [self.keys.alert_stream, self.keys.alert_queued]
        if once is not None:
            keys.append(self.keys.once(Once.ALERT_BATCH, once))
        bound = 2**53 if max_bytes is None else max_bytes
        done = int(await self._script(scripts.ALERT_ACCEPT)(keys, [batch, bound, ttl]))
        return None if done < 0 else bool(done)

    async def alerts_admit(self, admits: Sequence[Admit]) -> list[tuple[bool | None, float]]:
        """Webhook POSTs' batches, each as `alerts_accept` stores it (no `once`), and those
        with a `sender` after one use of its `Rate.ALERTMANAGER` booked as `take_rate`
        books it: one script for them all (lua/alert_admit.lua), each as alone. Per admit
        (stored, wait): wait > 0 is how long until the sender may send again (nothing
        booked, nothing stored); stored None: the stream holds `max_bytes` unapplied."""
        keys = [self.keys.alert_stream, self.keys.alert_queued]
        slots: dict[str, int] = {}  # a sender's rate key: its index in KEYS (from 1)
        args: list[str | int] = []
        for a in admits:
            slot = 0
            if a.sender is not None:
                rate = self.keys.rate(Rate.ALERTMANAGER, a.sender)
                if rate not in slots:
                    keys.append(rate)
                    slots[rate] = len(keys)
                slot = slots[rate]
            args += [a.batch, a.max_bytes, slot, repr(a.now), repr(a.interval), a.burst]
        done = await self._script(scripts.ALERT_ADMIT)(keys, args)
        stored = {1: True, 2: False}  # -1: the stream is full (None)
        return [
            (stored.get(int(code)), float(wait))
            for code, wait in zip(done[::2], done[1::2], strict=True)
        ]

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
            out = await self._script(scripts.ALERT_READ)(
                [self.keys.alert_stream], [ALERT_CONSUMERS, consumer, count, "0" if own else ">"]
            )
        return [AlertEntry(as_str(i), as_str(b)) for i, b in zip(out[::2], out[1::2], strict=True)]

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
        return [AlertEntry(as_str(i), as_str(f.get("b", ""))) for i, f in rows if f]

    async def alerts_apply(
        self,
        entries: Sequence[AlertEntry],
        updates: Sequence[GroupApply],
        *,
        now: float,
        limits: GroupLimits,
    ) -> list[int]:
        """Apply each update with lua/alert_apply.lua, then acknowledge and delete the entries:
        one round trip. Per update: 1 changed, 0 not, -1/-2 kept out."""
        script = self._script(scripts.ALERT_APPLY)
        k = self.keys
        minute = int(now // 60)
        async with self.redis.pipeline(transaction=False) as pipe:
            for u in updates:
                base = k.alert_group(u.gid)
                keys = [
                    base,
                    k.alert_group_state(u.gid),
                    k.alert_group_alerts(u.gid),
                    k.alert_group_resolved(u.gid),
                    k.alert_group_extra(u.gid),
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
        await self._script(scripts.ALERT_DROPPED)(keys, [reason, n, repr(now), window, ttl])

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
        return [as_str(g) for g in due], later[0] if later else None

    async def alerts_mark_due(self, gid: str, at: float, lane: Lane) -> None:
        await self.redis.zadd(self.keys.alert_due(lane), {gid: at})

    async def alerts_settle(
        self, gid: str, version: str, next_at: float | None, now: float, *, board: str = ""
    ) -> bool:
        """Done with `version` of the group (or board: see lua/alert_settle.lua); False: it changed
        meanwhile."""
        held = self.keys.alert_board(board) if board else self.keys.alert_group(gid)
        keys = [held, *(self.keys.alert_due(lane) for lane in LANES)]
        args = [gid, version, "" if next_at is None else repr(next_at), repr(now)]
        return bool(await self._script(scripts.ALERT_SETTLE)(keys, args))

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
            pipe.hgetall(self.keys.alert_group_alerts(gid))
            pipe.zrange(self.keys.alert_group_resolved(gid), 0, 0, withscores=True)
            pipe.pfcount(self.keys.alert_group_extra(gid))
            fields, bodies, oldest, untracked = await pipe.execute()
        if "key" not in fields:  # gone (or a stray write of an older release)
            return None
        kept = {as_str(k): as_str(v) for k, v in bodies.items()}
        fps = sorted(kept)
        states = await self.redis.hmget(self.keys.alert_group_state(gid), fps) if fps else []
        sample = [
            (fp, kept[fp], as_str(s).endswith("|firing"))
            for fp, s in zip(fps, states, strict=True)
            if s is not None
        ]
        if any(firing for _, _, firing in sample):
            sample = [s for s in sample if s[2]]
        return AlertGroupState(
            gid=gid,
            fields={as_str(k): as_str(v) for k, v in fields.items()},
            sample=sample,
            oldest_resolved=float(oldest[0][1]) if oldest else None,
            untracked=int(untracked),
        )

    async def alerts_group_set(self, gid: str, **fields: str | int | float) -> None:
        """Record what the reconciler did (it holds the group's lease), unless the group
        is gone meanwhile (expired or evicted): a late write never leaves a stray key."""
        flat = [str(x) for kv in fields.items() for x in kv]
        await self._script(scripts.ALERT_GROUP_SET)([self.keys.alert_group(gid)], flat)

    async def alerts_prune(self, gid: str, *, before: float, now: float, lane: Lane) -> int:
        """Drop the group's alerts resolved before `before`; how many were dropped."""
        base = self.keys.alert_group(gid)
        keys = [
            base,
            self.keys.alert_group_state(gid),
            self.keys.alert_group_alerts(gid),
            self.keys.alert_group_resolved(gid),
        ]
        keys.append(self.keys.alert_due(lane))
        return int(await self._script(scripts.ALERT_PRUNE)(keys, [repr(before), repr(now), gid]))

    async def alerts_tracked(self, gid: str) -> int:
        """How many alerts the group tracks one by one (bounded by `max_instances`)."""
        return int(await self.redis.hlen(self.keys.alert_group_state(gid)))

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
            gid: {as_str(k): as_str(v) for k, v in f.items()}
            for gid, f in zip(gids, found, strict=True)
            if "key" in f
        }

    # -- the announce channel's boards -----------------------------------------------------
    async def alerts_digest_join(
        self, gid: str, *, join: bool, now: float, window: float, ttl: int
    ) -> str:
        """See lua/alert_digest_join.lua: the digest window's start the group shows in, or ""."""
        keys = [
            self.keys.alert_board("digest"),
            self.keys.alert_board_members("digest"),
            self.keys.alert_due("rest"),
        ]
        args = [gid, repr(now), "1" if join else "0", window, ttl]
        return as_str(await self._script(scripts.ALERT_DIGEST_JOIN)(keys, args))

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
        return {as_str(k): as_str(v) for k, v in fields.items()}, [as_str(g) for g in first], count

    async def alerts_board_set(self, name: str, start: str, **fields: str | int | float) -> bool:
        """Record what the board's message shows, unless a new window began meanwhile."""
        key = self.keys.alert_board(name)
        flat = [str(x) for kv in fields.items() for x in kv]
        return bool(await self._script(scripts.ALERT_BOARD_SET)([key], [start, *flat]))

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
        return float(await self._script(scripts.PACE)(keys, args))
