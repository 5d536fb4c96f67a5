"""The Redis lines: it answers, it persists, and it has kept its data since the bot first
started (the store's install record, bot/core/store/identity.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.errors import StoreUnavailable
from bot.core.logs import redact_url
from bot.core.models import CheckResult
from bot.doctor.context import Context, Line

REDIS_FIX = (
    "Start Redis, or set REDIS_URL to where it runs (redis://host:6379/0; rediss:// for TLS)."
)
PERSIST_FIX = (
    "Turn on AOF: `redis-cli CONFIG SET appendonly yes` then `redis-cli CONFIG REWRITE` (or "
    "`appendonly yes` in redis.conf); on a managed Redis, turn on its persistence option."
)
NO_REDIS = "not checked: Redis does not answer"


async def check_redis(ctx: Context, line: Line) -> CheckResult:
    facts = await ctx.redis()
    url = redact_url(ctx.settings.redis_url)
    if isinstance(facts, StoreUnavailable):
        return line.fail(f"cannot reach Redis at {url} ({facts})", REDIS_FIX)
    if facts.embedded:
        return line.ok("the sandbox's embedded Redis (in this process) answers")
    return line.ok(f"reachable at {url}, Redis {facts.version or '(version not reported)'}")


async def check_redis_persistence(ctx: Context, line: Line) -> CheckResult:
    facts = await ctx.redis()
    if isinstance(facts, StoreUnavailable):
        return line.skip(NO_REDIS)
    if facts.embedded:
        return line.warn(
            "embedded in-memory Redis: every incident, reminder and escalation is lost when "
            "the process stops",
            "Set REDIS_URL to a Redis that persists (appendonly yes).",
        )
    if facts.aof:
        return line.ok("AOF is on (appendonly yes)")
    if facts.rdb_save:
        return line.ok(f"RDB snapshots (save {facts.rdb_save}); AOF would lose less on a crash")
    if facts.aof is False and facts.rdb_save == "":
        return line.warn(
            "no persistence (appendonly no, no RDB snapshots): a Redis restart loses every "
            "incident, reminder and escalation",
            PERSIST_FIX,
        )
    return line.warn(
        "cannot tell whether Redis persists (it does not answer CONFIG GET; AOF "
        + ("is off)" if facts.aof is False else "is unknown)"),
        "Make sure the server has appendonly yes, or RDB snapshots (save …), in its configuration.",
    )


async def check_store_continuity(ctx: Context, line: Line) -> CheckResult:
    facts = await ctx.redis()
    if isinstance(facts, StoreUnavailable):
        return line.skip(NO_REDIS)
    record = await ctx.setup.store.install()
    if not record:
        return line.ok("no install record yet: the bot writes one when it first starts")
    if record.get("lost_at"):
        when = datetime.fromtimestamp(float(record["lost_at"]), UTC).strftime("%Y-%m-%d %H:%M")
        return line.fail(
            f"the store lost its data (found out {when} UTC): incidents from before are "
            "unknown to the bot; new ids and PagerDuty keys never repeat old ones",
            "Restore Redis from a backup if you have one, and give it persistence. Once "
            f"dealt with, clear the warning: redis-cli HDEL {ctx.setup.store.keys.install} "
            "lost_at",
        )
    return line.ok(
        f"the store has kept its data since the bot first started (epoch {record['epoch']})"
    )
