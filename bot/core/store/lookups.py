"""Cached answers of the outside: the on-call walk (bot/oncall.py), Slack users by email,
and our incident for a PagerDuty incident (bot/paging/)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.models import OnCallSnapshot
from bot.core.store.base import StoreBase, as_str


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
        Emails not cached are absent."""
        wanted = list(dict.fromkeys(emails))
        if not wanted:
            return {}
        raws = await self.redis.mget([self.keys.slack_user_by_email(e) for e in wanted])
        return {e: as_str(r) for e, r in zip(wanted, raws, strict=True) if r is not None}

    async def remember_slack_user(self, email: str, slack_id: str | None, *, ttl: int) -> None:
        await self.redis.set(self.keys.slack_user_by_email(email), slack_id or "", ex=ttl)

    async def link_pd_incident(self, pd_incident_id: str, incident_id: str, *, ttl: int) -> None:
        await self.redis.set(self.keys.pd_incident(pd_incident_id), incident_id, ex=ttl)

    async def incident_for_pd(self, pd_incident_id: str) -> str | None:
        raw = await self.redis.get(self.keys.pd_incident(pd_incident_id))
        return as_str(raw) if raw is not None else None
