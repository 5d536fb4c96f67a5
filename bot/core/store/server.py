"""The Redis server itself: is it up, which one answers (bot/core/consistency.py), how it
persists (bot/doctor/), and whose db it is (the sandbox claims its own)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from redis.exceptions import RedisError, ResponseError

from bot.core.errors import StoreUnavailable
from bot.core.store import scripts
from bot.core.store.base import StoreBase, as_str


@dataclass(frozen=True)
class RedisFacts:
    """What the server says about itself (bot/doctor/); None: it would not say."""

    version: str | None
    aof: bool | None  # appendonly yes
    rdb_save: str | None  # the RDB `save` policy; "" = no snapshots
    embedded: bool  # the sandbox's in-process fakeredis: nothing outlives the process


class ServerRepo(StoreBase):
    """The Redis server: reachable, which one, how it persists, whose db."""

    async def server_id(self) -> str:
        """Which Redis server answers: its run_id changes when it restarts or another one
        is promoted in its place (bot/core/consistency.py)."""
        info = await self.redis.info("server")
        return str(info.get("run_id", ""))

    async def swap_server_seen(self, server: str) -> str | None:
        """Record the Redis server now answering; the one recorded before (None: none)."""
        before = await self.redis.getset(self.keys.server_seen, server)
        return as_str(before) if before is not None else None

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable.of(exc) from exc

    async def load_scripts(self) -> None:
        """Every script into Redis's script cache, in one round trip at start-up: else the
        first calls of a burst each find theirs missing (NOSCRIPT) and load it again. One
        Redis forgot later (a restart, a failover) is loaded again on its next call."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for body in scripts.every():
                pipe.script_load(body)
            await pipe.execute()

    async def claim_db(self) -> str | None:
        """Make this Redis db this store's alone: None when it is (it was empty, or this
        prefix claimed it before); else the name of a key in it that is someone else's."""
        found = await self._script(scripts.CLAIM_DB)([self.keys.db_owner], [self.keys.prefix])
        return None if found is None else as_str(found)

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
                aof = as_str(conf["appendonly"]) == "yes" if "appendonly" in conf else None
                conf = await self.redis.config_get("save")
                rdb = as_str(conf["save"]) if "save" in conf else None
            except ResponseError:
                with contextlib.suppress(ResponseError, KeyError, ValueError):
                    aof = bool(int((await self.redis.info("persistence"))["aof_enabled"]))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable.of(exc) from exc
        return RedisFacts(version=version, aof=aof, rdb_save=rdb, embedded=embedded)
