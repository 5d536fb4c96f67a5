"""The only package that knows Redis. Every multi-key change is atomic (MULTI or one Lua
script). `Store` is the one object the bot holds: it composes the repositories below over one
client and one key prefix.

- keys.py         every key (the schema table), once-marker scope, lease and rate name
- scripts.py      the Lua scripts, read once from lua/*.lua
- connection.py   `connect()`: the process's one client (pool, retries, Sentinel)
- incidents.py    incidents, the open/all sets, the channel index: `update()` is the change
- timeline.py     timelines, entries written once, captured messages
- events.py       the lifecycle event stream (bot/core/events.py)
- schedule.py     due-items (bot/core/schedule.py)
- runbooks.py     runbook checklists (bot/runbooks/checklists.py)
- alerts.py       the alert stream, groups, lanes, boards, Slack budgets (bot/alerts/)
- leases.py       once-markers, leases (`held`), shared rate limits
- identity.py     the install record and incident numbers (bot/core/identity.py)
- server.py       the Redis server: ping, which one answers, persistence, db ownership
- lookups.py      cached on-call walk, Slack users by email, PagerDuty incident links
- after.py        follow-ups and the post-mortem state
- mirror.py       what Slack shows of mirrored messages (bot/core/mirror.py)
- home.py         the App Home's recent viewers and its change marker (bot/home.py)

`ir:` is the bot's prefix. A Store can be given another, and every key and script then
stays under it: the sandbox's is `sandbox:ir:`, so a sandbox pointed at a shared Redis can
neither read nor consume the bot's incidents, due-items, alert stream or leases.
"""

from __future__ import annotations

from redis.asyncio import Redis

from bot.core.errors import STORE_ERRORS, IncidentNotFound, StoreUnavailable
from bot.core.store.after import AfterRepo
from bot.core.store.alerts import (
    Admit,
    AlertEntry,
    AlertGroupState,
    AlertRepo,
    GroupApply,
    GroupLimits,
)
from bot.core.store.base import dumps
from bot.core.store.connection import connect
from bot.core.store.events import EventRepo
from bot.core.store.home import HomeRepo
from bot.core.store.identity import IdentityRepo
from bot.core.store.incidents import IncidentRepo, Mutation
from bot.core.store.keys import (
    BOARD_MARK,
    LANES,
    PREFIX,
    SANDBOX_PREFIX,
    GroupClass,
    Keys,
    Lane,
    Lease,
    Once,
    Rate,
)
from bot.core.store.leases import LeaseRepo
from bot.core.store.lookups import LookupRepo
from bot.core.store.mirror import MirrorRepo
from bot.core.store.runbooks import RunbookRepo, RunSnapshot, StepChange
from bot.core.store.schedule import DueRepo
from bot.core.store.server import RedisFacts, ServerRepo
from bot.core.store.timeline import TimelineRepo

__all__ = [
    "BOARD_MARK",
    "LANES",
    "PREFIX",
    "SANDBOX_PREFIX",
    "STORE_ERRORS",
    "Admit",
    "AlertEntry",
    "AlertGroupState",
    "GroupApply",
    "GroupClass",
    "GroupLimits",
    "IncidentNotFound",
    "Keys",
    "Lane",
    "Lease",
    "Mutation",
    "Once",
    "Rate",
    "Redis",
    "RedisFacts",
    "RunSnapshot",
    "StepChange",
    "Store",
    "StoreUnavailable",
    "connect",
    "dumps",
]


class Store(
    IncidentRepo,
    TimelineRepo,
    EventRepo,
    DueRepo,
    RunbookRepo,
    AlertRepo,
    LeaseRepo,
    IdentityRepo,
    ServerRepo,
    LookupRepo,
    AfterRepo,
    MirrorRepo,
    HomeRepo,
):
    """The store: every repository over one client, under one key prefix."""

    def __init__(self, redis: Redis, *, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
