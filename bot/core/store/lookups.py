"""Cached answers of the outside: the on-call walk (bot/oncall.py), Slack users by email,
and our incident for a PagerDuty incident (bot/paging/)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from cachetools import TTLCache

from bot.core.models import OnCallSnapshot
from bot.core.store.base import StoreBase, as_str

SLACK_USERS_CACHED = 1024  # emails whose Slack user this process keeps
SLACK_USERS_KEPT = 300.0  # seconds it keeps one (Redis keeps it for the caller's ttl)


class LookupRepo(StoreBase):
    """Cached on-call walk, Slack users, PagerDuty incident links."""

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
        return as_str(raw) if raw is not None else None

    async def record_oncall_failure(self, reason: str, *, ttl: float) -> None:
        await self.redis.set(self.keys.oncall_failure, reason, px=max(1, int(ttl * 1000)))

    async def slack_users_by_email(self, emails: Iterable[str]) -> dict[str, str]:
        """Cached lookups: email -> Slack user ID, or "" when Slack has nobody with it.
        Emails not cached are absent. What this process read or wrote within
        SLACK_USERS_KEPT is answered without Redis."""
        kept = self._slack_users()
        wanted = list(dict.fromkeys(emails))
        found = {e: kept[e] for e in wanted if e in kept}
        asked = [e for e in wanted if e not in found]
        if asked:
            raws = await self.redis.mget([self.keys.slack_user_by_email(e) for e in asked])
            for email, raw in zip(asked, raws, strict=True):
                if raw is not None:
                    found[email] = kept[email] = as_str(raw)
        return found

    async def remember_slack_user(self, email: str, slack_id: str | None, *, ttl: int) -> None:
        await self.redis.set(self.keys.slack_user_by_email(email), slack_id or "", ex=ttl)
        self._slack_users()[email] = slack_id or ""

    def _slack_users(self) -> TTLCache[str, str]:
        kept: TTLCache[str, str] | None = self.__dict__.get("_slack_users_kept")
        if kept is None:
            kept = self.__dict__["_slack_users_kept"] = TTLCache(
                SLACK_USERS_CACHED, SLACK_USERS_KEPT, timer=time.monotonic
            )
        return kept

    async def incident_for_pd(self, pd_incident_id: str) -> str | None:
        """Our incident for a PagerDuty incident, as earlier releases linked them (none are
        written now: a webhook's incident_key names our incident)."""
        raw = await self.redis.get(self.keys.pd_incident(pd_incident_id))
        return as_str(raw) if raw is not None else None
